import CTLSShim
import GitHubAPI
import Glibc

/// Why a page could not be fetched, before any HTTP byte was judged.
enum TransportFailure: Error {
    /// The request's deadline passed.
    case timeout
    case connectFailed
    case tlsFailed
    /// The peer closed or reset the connection (`receivedAny`: after some response bytes).
    case closed(receivedAny: Bool)
    /// The response was refused by the HTTP parser.
    case http(HTTPFailure)
}

/// Milliseconds on CLOCK_MONOTONIC (a vDSO read, not a system call).
func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// One TCP connection, plain or TLS, on a non-blocking socket: every wait is a poll bounded by
/// the request's deadline, so a server that never answers or drips a byte at a time holds the
/// process no longer than the deadline.
final class Connection {
    let fd: Int32
    private var tls: OpaquePointer?

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        if let tls { rm_tls_free(tls) }
        close(fd)
    }

    /// Connects to the first address that accepts, then (with `context`) does the TLS
    /// handshake, verifying the chain against the configured CAs and the name `host`. Each
    /// address gets an equal share of what is left before `deadline`, so one that never answers
    /// (say, IPv6 first with no route) does not spend the whole request on itself.
    static func open(addresses: [rm_address], host: String, context: OpaquePointer?, deadline: Int64) throws(TransportFailure) -> Connection {
        var connection: Connection?
        for (index, var address) in addresses.enumerated() {
            let fd = rm_connect_start(&address)
            guard fd >= 0 else { continue }
            let candidate = Connection(fd: fd)
            let now = monotonicMilliseconds()
            let share = now + max(0, deadline - now) / Int64(addresses.count - index)
            do throws(TransportFailure) { try candidate.wait(Int16(POLLOUT), deadline: share) } catch {
                if index == addresses.count - 1 { throw error }
                continue
            }
            if rm_connect_result(fd) == 0 {
                connection = candidate
                break
            }
        }
        guard let connection else { throw .connectFailed }
        guard let context else { return connection }
        guard let tls = rm_tls_new(context, connection.fd, host) else { throw .tlsFailed }
        connection.tls = tls
        while true {
            switch rm_tls_handshake(tls) {
            case 0: return connection
            case Int32(RM_TLS_WANT_READ): try connection.wait(Int16(POLLIN), deadline: deadline)
            case Int32(RM_TLS_WANT_WRITE): try connection.wait(Int16(POLLOUT), deadline: deadline)
            default: throw .tlsFailed
            }
        }
    }

    /// Waits until the socket is ready for `events` (or has an error or hang-up to report).
    func wait(_ events: Int16, deadline: Int64) throws(TransportFailure) {
        while true {
            let remaining = deadline - monotonicMilliseconds()
            guard remaining > 0 else { throw .timeout }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&entry, 1, Int32(min(remaining, 60_000)))
            if n > 0 { return }
            if n < 0 && errno != EINTR { throw .closed(receivedAny: false) }
        }
    }

    /// True if the idle connection has something to say (EOF, a reset, unasked-for bytes):
    /// it cannot carry the next request.
    var hasPendingInput: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) != 0
    }

    func send(_ bytes: [UInt8], deadline: Int64) throws(TransportFailure) {
        var offset = 0
        while offset < bytes.count {
            let n: Int = bytes.withUnsafeBytes { buffer in
                let start = buffer.baseAddress.map { $0 + offset }
                if let tls { return rm_tls_write(tls, start, buffer.count - offset) }
                // read and write, as OpenSSL's socket BIO uses: the filter allows one pair of calls.
                let sent = write(fd, start, buffer.count - offset)
                return sent >= 0 ? sent : (errno == EAGAIN || errno == EINTR ? Int(RM_TLS_WANT_WRITE) : Int(RM_TLS_FAILED))
            }
            switch n {
            case Int(RM_TLS_WANT_READ): try wait(Int16(POLLIN), deadline: deadline)
            case Int(RM_TLS_WANT_WRITE): try wait(Int16(POLLOUT), deadline: deadline)
            case ...0: throw .closed(receivedAny: false)
            default: offset += n
            }
        }
    }

    /// Reads what is available into `buffer` (waiting for it until `deadline`): the byte count,
    /// or 0 when the peer has closed the connection.
    func receive(into buffer: inout [UInt8], deadline: Int64) throws(TransportFailure) -> Int {
        while true {
            let n: Int = buffer.withUnsafeMutableBytes { raw in
                if let tls { return rm_tls_read(tls, raw.baseAddress, raw.count) }
                let got = read(fd, raw.baseAddress, raw.count)
                return got >= 0 ? got : (errno == EAGAIN || errno == EINTR ? Int(RM_TLS_WANT_READ) : Int(RM_TLS_FAILED))
            }
            switch n {
            case Int(RM_TLS_WANT_READ): try wait(Int16(POLLIN), deadline: deadline)
            case Int(RM_TLS_WANT_WRITE): try wait(Int16(POLLOUT), deadline: deadline)
            case Int(RM_TLS_FAILED): return 0
            default: return n
            }
        }
    }
}
