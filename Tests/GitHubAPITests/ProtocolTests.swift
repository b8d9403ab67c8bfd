import MetricsDecoding
import Testing
@testable import WorkerProtocol

// The frames both sides of the GitHub process's pipes use: each encodes and decodes to
// itself, and every field the decoder checks is refused when wrong.

let sampleConfiguration = EnrichmentConfiguration(
    scheme: .https, host: "api.github.com", port: 443, pathPrefix: "/api/v3", token: Array("ghp_secret".utf8),
    certificates: Array("-----BEGIN CERTIFICATE-----\n".utf8), filter: [UInt8](repeating: 6, count: 16),
    requestTimeoutMilliseconds: 10_000, cpuSeconds: 70)

@Test func configurationRoundTrips() throws {
    let message = sampleConfiguration.message
    #expect(EnrichmentConfiguration.messageLength(header: Array(message[0..<12])) == message.count)
    #expect(EnrichmentConfiguration(message: message) == sampleConfiguration)
}
