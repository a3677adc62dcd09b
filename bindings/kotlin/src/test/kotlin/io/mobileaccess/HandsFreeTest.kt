package io.mobileaccess

import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Hands-free through the generated Kotlin, as an app's foreground service drives it: the member's
 * switch, the phone's lock state, start and stop; the phone walks up to the meeting room's range
 * reader on the simulated radio and the door opens once, with no tap.
 */
class HandsFreeTest {

    @Test
    fun `a phone that walks up to the door and stays opens it once, and only while unlocked`() = runBlocking {
        World().use { world ->
            world.cloud.admin("PATCH", "/v1/admin/settings", "{\"hands_free\": true}")
            val doors = world.cloud.admin("GET", "/v1/admin/doors").getJSONArray("items")
            val meeting = (0 until doors.length()).map { doors.getJSONObject(it) }.first { it.getString("name") == "Meeting room" }
            world.cloud.admin("PATCH", "/v1/admin/doors/${meeting.getString("id")}", "{\"hands_free\": true}")

            val button = world.button("ada_member")
            button.refresh()
            assertTrue(button.access()!!.handsFree)
            assertFalse(button.handsFreeEnabled(), "off until the member turns it on")
            button.setHandsFree(true)
            assertEquals(listOf("Meeting room"), button.handsFreeDoors().map { it.name })

            world.site.movePhone(Doors.MEETING_ROOM_X + 6.0, 0.0)
            button.startHandsFree()
            assertTrue(button.isHandsFreeRunning())
            delay(1_000)
            // Locked in a pocket at the door: nothing.
            world.site.movePhone(Doors.MEETING_ROOM_X + 1.0, 0.0)
            delay(4_000)
            assertTrue(world.site.signals(world.meetingRoom).isEmpty(), "locked: no opening")
            // Unlocked, still at the door: one opening after the dwell, then no more.
            button.setPhoneUnlocked(true)
            delay(6_000)
            assertEquals(listOf(ReaderSignal(true, Reason.GRANTED)), world.site.signals(world.meetingRoom))

            button.stopHandsFree()
            assertFalse(button.isHandsFreeRunning())
        }
    }
}
