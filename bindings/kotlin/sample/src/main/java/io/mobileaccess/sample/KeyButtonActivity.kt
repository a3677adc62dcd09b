package io.mobileaccess.sample

import android.bluetooth.BluetoothAdapter
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.provider.Settings
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import io.mobileaccess.KeyButtonState
import io.mobileaccess.Requirement
import io.mobileaccess.fileStorage
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.launch

/**
 * The app's home screen with the Key Button: shown only while the member may use it, turned into
 * the one thing to do first (allow nearby devices, switch Bluetooth on, turn on location) while a
 * requirement is unmet, and the tap's hint underneath.
 */
class KeyButtonActivity : ComponentActivity() {
    private val model: KeyButtonModel by viewModels {
        viewModelFactory {
            // A real app passes the signed-in member's token and a Keystore-backed SecureStorage.
            initializer { KeyButtonModel(application, SampleApp.memberToken, fileStorage(noBackupFilesDir.path)) }
        }
    }
    private val askPermissions =
        registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { model.onPermissionsAnswered() }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val key = Button(this)
        val hint = TextView(this)
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            addView(key)
            addView(hint)
        })
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                combine(model.state, model.needed, ::Pair).collect { (state, needed) -> render(state, needed, key, hint) }
            }
        }
    }

    override fun onResume() {
        super.onResume()
        model.onHomeScreen()
    }

    override fun onPause() {
        model.onLeave()
        super.onPause()
    }

    private fun render(state: KeyButtonState, needed: List<Requirement>, key: Button, hint: TextView) {
        key.visibility = if (state is KeyButtonState.Hidden) View.GONE else View.VISIBLE
        hint.text = state.hint()
        key.isEnabled = true
        when (val first = needed.firstOrNull()) {
            null -> key.show("Unlock") { model.onTap() }.also { key.isEnabled = state is KeyButtonState.Ready || state.isFinal() }
            is Requirement.GrantPermissions -> key.show("Allow nearby devices") { askPermissions.launch(first.permissions.toTypedArray()) }
            is Requirement.TurnOnBluetooth -> key.show("Turn on Bluetooth") { startActivity(Intent(BluetoothAdapter.ACTION_REQUEST_ENABLE)) }
            is Requirement.TurnOnLocationServices ->
                key.show("Turn on location") { startActivity(Intent(Settings.ACTION_LOCATION_SOURCE_SETTINGS)) }
            is Requirement.UseAnotherPhone -> key.show("This phone can't open doors") {}.also { key.isEnabled = false }
            is Requirement.UpdateApp -> key.show("Update the app") {
                startActivity(Intent(Intent.ACTION_VIEW, Uri.parse("market://details?id=$packageName")))
            }
        }
    }

    private fun Button.show(label: String, action: () -> Unit) {
        text = label
        setOnClickListener { action() }
    }
}
