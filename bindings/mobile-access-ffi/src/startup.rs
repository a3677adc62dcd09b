//! Start-up: what the library needs from the platform before anything else, and the one JNI
//! entry point that gives it on Android.
//!
//! On Android two native components cannot find the Java world by themselves: btleplug's
//! droidplug (its Rust side looks its Java classes up through the JNI environment, and panics on
//! first use without `btleplug::platform::init`) and `rustls-platform-verifier` (it verifies
//! certificates with the platform's `X509TrustManager` and panics inside the TLS handshake
//! without its `init_with_env`, which the SDK would report as a retryable network error). The
//! app therefore calls `MobileAccess.initialize(context)` (Kotlin, `bindings/kotlin/android`)
//! once, which lands in [`native_initialize`] (`Java_io_mobileaccess_MobileAccess_nativeInitialize`). A second call
//! returns at once. Until the first one succeeded, every entry that would reach those components
//! ([`require`]: `KeyButton.create`, `WalletPasses`) fails with
//! `MobileAccessError::NotInitialized`, which says what to call, instead of panicking or
//! pretending the network failed.
//!
//! Elsewhere (iOS, desktop, the JVM tests) nothing is required. The `sim` feature lets JVM tests
//! switch the Android rule on ([`require_startup_for_tests`]) to exercise it through the real
//! generated Kotlin.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use jni::{
    EnvUnowned,
    objects::{JClass, JObject, JString},
};

use crate::MobileAccessError;

/// True once `initialize` succeeded.
static READY: AtomicBool = AtomicBool::new(false);
/// Serializes initializations: two threads calling `initialize` at once do the work once.
static INITIALIZING: Mutex<()> = Mutex::new(());
/// Whether this process must call `initialize` first: always on Android.
static REQUIRED: AtomicBool = AtomicBool::new(cfg!(target_os = "android"));

/// Fails with `NotInitialized` where start-up is required and has not run.
pub(crate) fn require() -> Result<(), MobileAccessError> {
    if REQUIRED.load(Ordering::Acquire) && !READY.load(Ordering::Acquire) {
        return Err(MobileAccessError::NotInitialized {
            detail: "the SDK is not initialized: call MobileAccess.initialize(context) once when the app starts"
                .to_owned(),
        });
    }
    Ok(())
}

/// Whether `initialize` has succeeded in this process.
#[uniffi::export]
pub fn is_initialized() -> bool {
    READY.load(Ordering::Acquire)
}

/// The platform work of `initialize`, given the JNI environment and the app's `Context`.
/// Idempotent. Returns why it failed, as a sentence for the app's developer.
fn initialize(env: &mut jni::Env, context: &JObject) -> Result<(), String> {
    let _once = INITIALIZING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if READY.load(Ordering::Acquire) {
        return Ok(());
    }
    if context.is_null() {
        return Err("MobileAccess.initialize needs the application Context, got null".to_owned());
    }
    platform_init(env, context)?;
    READY.store(true, Ordering::Release);
    Ok(())
}

/// Android: droidplug's class cache and adapter, then the TLS verifier's JVM references.
#[cfg(target_os = "android")]
fn platform_init(env: &mut jni::Env, context: &JObject) -> Result<(), String> {
    #[cfg(feature = "btleplug")]
    btleplug::platform::init(env).map_err(|e| format!("Bluetooth (btleplug) start-up failed: {e}"))?;
    // Only builds with the SDK's own TLS stack; a phone build uses the app's HTTP stack.
    #[cfg(feature = "rust-http")]
    {
        let context = env.new_local_ref(context).map_err(|e| e.to_string())?;
        rustls_platform_verifier::android::init_with_env(env, context)
            .map_err(|e| format!("TLS verifier start-up failed: {e}"))?;
    }
    Ok(())
}

/// Elsewhere the platform needs nothing: the entry point exists on the host so the Kotlin
/// start-up path runs on the JVM too (the JVM tests and Robolectric call it).
#[cfg(not(target_os = "android"))]
fn platform_init(_env: &mut jni::Env, _context: &JObject) -> Result<(), String> {
    Ok(())
}

/// `MobileAccess.nativeInitialize(context)`: returns null on success, else why it failed (the
/// Kotlin side throws `MobileAccessException.NotInitialized` with it). Never unwinds into the
/// JVM: `with_env` catches panics and turns them into a Java `RuntimeException`.
#[jni::jni_mangle("io.mobileaccess.MobileAccess")]
pub extern "system" fn native_initialize<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    context: JObject<'local>,
) -> JString<'local> {
    env.with_env(|env| -> Result<JString<'local>, jni::errors::Error> {
        match initialize(env, &context) {
            Ok(()) => Ok(JString::null()),
            Err(why) => {
                tracing::warn!("start-up failed: {why}");
                JString::from_str(env, why)
            }
        }
    })
    .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}

/// Feature `sim` (tests only): makes this process behave as Android does (`required`) or as the
/// desktop does, and forgets a previous `initialize` (`reset`), so the JVM tests can check the
/// forgotten, first and repeated start-up through the generated Kotlin.
#[cfg(feature = "sim")]
#[uniffi::export]
pub fn require_startup_for_tests(required: bool, reset: bool) {
    REQUIRED.store(required, Ordering::Release);
    if reset {
        READY.store(false, Ordering::Release);
    }
}
