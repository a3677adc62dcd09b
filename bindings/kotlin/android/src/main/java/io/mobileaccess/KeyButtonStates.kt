package io.mobileaccess

import android.bluetooth.BluetoothAdapter
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.location.LocationManager
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.stateIn

/**
 * The button's states as a cold [Flow]: the current state at once, then every change, in order.
 * Collecting registers a listener; when the collector stops (its scope ends, the screen goes away)
 * the listener is removed. Nothing is dropped: a tap's states all arrive, even to a slow collector.
 *
 * Hand written (not generated): it lives in `src/main/java` because `cargo xtask bindings`
 * replaces `src/main/kotlin` with the generated code.
 */
val KeyButton.states: Flow<KeyButtonState>
    get() = callbackFlow {
        // The listener captures only this flow's channel, never the button.
        val handle = addListener(
            object : StateListener {
                override fun onState(state: KeyButtonState) {
                    trySend(state)
                }
            },
        )
        awaitClose {
            handle.remove()
            handle.close()
        }
    }.buffer(Channel.UNLIMITED)

/**
 * The button's state as a [StateFlow] for a view model: `button.stateIn(viewModelScope)`. It holds
 * the latest state while [scope] lives and stops listening when [scope] ends.
 */
fun KeyButton.stateIn(scope: CoroutineScope): StateFlow<KeyButtonState> =
    states.stateIn(scope, SharingStarted.Eagerly, state())

/**
 * What the member must do before a tap can work (grant these permissions, turn Bluetooth on, turn
 * location services on), as a cold [Flow]: the list now, then each change. While collected it
 * re-checks when Bluetooth or location services are switched (system broadcasts); after a
 * permission dialog, or when the app returns to the foreground, call [KeyButton.checkRequirements]
 * and the flow follows. An empty list: nothing stands in the way.
 */
fun KeyButton.requirements(context: Context): Flow<List<Requirement>> {
    val button = this
    return callbackFlow {
        val handle = addRequirementsListener(
            object : RequirementsListener {
                override fun onRequirements(requirements: List<Requirement>) {
                    trySend(requirements)
                }
            },
        )
        val receiver = object : BroadcastReceiver() {
            override fun onReceive(context: Context, intent: Intent) {
                launch { button.checkRequirements() }
            }
        }
        val changes = IntentFilter().apply {
            addAction(BluetoothAdapter.ACTION_STATE_CHANGED)
            addAction(LocationManager.MODE_CHANGED_ACTION)
        }
        val app = context.applicationContext ?: context
        app.registerReceiver(receiver, changes)
        launch { button.checkRequirements() }
        awaitClose {
            app.unregisterReceiver(receiver)
            handle.remove()
            handle.close()
        }
    }.buffer(Channel.UNLIMITED)
}
