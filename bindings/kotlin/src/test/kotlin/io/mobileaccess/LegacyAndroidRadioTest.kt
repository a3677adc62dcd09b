package io.mobileaccess

import android.Manifest
import android.app.Application
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothManager
import android.content.pm.PackageManager
import android.location.LocationManager
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/**
 * [AndroidBluetoothRadio] on Android 11 (API 30, before the Bluetooth runtime permissions): a scan
 * needs fine location there, and the member must be asked for that, not for "nearby devices".
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [30], manifest = Config.NONE)
class LegacyAndroidRadioTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val adapter: BluetoothAdapter = app.getSystemService(BluetoothManager::class.java).adapter

    @Test
    fun `before Android 12 the radio asks for location, and scans once it is granted`() = runBlocking {
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        shadowOf(adapter).setEnabled(true)
        val radio = AndroidBluetoothRadio(app)

        assertEquals(listOf(Manifest.permission.ACCESS_FINE_LOCATION), radio.missingPermissions())
        assertEquals(AdapterState.UNAUTHORIZED, radio.adapterState())
        val refused = runCatching { radio.startScan(listOf(SERVICE), { _, _, _, _ -> true }, {}) }.exceptionOrNull()
        assertTrue("$refused", refused is RadioException.Unauthorized)
        assertTrue("the member is asked for location", refused!!.message!!.contains("ACCESS_FINE_LOCATION"))

        shadowOf(app).grantPermissions(Manifest.permission.ACCESS_FINE_LOCATION)
        assertEquals(emptyList<String>(), radio.missingPermissions())
        assertEquals(AdapterState.POWERED_ON, radio.adapterState())
        radio.startScan(listOf(SERVICE), { _, _, _, _ -> true }, {})
        assertEquals(1, shadowOf(adapter.bluetoothLeScanner).activeScans.size)
        radio.stopScan()
    }

    @Test
    fun `before Android 12 location services must be on, and a tap says so distinctly`() = runBlocking {
        shadowOf(app.packageManager).setSystemFeature(PackageManager.FEATURE_BLUETOOTH_LE, true)
        shadowOf(adapter).setState(BluetoothAdapter.STATE_ON)
        shadowOf(adapter).setEnabled(true)
        shadowOf(app).grantPermissions(Manifest.permission.ACCESS_FINE_LOCATION)
        val location = shadowOf(app.getSystemService(LocationManager::class.java))
        location.setLocationEnabled(false)
        val radio = AndroidBluetoothRadio(app)
        assertEquals(listOf(Requirement.TurnOnLocationServices), radio.requirements())

        // No cloud is reachable at this address: the tap must fail on the phone's state first.
        val button = KeyButton.create(KeyButtonConfig("http://127.0.0.1:9", "member-token"), memoryStorage(), null, radio)
        assertEquals(listOf(Requirement.TurnOnLocationServices), button.checkRequirements())
        val error = runCatching { button.tap() }.exceptionOrNull()
        assertTrue("$error", error is MobileAccessException.LocationServicesOff)
        assertEquals(NextStep.TurnOnLocationServices, (error as MobileAccessException).nextStep())
        assertEquals("Turn on location services so this phone can find the door.", error.message)

        location.setLocationEnabled(true)
        assertEquals(emptyList<Requirement>(), button.checkRequirements())
    }
}
