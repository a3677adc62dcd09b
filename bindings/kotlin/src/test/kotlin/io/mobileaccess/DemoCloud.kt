package io.mobileaccess

import org.json.JSONObject
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * The reference access cloud as a separate process on loopback, with its SQLite database in a
 * fresh temporary directory and the demo organization seeded: what the tests talk real HTTP to.
 */
class DemoCloud private constructor(
    private val process: Process,
    private val dataDir: File,
    /** `http://127.0.0.1:<port>`. */
    val baseUrl: String,
    private val seed: JSONObject,
) : AutoCloseable {

    /** The session token of the demo member whose platform id is [externalId]. */
    fun token(externalId: String): String {
        val members = seed.getJSONArray("members")
        for (i in 0 until members.length()) {
            val member = members.getJSONObject(i)
            if (member.getString("external_id") == externalId) return member.getString("token")
        }
        error("no demo member $externalId")
    }

    /** The demo organization's administrator token. */
    val adminToken: String
        get() = seed.getString("admin_token")

    /** An administrator's call ([method] on [path] with a JSON [body]); its JSON answer. */
    fun admin(method: String, path: String, body: String? = null): JSONObject {
        val publisher = body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody()
        val request = HttpRequest.newBuilder(URI.create(baseUrl + path))
            .header("Authorization", "Bearer $adminToken")
            .header("Content-Type", "application/json")
            .method(method, publisher)
            .build()
        val response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: ${response.statusCode()} ${response.body()}" }
        return JSONObject(response.body())
    }

    /** Reader provisioning objects as the cloud returned them: main entrance, meeting room, server room. */
    val readers: List<String>
        get() {
            val readers = seed.getJSONArray("readers")
            return (0 until readers.length()).map { readers.getJSONObject(it).toString() }
        }

    /** Stops serving: requests from now on are refused. */
    fun stop() {
        if (process.isAlive) {
            process.destroy()
            process.waitFor(10, TimeUnit.SECONDS)
        }
    }

    override fun close() {
        stop()
        dataDir.deleteRecursively()
    }

    companion object {
        private val binary: String = System.getProperty("mobileaccess.cloud.binary")
            ?: error("set -Dmobileaccess.cloud.binary to the mobile-access-cloud executable")

        private fun command(dataDir: File, vararg args: String): ProcessBuilder =
            ProcessBuilder(listOf(binary, "--data-dir", dataDir.path) + args).apply {
                // Its own SQLite database, never a shared one from the environment.
                environment().remove("DATABASE_URL")
                environment()["RUST_LOG"] = "warn"
                redirectError(ProcessBuilder.Redirect.INHERIT)
            }

        /** Seeds the demo organization, then serves it on a free loopback port. */
        fun start(): DemoCloud {
            val dataDir = Files.createTempDirectory("mobile-access-cloud").toFile()
            val seeding = command(dataDir, "seed-demo", "--json")
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start()
            val seed = seeding.inputStream.bufferedReader().readText()
            check(seeding.waitFor() == 0) { "seed-demo failed" }
            val server = command(dataDir, "serve", "--listen", "127.0.0.1:0").start()
            val baseUrl = server.inputStream.bufferedReader().readLine()
                ?: error("the cloud exited before serving")
            return DemoCloud(server, dataDir, baseUrl.trim(), JSONObject(seed))
        }
    }
}
