package io.mobileaccess

import android.Manifest
import android.app.Application
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothGattCharacteristic
import android.bluetooth.BluetoothManager
import android.bluetooth.le.ScanSettings
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Looper
import android.os.ParcelUuid
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.shadow.api.Shadow
import java.util.UUID

/**
 * A whole tap through Android's Bluetooth API: the SDK drives [AndroidBluetoothRadio], which
 * drives `android.bluetooth` (Android 14's framework under Robolectric), whose stack here is the
 * simulated air with the cloud's virtual readers on it ([ShadowAir]). The scan records are parsed
 * by Android's own `ScanRecord`, the protocol bytes are the real ones, and the reader decides.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE, shadows = [AirScanner::class, AirDevice::class, AirGatt::class])
class AndroidTapTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val adapter: BluetoothAdapter = app.getSystemService(BluetoothManager::class.java).adapter

    /** Ada's Key Button on the phone's own Bluetooth API: the SDK is not told it is a test. */
    private suspend fun World.androidButton(): KeyButton =
        KeyButton.create(KeyButtonConfig(cloud.baseUrl, cloud.token("ada_member")), memoryStorage(), null, AndroidBluetoothRadio(app))

    private fun phoneReady() {
        hasBluetoothLe()
        shadowOf(app).grantPermissions(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        shadowOf(adapter).setEnabled(true)
    }

    private fun hasBluetoothLe() = shadowOf(app.packageManager).setSystemFeature(PackageManager.FEATURE_BLUETOOTH_LE, true)

    @Test
    fun `the member is told what to do before the tap, and the list follows the phone`() = runBlocking {
        hasBluetoothLe()
        shadowOf(adapter).setState(BluetoothAdapter.STATE_OFF)
        shadowOf(adapter).setEnabled(false)
        World().use { world ->
            ShadowAir.attach(world.site.air()).use {
                val button = world.androidButton()
                world.holdAtMainEntrance()
                val seen = Channel<List<Requirement>>(Channel.UNLIMITED)
                val watching = launch { button.requirements(app).collect { seen.send(it) } }
                suspend fun next() = withTimeout(10_000) { seen.receive() }

                assertEquals("nothing checked yet", emptyList<Requirement>(), next())
                val scanAndConnect = listOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
                assertEquals(listOf(Requirement.GrantPermissions(scanAndConnect), Requirement.TurnOnBluetooth), next())

                // A tap meanwhile fails at once with the most pressing one, before any scan.
                val refused = runCatching { button.tap() }.exceptionOrNull()
                assertTrue("$refused", refused is MobileAccessException.BluetoothUnauthorized)
                assertEquals(NextStep.GrantPermissions, (refused as MobileAccessException).nextStep())
                assertTrue("no scan started", ShadowAir.scanFilters.isEmpty())

                // The app's permission callback asks again; the flow follows.
                shadowOf(app).grantPermissions(*scanAndConnect.toTypedArray())
                button.checkRequirements()
                assertEquals(listOf(Requirement.TurnOnBluetooth), next())

                // Bluetooth switched on in the quick settings: the system's broadcast is enough.
                shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
                shadowOf(adapter).setEnabled(true)
                app.sendBroadcast(Intent(BluetoothAdapter.ACTION_STATE_CHANGED))
                shadowOf(Looper.getMainLooper()).idle()
                assertEquals(emptyList<Requirement>(), next())
                assertEquals(emptyList<Requirement>(), button.requirements())

                assertEquals(TapOutcome.Unlocked, button.tap().outcome)
                watching.cancel()
                assertTrue("no change while nothing changed", seen.tryReceive().isFailure)
            }
        }
    }

    @Test
    fun `a phone without bluetooth le is told so, not asked to switch it on`() = runBlocking {
        shadowOf(app.packageManager).setSystemFeature(PackageManager.FEATURE_BLUETOOTH_LE, false)
        assertEquals(listOf(Requirement.UseAnotherPhone), AndroidBluetoothRadio(app).requirements())
    }

    @Test
    fun `a member taps and the door opens, through android bluetooth`() = runBlocking {
        phoneReady()
        World().use { world ->
            ShadowAir.attach(world.site.air()).use {
                val button = world.androidButton()
                world.holdAtMainEntrance()

                val first = button.tap()

                assertEquals(TapOutcome.Unlocked, first.outcome)
                assertEquals("Main entrance", first.door)
                assertTrue("the door opened", world.site.relayIsOpen(world.mainEntrance))
                assertEquals("the reader showed green", listOf(true), world.site.signals(world.mainEntrance).map { it.green })

                // What Android was asked: a low-latency scan filtered on the reader service...
                val settings = ShadowAir.scanSettings.first()
                assertEquals(ScanSettings.SCAN_MODE_LOW_LATENCY, settings.scanMode)
                assertEquals(listOf(ParcelUuid(UUID.fromString(SERVICE))), ShadowAir.scanFilters.first().map { it.serviceUuid })
                assertTrue("the scan was released", shadowOf(adapter.bluetoothLeScanner).activeScans.isEmpty())
                // ...one connection at high priority asking for MTU 517, requests written without
                // response onto the request characteristic, and the connection closed at the end.
                val gatt: BluetoothGatt = ShadowAir.connections.single()
                val air = Shadow.extract<AirGatt>(gatt)
                assertEquals(BluetoothGatt.CONNECTION_PRIORITY_HIGH, air.connectionPriority)
                assertEquals(listOf(517), air.requestedMtus.toList())
                assertTrue(air.writes.isNotEmpty())
                assertTrue(
                    "every request is a write without response",
                    air.writes.all { (uuid, _, type) -> uuid == UUID.fromString(REQUEST) && type == BluetoothGattCharacteristic.WRITE_TYPE_NO_RESPONSE },
                )
                // The first write is fragment 0 of the 75-byte hello: 0x00, length 75 (big-endian), type 0x01.
                val hello = air.writes.first().second
                assertEquals(listOf(0x00, 0x00, 75, 0x01), hello.take(4).map { it.toInt() })
                assertTrue("the connection was closed", air.isClosed)

                // The second tap needs no network and takes the fast exchange, through Android again.
                val second = button.tap()
                assertEquals(TapOutcome.Unlocked, second.outcome)
                assertEquals(ExchangeKind.FAST, second.exchange)
                assertEquals(2, ShadowAir.connections.size)
                assertEquals(listOf(true, true), world.site.signals(world.mainEntrance).map { it.green })
            }
        }
    }

    @Test
    fun `bluetooth off on the phone stops the tap before any scan, and the member hears it`() = runBlocking {
        phoneReady()
        World().use { world ->
            ShadowAir.attach(world.site.air()).use {
                val button = world.androidButton()
                button.refresh()
                world.holdAtMainEntrance()
                shadowOf(adapter).setState(BluetoothAdapter.STATE_OFF)
                shadowOf(adapter).setEnabled(false)

                val error = runCatching { button.tap() }.exceptionOrNull()

                assertTrue("$error", error is MobileAccessException.BluetoothOff)
                assertTrue("no scan started", ShadowAir.scanFilters.isEmpty())
                assertTrue("the door stayed shut", !world.site.relayIsOpen(world.mainEntrance))
            }
        }
    }
}
