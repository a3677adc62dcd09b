// The Android library an app depends on: the generated Kotlin (src/main/kotlin) and the native
// library for each ABI (src/main/jniLibs/<abi>/libmobile_access_ffi.so), both produced by
// `cargo xtask android` (cargo-ndk). The Gradle build is not run by CI (no Android SDK); its Kotlin and
// the droidplug Java are compiled against android-all (API 34) by ../pom.xml in `cargo xtask test`.
plugins {
    id("com.android.library") version "8.13.2"
    id("org.jetbrains.kotlin.android") version "2.1.21"
}

android {
    namespace = "io.mobileaccess"
    compileSdk = 35

    defaultConfig {
        // 26, not btleplug's 24: the generated API maps timestamps and durations to java.time
        // (API 26), and desugaring it would make every app enable core library desugaring.
        // Android 7 phones are a sliver of those in use, and their Bluetooth LE stacks the least
        // reliable. (`cargo xtask android` writes the same into the AAR's manifest.)
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets["main"].kotlin.srcDir("src/main/kotlin")
    // Hand-written Kotlin (MobileAccess.initialize, AndroidBluetoothRadio, UrlConnectionTransport).
    sourceSets["main"].java.srcDir("src/main/java")
    // btleplug's droidplug Java classes, copied from the btleplug crate by `cargo xtask android`.
    sourceSets["main"].java.srcDir("build/generated/droidplug/java")
    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // On Android, the @aar flavour of JNA (it carries libjnidispatch for each ABI).
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
