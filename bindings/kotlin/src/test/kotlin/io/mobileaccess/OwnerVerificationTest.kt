package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * A door that requires owner verification, through the generated Kotlin: the app's own owner key
 * (implemented in Kotlin over the JVM's crypto provider, as an app does over the Android
 * Keystore) is asked to verify before the tap and signs the exchange.
 */
class OwnerVerificationTest {

    @Test
    fun `the owner cancels and the door stays shut, then verifies and it opens`() = runBlocking {
        World(serverRoomVerifiesOwner = true).use { world ->
            val owner = PlatformOwnerKey()
            val listener = RecordingListener()
            val button = world.button("grace_staff", ownerKey = owner)
            button.addListener(listener).use {
                world.holdAtServerRoom()

                owner.ownerVerifies = false
                val declined = assertThrows<MobileAccessException.OwnerNotVerified> { runBlocking { button.tap() } }
                assertEquals(NextStep.VerifyItsYou, declined.nextStep())
                assertTrue("verify it's you" in declined.message!!, declined.message)
                assertTrue(KeyButtonState.VerifyingOwner in listener.states, "${listener.states}")
                assertTrue(world.site.signals(world.serverRoom).isEmpty(), "nothing reached the reader")
                assertFalse(world.site.relayIsOpen(world.serverRoom))

                owner.ownerVerifies = true
                val report = button.tap()
                assertEquals(TapOutcome.Unlocked, report.outcome)
                assertEquals(ExchangeKind.FULL, report.exchange)
                assertEquals("Server room", report.door)
                assertEquals(listOf(ReaderSignal(true, Reason.GRANTED)), world.site.signals(world.serverRoom))
                assertEquals(2, owner.prompts.get())
            }
        }
    }

    @Test
    fun `an app without an owner key is told the door needs one`() = runBlocking {
        World(serverRoomVerifiesOwner = true).use { world ->
            val button = world.button("grace_staff")
            world.holdAtServerRoom()
            val error = assertThrows<MobileAccessException.OwnerVerificationUnavailable> { runBlocking { button.tap() } }
            assertEquals(NextStep.ContactCommunityManager, error.nextStep())
            assertFalse(world.site.relayIsOpen(world.serverRoom))
        }
    }
}
