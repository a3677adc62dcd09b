package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CopyOnWriteArrayList

/** What a member sees and an app developer prints: sentences, next steps, doors, no secrets. */
class MemberFacingTest {
    @AfterEach
    fun english() = setMessages(emptyMap())

    /** One of every error, as the SDK throws them, with the sentence and next step each must give. */
    private val everyError: List<Triple<MobileAccessException, MessageKey?, NextStep>> = listOf(
        Triple(MobileAccessException.NoAccessGroup("403 no_access_group"), MessageKey.NO_ACCESS_GROUP, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.NotConfirmed("403 not_confirmed"), MessageKey.NOT_CONFIRMED, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.ModuleDisabled("off"), MessageKey.MODULE_DISABLED, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.CredentialSuspended("suspended"), MessageKey.CREDENTIAL_SUSPENDED, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.Unauthorized("401"), MessageKey.SIGN_IN_AGAIN, NextStep.SignInAgain),
        Triple(MobileAccessException.Refused(409u.toUShort(), "conflict", "x"), MessageKey.REQUEST_REFUSED, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.RateLimited(30uL, "429"), null, NextStep.WaitAndTryAgain(30uL)),
        Triple(
            MobileAccessException.Network("error sending request for url (https://access.example.com/v1/me/keys)"),
            MessageKey.OFFLINE,
            NextStep.TryAgain,
        ),
        Triple(MobileAccessException.InvalidResponse("expected value at line 1"), MessageKey.SERVICE_PROBLEM, NextStep.TryAgain),
        Triple(MobileAccessException.BluetoothOff("adapter off"), MessageKey.BLUETOOTH_OFF, NextStep.TurnOnBluetooth),
        Triple(MobileAccessException.BluetoothUnauthorized("BLUETOOTH_SCAN"), MessageKey.BLUETOOTH_NOT_ALLOWED, NextStep.GrantPermissions),
        Triple(MobileAccessException.BluetoothUnavailable("no adapter"), MessageKey.BLUETOOTH_UNAVAILABLE, NextStep.UseAnotherPhone),
        Triple(MobileAccessException.LocationServicesOff("location off"), MessageKey.LOCATION_SERVICES_OFF, NextStep.TurnOnLocationServices),
        Triple(MobileAccessException.AppUpdateRequired("426 app_update_required"), MessageKey.APP_OUTDATED, NextStep.UpdateApp),
        Triple(MobileAccessException.Bluetooth("GATT 133"), MessageKey.BLUETOOTH_FAILED, NextStep.TryAgain),
        Triple(MobileAccessException.NoReaderFound("none"), MessageKey.NO_READER_FOUND, NextStep.MoveCloser),
        Triple(MobileAccessException.UnknownDoor("d-1", "not in key"), MessageKey.DENIED_WRONG_DOOR, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.RemoteUnlockOff("off"), MessageKey.REMOTE_UNLOCK_OFF, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.ProximityRequired("no proof"), MessageKey.REMOTE_NEEDS_PROXIMITY, NextStep.MoveCloser),
        Triple(MobileAccessException.ReaderOffline("did not answer"), MessageKey.DOOR_OFFLINE, NextStep.TryAgain),
        Triple(MobileAccessException.OwnerNotVerified("declined"), MessageKey.DENIED_VERIFY_ITS_YOU, NextStep.VerifyItsYou),
        Triple(
            MobileAccessException.OwnerVerificationUnavailable("no owner key"),
            MessageKey.OWNER_VERIFICATION_UNAVAILABLE,
            NextStep.ContactCommunityManager,
        ),
        Triple(MobileAccessException.ReaderRefused(Reason.OWNER_NOT_VERIFIED, "owner"), MessageKey.DENIED_VERIFY_ITS_YOU, NextStep.VerifyItsYou),
        Triple(MobileAccessException.ReaderRefused(Reason.NOT_CLOSE_ENOUGH, "far"), MessageKey.DENIED_MOVE_CLOSER, NextStep.MoveCloser),
        Triple(MobileAccessException.ReaderRefused(Reason.REVOKED, "revoked"), MessageKey.DENIED_REVOKED, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.ReaderNotGenuine("bad cert"), MessageKey.READER_NOT_GENUINE, NextStep.ContactCommunityManager),
        Triple(MobileAccessException.Exchange("bad tag"), MessageKey.EXCHANGE_FAILED, NextStep.TryAgain),
        Triple(MobileAccessException.Busy("busy"), MessageKey.BUSY, NextStep.NoAction),
        Triple(MobileAccessException.Cancelled("cancelled"), MessageKey.CANCELLED, NextStep.NoAction),
        Triple(MobileAccessException.Timeout(Phase.SCAN, "scan"), MessageKey.TIMED_OUT, NextStep.TryAgain),
        Triple(MobileAccessException.Storage("keystore"), MessageKey.PHONE_PROBLEM, NextStep.TryAgain),
        Triple(MobileAccessException.DeviceKey("sign"), MessageKey.PHONE_PROBLEM, NextStep.TryAgain),
        Triple(MobileAccessException.NotInitialized("call initialize"), MessageKey.APP_SETUP, NextStep.UpdateApp),
        Triple(MobileAccessException.Internal("panic"), MessageKey.PHONE_PROBLEM, NextStep.TryAgain),
    )

    @Test
    fun `every error's message is a sentence for the member, with its detail apart and a next step`() {
        for ((error, key, step) in everyError) {
            val sentence = error.sentence()
            assertEquals(sentence, error.message, "message is the sentence: $error")
            key?.let { assertEquals(englishMessage(it), sentence) }
            assertEquals(step, error.nextStep(), "$error")
            assertFalse("://" in sentence || "detail=" in sentence || "GATT" in sentence, sentence)
            assertTrue(error.detail().isNotBlank())
        }
        assertEquals("Too many attempts. Try again in 30 seconds.", MobileAccessException.RateLimited(30uL, "429").message)
        val variants = MobileAccessException::class.java.declaredClasses.count { MobileAccessException::class.java.isAssignableFrom(it) }
        assertEquals(variants, everyError.map { it.first::class }.toSet().size, "one of every variant")
    }

    @Test
    fun `an app translates the sentences, hints included, and can go back to English`() {
        setMessages(
            mapOf(
                MessageKey.BLUETOOTH_OFF to "Bluetooth ist aus. Schalte es ein, um Türen zu öffnen.",
                MessageKey.STATE_SEARCHING to "Suche die Tür…",
                MessageKey.RATE_LIMITED to "Zu viele Versuche. Noch {seconds} Sekunden.",
            ),
        )
        assertEquals("Bluetooth ist aus. Schalte es ein, um Türen zu öffnen.", MobileAccessException.BluetoothOff("off").message)
        assertEquals("Suche die Tür…", KeyButtonState.Searching.hint())
        assertEquals("Zu viele Versuche. Noch 7 Sekunden.", MobileAccessException.RateLimited(7uL, "429").message)
        assertEquals(englishMessage(MessageKey.OFFLINE), MobileAccessException.Network("x").message, "untranslated keys stay English")
        setMessages(emptyMap())
        assertEquals(englishMessage(MessageKey.BLUETOOTH_OFF), MobileAccessException.BluetoothOff("off").message)
    }

    @Test
    fun `the member sees their doors and opens the one they choose, not the nearest`() = runBlocking {
        World().use { world ->
            val button = world.button("ada_member")
            assertEquals(emptyList<KeyDoor>(), button.doors(), "no key yet")
            button.refresh()
            val doors = button.doors()
            assertEquals(listOf("Main entrance" to true, "Meeting room" to false), doors.map { it.name to it.needsTap })

            world.holdAtMainEntrance()
            val meeting = doors.single { it.name == "Meeting room" }
            val report = button.tapDoor(meeting.id)
            assertEquals(TapOutcome.Unlocked, report.outcome)
            assertEquals("Meeting room", report.door)
            assertTrue(world.site.signals(world.mainEntrance).isEmpty(), "the nearer reader was left alone")
            assertEquals("Main entrance", button.tap().door, "the default stays the nearest door")

            val error = assertThrows<MobileAccessException.UnknownDoor> { runBlocking { button.tapDoor("no-such-door") } }
            assertEquals(NextStep.ContactCommunityManager, error.nextStep())

            // The same doors from the cloud, for opening over the network: the workspace has not
            // allowed it, and the member is told so in a sentence.
            val remote = button.remoteDoors()
            assertEquals(RemoteUnlock.OFF, remote.policy)
            assertEquals(listOf("Main entrance", "Meeting room"), remote.doors.map { it.name }.sorted())
            assertEquals(RemoteUnlock.OFF, button.access()?.remoteUnlock)
            val off = assertThrows<MobileAccessException.RemoteUnlockOff> { runBlocking { button.unlockRemotely(meeting.id) } }
            assertEquals("Your workspace doesn't allow opening doors from a distance.", off.message)
            assertEquals(UnlockPath.BLUETOOTH, report.path)
        }
    }

    @Test
    fun `no token appears in any string the SDK hands the app or logs`() = runBlocking {
        val logged = CopyOnWriteArrayList<String>()
        setLogSink(
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) {
                    logged += message
                }
            },
            LogLevel.TRACE,
        )
        try {
            World().use { world ->
                val token = world.cloud.token("ada_member")
                val config = KeyButtonConfig(world.cloud.baseUrl, token)
                val transport = CountingTransport()
                val states = RecordingListener()
                val button = KeyButton.create(config, memoryStorage(), null, RelayRadio(world.site.radio()), transport)
                button.addListener(states).use {
                    world.holdAtMainEntrance()
                    val report = button.tap()
                    val refused = runCatching {
                        KeyButton.create(KeyButtonConfig("http://127.0.0.1:9", token), memoryStorage(), null, RelayRadio(world.site.radio()), transport).refresh()
                    }.exceptionOrNull()

                    val printed = listOf(config.toString(), report.toString(), button.access().toString(), refused.toString(), refused?.message.orEmpty()) +
                        transport.printed + states.states.map { it.toString() } + logged
                    assertTrue(transport.printed.isNotEmpty() && logged.isNotEmpty())
                    assertTrue(config.toString().contains(world.cloud.baseUrl), config.toString())
                    val leaks = printed.filter { token in it }
                    assertEquals(emptyList<String>(), leaks, "the member token is printed nowhere")
                }
            }
        } finally {
            clearLogSink()
        }
    }
}
