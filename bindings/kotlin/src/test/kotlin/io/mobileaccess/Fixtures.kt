package io.mobileaccess

import kotlinx.coroutines.channels.Channel
import java.math.BigInteger
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger

/** Where the demo's doors hang, in metres along a corridor. */
object Doors {
    const val MAIN_ENTRANCE_X = 0.0
    const val MEETING_ROOM_X = 12.0
    const val SERVER_ROOM_X = 30.0
}

/**
 * A cloud, a site with one virtual reader per door the cloud provisioned, and the phone far away.
 * With [serverRoomVerifiesOwner] the administrator made the server room require owner
 * verification before its reader was installed (so it was provisioned with the setting).
 */
class World(val cloud: DemoCloud = DemoCloud.start(), serverRoomVerifiesOwner: Boolean = false) : AutoCloseable {
    val site = SimulatedSite(SimulatedPhone.ANDROID, 60.0, 0.0, 7uL)
    val mainEntrance: String
    val meetingRoom: String
    val serverRoom: String

    init {
        val (main, meeting, server) = cloud.readers
        mainEntrance = site.addReader(main, Doors.MAIN_ENTRANCE_X, 0.0)
        meetingRoom = site.addReader(meeting, Doors.MEETING_ROOM_X, 0.0)
        var serverProvisioning = server
        if (serverRoomVerifiesOwner) {
            val doors = cloud.admin("GET", "/v1/admin/doors").getJSONArray("items")
            val door = (0 until doors.length()).map { doors.getJSONObject(it) }.first { it.getString("name") == "Server room" }
            cloud.admin("PATCH", "/v1/admin/doors/${door.getString("id")}", "{\"owner_verification\": true}")
            serverProvisioning = org.json.JSONObject(server).put("owner_verification", true).toString()
        }
        serverRoom = site.addReader(serverProvisioning, Doors.SERVER_ROOM_X, 0.0)
    }

    /** A Key Button for the demo member [externalId] on the site's phone. */
    fun button(
        externalId: String,
        storage: SecureStorage = memoryStorage(),
        signer: DeviceSigner? = null,
        ownerKey: OwnerKey? = null,
    ): KeyButton = site.keyButton(KeyButtonConfig(cloud.baseUrl, cloud.token(externalId)), storage, signer, ownerKey)

    /** The phone held against the server room's tap-mode reader. */
    fun holdAtServerRoom() = site.movePhone(Doors.SERVER_ROOM_X + 0.05, 0.0)

    /** The phone held against the main entrance's tap-mode reader. */
    fun holdAtMainEntrance() = site.movePhone(Doors.MAIN_ENTRANCE_X + 0.05, 0.0)

    /** The phone a metre and a half from the meeting room's range reader. */
    fun standAtMeetingRoom() = site.movePhone(Doors.MEETING_ROOM_X - 1.5, 0.0)

    override fun close() {
        site.close()
        cloud.close()
    }
}

/** Records every state a Key Button reports, and lets a test wait for one. */
class RecordingListener : StateListener {
    val states = CopyOnWriteArrayList<KeyButtonState>()
    private val arrivals = Channel<KeyButtonState>(Channel.UNLIMITED)

    override fun onState(state: KeyButtonState) {
        states += state
        arrivals.trySend(state)
    }

    /** Suspends until a state matching [predicate] arrives. */
    suspend fun awaitState(predicate: (KeyButtonState) -> Boolean): KeyButtonState {
        while (true) {
            val state = arrivals.receive()
            if (predicate(state)) return state
        }
    }
}

/** The app's secure storage, as a Keychain or Keystore-backed store would be plugged in. */
class MapStorage : SecureStorage {
    val values = ConcurrentHashMap<String, ByteArray>()

    override fun get(key: String): ByteArray? = values[key]

    override fun set(key: String, value: ByteArray) {
        values[key] = value
    }

    override fun delete(key: String) {
        values.remove(key)
    }
}

/** Storage whose backing store is gone, as a locked Keychain would be. */
class BrokenStorage : SecureStorage {
    override fun get(key: String): ByteArray? = throw IllegalStateException("keystore unavailable")

    override fun set(key: String, value: ByteArray) = throw IllegalStateException("keystore unavailable")

    override fun delete(key: String) = throw IllegalStateException("keystore unavailable")
}

/**
 * The phone's owner key as an app implements it over the platform: a P-256 key the platform
 * releases only for [window] after its owner verified (Android Keystore with user
 * authentication, Secure Enclave with user presence). [ownerVerifies] is the owner's answer to
 * the next prompt.
 */
class PlatformOwnerKey(private val window: java.time.Duration = java.time.Duration.ofSeconds(30)) : OwnerKey {
    private val key = PlatformSigner()

    @Volatile var ownerVerifies = true

    @Volatile private var verifiedAt: java.time.Instant? = null
    val prompts = AtomicInteger()

    private fun released() = verifiedAt?.let { java.time.Instant.now() < it.plus(window) } ?: false

    override fun publicKey(): ByteArray = key.publicKey()

    override fun verifyOwner(reason: String) {
        if (released()) return
        prompts.incrementAndGet()
        if (!ownerVerifies) throw PlatformException.NotVerified("the owner cancelled: $reason")
        verifiedAt = java.time.Instant.now()
    }

    override fun sign(message: ByteArray): ByteArray {
        if (!released()) throw PlatformException.NotVerified("user not authenticated")
        return key.sign(message)
    }
}

/**
 * A P-256 device key held by the platform's crypto provider, as an Android Keystore or Secure
 * Enclave key is: the SDK only ever sees the public key and signatures.
 */
class PlatformSigner : DeviceSigner {
    private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }
        .generateKeyPair()
    val signatures = AtomicInteger()

    override fun publicKey(): ByteArray {
        val point = (pair.public as ECPublicKey).w
        return byteArrayOf(0x04) + point.affineX.toFixed(32) + point.affineY.toFixed(32)
    }

    override fun sign(message: ByteArray): ByteArray {
        val der = Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
        signatures.incrementAndGet()
        return derToRaw(der)
    }

    /** JCA signs in DER (`SEQUENCE { INTEGER r, INTEGER s }`); the SDK wants `r ‖ s`. */
    private fun derToRaw(der: ByteArray): ByteArray {
        var offset = 2 + if (der[1].toInt() and 0x80 != 0) der[1].toInt() and 0x7f else 0
        val parts = (0 until 2).map {
            check(der[offset] == 0x02.toByte()) { "not a DER integer" }
            val length = der[offset + 1].toInt()
            val value = BigInteger(1, der.copyOfRange(offset + 2, offset + 2 + length))
            offset += 2 + length
            value.toFixed(32)
        }
        return parts[0] + parts[1]
    }
}

private fun BigInteger.toFixed(size: Int): ByteArray {
    val bytes = toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
    return ByteArray(size - bytes.size) + bytes
}
