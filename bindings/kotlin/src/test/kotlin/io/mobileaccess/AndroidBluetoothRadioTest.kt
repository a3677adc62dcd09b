package io.mobileaccess

import android.Manifest
import android.app.Application
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothGattCharacteristic
import android.bluetooth.BluetoothGattDescriptor
import android.bluetooth.BluetoothManager
import android.bluetooth.BluetoothProfile
import android.bluetooth.le.ScanSettings
import android.os.ParcelUuid
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.yield
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.util.UUID

/**
 * [AndroidBluetoothRadio] against Android 14's framework (API 34, android-all) under Robolectric:
 * what it asks of `android.bluetooth`, and what each adapter state and missing permission gives.
 * JUnit 4 (Robolectric's runner), run by the JUnit Platform's vintage engine.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class AndroidBluetoothRadioTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val adapter: BluetoothAdapter = app.getSystemService(BluetoothManager::class.java).adapter
    private val address = "F0:0D:00:00:00:01"

    private fun grantBluetooth() =
        shadowOf(app).grantPermissions(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)

    @Test
    fun `each adapter state and missing permission is reported as its own state`() = runBlocking {
        val radio = AndroidBluetoothRadio(app)
        // Android 12+: nothing granted yet.
        assertEquals(AdapterState.UNAUTHORIZED, radio.adapterState())
        assertEquals(listOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT), radio.missingPermissions())
        shadowOf(app).grantPermissions(Manifest.permission.BLUETOOTH_SCAN)
        assertEquals(listOf(Manifest.permission.BLUETOOTH_CONNECT), radio.missingPermissions())
        assertEquals(AdapterState.UNAUTHORIZED, radio.adapterState())

        grantBluetooth()
        shadowOf(adapter).setState(BluetoothAdapter.STATE_OFF)
        assertEquals(AdapterState.POWERED_OFF, radio.adapterState())
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        assertEquals(AdapterState.POWERED_ON, radio.adapterState())
    }

    @Test
    fun `without permission no scan starts and the SDK hears why`() = runBlocking {
        val radio = AndroidBluetoothRadio(app)
        val error = runCatching { radio.startScan(listOf(SERVICE), { _, _, _, _ -> true }, {}) }.exceptionOrNull()
        assertTrue("$error", error is RadioException.Unauthorized)
        assertTrue(error!!.message!!.contains("BLUETOOTH_SCAN"))
    }

    @Test
    fun `the scan is a low-latency foreground scan filtered on the reader service, stopped on request`() = runBlocking {
        grantBluetooth()
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        shadowOf(adapter).setEnabled(true)
        val radio = AndroidBluetoothRadio(app)

        radio.startScan(listOf(SERVICE), { _, _, _, _ -> true }, {})

        val scanner = shadowOf(adapter.bluetoothLeScanner)
        val scan = scanner.activeScans.single()
        assertEquals(ScanSettings.SCAN_MODE_LOW_LATENCY, scan.scanSettings()!!.scanMode)
        assertEquals(listOf(ParcelUuid(UUID.fromString(SERVICE))), scan.scanFilters().map { it.serviceUuid })

        radio.stopScan()
        assertTrue("the platform scan is released", scanner.activeScans.isEmpty())
    }

    @Test
    fun `a connection asks for high priority and MTU 517, then writes without response and subscribes`() = runBlocking {
        grantBluetooth()
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        shadowOf(adapter).setEnabled(true)
        val radio = AndroidBluetoothRadio(app)
        val device = adapter.getRemoteDevice(address)

        val opening = async { radio.open(address) }
        while (shadowOf(device).bluetoothGatts.isEmpty()) yield()
        val gatt: BluetoothGatt = shadowOf(device).bluetoothGatts.single()
        shadowOf(gatt).addDiscoverableService(ShadowAir.readerService())
        shadowOf(device).simulateGattConnectionChange(BluetoothGatt.GATT_SUCCESS, BluetoothProfile.STATE_CONNECTED)
        val link = opening.await()

        assertEquals(BluetoothGatt.CONNECTION_PRIORITY_HIGH, shadowOf(gatt).connectionPriority)
        assertEquals(517, link.mtu().toInt())

        val request = byteArrayOf(1, 2, 3)
        link.write(REQUEST, request, WriteType.WITHOUT_RESPONSE)
        assertArrayEquals(request, shadowOf(gatt).latestWrittenBytes)
        val written = gatt.getService(UUID.fromString(SERVICE)).getCharacteristic(UUID.fromString(REQUEST))
        assertEquals(BluetoothGattCharacteristic.WRITE_TYPE_NO_RESPONSE, written.writeType)

        val received = mutableListOf<ByteArray>()
        var ended = false
        val response = gatt.getService(UUID.fromString(SERVICE)).getCharacteristic(UUID.fromString(RESPONSE))
        shadowOf(gatt).allowCharacteristicNotification(response) // the reader's characteristic notifies
        link.subscribe(RESPONSE, { received += it }, { ended = true })
        assertArrayEquals(
            "the CCCD enables notifications",
            BluetoothGattDescriptor.ENABLE_NOTIFICATION_VALUE,
            response.getDescriptor(UUID.fromString("00002902-0000-1000-8000-00805f9b34fb")).value,
        )
        shadowOf(gatt).gattCallback.onCharacteristicChanged(gatt, response, byteArrayOf(9))
        assertArrayEquals(byteArrayOf(9), received.single())

        link.disconnect()
        assertTrue("the GATT connection is closed", shadowOf(gatt).isClosed)
        assertTrue("the notifications end", ended)
    }
}
