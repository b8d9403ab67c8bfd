import CTLSShim
import GitHubAPI
import Glibc
import MetricsDecoding
import WorkerProtocol

/// Answers requests from the jobs list of each run, over one connection kept alive across the
/// pages of a run and across runners while the server allows it.
final class Client {
    let configuration: EnrichmentConfiguration
    let addresses: [rm_address]
    /// The TLS context (nil for plain HTTP on loopback).
    let context: OpaquePointer?
    private var connection: Connection?
    private var receiveBuffer = [UInt8](repeating: 0, count: 64 << 10)

    init(configuration: EnrichmentConfiguration, addresses: [rm_address], context: OpaquePointer?) {
        self.configuration = configuration
        self.addresses = addresses
        self.context = context
    }

    /// One answer per request, whatever happens: the deadline covers connect, TLS and every page.
    func answer(_ request: EnrichmentRequestFrame) -> EnrichmentAnswer {
        let deadline = monotonicMilliseconds() + Int64(configuration.requestTimeoutMilliseconds)
        var selection = JobSelection(runnerName: request.runnerName, perPage: JobsRequest.perPage,
                                     maxPages: Int(configuration.maxPages))
        while case .fetch(let page) = selection.next {
            let path = JobsRequest.path(prefix: configuration.pathPrefix, repository: request.repository,
                                        runID: request.workflowRunID, page: page)
            let response: HTTPResponseParser
            do throws(PageFailure) {
                response = try fetch(path: path, deadline: deadline)
            } catch {
                connection = nil
                return EnrichmentAnswer(tag: request.tag, kind: error.kind, status: error.status)
            }
            guard let head = response.head else { return EnrichmentAnswer(tag: request.tag, kind: .malformed) }
            switch head.status {
            case 200: break
            case 401: return EnrichmentAnswer(tag: request.tag, kind: .http401)
            case 403: return EnrichmentAnswer(tag: request.tag, kind: .http403)
            case 404: return EnrichmentAnswer(tag: request.tag, kind: .http404)
            default: return EnrichmentAnswer(tag: request.tag, kind: .httpOther, status: UInt16(head.status))
            }
            let decoded: JobsPage
            do throws(JobsPageError) { decoded = try JobsPage.decode(response.body) } catch {
                return EnrichmentAnswer(tag: request.tag, kind: .malformed)
            }
            _ = selection.add(decoded)
        }
        guard case .finished(let outcome) = selection.next else { return EnrichmentAnswer(tag: request.tag, kind: .malformed) }
        switch outcome {
        case .found(let job):
            guard EnrichmentAnswer.plausible(createdAt: job.createdAt, startedAt: job.startedAt) else {
                return EnrichmentAnswer(tag: request.tag, kind: .malformed)
            }
            return EnrichmentAnswer(tag: request.tag, kind: .enriched, conclusionCode: job.conclusion?.code ?? 0,
                                    createdAt: job.createdAt, startedAt: job.startedAt)
        case .notFound: return EnrichmentAnswer(tag: request.tag, kind: .notFound)
        case .ambiguous: return EnrichmentAnswer(tag: request.tag, kind: .ambiguous)
        case .tooManyPages: return EnrichmentAnswer(tag: request.tag, kind: .tooManyPages)
        case .malformed: return EnrichmentAnswer(tag: request.tag, kind: .malformed)
        }
    }

    struct PageFailure: Error {
        var kind: EnrichmentAnswer.Kind
        var status: UInt16 = 0
    }

    /// GET `path`: the head of any response, and the whole body of a 200. A kept-alive
    /// connection the server closed before answering a byte is replaced once (a GET can be repeated).
    private func fetch(path: String, deadline: Int64) throws(PageFailure) -> HTTPResponseParser {
        let defaultPort: UInt16 = configuration.scheme == .https ? 443 : 80
        let request = JobsRequest.bytes(host: configuration.host, port: configuration.port, defaultPort: defaultPort,
                                        path: path, token: configuration.token)
        if let idle = connection, idle.hasPendingInput { connection = nil }
        var attempts = connection == nil ? 1 : 2
        while true {
            attempts -= 1
            do throws(TransportFailure) {
                let current: Connection
                if let idle = connection {
                    current = idle
                } else {
                    current = try Connection.open(addresses: addresses, host: configuration.host, context: context,
                                                  deadline: deadline)
                    connection = current
                }
                return try exchange(request, on: current, deadline: deadline)
            } catch {
                connection = nil
                switch error {
                case .timeout: throw PageFailure(kind: .timeout)
                case .connectFailed: throw PageFailure(kind: .connectFailed)
                case .tlsFailed: throw PageFailure(kind: .tlsFailed)
                case .closed(let receivedAny):
                    if !receivedAny && attempts > 0 { continue }
                    throw PageFailure(kind: .malformed)
                case .http(.tooLarge): throw PageFailure(kind: .tooLarge)
                case .http(.malformed): throw PageFailure(kind: .malformed)
                }
            }
        }
    }

    /// Sends the request and parses the response; drops the connection unless it can carry
    /// the next request (keep-alive, a whole body read, nothing sent after it).
    private func exchange(_ request: [UInt8], on connection: Connection, deadline: Int64) throws(TransportFailure) -> HTTPResponseParser {
        try connection.send(request, deadline: deadline)
        var parser = HTTPResponseParser(maxHeaderBytes: Int(configuration.maxHeaderBytes),
                                        maxBodyBytes: Int(configuration.maxBodyBytes))
        var receivedAny = false
        while true {
            let n = try connection.receive(into: &receiveBuffer, deadline: deadline)
            guard n > 0 else { throw .closed(receivedAny: receivedAny) }
            receivedAny = true
            let failure: HTTPFailure? = receiveBuffer.withUnsafeBytes { buffer in
                do throws(HTTPFailure) { try parser.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) } catch {
                    return error
                }
                return nil
            }
            if let failure { throw .http(failure) }
            if let head = parser.head, head.status != 200 || parser.isComplete {
                if !(head.status == 200 && head.keepAlive && parser.excessBytes == 0) { self.connection = nil }
                return parser
            }
        }
    }
}
