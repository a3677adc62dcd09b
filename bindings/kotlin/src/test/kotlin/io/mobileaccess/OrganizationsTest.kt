package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * A member of two coworking operators through the generated Kotlin: the app signs in to the
 * second operator's cloud with `addAccount`, one Key Button then opens the nearest door of
 * either, each report says whose door it was, and signing out of one forgets only its keys.
 */
class OrganizationsTest {

    @Test
    fun `one button opens the nearest door of either organization and says whose it was`() = runBlocking {
        World().use { world ->
            DemoCloud.start().use { second ->
                // The second operator's meeting room, down the corridor past the first's doors.
                val secondMeetingRoom = world.site.addReader(second.readers[1], SECOND_MEETING_ROOM_X, 0.0)
                val button = world.button("ada_member")
                button.addAccount("beta", KeyButtonConfig(second.baseUrl, second.token("ada_member")))
                button.refresh()
                assertEquals(listOf("primary", "beta"), button.accounts().map { it.id })
                assertTrue(button.accounts().all { it.access!!.hasAccessGroup && it.doors == 2u })
                assertEquals(2, button.doors().count { it.account == "beta" })

                world.site.movePhone(SECOND_MEETING_ROOM_X - 1.5, 0.0)
                val report = button.tap()
                assertEquals(TapOutcome.Unlocked, report.outcome)
                assertEquals("beta", report.account)
                assertEquals(listOf(ReaderSignal(true, Reason.GRANTED)), world.site.signals(secondMeetingRoom))
                assertTrue(world.site.signals(world.meetingRoom).isEmpty(), "the first operator's reader heard nothing")

                world.standAtMeetingRoom()
                assertEquals("primary", button.tap().account)

                assertTrue(button.removeAccount("beta"))
                assertEquals(listOf("primary"), button.accounts().map { it.id })
                assertTrue(button.doors().none { it.account == "beta" }, "signed out: its keys are gone")
            }
        }
    }

    private companion object {
        const val SECOND_MEETING_ROOM_X = 45.0
    }
}
