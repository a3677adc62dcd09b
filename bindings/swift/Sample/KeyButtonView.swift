import MobileAccess
import SwiftUI
import UIKit

/// The home screen's Key Button: hidden unless the member may use it, replaced by the one thing to
/// do first while a requirement is unmet, with the tap's hint underneath.
struct KeyButtonView: View {
    @ObservedObject var model: KeyButtonModel

    var body: some View {
        VStack(spacing: 12) {
            if model.state != .hidden {
                switch model.needed.first {
                case nil: Button("Unlock") { Task { await model.tap() } }.disabled(!canTap)
                case .grantPermissions?: Button("Allow Bluetooth in Settings") { openSettings() }
                case .turnOnBluetooth?: Text("Turn on Bluetooth in Control Center to open doors.")
                case .turnOnLocationServices?: Button("Turn on Location Services") { openSettings() }
                case .useAnotherPhone?: Text("This phone can't open doors.")
                case .updateApp?: Text("Update the app in the App Store to get new keys.")
                }
                Text(model.state.hint()).font(.footnote)
            }
        }
        .onAppear { model.onHomeScreen() }
        .onDisappear { model.onLeave() }
    }

    private var canTap: Bool { model.state == .ready || model.state.isFinal() }

    private func openSettings() {
        if let url = URL(string: UIApplication.openSettingsURLString) { UIApplication.shared.open(url) }
    }
}
