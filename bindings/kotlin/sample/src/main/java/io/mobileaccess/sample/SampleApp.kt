package io.mobileaccess.sample

import android.app.Application
import io.mobileaccess.MobileAccess

/** Starts the SDK once per process, before any Key Button. */
class SampleApp : Application() {
    override fun onCreate() {
        super.onCreate()
        MobileAccess.initialize(this)
    }

    companion object {
        /** Where a real app puts the signed-in member's session token. */
        const val memberToken = "member-token-from-your-sign-in"
    }
}
