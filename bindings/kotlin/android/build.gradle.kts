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
        // btleplug's Android backend needs API 24.
        minSdk = 24
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
