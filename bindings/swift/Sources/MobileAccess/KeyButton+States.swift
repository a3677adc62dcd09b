// The Key Button's states as Swift concurrency expects them. Hand written, beside the generated
// bindings (`cargo xtask bindings` writes `mobile_access.swift` next to it).

import Foundation

extension KeyButton {
    /// The button's states: the current one at once, then every change, in order. The listener
    /// is removed when the stream ends (the consuming task is cancelled, the view goes away).
    /// Nothing is dropped: a tap's states all arrive.
    ///
    ///     for await state in button.states() { self.state = state }
    public func states() -> AsyncStream<KeyButtonState> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            // The listener holds the continuation only, never the button.
            let handle = addListener(listener: StreamListener(continuation))
            continuation.onTermination = { _ in handle.remove() }
        }
    }
}

extension KeyButton {
    /// What the member must do before a tap can work (allow Bluetooth, switch it on), the list
    /// now and then each change. While iterated it re-checks whenever `CoreBluetoothRadio` sees
    /// Bluetooth's state change; call `checkRequirements()` after your own permission prompt.
    ///
    ///     for await needed in button.requirements() { self.needed = needed }
    public func requirements() -> AsyncStream<[Requirement]> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let handle = addRequirementsListener(listener: RequirementsStreamListener(continuation))
            let observer = NotificationCenter.default.addObserver(
                forName: CoreBluetoothRadio.stateDidChange, object: nil, queue: nil
            ) { [weak self] _ in
                guard let self else { return }
                Task { _ = await self.checkRequirements() }
            }
            Task { [weak self] in _ = await self?.checkRequirements() }
            continuation.onTermination = { _ in
                NotificationCenter.default.removeObserver(observer)
                handle.remove()
            }
        }
    }
}

/// Forwards each list of requirements into an `AsyncStream`.
private final class RequirementsStreamListener: RequirementsListener, @unchecked Sendable {
    private let continuation: AsyncStream<[Requirement]>.Continuation

    init(_ continuation: AsyncStream<[Requirement]>.Continuation) {
        self.continuation = continuation
    }

    public func onRequirements(requirements: [Requirement]) {
        continuation.yield(requirements)
    }
}

/// Forwards each state into an `AsyncStream`.
private final class StreamListener: StateListener, @unchecked Sendable {
    private let continuation: AsyncStream<KeyButtonState>.Continuation

    init(_ continuation: AsyncStream<KeyButtonState>.Continuation) {
        self.continuation = continuation
    }

    public func onState(state: KeyButtonState) {
        continuation.yield(state)
    }
}

/// The member's sentence as `localizedDescription` (and in `NSError` bridging), from the SDK's
/// message table (`setMessages` translates it); the detail for logs stays in `detail()`.
extension MobileAccessError: LocalizedError {
    public var errorDescription: String? { sentence() }
    public var failureReason: String? { detail() }
}
