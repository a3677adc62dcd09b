package io.mobileaccess

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.util.jar.JarInputStream
import java.util.zip.ZipFile
import javax.xml.parsers.DocumentBuilderFactory

/**
 * The AAR an app depends on, as `cargo xtask android --abi host` built it and Maven installed it
 * into a local repository: opened as Android's build would open it.
 */
class AarTest {
    private val aar = File(System.getProperty("mobileaccess.aar") ?: "")
    private val pom = File(System.getProperty("mobileaccess.aar.pom") ?: "")

    @Test
    fun `the AAR carries the classes, the manifest, the consumer rules and the native library`() {
        assertTrue(aar.isFile, "no AAR at '$aar' (cargo xtask test builds and installs it)")
        ZipFile(aar).use { zip ->
            val entries = zip.entries().asSequence().map { it.name }.toSet()
            for (required in listOf("AndroidManifest.xml", "classes.jar", "proguard.txt", "R.txt")) {
                assertTrue(required in entries, "$required in $entries")
            }
            val libraries = entries.filter { it.startsWith("jni/") && it.endsWith("/libmobile_access_ffi.so") }
            assertEquals(1, libraries.size, "one ABI from the host build: $entries")
            assertTrue(zip.getEntry(libraries.single()).size > 500_000, "a real library, not a placeholder")
            assertTrue(libraries.single().removePrefix("jni/").substringBefore('/') in setOf("x86_64", "arm64-v8a"))

            val classes = JarInputStream(zip.getInputStream(zip.getEntry("classes.jar"))).use { jar ->
                generateSequence { jar.nextJarEntry }.map { it.name }.toSet()
            }
            for (type in listOf(
                "io/mobileaccess/KeyButton.class", // generated
                "io/mobileaccess/MobileAccessException.class",
                "io/mobileaccess/MobileAccess.class", // start-up
                "io/mobileaccess/AndroidBluetoothRadio.class", // the radio
                "io/mobileaccess/UrlConnectionTransport.class",
                "io/mobileaccess/KeyButtonStatesKt.class", // states and requirements as flows
                "com/nonpolynomial/btleplug/android/impl/Peripheral.class", // droidplug
            )) {
                assertTrue(type in classes, "$type in classes.jar")
            }
            assertTrue(classes.none { it.startsWith("io/mobileaccess/SimulatedSite") }, "no simulator in what ships")

            val manifest = xml(zip.getInputStream(zip.getEntry("AndroidManifest.xml")).readBytes())
            assertEquals("io.mobileaccess", manifest.documentElement.getAttribute("package"))
            val usesSdk = manifest.getElementsByTagName("uses-sdk").item(0) as org.w3c.dom.Element
            assertEquals("26", usesSdk.getAttribute("android:minSdkVersion"), "java.time in the API needs 26")
            val permissions = (0 until manifest.getElementsByTagName("uses-permission").length).map {
                (manifest.getElementsByTagName("uses-permission").item(it) as org.w3c.dom.Element).getAttribute("android:name")
            }
            assertTrue(permissions.containsAll(listOf("android.permission.BLUETOOTH_SCAN", "android.permission.BLUETOOTH_CONNECT")))
            assertTrue("com.sun.jna" in String(zip.getInputStream(zip.getEntry("proguard.txt")).readBytes()))
        }
    }

    @Test
    fun `the POM names the AAR and what an app needs with it`() {
        assertTrue(pom.isFile, "no POM at '$pom'")
        assertEquals(aar.parentFile, pom.parentFile, "installed side by side in the repository layout")
        assertTrue(aar.parentFile.path.replace('\\', '/').endsWith("io/mobileaccess/mobile-access/${aar.parentFile.name}"))
        val project = xml(pom.readBytes()).documentElement
        fun text(tag: String) = project.getElementsByTagName(tag).item(0).textContent
        assertEquals("io.mobileaccess", text("groupId"))
        assertEquals("mobile-access", text("artifactId"))
        assertEquals("aar", text("packaging"))
        val dependencies = project.getElementsByTagName("dependency")
        val coordinates = (0 until dependencies.length).map {
            val dependency = dependencies.item(it) as org.w3c.dom.Element
            fun field(tag: String) = dependency.getElementsByTagName(tag).item(0)?.textContent
            "${field("groupId")}:${field("artifactId")}:${field("type") ?: "jar"}"
        }
        assertEquals(
            setOf("org.jetbrains.kotlin:kotlin-stdlib:jar", "org.jetbrains.kotlinx:kotlinx-coroutines-android:jar", "net.java.dev.jna:jna:aar"),
            coordinates.toSet(),
        )
    }

    private fun xml(bytes: ByteArray) =
        DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(bytes.inputStream())
}
