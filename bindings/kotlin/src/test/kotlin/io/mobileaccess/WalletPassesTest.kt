package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.security.KeyPairGenerator
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec

/** What the iOS app calls before offering "Add to Wallet", and the add, through the generated Kotlin. */
class WalletPassesTest {

    private fun secureElementKey(): String {
        val key = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }
            .generateKeyPair().public as ECPublicKey
        val fixed = { n: java.math.BigInteger -> n.toByteArray().takeLast(32).toByteArray().let { ByteArray(32 - it.size) + it } }
        return (byteArrayOf(4) + fixed(key.w.affineX) + fixed(key.w.affineY)).joinToString("") { "%02x".format(it) }
    }

    @Test
    fun `eligibility lists every unmet device prerequisite, and an eligible member adds a pass`() = runBlocking {
        DemoCloud.start().use { cloud ->
            val wallet = WalletPasses(KeyButtonConfig(cloud.baseUrl, cloud.token("grace_staff")))

            val old = wallet.eligibility(WalletDevice(iosVersion = "16.7", appVersion = "45.9"))
            assertFalse(old.eligible)
            assertEquals(listOf(WalletPrerequisite.IOS_VERSION, WalletPrerequisite.APP_VERSION), old.unmet)
            assertEquals(2, old.messages.size)

            val current = WalletDevice(iosVersion = "17.4", appVersion = "46.2")
            assertTrue(wallet.eligibility(current).eligible)
            val added = wallet.add(
                NewWalletPass(
                    iosVersion = current.iosVersion,
                    appVersion = current.appVersion,
                    iphoneDeviceId = "iphone-1",
                    secureElementPublicKey = secureElementKey(),
                    watchDeviceId = "watch-1",
                    watchUnlocked = false,
                ),
            )
            assertEquals(WatchBinding.ADD_AGAIN, added.watch, "a locked watch is not bound")
            assertEquals("iphone-1", added.pass.devices.iphone)
            assertTrue(added.pass.locks.isNotEmpty())
            assertTrue(added.provisioningPayload.contains("\"unlock\":\"tap\""), added.provisioningPayload)
        }
    }
}
