package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger

/** The mobile-access GATT service and its two characteristics, in the platforms' text form. */
const val SERVICE = "0000fe4a-0000-1000-8000-00805f9b34fb"
const val REQUEST = "6d610001-2d61-6363-6573-732d76310000"
const val RESPONSE = "6d610002-2d61-6363-6573-732d76310000"

/**
 * An app's own radio, written in Kotlin as an `android.bluetooth` radio is: it implements the
 * SDK's [BluetoothCentral] and [BluetoothLink], and here relays every call to the simulated
 * phone radio ([SimulatedSite.radio]) while recording what the SDK asked of it. [state] and
 * [connectFailure] let a test play the platform's adapter states and failures.
 */
class RelayRadio(private val inner: BluetoothCentral) : BluetoothCentral {
    val scans = CopyOnWriteArrayList<List<String>>()
    val writes = CopyOnWriteArrayList<Pair<String, WriteType>>()
    val subscriptions = CopyOnWriteArrayList<String>()
    val stops = AtomicInteger()
    val disconnects = AtomicInteger()
    val mtus = CopyOnWriteArrayList<UShort>()

    @Volatile var state: AdapterState? = null
    @Volatile var connectFailure: Exception? = null

    override suspend fun adapterState(): AdapterState = state ?: inner.adapterState()

    /** What a platform radio would ask of the member in [state]; the simulated phone's otherwise. */
    override suspend fun requirements(): List<Requirement> = when (state) {
        null -> inner.requirements()
        AdapterState.POWERED_ON -> emptyList()
        AdapterState.POWERED_OFF -> listOf(Requirement.TurnOnBluetooth)
        AdapterState.UNAUTHORIZED -> listOf(Requirement.GrantPermissions(listOf("android.permission.BLUETOOTH_SCAN")))
        AdapterState.UNAVAILABLE -> listOf(Requirement.UseAnotherPhone)
    }

    override suspend fun startScan(services: List<String>, sink: ScanSink) {
        scans += services
        inner.startScan(services, sink)
    }

    override suspend fun stopScan() {
        stops.incrementAndGet()
        inner.stopScan()
    }

    override suspend fun connect(peripheral: String): ConnectedLink {
        connectFailure?.let { throw it }
        return ConnectedLink(Link(inner.connect(peripheral).link()))
    }

    private inner class Link(private val link: BluetoothLink) : BluetoothLink {
        override fun mtu(): UShort = link.mtu().also { mtus += it }

        override suspend fun write(characteristic: String, value: ByteArray, writeType: WriteType) {
            writes += characteristic to writeType
            link.write(characteristic, value, writeType)
        }

        override suspend fun subscribe(characteristic: String, sink: NotificationSink) {
            subscriptions += characteristic
            link.subscribe(characteristic, sink)
        }

        override suspend fun rssi(): Short? = link.rssi()

        override suspend fun disconnect() {
            disconnects.incrementAndGet()
            link.disconnect()
        }
    }
}

/** A Key Button on the app's own radio: `KeyButton.create(config, storage, signer, radio)`. */
class AppRadioTest {

    private suspend fun World.buttonOn(radio: BluetoothCentral): KeyButton =
        KeyButton.create(KeyButtonConfig(cloud.baseUrl, cloud.token("ada_member")), memoryStorage(), null, radio)

    @Test
    fun `a whole tap runs through the app's radio`() = runBlocking {
        World().use { world ->
            val radio = RelayRadio(world.site.radio())
            val button = world.buttonOn(radio)
            world.holdAtMainEntrance()

            val report = button.tap()

            assertEquals(TapOutcome.Unlocked, report.outcome)
            assertEquals("Main entrance", report.door)
            assertTrue(world.site.relayIsOpen(world.mainEntrance), "the door opened")
            // What the SDK asked of the platform: a scan filtered on our service, stopped once
            // the reader was found; requests as back-to-back writes without response; the
            // answers as notifications; the connection released at the end.
            assertEquals(listOf(listOf(SERVICE)), radio.scans.toList())
            assertTrue(radio.stops.get() >= 1, "the scan was stopped")
            assertTrue(radio.writes.isNotEmpty())
            assertTrue(radio.writes.all { it == REQUEST to WriteType.WITHOUT_RESPONSE }, "${radio.writes}")
            assertEquals(listOf(RESPONSE), radio.subscriptions.toList())
            assertEquals(1, radio.disconnects.get())
            assertEquals(1, radio.mtus.size, "the MTU is read once per connection")

            // The second tap: the fast exchange, still on the app's radio.
            val second = button.tap()
            assertEquals(ExchangeKind.FAST, second.exchange)
            assertEquals(2, radio.scans.size)
        }
    }

    @Test
    fun `each adapter state the app's radio reports reaches the app as its own error`() = runBlocking {
        World().use { world ->
            val radio = RelayRadio(world.site.radio())
            val button = world.buttonOn(radio)
            button.refresh()
            world.holdAtMainEntrance()

            radio.state = AdapterState.POWERED_OFF
            assertThrows<MobileAccessException.BluetoothOff> { runBlocking { button.tap() } }
            radio.state = AdapterState.UNAUTHORIZED
            val unauthorized = assertThrows<MobileAccessException.BluetoothUnauthorized> { runBlocking { button.tap() } }
            assertEquals(ErrorCategory.BLUETOOTH, unauthorized.category())
            radio.state = AdapterState.UNAVAILABLE
            assertThrows<MobileAccessException.BluetoothUnavailable> { runBlocking { button.tap() } }
            assertTrue(radio.scans.isEmpty(), "no scan is started without a usable adapter")

            radio.state = null
            assertEquals(TapOutcome.Unlocked, button.tap().outcome)
        }
    }

    @Test
    fun `a permission refused at connect and an exception in the app's radio are typed, not crashes`() = runBlocking {
        World().use { world ->
            val radio = RelayRadio(world.site.radio())
            val button = world.buttonOn(radio)
            button.refresh()
            world.holdAtMainEntrance()

            radio.connectFailure = RadioException.Unauthorized("BLUETOOTH_CONNECT not granted")
            assertThrows<MobileAccessException.BluetoothUnauthorized> { runBlocking { button.tap() } }

            radio.connectFailure = IllegalStateException("GATT stack exploded")
            val failed = assertThrows<MobileAccessException.Bluetooth> { runBlocking { button.tap() } }
            assertTrue("GATT stack exploded" in failed.detail(), failed.detail())
            assertEquals(englishMessage(MessageKey.BLUETOOTH_FAILED), failed.message, "the member reads a sentence, not the stack trace")

            radio.connectFailure = null
            assertEquals(TapOutcome.Unlocked, button.tap().outcome)
        }
    }
}
