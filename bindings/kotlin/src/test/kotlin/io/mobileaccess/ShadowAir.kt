package io.mobileaccess

import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothDevice
import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothGattCallback
import android.bluetooth.BluetoothGattCharacteristic
import android.bluetooth.BluetoothGattDescriptor
import android.bluetooth.BluetoothGattService
import android.bluetooth.BluetoothProfile
import android.bluetooth.BluetoothStatusCodes
import android.bluetooth.le.BluetoothLeScanner
import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanFilter
import android.bluetooth.le.ScanRecord
import android.bluetooth.le.ScanResult
import android.bluetooth.le.ScanSettings
import android.content.Context
import android.os.SystemClock
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.robolectric.annotation.Implementation
import org.robolectric.annotation.Implements
import org.robolectric.annotation.RealObject
import org.robolectric.shadow.api.Shadow
import org.robolectric.shadows.ShadowBluetoothDevice
import org.robolectric.shadows.ShadowBluetoothGatt
import org.robolectric.shadows.ShadowBluetoothLeScanner
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList

/**
 * Android's Bluetooth stack for Robolectric, on the simulated air: Robolectric's own
 * `android.bluetooth` shadows, extended so that what an app asks of `android.bluetooth` reaches
 * the virtual readers ([SimulatedSite.air]) and what they answer comes back through the framework's
 * callbacks. A scan delivers [ScanResult]s parsed by Android's own [ScanRecord] from the reader's
 * advertising bytes; a GATT connection is a connection on the simulated radio, with its MTU;
 * writes and notifications carry the real protocol bytes. Nothing above `android.bluetooth` (the
 * Android radio, the SDK) knows it is not on a phone.
 *
 * Register the three shadows with `@Config(shadows = [...])` and [attach] a site's air for the test.
 */
object ShadowAir {
    @Volatile private var air: SimulatedAir? = null
    private var scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val addresses = ConcurrentHashMap<String, String>()
    private val peripherals = ConcurrentHashMap<String, String>()
    private val scans = ConcurrentHashMap<ScanCallback, Job>()

    /** What the app asked of `android.bluetooth`, for the test to check. */
    val scanSettings = CopyOnWriteArrayList<ScanSettings>()
    val scanFilters = CopyOnWriteArrayList<List<ScanFilter>>()
    val connections = CopyOnWriteArrayList<BluetoothGatt>()

    /** Relays `android.bluetooth` to [air] until the returned handle is closed. */
    fun attach(air: SimulatedAir): AutoCloseable {
        this.air = air
        scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
        return AutoCloseable {
            this.air = null
            scope.cancel()
            scans.clear()
            scanSettings.clear()
            scanFilters.clear()
            connections.clear()
        }
    }

    /** The MAC address Android shows for a simulated reader: one per reader, stable for the test. */
    private fun address(peripheral: String): String = addresses.computeIfAbsent(peripheral) {
        val n = addresses.size + 1
        "F0:0D:00:00:%02X:%02X".format(n shr 8, n and 0xff).also { peripherals[it] = peripheral }
    }

    internal fun scanStarted(filters: List<ScanFilter>, settings: ScanSettings?, callback: ScanCallback) {
        val air = air ?: return
        scanFilters += filters
        settings?.let { scanSettings += it }
        val services = filters.mapNotNull { it.serviceUuid?.uuid?.toString() }
        // The platform scan starts before startScan returns, as Android's does.
        runBlocking { air.startScan(services) }
        scans[callback] = scope.launch {
            val adapter = BluetoothAdapter.getDefaultAdapter()
            while (true) {
                val heard = air.nextAdvertisement() ?: break
                val device = adapter.getRemoteDevice(address(heard.peripheral))
                val record = ScanRecord.parseFromBytes(heard.advertisingData)
                // Android reports 127 where the controller measured nothing.
                val rssi = heard.rssi?.toInt() ?: 127
                @Suppress("DEPRECATION")
                val result = ScanResult(device, record, rssi, SystemClock.elapsedRealtimeNanos())
                callback.onScanResult(ScanSettings.CALLBACK_TYPE_ALL_MATCHES, result)
            }
        }
    }

    internal fun scanStopped(callback: ScanCallback) {
        val air = air ?: return
        scans.remove(callback)?.cancel()
        runBlocking { runCatching { air.stopScan() } }
    }

    internal fun connect(device: BluetoothDevice, gatt: BluetoothGatt, callback: BluetoothGattCallback) {
        val air = air ?: return
        connections += gatt
        val peripheral = peripherals[device.address] ?: device.address
        scope.launch {
            val connection = try {
                air.connect(peripheral)
            } catch (e: RadioException) {
                callback.onConnectionStateChange(gatt, GATT_ERROR, BluetoothProfile.STATE_DISCONNECTED)
                return@launch
            }
            Shadow.extract<AirGatt>(gatt).connected(connection, readerService())
            callback.onConnectionStateChange(gatt, BluetoothGatt.GATT_SUCCESS, BluetoothProfile.STATE_CONNECTED)
        }
    }

    internal fun launch(work: suspend () -> Unit) {
        scope.launch { work() }
    }

    /** The reader's GATT service as discovery reports it: requests written, answers notified. */
    fun readerService() = BluetoothGattService(UUID.fromString(SERVICE), BluetoothGattService.SERVICE_TYPE_PRIMARY).apply {
        addCharacteristic(
            BluetoothGattCharacteristic(
                UUID.fromString(REQUEST),
                BluetoothGattCharacteristic.PROPERTY_WRITE_NO_RESPONSE or BluetoothGattCharacteristic.PROPERTY_WRITE,
                BluetoothGattCharacteristic.PERMISSION_WRITE,
            ),
        )
        addCharacteristic(
            BluetoothGattCharacteristic(
                UUID.fromString(RESPONSE),
                BluetoothGattCharacteristic.PROPERTY_NOTIFY,
                BluetoothGattCharacteristic.PERMISSION_READ,
            ).apply { addDescriptor(BluetoothGattDescriptor(CCCD, BluetoothGattDescriptor.PERMISSION_WRITE)) },
        )
    }

    val CCCD: UUID = UUID.fromString("00002902-0000-1000-8000-00805f9b34fb")

    /** Android's catch-all GATT failure status (`GATT_ERROR`, 133), what a failed connect reports. */
    const val GATT_ERROR = 133
}

/** The LE scanner: a started scan listens on the simulated air. */
@Implements(BluetoothLeScanner::class)
class AirScanner : ShadowBluetoothLeScanner() {
    @Implementation
    override fun startScan(filters: List<ScanFilter>?, settings: ScanSettings?, callback: ScanCallback?) {
        super.startScan(filters, settings, callback)
        callback?.let { ShadowAir.scanStarted(filters.orEmpty(), settings, it) }
    }

    @Implementation
    override fun stopScan(callback: ScanCallback?) {
        super.stopScan(callback)
        callback?.let { ShadowAir.scanStopped(it) }
    }
}

/** A remote device: `connectGatt` connects on the simulated air. */
@Implements(BluetoothDevice::class)
class AirDevice : ShadowBluetoothDevice() {
    @RealObject private lateinit var device: BluetoothDevice

    @Implementation
    override fun connectGatt(context: Context?, autoConnect: Boolean, callback: BluetoothGattCallback?, transport: Int): BluetoothGatt {
        val gatt = super.connectGatt(context, autoConnect, callback, transport)
        callback?.let { ShadowAir.connect(device, gatt, it) }
        return gatt
    }
}

/** A GATT client connection: its operations run on the simulated connection, answered by callbacks. */
@Implements(BluetoothGatt::class)
class AirGatt : ShadowBluetoothGatt() {
    @RealObject private lateinit var gatt: BluetoothGatt
    @Volatile private var connection: AirConnection? = null

    /** The MTUs the app asked for. */
    val requestedMtus = CopyOnWriteArrayList<Int>()

    /** Every write: characteristic, bytes and Android write type, in order. */
    val writes = CopyOnWriteArrayList<Triple<UUID, ByteArray, Int>>()

    internal fun connected(connection: AirConnection, service: BluetoothGattService) {
        this.connection = connection
        addDiscoverableService(service)
    }

    @Implementation
    override fun requestMtu(mtu: Int): Boolean {
        val connection = connection ?: return super.requestMtu(mtu)
        requestedMtus += mtu
        // Both sides settle on the smaller: what the reader offered on the simulated link.
        gattCallback.onMtuChanged(gatt, minOf(mtu, connection.mtu().toInt()), BluetoothGatt.GATT_SUCCESS)
        return true
    }

    @Implementation
    override fun setCharacteristicNotification(characteristic: BluetoothGattCharacteristic?, enable: Boolean): Boolean =
        connection != null || super.setCharacteristicNotification(characteristic, enable)

    @Implementation
    override fun writeCharacteristic(characteristic: BluetoothGattCharacteristic, value: ByteArray, writeType: Int): Int {
        val connection = connection ?: return super.writeCharacteristic(characteristic, value, writeType)
        writes += Triple(characteristic.uuid, value.copyOf(), writeType)
        val type = if (writeType == BluetoothGattCharacteristic.WRITE_TYPE_NO_RESPONSE) WriteType.WITHOUT_RESPONSE else WriteType.WITH_RESPONSE
        ShadowAir.launch {
            val status = try {
                connection.write(characteristic.uuid.toString(), value, type)
                BluetoothGatt.GATT_SUCCESS
            } catch (e: RadioException) {
                BluetoothGatt.GATT_FAILURE
            }
            gattCallback.onCharacteristicWrite(gatt, characteristic, status)
        }
        return BluetoothStatusCodes.SUCCESS
    }

    @Implementation
    @Suppress("DEPRECATION")
    override fun writeDescriptor(descriptor: BluetoothGattDescriptor): Boolean {
        val connection = connection ?: return super.writeDescriptor(descriptor)
        if (descriptor.uuid != ShadowAir.CCCD || !descriptor.value.contentEquals(BluetoothGattDescriptor.ENABLE_NOTIFICATION_VALUE)) {
            return false
        }
        val characteristic = descriptor.characteristic
        ShadowAir.launch {
            try {
                connection.subscribe(characteristic.uuid.toString())
            } catch (e: RadioException) {
                gattCallback.onDescriptorWrite(gatt, descriptor, BluetoothGatt.GATT_FAILURE)
                return@launch
            }
            gattCallback.onDescriptorWrite(gatt, descriptor, BluetoothGatt.GATT_SUCCESS)
            while (true) {
                val value = connection.nextNotification() ?: break
                gattCallback.onCharacteristicChanged(gatt, characteristic, value)
            }
            // The link ended without the app asking: Android reports the disconnection.
            if (this.connection === connection) {
                this.connection = null
                gattCallback.onConnectionStateChange(gatt, BluetoothGatt.GATT_SUCCESS, BluetoothProfile.STATE_DISCONNECTED)
            }
        }
        return true
    }

    @Implementation
    override fun disconnect() {
        super.disconnect()
        val connection = connection ?: return
        this.connection = null
        runBlocking { runCatching { connection.disconnect() } }
    }
}
