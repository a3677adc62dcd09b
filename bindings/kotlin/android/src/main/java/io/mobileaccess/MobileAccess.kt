package io.mobileaccess

import android.content.Context

/**
 * Start-up of the SDK on Android: call [initialize] once, in `Application.onCreate`, before
 * creating a [KeyButton] or [WalletPasses].
 *
 * Why it is needed: the native library reaches two Java components through JNI that cannot find
 * the app by themselves — btleplug's Bluetooth bridge (droidplug, shipped in this module) and the
 * TLS certificate verifier that checks the cloud's certificate with Android's trust store. Without
 * this call the SDK refuses with [MobileAccessException.NotInitialized] (naming this call) rather
 * than crashing in Bluetooth or failing every HTTPS request as if the network were down.
 *
 * Hand written (not generated): it lives in `src/main/java` because `cargo xtask bindings`
 * replaces `src/main/kotlin` with the generated code.
 */
object MobileAccess {
    init {
        // The same library JNA loads for the generated code; loading it twice is harmless.
        System.loadLibrary("mobile_access_ffi")
    }

    /**
     * Initialises everything native the SDK needs. Safe to call again (later calls return at
     * once) and from any thread. Keeps only the application context.
     *
     * @throws MobileAccessException.NotInitialized when a native component could not start.
     */
    @JvmStatic
    @Synchronized
    fun initialize(context: Context) {
        val application = context.applicationContext ?: context
        nativeInitialize(application)?.let { why -> throw MobileAccessException.NotInitialized(why) }
    }

    /** True once [initialize] succeeded in this process. */
    @JvmStatic
    val isInitialized: Boolean
        get() = io.mobileaccess.isInitialized()

    /** The JNI entry point in `mobile-access-ffi` (`startup.rs`): null on success, else why not. */
    @JvmStatic
    private external fun nativeInitialize(context: Any): String?
}
