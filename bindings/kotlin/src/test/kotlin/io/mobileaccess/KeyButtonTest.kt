package io.mobileaccess

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/** The Key Button through the generated Kotlin, against a real cloud on loopback and virtual readers. */
class KeyButtonTest {

    @Test
    fun `first tap validates, downloads a key and opens the main entrance`() = runBlocking {
        World().use { world ->
            val button = world.button("ada_member")
            world.holdAtMainEntrance()

            val report = button.tap()

            assertEquals(TapOutcome.Unlocked, report.outcome)
            assertEquals("Main entrance", report.door)
            assertEquals(world.mainEntrance, report.readerId)
            assertEquals(ExchangeKind.FULL, report.exchange)
            assertTrue(report.httpRequests >= 1uL, "the first tap downloads a key")
            assertTrue(button.offlineValidity() > java.time.Duration.ofHours(1), "the key stays valid offline")
            assertEquals(listOf(ReaderSignal(true, Reason.GRANTED)), world.site.signals(world.mainEntrance))
            assertTrue(world.site.relayIsOpen(world.mainEntrance), "the door can be pushed open")
        }
    }

    @Test
    fun `the states flow through a whole tap, in order, and a removed listener hears nothing more`() = runBlocking {
        World().use { world ->
            val button = world.button("ada_member")
            world.standAtMeetingRoom()
            val seen = CopyOnWriteArrayList<KeyButtonState>()
            val collecting = launch(Dispatchers.Default) { button.states.collect { seen += it } }
            val removed = RecordingListener()
            button.addListener(removed).use { handle ->
                handle.remove()
            }
            assertEquals(listOf<KeyButtonState>(KeyButtonState.Hidden), removed.states.toList(), "the current state at once")

            withTimeout(5.seconds) { while (seen.isEmpty()) yield() } // the collector is listening

            val report = button.tap()

            assertEquals("Meeting room", report.door)
            withTimeout(5.seconds) { while (seen.lastOrNull() != KeyButtonState.Unlocked) yield() }
            assertEquals(
                listOf(
                    KeyButtonState.Hidden,
                    KeyButtonState.Validating,
                    KeyButtonState.DownloadingKey,
                    KeyButtonState.Searching,
                    KeyButtonState.Unlocking,
                    KeyButtonState.Unlocked,
                ),
                seen.toList(),
            )
            assertEquals(listOf<KeyButtonState>(KeyButtonState.Hidden), removed.states.toList(), "nothing after remove")
            assertEquals("Door open", button.state().hint())

            // Visibility follows the member's access, known after a refresh, and the screen.
            button.refresh()
            assertFalse(button.isVisible(), "not on the home screen")
            button.setScreen(Screen.HOME)
            assertTrue(button.isVisible())

            // A second tap: the cached key, no network, the fast exchange; a view model's StateFlow follows it.
            val viewModel = CoroutineScope(Dispatchers.Default)
            val state = button.stateIn(viewModel)
            val requests = button.httpRequests()
            val second = button.tap()
            assertEquals(0uL, second.httpRequests)
            assertEquals(requests, button.httpRequests())
            assertEquals(ExchangeKind.FAST, second.exchange)
            withTimeout(5.seconds) { while (state.value != KeyButtonState.Unlocked) yield() }
            withTimeout(5.seconds) { while (seen.size < 11) yield() }
            assertEquals(
                listOf(
                    KeyButtonState.Hidden,
                    KeyButtonState.Ready,
                    KeyButtonState.Searching,
                    KeyButtonState.Unlocking,
                    KeyButtonState.Unlocked,
                ),
                seen.drop(6),
            )
            viewModel.cancel()
            collecting.cancel()
        }
    }

    @Test
    fun `a member who is not confirmed gets a typed NotConfirmed exception`() = runBlocking {
        World().use { world ->
            val button = world.button("una_unconfirmed")
            val listener = RecordingListener()
            val listening = button.addListener(listener)
            world.holdAtMainEntrance()

            val error = assertThrows<MobileAccessException.NotConfirmed> { runBlocking { button.tap() } }

            assertEquals(ErrorCategory.ACCESS, error.category())
            assertFalse(error.isRetryable())
            assertEquals(englishMessage(MessageKey.NOT_CONFIRMED), error.message, "the message is the member's sentence")
            assertEquals(NextStep.ContactCommunityManager, error.nextStep())
            val last = listener.states.last()
            listening.close()
            assertTrue(last is KeyButtonState.Failed && last.category == ErrorCategory.ACCESS, "$last")
            assertEquals(emptyList<ReaderSignal>(), world.site.signals(world.mainEntrance), "no reader was approached")
        }
    }

    @Test
    fun `a member without an access group gets a typed NoAccessGroup exception and no button`() = runBlocking {
        World().use { world ->
            val button = world.button("nick_nogroup")
            button.setScreen(Screen.HOME)

            val access = button.refresh()
            assertFalse(access.hasAccessGroup)
            assertFalse(button.isVisible(), "no access group, no Key Button")

            world.holdAtMainEntrance()
            val error = assertThrows<MobileAccessException.NoAccessGroup> { runBlocking { button.tap() } }
            assertEquals(ErrorCategory.ACCESS, error.category())
            assertTrue(error.detail.isNotBlank())
        }
    }

    @Test
    fun `cancel ends a tap that is searching, and cancelling the coroutine does too`() = runBlocking {
        World().use { world ->
            val button = world.button("ada_member")
            val listener = RecordingListener()
            val listening = button.addListener(listener)
            button.refresh() // the key, so the tap goes straight to searching; the phone is 60 m away

            val started = TimeSource.Monotonic.markNow()
            val tap = async(Dispatchers.Default) { runCatching { button.tap() } }
            withTimeout(5.seconds) { listener.awaitState { it == KeyButtonState.Searching } }
            button.cancel()
            val error = tap.await().exceptionOrNull()
            assertTrue(error is MobileAccessException.Cancelled, "$error")
            assertTrue(started.elapsedNow() < 5.seconds, "cancelled long before the 10 s scan timeout")

            // Cancelling the calling coroutine cancels the tap in the SDK as well.
            val job = launch(Dispatchers.Default) { button.tap() }
            withTimeout(5.seconds) { listener.awaitState { it == KeyButtonState.Searching } }
            job.cancel()
            // A cancel is nobody's error: the button goes back to what the screen shows (hidden:
            // this app never showed the home screen), with no red flash on the way.
            withTimeout(5.seconds) { listener.awaitState { it == KeyButtonState.Hidden } }
            assertTrue(listener.states.none { it is KeyButtonState.Failed }, "${listener.states}")

            // The button is free again: the next tap runs (and opens) rather than being refused as busy.
            world.holdAtMainEntrance()
            assertEquals(TapOutcome.Unlocked, button.tap().outcome)
            listening.close()
        }
    }

    @Test
    fun `a tap with a cached key opens doors with the cloud stopped`() = runBlocking {
        World().use { world ->
            val storage = MapStorage()
            val button = world.button("ada_member", storage)
            world.holdAtMainEntrance()
            assertEquals(TapOutcome.Unlocked, button.tap().outcome)

            world.cloud.stop()

            // The same phone after a restart: a new button on the same storage.
            val restarted = world.button("ada_member", storage)
            world.standAtMeetingRoom()
            val offline = restarted.tap()
            assertEquals(TapOutcome.Unlocked, offline.outcome)
            assertEquals("Meeting room", offline.door)
            assertEquals(0uL, offline.httpRequests)

            // A phone without a key really has no cloud to ask.
            val newPhone = world.button("ada_member")
            val error = assertThrows<MobileAccessException.Network> { runBlocking { newPhone.tap() } }
            assertEquals(ErrorCategory.NETWORK, error.category())
            assertTrue(error.isRetryable())
        }
    }

    @Test
    fun `the app's storage and hardware signer are used, and their failures are typed`() = runBlocking {
        World().use { world ->
            val storage = MapStorage()
            val signer = PlatformSigner()
            val button = world.button("ada_member", storage, signer)
            world.holdAtMainEntrance()

            assertEquals(TapOutcome.Unlocked, button.tap().outcome)
            assertTrue(signer.signatures.get() >= 1, "the full exchange was signed by the app's key")
            assertFalse(storage.values.containsKey("device-key"), "no software key with a hardware signer")
            assertTrue(storage.values.isNotEmpty(), "the key was kept in the app's storage")

            val error = assertThrows<MobileAccessException.Storage> { world.button("ada_member", BrokenStorage()) }
            assertTrue(error.detail.contains("keystore unavailable"), error.detail)
        }
    }

    @Test
    fun `creating a button on the real radio gives a button or a typed Bluetooth error`() = runBlocking {
        // CI machines have no Bluetooth adapter: the async constructor must fail fast and typed there.
        val started = TimeSource.Monotonic.markNow()
        val created = runCatching {
            KeyButton.create(KeyButtonConfig("http://127.0.0.1:9", "token"), memoryStorage(), null)
        }
        created.onSuccess { assertEquals(KeyButtonState.Hidden, it.state()) }
        created.onFailure { error ->
            assertTrue(error is MobileAccessException.BluetoothUnavailable, "$error")
            assertEquals(ErrorCategory.BLUETOOTH, (error as MobileAccessException).category())
        }
        assertTrue(started.elapsedNow() < 5.seconds, "no hanging on a machine without Bluetooth")
    }

    @Test
    fun `the SDK's logs reach the app's sink at the chosen level, without secrets`() = runBlocking {
        val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
        setLogSink(
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) {
                    lines += Triple(level, target, message)
                }
            },
            LogLevel.INFO,
        )
        try {
            World().use { world ->
                val button = world.button("ada_member")
                world.holdAtMainEntrance()
                button.tap()

                assertTrue(lines.any { it.second.startsWith("mobile_access") && it.third.contains("tap finished") }, "$lines")
                assertTrue(lines.none { it.first == LogLevel.DEBUG || it.first == LogLevel.TRACE }, "$lines")
                val token = world.cloud.token("ada_member")
                assertTrue(lines.none { it.third.contains(token) }, "the member token is never logged")
            }
        } finally {
            clearLogSink()
        }
    }
}
