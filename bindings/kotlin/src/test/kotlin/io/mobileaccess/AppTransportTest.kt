package io.mobileaccess

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CopyOnWriteArrayList

/** Counts what the SDK sent through the app's transport. */
class CountingTransport(private val inner: HttpTransport = UrlConnectionTransport()) : HttpTransport {
    val sent = CopyOnWriteArrayList<String>()

    /** What an app logging its requests would print: `toString()` of each. */
    val printed = CopyOnWriteArrayList<String>()

    override suspend fun send(request: HttpRequest): HttpResponse {
        sent += "${request.method()} ${request.url().substringAfter("/v1/")}"
        printed += request.toString()
        return inner.send(request)
    }
}

/**
 * The SDK's cloud requests through the Android module's [UrlConnectionTransport] (the phone build
 * has no HTTP stack of its own), with the app's radio: the whole phone path on the JVM.
 */
class AppTransportTest {
    @Test
    fun `a first tap downloads its key through the platform's HTTP stack`() = runBlocking {
        World().use { world ->
            val transport = CountingTransport()
            val config = KeyButtonConfig(world.cloud.baseUrl, world.cloud.token("ada_member"))
            val button = KeyButton.create(config, memoryStorage(), null, RelayRadio(world.site.radio()), transport)
            world.holdAtMainEntrance()

            val report = button.tap()

            assertEquals(TapOutcome.Unlocked, report.outcome)
            assertTrue(transport.sent.contains("POST me/keys"), "${transport.sent}")
            assertEquals(report.httpRequests, transport.sent.size.toULong())
        }
    }

    @Test
    fun `refusals keep their meaning and an unreachable cloud is a retryable network error`() = runBlocking {
        World().use { world ->
            val unconfirmed = KeyButtonConfig(world.cloud.baseUrl, world.cloud.token("una_unconfirmed"))
            val refused = KeyButton.create(unconfirmed, memoryStorage(), null, RelayRadio(world.site.radio()), UrlConnectionTransport())
            world.holdAtMainEntrance()
            assertThrows<MobileAccessException.NotConfirmed> { runBlocking { refused.tap() } }

            val nowhere = KeyButtonConfig("http://127.0.0.1:9", world.cloud.token("ada_member"))
            val offline = KeyButton.create(nowhere, memoryStorage(), null, RelayRadio(world.site.radio()), UrlConnectionTransport())
            val error = assertThrows<MobileAccessException.Network> { runBlocking { offline.refresh() } }
            assertTrue(error.isRetryable())
        }
    }
}
