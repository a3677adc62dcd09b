package io.mobileaccess.sample

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import io.mobileaccess.*
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.*
import kotlinx.coroutines.launch

/** One member's Key Button: its state, and what the member must do before a tap can work. */
class KeyButtonModel(private val app: Application, token: String, storage: SecureStorage) : AndroidViewModel(app) {
    private val button = viewModelScope.async {
        val config = KeyButtonConfig("https://access.example.com", token) // prints without the token
        KeyButton.create(config, storage, null, AndroidBluetoothRadio(app), UrlConnectionTransport())
    }
    // A failed tap arrives as Failed(category, message, nextStep): the member's sentence, what to offer.
    val state = flow { emitAll(button.await().states) }.stateIn(viewModelScope, SharingStarted.Eagerly, KeyButtonState.Hidden)
    val needed = flow { emitAll(button.await().requirements(app)) }.stateIn(viewModelScope, SharingStarted.Eagerly, emptyList())

    fun onHomeScreen() = act { setScreen(Screen.HOME); refresh() } // the key, off the tap's critical path
    fun onLeave() = act { setScreen(Screen.OTHER) } // cancels a running tap, which ends Hidden
    fun onPermissionsAnswered() = act { checkRequirements() }
    fun onTap(doorId: String? = null) = act { if (doorId == null) tap() else tapDoor(doorId) } // nearest, or chosen

    private fun act(work: suspend KeyButton.() -> Unit) = viewModelScope.launch { runCatching { button.await().work() } }
}
