import CoreBluetooth
import Foundation

/// The SDK's radio over CoreBluetooth: `KeyButton.create(..., radio: CoreBluetoothRadio())`.
///
/// What btleplug's CoreBluetooth backend does not do and this does: discovers only the reader
/// service and its two characteristics (iOS's GATT cache then answers later connections), creates
/// its `CBCentralManager` with a state-restoration identifier (with the `bluetooth-central`
/// background mode, iOS relaunches the app for a reader), and always scans with the service
/// filter (the only scan iOS allows in the background). Not compiled on CI (no Swift toolchain
/// there): `cargo xtask test` checks that every requirement of the generated protocols is
/// implemented here with the generated signature.
public final class CoreBluetoothRadio: NSObject, BluetoothCentral, CBCentralManagerDelegate, @unchecked Sendable {
    public static let restoreIdentifier = "io.mobileaccess.central"
    /// Posted (object: the radio) when Bluetooth's state or the app's authorization changes;
    /// `KeyButton.requirements()` re-checks on it.
    public static let stateDidChange = Notification.Name("io.mobileaccess.CoreBluetoothRadio.stateDidChange")
    static let service = CBUUID(string: "0000fe4a-0000-1000-8000-00805f9b34fb")
    static let request = CBUUID(string: "6d610001-2d61-6363-6573-732d76310000")
    static let response = CBUUID(string: "6d610002-2d61-6363-6573-732d76310000")

    private let queue = DispatchQueue(label: "io.mobileaccess.bluetooth")
    private var manager: CBCentralManager!
    private var sink: ScanSink?
    private var known: [UUID: CBPeripheral] = [:]
    private var connecting: [UUID: CheckedContinuation<Void, Error>] = [:]
    private var links: [UUID: CoreBluetoothLink] = [:]
    private var stateKnown: [CheckedContinuation<Void, Never>] = []

    public override init() {
        super.init()
        manager = CBCentralManager(
            delegate: self, queue: queue,
            options: [CBCentralManagerOptionRestoreIdentifierKey: Self.restoreIdentifier])
    }

    public func adapterState() async -> AdapterState {
        await withCheckedContinuation { done in
            queue.async {
                if self.manager.state == .unknown { self.stateKnown.append(done) } else { done.resume() }
            }
        }
        return queue.sync {
            switch manager.state {
            case .poweredOn: return .poweredOn
            case .poweredOff, .resetting: return .poweredOff
            case .unauthorized: return .unauthorized
            default: return .unavailable
            }
        }
    }

    /// What the member must do first: allow Bluetooth (iOS has one authorization, named by none
    /// of Android's permission names), switch it on, or nothing this phone can do.
    public func requirements() async -> [Requirement] {
        if CBManager.authorization == .denied || CBManager.authorization == .restricted {
            return [.grantPermissions(permissions: [])]
        }
        switch await adapterState() {
        case .poweredOn: return []
        case .poweredOff: return [.turnOnBluetooth]
        case .unauthorized: return [.grantPermissions(permissions: [])]
        case .unavailable: return [.useAnotherPhone]
        }
    }

    public func startScan(services: [String], sink: ScanSink) async throws {
        try queue.sync {
            guard manager.state == .poweredOn else { throw RadioError.Off(detail: "Bluetooth is not on") }
            self.sink?.finish()
            self.sink = sink
            manager.scanForPeripherals(
                withServices: services.map { CBUUID(string: $0) },
                options: [CBCentralManagerScanOptionAllowDuplicatesKey: true])
        }
    }

    public func stopScan() async throws {
        queue.sync {
            manager.stopScan()
            sink?.finish()
            sink = nil
        }
    }

    public func connect(peripheral: String) async throws -> ConnectedLink {
        guard let id = UUID(uuidString: peripheral) else { throw RadioError.NotFound(detail: peripheral) }
        let target: CBPeripheral = try queue.sync {
            guard let found = known[id] ?? manager.retrievePeripherals(withIdentifiers: [id]).first else {
                throw RadioError.NotFound(detail: peripheral)
            }
            return found
        }
        let link = CoreBluetoothLink(peripheral: target, manager: manager, queue: queue)
        do {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
                queue.async {
                    self.connecting[id] = done
                    self.links[id] = link
                    self.manager.connect(target)
                }
            }
            try await link.discover()
        } catch {
            try? await link.disconnect()
            throw error
        }
        return ConnectedLink(link: link)
    }

    // MARK: CBCentralManagerDelegate (on `queue`)

    public func centralManagerDidUpdateState(_ central: CBCentralManager) {
        stateKnown.forEach { $0.resume() }
        stateKnown.removeAll()
        NotificationCenter.default.post(name: Self.stateDidChange, object: self)
        if central.state != .poweredOn {
            sink?.finish()
            sink = nil
        }
    }

    public func centralManager(
        _ central: CBCentralManager, didDiscover peripheral: CBPeripheral,
        advertisementData: [String: Any], rssi RSSI: NSNumber
    ) {
        known[peripheral.identifier] = peripheral
        let serviceData = (advertisementData[CBAdvertisementDataServiceDataKey] as? [CBUUID: Data])?[Self.service]
        if sink?.advertisement(
            peripheral: peripheral.identifier.uuidString, rssi: RSSI.int16Value,
            serviceData: serviceData, advertisingData: nil) == false
        {
            central.stopScan()
        }
    }

    public func centralManager(_ central: CBCentralManager, didConnect peripheral: CBPeripheral) {
        connecting.removeValue(forKey: peripheral.identifier)?.resume()
    }

    public func centralManager(_ central: CBCentralManager, didFailToConnect peripheral: CBPeripheral, error: Error?) {
        links.removeValue(forKey: peripheral.identifier)
        connecting.removeValue(forKey: peripheral.identifier)?
            .resume(throwing: RadioError.ConnectionFailed(detail: error?.localizedDescription ?? "failed"))
    }

    public func centralManager(
        _ central: CBCentralManager, didDisconnectPeripheral peripheral: CBPeripheral, error: Error?
    ) {
        links.removeValue(forKey: peripheral.identifier)?.closed()
        connecting.removeValue(forKey: peripheral.identifier)?
            .resume(throwing: RadioError.Disconnected(detail: error?.localizedDescription ?? "disconnected"))
    }

    public func centralManager(_ central: CBCentralManager, willRestoreState dict: [String: Any]) {
        for peripheral in dict[CBCentralManagerRestoredStatePeripheralsKey] as? [CBPeripheral] ?? [] {
            known[peripheral.identifier] = peripheral
        }
    }
}

/// One connection: the reader service's two characteristics, one GATT operation at a time.
final class CoreBluetoothLink: NSObject, BluetoothLink, CBPeripheralDelegate, @unchecked Sendable {
    private let peripheral: CBPeripheral
    private let manager: CBCentralManager
    private let queue: DispatchQueue
    private var characteristics: [CBUUID: CBCharacteristic] = [:]
    private var pending: CheckedContinuation<Void, Error>?
    private var pendingRssi: CheckedContinuation<Int16?, Error>?
    private var writable: CheckedContinuation<Void, Never>?
    private var notifications: NotificationSink?

    init(peripheral: CBPeripheral, manager: CBCentralManager, queue: DispatchQueue) {
        self.peripheral = peripheral
        self.manager = manager
        self.queue = queue
        super.init()
        peripheral.delegate = self
    }

    /// Only the reader service, then only its request and response characteristics.
    func discover() async throws {
        try await operate { self.peripheral.discoverServices([CoreBluetoothRadio.service]) }
    }

    private func operate(_ start: @escaping () -> Void) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            queue.async {
                self.pending = done
                start()
            }
        }
    }

    private func finish(_ error: Error?) {
        let done = pending
        pending = nil
        if let error { done?.resume(throwing: RadioError.Failed(detail: error.localizedDescription)) } else { done?.resume() }
    }

    func closed() {
        notifications?.end()
        notifications = nil
        pending?.resume(throwing: RadioError.Disconnected(detail: "connection ended"))
        pending = nil
    }

    public func mtu() -> UInt16 {
        UInt16(clamping: peripheral.maximumWriteValueLength(for: .withoutResponse) + 3)
    }

    public func write(characteristic: String, value: Data, writeType: WriteType) async throws {
        guard let target = queue.sync(execute: { characteristics[CBUUID(string: characteristic)] }) else {
            throw RadioError.CharacteristicNotFound(detail: characteristic)
        }
        switch writeType {
        case .withoutResponse:
            await withCheckedContinuation { (ready: CheckedContinuation<Void, Never>) in
                queue.async {
                    if self.peripheral.canSendWriteWithoutResponse { ready.resume() } else { self.writable = ready }
                }
            }
            queue.sync { peripheral.writeValue(value, for: target, type: .withoutResponse) }
        case .withResponse:
            try await operate { self.peripheral.writeValue(value, for: target, type: .withResponse) }
        }
    }

    public func subscribe(characteristic: String, sink: NotificationSink) async throws {
        guard let target = queue.sync(execute: { characteristics[CBUUID(string: characteristic)] }) else {
            throw RadioError.CharacteristicNotFound(detail: characteristic)
        }
        queue.sync { notifications = sink }
        try await operate { self.peripheral.setNotifyValue(true, for: target) }
    }

    public func rssi() async throws -> Int16? {
        try await withCheckedThrowingContinuation { done in
            queue.async {
                self.pendingRssi = done
                self.peripheral.readRSSI()
            }
        }
    }

    public func disconnect() async throws {
        queue.sync {
            manager.cancelPeripheralConnection(peripheral)
            closed()
        }
    }

    // MARK: CBPeripheralDelegate (on `queue`)

    func peripheral(_ peripheral: CBPeripheral, didDiscoverServices error: Error?) {
        guard error == nil, let service = peripheral.services?.first(where: { $0.uuid == CoreBluetoothRadio.service })
        else { return finish(error ?? RadioError.CharacteristicNotFound(detail: "reader service")) }
        peripheral.discoverCharacteristics([CoreBluetoothRadio.request, CoreBluetoothRadio.response], for: service)
    }

    func peripheral(_ peripheral: CBPeripheral, didDiscoverCharacteristicsFor service: CBService, error: Error?) {
        for characteristic in service.characteristics ?? [] { characteristics[characteristic.uuid] = characteristic }
        finish(error)
    }

    func peripheral(_ peripheral: CBPeripheral, didWriteValueFor characteristic: CBCharacteristic, error: Error?) {
        finish(error)
    }

    func peripheral(
        _ peripheral: CBPeripheral, didUpdateNotificationStateFor characteristic: CBCharacteristic, error: Error?
    ) {
        finish(error)
    }

    func peripheral(_ peripheral: CBPeripheral, didUpdateValueFor characteristic: CBCharacteristic, error: Error?) {
        if let value = characteristic.value { notifications?.value(value: value) }
    }

    func peripheralIsReady(toSendWriteWithoutResponse peripheral: CBPeripheral) {
        writable?.resume()
        writable = nil
    }

    func peripheral(_ peripheral: CBPeripheral, didReadRSSI RSSI: NSNumber, error: Error?) {
        pendingRssi?.resume(returning: error == nil ? RSSI.int16Value : nil)
        pendingRssi = nil
    }
}
