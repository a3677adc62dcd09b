package io.mobileaccess

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import java.io.IOException
import java.net.HttpURLConnection
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException
import javax.net.ssl.SSLException

/**
 * The SDK's requests over the platform's own HTTP stack (`HttpURLConnection`, OkHttp inside on
 * Android): certificates are checked against Android's trust store (user and MDM roots, network
 * security config included) and the device's proxy settings apply. Pass it to
 * `KeyButton.create(..., transport = UrlConnectionTransport())` and `WalletPasses(config,
 * UrlConnectionTransport())`; a phone build of the library has no HTTP stack of its own.
 *
 * Blocking I/O runs on [Dispatchers.IO] and is interrupted when the SDK gives up on the request.
 */
class UrlConnectionTransport : HttpTransport {
    override suspend fun send(request: HttpRequest): HttpResponse = runInterruptible(Dispatchers.IO) {
        val timeout = request.timeout().toMillis().coerceIn(1, Int.MAX_VALUE.toLong()).toInt()
        val connection = try {
            URL(request.url()).openConnection() as HttpURLConnection
        } catch (e: IOException) {
            throw HttpException.Connect(e.toString())
        }
        try {
            connection.requestMethod = request.method()
            connection.connectTimeout = timeout
            connection.readTimeout = timeout
            connection.instanceFollowRedirects = false
            connection.useCaches = false
            request.headers().forEach { (name, value) -> connection.setRequestProperty(name, value) }
            request.body()?.let { body ->
                connection.doOutput = true
                connection.setFixedLengthStreamingMode(body.size)
                connection.outputStream.use { it.write(body) }
            }
            val status = connection.responseCode
            val stream = if (status >= 400) connection.errorStream else connection.inputStream
            val retryAfter = connection.getHeaderField("Retry-After")?.trim()?.toULongOrNull()
            HttpResponse(status.toUShort(), retryAfter, stream?.use { it.readBytes() } ?: ByteArray(0))
        } catch (e: SocketTimeoutException) {
            throw HttpException.Timeout(e.toString())
        } catch (e: UnknownHostException) {
            throw HttpException.Connect(e.toString())
        } catch (e: SSLException) {
            throw HttpException.Connect(e.toString())
        } catch (e: java.net.ConnectException) {
            throw HttpException.Connect(e.toString())
        } catch (e: IOException) {
            throw HttpException.Failed(e.toString())
        } finally {
            connection.disconnect()
        }
    }
}
