package io.mobileaccess

import android.content.Context
import android.content.ContextWrapper
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** An application Context, as `Application.onCreate` has one (android-all's real class). */
class AppContext : ContextWrapper(null) {
    override fun getApplicationContext(): Context = this
}

/**
 * `MobileAccess.initialize(context)`, the Android start-up, through the Android module's Kotlin
 * and the JNI entry point. The process is made to follow Android's rule (start-up required),
 * which the desktop and iOS do not have.
 */
class StartupTest {
    @AfterEach
    fun backToTheDesktopRule() = requireStartupForTests(false, true)

    private fun World.config() = KeyButtonConfig(cloud.baseUrl, cloud.token("ada_member"))

    @Test
    fun `forgetting initialize is a typed error that names the call, not a crash or a network error`() = runBlocking {
        requireStartupForTests(true, true)
        World().use { world ->
            val error = assertThrows<MobileAccessException.NotInitialized> {
                runBlocking { KeyButton.create(world.config(), memoryStorage(), null, RelayRadio(world.site.radio())) }
            }
            assertTrue("MobileAccess.initialize(context)" in error.detail(), error.detail())
            assertEquals(NextStep.UpdateApp, error.nextStep(), "the developer must fix the app")
            assertFalse(error.isRetryable(), "retrying cannot help")
            assertThrows<MobileAccessException.NotInitialized> { WalletPasses(world.config()) }
            assertFalse(MobileAccess.isInitialized)
        }
    }

    @Test
    fun `initialize once, then again, and the SDK works`() = runBlocking {
        requireStartupForTests(true, true)
        World().use { world ->
            MobileAccess.initialize(AppContext())
            assertTrue(MobileAccess.isInitialized)
            MobileAccess.initialize(AppContext()) // a second call is harmless

            val button = KeyButton.create(world.config(), memoryStorage(), null, RelayRadio(world.site.radio()))
            world.holdAtMainEntrance()
            assertEquals(TapOutcome.Unlocked, button.tap().outcome)
        }
    }
}
