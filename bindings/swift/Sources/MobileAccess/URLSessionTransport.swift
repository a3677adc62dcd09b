import Foundation

/// The SDK's requests over `URLSession`: certificates checked against the iOS trust store (MDM
/// roots included), App Transport Security and the device's proxy settings apply. Pass it to
/// `KeyButton.create(..., transport: URLSessionTransport())` and `WalletPasses(config:transport:)`;
/// the library shipped to apps has no HTTP stack of its own. Not compiled on CI: `cargo xtask
/// test` checks it implements the generated protocol with the generated signature.
public final class URLSessionTransport: HttpTransport, @unchecked Sendable {
    private let session: URLSession

    public init(session: URLSession = .shared) {
        self.session = session
    }

    public func send(request: HttpRequest) async throws -> HttpResponse {
        guard let url = URL(string: request.url()) else { throw HttpError.Failed(detail: "bad URL") }
        var urlRequest = URLRequest(url: url, timeoutInterval: request.timeout())
        urlRequest.httpMethod = request.method()
        urlRequest.httpBody = request.body()
        for (name, value) in request.headers() { urlRequest.setValue(value, forHTTPHeaderField: name) }
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { throw HttpError.Failed(detail: "not HTTP") }
            let retryAfter = http.value(forHTTPHeaderField: "Retry-After")
                .flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            return HttpResponse(status: UInt16(clamping: http.statusCode), retryAfterSecs: retryAfter, body: data)
        } catch let error as URLError {
            switch error.code {
            case .timedOut: throw HttpError.Timeout(detail: error.localizedDescription)
            case .cannotFindHost, .cannotConnectToHost, .dnsLookupFailed, .notConnectedToInternet,
                .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate:
                throw HttpError.Connect(detail: error.localizedDescription)
            default: throw HttpError.Failed(detail: error.localizedDescription)
            }
        }
    }
}
