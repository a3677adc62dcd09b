package io.mobileaccess

import kotlinx.coroutines.CoroutineScope
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
