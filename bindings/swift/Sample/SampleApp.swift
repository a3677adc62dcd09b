import MobileAccess
import SwiftUI

/// The sample app: one screen with the Key Button. A real app passes the signed-in member's token
/// and a Keychain-backed `SecureStorage` (and a Secure Enclave `DeviceSigner`).
@main struct SampleApp: App {
    @StateObject private var model = KeyButtonModel()

    var body: some Scene {
        WindowGroup {
            KeyButtonView(model: model)
                .task { try? await model.start(token: "member-token-from-your-sign-in", storage: memoryStorage()) }
        }
    }
}
