import MobileAccess
import SwiftUI

/// One member's Key Button: its state, and what the member must do before a tap can work.
@MainActor final class KeyButtonModel: ObservableObject {
    @Published var state: KeyButtonState = .hidden   // .failed carries the member's sentence and next step
    @Published var needed: [Requirement] = []
    private var button: KeyButton?

    func start(token: String, storage: SecureStorage) async throws {
        let config = KeyButtonConfig(cloudUrl: "https://access.example.com", memberToken: token)
        let button = try await KeyButton.create(config: config, storage: storage, signer: nil,
                                                radio: CoreBluetoothRadio(), transport: URLSessionTransport())
        self.button = button
        Task { for await state in button.states() { self.state = state } }
        Task { for await needed in button.requirements() { self.needed = needed } }
        onHomeScreen()
    }

    func onHomeScreen() {
        button?.setScreen(screen: .home)
        Task { _ = try? await button?.refresh() }   // the key, off the tap's critical path
    }
    func onLeave() { button?.setScreen(screen: .other) }   // cancels a running tap, which ends hidden
    func tap(door: KeyDoor? = nil) async {   // nearest, or the member's choice; a failure shows as .failed
        guard let button else { return }
        if let door { _ = try? await button.tapDoor(doorId: door.id) } else { _ = try? await button.tap() }
    }
}
