package io.mobileaccess

import android.Manifest
import android.annotation.SuppressLint
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothDevice
import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothGattCallback
import android.bluetooth.BluetoothGattCharacteristic
import android.bluetooth.BluetoothGattDescriptor
import android.bluetooth.BluetoothManager
import android.bluetooth.BluetoothProfile
import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanFilter
import android.bluetooth.le.ScanResult
import android.bluetooth.le.ScanSettings
import android.content.Context
import android.content.pm.PackageManager
import android.location.LocationManager
import android.os.Build
import android.os.ParcelUuid
import android.provider.Settings
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import java.util.UUID

/**
 * The SDK's radio over `android.bluetooth`, for `KeyButton.create(..., radio = AndroidBluetoothRadio(context))`.
 *
 * What it does that btleplug's Android backend does not: a foreground scan in
 * [ScanSettings.SCAN_MODE_LOW_LATENCY] filtered on the reader service (btleplug scans in low-power
 * mode: a reader may be seen seconds late), [BluetoothGatt.CONNECTION_PRIORITY_HIGH] and an MTU of
 * 517 on every connection, discovery of the reader service only, and adapter states and missing
 * permissions kept apart (Android 12+: `BLUETOOTH_SCAN` / `BLUETOOTH_CONNECT`; before: location),
 * so the member is asked for the right thing. Everything is released when the SDK stops the scan
 * or disconnects, which it does on cancel too.
 */
@SuppressLint("MissingPermission") // every call is guarded by [missingPermission]
class AndroidBluetoothRadio(context: Context) : BluetoothCentral {
    private val context = context.applicationContext ?: context
    private val manager: BluetoothManager? = this.context.getSystemService(BluetoothManager::class.java)
    private val lock = Mutex()
    private var scan: ScanCallback? = null

    /** The permissions this Android version needs to scan and connect, and which are missing. */
    fun missingPermissions(): List<String> {
        val needed = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            listOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
        } else {
            listOf(Manifest.permission.ACCESS_FINE_LOCATION)
        }
        return needed.filter { context.checkSelfPermission(it) != PackageManager.PERMISSION_GRANTED }
    }

    private fun adapter(): BluetoothAdapter {
        missingPermissions().takeIf { it.isNotEmpty() }?.let { throw RadioException.Unauthorized(it.joinToString()) }
        val adapter = manager?.adapter ?: throw RadioException.Unavailable("this device has no Bluetooth adapter")
        if (!adapter.isEnabled) throw RadioException.Off("Bluetooth is off")
        return adapter
    }

    /**
     * What the member must do before a scan can work, most pressing first: the missing
     * permissions (by name, for the request dialog), Bluetooth switched on, and on Android 11 and
     * older location services (which deliver no scan results without them; Android 12+ scans
     * with `neverForLocation` and needs none). No Bluetooth LE at all: [Requirement.UseAnotherPhone].
     */
    override suspend fun requirements(): List<Requirement> {
        val adapter = manager?.adapter
        if (adapter == null || !context.packageManager.hasSystemFeature(PackageManager.FEATURE_BLUETOOTH_LE)) {
            return listOf(Requirement.UseAnotherPhone)
        }
        return buildList {
            missingPermissions().takeIf { it.isNotEmpty() }?.let { add(Requirement.GrantPermissions(it)) }
            if (adapter.state != BluetoothAdapter.STATE_ON) add(Requirement.TurnOnBluetooth)
            if (Build.VERSION.SDK_INT < Build.VERSION_CODES.S && !locationServicesOn()) {
                add(Requirement.TurnOnLocationServices)
            }
        }
    }

    private fun locationServicesOn(): Boolean =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            context.getSystemService(LocationManager::class.java)?.isLocationEnabled ?: false
        } else {
            @Suppress("DEPRECATION")
            Settings.Secure.getInt(context.contentResolver, Settings.Secure.LOCATION_MODE, Settings.Secure.LOCATION_MODE_OFF) !=
                Settings.Secure.LOCATION_MODE_OFF
        }

    override suspend fun adapterState(): AdapterState {
        if (missingPermissions().isNotEmpty()) return AdapterState.UNAUTHORIZED
        val adapter = manager?.adapter ?: return AdapterState.UNAVAILABLE
        return when (adapter.state) {
            BluetoothAdapter.STATE_ON -> AdapterState.POWERED_ON
            else -> AdapterState.POWERED_OFF
        }
    }

    override suspend fun startScan(services: List<String>, sink: ScanSink) =
        startScan(services, { address, rssi, data, bytes -> sink.advertisement(address, rssi, data, bytes) }, sink::finish)

    /**
     * The scan itself: [report] receives each advertisement (address, RSSI, reader service data,
     * raw record) and returns false once nobody listens; [finished] when the platform's scan failed.
     */
    internal suspend fun startScan(
        services: List<String>,
        report: (String, Short, ByteArray?, ByteArray?) -> Boolean,
        finished: () -> Unit,
    ) = lock.withLock {
        val scanner = adapter().bluetoothLeScanner ?: throw RadioException.Off("Bluetooth is turning off")
        scan?.let { scanner.stopScan(it) }
        val filters = services.map { ScanFilter.Builder().setServiceUuid(ParcelUuid(UUID.fromString(it))).build() }
        val callback = object : ScanCallback() {
            override fun onScanResult(callbackType: Int, result: ScanResult) {
                val record = result.scanRecord
                val data = record?.getServiceData(ParcelUuid(UUID.fromString(READER_SERVICE)))
                if (!report(result.device.address, result.rssi.toShort(), data, record?.bytes)) {
                    runCatching { scanner.stopScan(this) }
                }
            }

            override fun onScanFailed(errorCode: Int) = finished()
        }
        scanner.startScan(filters, scanSettings(), callback)
        scan = callback
    }

    override suspend fun stopScan() = lock.withLock {
        val callback = scan ?: return@withLock
        scan = null
        manager?.adapter?.takeIf { it.isEnabled && missingPermissions().isEmpty() }?.bluetoothLeScanner?.stopScan(callback)
        Unit
    }

    override suspend fun connect(peripheral: String): ConnectedLink = ConnectedLink(open(peripheral))

    /** Connects, raises the priority, asks for MTU 517 and discovers the reader service. */
    internal suspend fun open(peripheral: String): GattLink {
        val adapter = adapter()
        val device = runCatching { adapter.getRemoteDevice(peripheral) }
            .getOrElse { throw RadioException.NotFound(peripheral) }
        val link = GattLink(device)
        try {
            link.open(context)
        } catch (e: Exception) {
            link.close()
            throw e
        }
        return link
    }

    /** One GATT connection; its callbacks complete the operation in flight (GATT runs one at a time). */
    internal class GattLink(private val device: BluetoothDevice) : BluetoothGattCallback(), BluetoothLink {
        @Volatile internal var gatt: BluetoothGatt? = null
        @Volatile private var mtu: Int = 23
        @Volatile private var pending: CompletableDeferred<Any?>? = null
        @Volatile private var onValue: ((ByteArray) -> Unit)? = null
        @Volatile private var onEnd: (() -> Unit)? = null
        private val operations = Mutex()

        suspend fun open(context: Context) {
            operate { device.connectGatt(context, false, this, BluetoothDevice.TRANSPORT_LE).also { gatt = it } }
            val gatt = gatt ?: throw RadioException.ConnectionFailed(device.address)
            gatt.requestConnectionPriority(BluetoothGatt.CONNECTION_PRIORITY_HIGH)
            operate { gatt.requestMtu(MTU) }
            operate { gatt.discoverServices() }
            if (gatt.getService(UUID.fromString(READER_SERVICE)) == null) {
                throw RadioException.CharacteristicNotFound("no reader service on ${device.address}")
            }
        }

        private suspend fun operate(start: () -> Any?): Any? = operations.withLock {
            val done = CompletableDeferred<Any?>()
            pending = done
            if (start() == false) {
                pending = null
                throw RadioException.Failed("the Bluetooth stack refused the operation")
            }
            done.await()
        }

        private fun complete(value: Any?) {
            pending?.complete(value)
        }

        private fun fail(error: Exception) {
            pending?.completeExceptionally(error)
        }

        private fun characteristic(uuid: String): BluetoothGattCharacteristic =
            gatt?.getService(UUID.fromString(READER_SERVICE))?.getCharacteristic(UUID.fromString(uuid))
                ?: throw RadioException.CharacteristicNotFound(uuid)

        override fun mtu(): UShort = mtu.toUShort()

        override suspend fun write(characteristic: String, value: ByteArray, writeType: WriteType) {
            val gatt = gatt ?: throw RadioException.Disconnected(device.address)
            val target = characteristic(characteristic)
            val type = when (writeType) {
                WriteType.WITHOUT_RESPONSE -> BluetoothGattCharacteristic.WRITE_TYPE_NO_RESPONSE
                WriteType.WITH_RESPONSE -> BluetoothGattCharacteristic.WRITE_TYPE_DEFAULT
            }
            target.writeType = type
            operate {
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
                    gatt.writeCharacteristic(target, value, type) == BluetoothGatt.GATT_SUCCESS
                } else {
                    @Suppress("DEPRECATION")
                    target.value = value
                    @Suppress("DEPRECATION")
                    gatt.writeCharacteristic(target)
                }
            }
        }

        override suspend fun subscribe(characteristic: String, sink: NotificationSink) =
            subscribe(characteristic, { sink.value(it) }, sink::end)

        /** Enables notifications (the CCCD write); [value] gets each one, [end] when the link ends. */
        internal suspend fun subscribe(characteristic: String, value: (ByteArray) -> Unit, end: () -> Unit) {
            val gatt = gatt ?: throw RadioException.Disconnected(device.address)
            val target = characteristic(characteristic)
            onValue = value
            onEnd = end
            if (!gatt.setCharacteristicNotification(target, true)) throw RadioException.Failed("notifications refused")
            val cccd = target.getDescriptor(CCCD) ?: throw RadioException.CharacteristicNotFound("CCCD of $characteristic")
            // The one-argument form works on every version (deprecated from API 33, not removed).
            @Suppress("DEPRECATION")
            cccd.value = BluetoothGattDescriptor.ENABLE_NOTIFICATION_VALUE
            @Suppress("DEPRECATION")
            operate { gatt.writeDescriptor(cccd) }
        }

        override suspend fun rssi(): Short? {
            val gatt = gatt ?: throw RadioException.Disconnected(device.address)
            return (operate { gatt.readRemoteRssi() } as? Int)?.toShort()
        }

        override suspend fun disconnect() = close()

        /** Releases the connection and ends the notifications. */
        fun close() {
            gatt?.let {
                it.disconnect()
                it.close()
            }
            gatt = null
            ended()
            fail(RadioException.Disconnected(device.address))
        }

        private fun ended() {
            onValue = null
            onEnd?.invoke()
            onEnd = null
        }

        override fun onConnectionStateChange(gatt: BluetoothGatt, status: Int, newState: Int) {
            when {
                newState == BluetoothProfile.STATE_CONNECTED && status == BluetoothGatt.GATT_SUCCESS -> complete(Unit)
                newState == BluetoothProfile.STATE_CONNECTED -> fail(RadioException.ConnectionFailed("GATT status $status"))
                else -> {
                    ended()
                    fail(
                        if (status == BluetoothGatt.GATT_SUCCESS) RadioException.Disconnected(device.address)
                        else RadioException.ConnectionFailed("GATT status $status"),
                    )
                }
            }
        }

        override fun onMtuChanged(gatt: BluetoothGatt, mtu: Int, status: Int) {
            if (status == BluetoothGatt.GATT_SUCCESS) this.mtu = mtu
            complete(Unit) // a refused MTU leaves the default: slower, still correct
        }

        override fun onServicesDiscovered(gatt: BluetoothGatt, status: Int) =
            if (status == BluetoothGatt.GATT_SUCCESS) complete(Unit) else fail(RadioException.Failed("discovery status $status"))

        override fun onCharacteristicWrite(gatt: BluetoothGatt, characteristic: BluetoothGattCharacteristic, status: Int) =
            if (status == BluetoothGatt.GATT_SUCCESS) complete(Unit) else fail(RadioException.Failed("write status $status"))

        override fun onDescriptorWrite(gatt: BluetoothGatt, descriptor: BluetoothGattDescriptor, status: Int) =
            if (status == BluetoothGatt.GATT_SUCCESS) complete(Unit) else fail(RadioException.Failed("CCCD status $status"))

        override fun onCharacteristicChanged(gatt: BluetoothGatt, characteristic: BluetoothGattCharacteristic, value: ByteArray) {
            onValue?.invoke(value)
        }

        @Deprecated("Android 12 and older")
        override fun onCharacteristicChanged(gatt: BluetoothGatt, characteristic: BluetoothGattCharacteristic) {
            @Suppress("DEPRECATION")
            if (Build.VERSION.SDK_INT < Build.VERSION_CODES.TIRAMISU) onValue?.invoke(characteristic.value)
        }

        override fun onReadRemoteRssi(gatt: BluetoothGatt, rssi: Int, status: Int) =
            if (status == BluetoothGatt.GATT_SUCCESS) complete(rssi) else complete(null)
    }

    companion object {
        /** The reader's GATT service (16-bit 0xFE4A). */
        const val READER_SERVICE = "0000fe4a-0000-1000-8000-00805f9b34fb"
        /** The largest ATT MTU: whole protocol messages in one or two packets. */
        const val MTU = 517
        private val CCCD: UUID = UUID.fromString("00002902-0000-1000-8000-00805f9b34fb")

        /** Foreground, low latency: the reader is seen within one advertising interval. */
        fun scanSettings(): ScanSettings = ScanSettings.Builder()
            .setScanMode(ScanSettings.SCAN_MODE_LOW_LATENCY)
            .setCallbackType(ScanSettings.CALLBACK_TYPE_ALL_MATCHES)
            .build()
    }
}
