// What the supervisor and runner-metrics-github (the unprivileged process that asks the
// GitHub API) agree on: the process's identity and exit statuses, its one-time configuration,
// and the two fixed frames of its pipes. The supervisor never parses a network byte: the
// process does HTTP and JSON and answers each request with one `EnrichmentAnswer` of
// `EnrichmentAnswer.size` bytes, which the supervisor validates again field by field.
// All integers are little-endian.

/// The uid and gid runner-metrics-github runs as once confined: one of its own, just below the
/// workers' range (`WorkerIdentity`), so no worker and no account shares it.
public enum GitHubClientIdentity {
    public static let id: UInt32 = WorkerIdentity.base - 1
}

/// Exit statuses runner-metrics-github uses on purpose. 0: its request pipe reached EOF.
public enum GitHubClientExit {
    /// The configuration message was missing, truncated or invalid.
    public static let configuration: Int32 = 65
    /// OpenSSL could not start, or no CA certificate could be loaded.
    public static let tls: Int32 = 66
    /// A confinement step failed (limits, identity, no_new_privs, seccomp).
    public static let confinement: Int32 = 71
    /// A request frame was truncated or invalid.
    public static let request: Int32 = 72
    /// The answer pipe refused a frame.
    public static let answerNotWritten: Int32 = 74
}

/// The one-time configuration, the first thing on the process's standard input:
///   magic "RMGH" (4), revision (UInt32), total length of the message (UInt32),
///   scheme (UInt8: 0 https, 1 http), port (UInt16), request timeout in milliseconds (UInt32),
///   page limit (UInt32), header byte limit (UInt32), body byte limit per page (UInt32),
///   CPU seconds (UInt32), address-space headroom in MiB (UInt32),
///   then five length-prefixed (UInt32) byte strings: host, path prefix, token, CA
///   certificates (PEM; empty: the system bundle, read by the process itself before its filter),
///   and the seccomp BPF program (compiled by the supervisor).
/// The token is sent only here: never in arguments, never in the environment.
public struct EnrichmentConfiguration: Equatable, Sendable {
    public enum Scheme: UInt8, Sendable {
        case https = 0
        /// Plain HTTP, accepted for a loopback address only (tests and a local proxy).
        case http = 1
    }

    public var scheme: Scheme
    public var host: String
    public var port: UInt16
    /// Prepended to every request path: "" for api.github.com, "/api/v3" for GitHub Enterprise Server.
    public var pathPrefix: String
    public var token: [UInt8]
    /// PEM bytes; empty means the system bundle (`systemCertificates`).
    public var certificates: [UInt8]
    public var filter: [UInt8]
    public var requestTimeoutMilliseconds: UInt32
    public var maxPages: UInt32
    public var maxHeaderBytes: UInt32
    public var maxBodyBytes: UInt32
    public var cpuSeconds: UInt32
    public var addressSpaceHeadroomMiB: UInt32

    /// Bump whenever this message, the frames, the policy or the calls the process makes change.
    public static let revision: UInt32 = 1
    static let magic: [UInt8] = [0x52, 0x4D, 0x47, 0x48]  // "RMGH"
    /// Magic, revision and total length: what is read first to learn the length.
    public static let headerSize = 12
    static let fixedSize = headerSize + 1 + 2 + 4 * 7
    public static let systemCertificates = "/etc/ssl/certs/ca-certificates.crt"

    // Bounds of each field.
    public static let maxHost = 253
    public static let maxPathPrefix = 256
    public static let maxToken = 4096
    public static let maxCertificates = 4 << 20
    public static let maxFilter = 4096 * 8
    public static let maxMessage = fixedSize + 5 * 4 + maxHost + maxPathPrefix + maxToken + maxCertificates + maxFilter

    public init(scheme: Scheme, host: String, port: UInt16, pathPrefix: String, token: [UInt8], certificates: [UInt8],
                filter: [UInt8], requestTimeoutMilliseconds: UInt32, maxPages: UInt32 = 10,
                maxHeaderBytes: UInt32 = 16 << 10, maxBodyBytes: UInt32 = 4 << 20, cpuSeconds: UInt32,
                addressSpaceHeadroomMiB: UInt32 = 512) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathPrefix = pathPrefix
        self.token = token
        self.certificates = certificates
        self.filter = filter
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        self.maxPages = maxPages
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.cpuSeconds = cpuSeconds
        self.addressSpaceHeadroomMiB = addressSpaceHeadroomMiB
    }

    public var message: [UInt8] {
        var bytes = Self.magic
        let strings: [[UInt8]] = [Array(host.utf8), Array(pathPrefix.utf8), token, certificates, filter]
        let total = Self.fixedSize + strings.reduce(0) { $0 + 4 + $1.count }
        LittleEndian.append(Self.revision, to: &bytes)
        LittleEndian.append(UInt32(truncatingIfNeeded: total), to: &bytes)
        bytes.append(scheme.rawValue)
        LittleEndian.append(UInt32(port), to: &bytes, width: 2)
        for field in [requestTimeoutMilliseconds, maxPages, maxHeaderBytes, maxBodyBytes, cpuSeconds, addressSpaceHeadroomMiB] {
            LittleEndian.append(field, to: &bytes)
        }
        LittleEndian.append(UInt32(0), to: &bytes)  // reserved, must be 0
        for string in strings {
            LittleEndian.append(UInt32(truncatingIfNeeded: string.count), to: &bytes)
            bytes += string
        }
        return bytes
    }

    /// The total length a message header announces, or nil unless it is this revision's
    /// header and the length is within bounds.
    public static func messageLength(header: [UInt8]) -> Int? {
        guard header.count == headerSize, Array(header[0..<4]) == magic,
              LittleEndian.read(header, at: 4, width: 4) == UInt64(revision)
        else { return nil }
        let total = Int(LittleEndian.read(header, at: 8, width: 4))
        guard total >= fixedSize + 5 * 4, total <= maxMessage else { return nil }
        return total
    }

    /// Nil unless `message` is exactly one valid configuration: header, fields within their
    /// bounds, the five strings within theirs, a host and path prefix of URL-safe ASCII, a
    /// token of visible ASCII, a filter of whole BPF instructions, and no byte after the last.
    public init?(message: [UInt8]) {
        guard message.count >= Self.headerSize, Self.messageLength(header: Array(message[0..<Self.headerSize])) == message.count,
              let scheme = Scheme(rawValue: message[12])
        else { return nil }
        let port = UInt16(LittleEndian.read(message, at: 13, width: 2))
        var fields: [UInt32] = []
        for index in 0..<7 { fields.append(UInt32(LittleEndian.read(message, at: 15 + 4 * index, width: 4))) }
        guard port > 0, fields[0] >= 1, fields[0] <= 600_000, fields[1] >= 1, fields[1] <= 100,
              fields[2] >= 1024, fields[2] <= 1 << 20, fields[3] >= 1024, fields[3] <= 64 << 20,
              fields[4] >= 1, fields[4] <= 86_400, fields[5] >= 16, fields[5] <= 4096, fields[6] == 0
        else { return nil }
        var offset = Self.fixedSize
        var strings: [[UInt8]] = []
        let limits = [Self.maxHost, Self.maxPathPrefix, Self.maxToken, Self.maxCertificates, Self.maxFilter]
        for limit in limits {
            guard message.count - offset >= 4 else { return nil }
            let length = Int(LittleEndian.read(message, at: offset, width: 4))
            offset += 4
            guard length <= limit, message.count - offset >= length else { return nil }
            strings.append(Array(message[offset..<(offset + length)]))
            offset += length
        }
        guard offset == message.count,
              !strings[0].isEmpty, strings[0].allSatisfy(Self.isHostByte),
              strings[1].allSatisfy(Self.isPathByte), strings[1].isEmpty || (strings[1][0] == 0x2F && strings[1].last != 0x2F),
              !strings[2].isEmpty, strings[2].allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              !strings[4].isEmpty, strings[4].count % 8 == 0
        else { return nil }
        self.init(scheme: scheme, host: String(decoding: strings[0], as: UTF8.self), port: port,
                  pathPrefix: String(decoding: strings[1], as: UTF8.self), token: strings[2], certificates: strings[3],
                  filter: strings[4], requestTimeoutMilliseconds: fields[0], maxPages: fields[1],
                  maxHeaderBytes: fields[2], maxBodyBytes: fields[3], cpuSeconds: fields[4],
                  addressSpaceHeadroomMiB: fields[5])
    }

    /// A host name or an IP literal (IPv6 without brackets): letters, digits, '-', '.', ':'.
    public static func isHostByte(_ byte: UInt8) -> Bool {
        EnrichmentRequestFrame.isAlphanumeric(byte) || byte == 0x2D || byte == 0x2E || byte == 0x3A
    }

    /// A path prefix: letters, digits, '-', '.', '_', '~', '/'.
    public static func isPathByte(_ byte: UInt8) -> Bool {
        EnrichmentRequestFrame.isAlphanumeric(byte) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            || byte == 0x2F
    }
}

/// One request, supervisor → process, of exactly `size` bytes:
///   tag (UInt32), repository length (UInt16), runner name length (UInt16),
///   workflow run id (UInt64), repository "owner/repo" (256 bytes, zero-padded),
///   runner name (256 bytes, zero-padded).
public struct EnrichmentRequestFrame: Equatable, Sendable {
    public var tag: UInt32
    /// "owner/repo", in GitHub's syntax (`isValidRepository`).
    public var repository: String
    public var workflowRunID: UInt64
    /// The runner's name, compared byte for byte with each job's `runner_name`.
    public var runnerName: String

    public static let size = 16 + 2 * fieldSize
    public static let fieldSize = 256
    public static let maxRunnerName = 255

    public init(tag: UInt32, repository: String, workflowRunID: UInt64, runnerName: String) {
        self.tag = tag
        self.repository = repository
        self.workflowRunID = workflowRunID
        self.runnerName = runnerName
    }

    /// Nil unless every field is valid: a repository in GitHub's syntax, a run id GitHub could
    /// issue, a runner name of 1 to 255 bytes without control characters.
    public var frame: [UInt8]? {
        guard Self.isValidRepository(repository), Self.isValidRunID(workflowRunID), Self.isValidRunnerName(runnerName)
        else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        LittleEndian.append(tag, to: &bytes)
        LittleEndian.append(UInt32(repository.utf8.count), to: &bytes, width: 2)
        LittleEndian.append(UInt32(runnerName.utf8.count), to: &bytes, width: 2)
        LittleEndian.append(workflowRunID, to: &bytes)
        for text in [repository, runnerName] {
            let field = Array(text.utf8)
            bytes += field + [UInt8](repeating: 0, count: Self.fieldSize - field.count)
        }
        return bytes
    }

    /// Nil unless `frame` is exactly `size` bytes with valid fields and zero padding.
    public init?(frame: [UInt8]) {
        guard frame.count == Self.size else { return nil }
        let repositoryLength = Int(LittleEndian.read(frame, at: 4, width: 2))
        let runnerLength = Int(LittleEndian.read(frame, at: 6, width: 2))
        guard repositoryLength <= Self.fieldSize, runnerLength <= Self.fieldSize else { return nil }
        let repositoryStart = 16, runnerStart = 16 + Self.fieldSize
        let padding = frame[(repositoryStart + repositoryLength)..<runnerStart] + frame[(runnerStart + runnerLength)...]
        guard padding.allSatisfy({ $0 == 0 }) else { return nil }
        let repository = Array(frame[repositoryStart..<(repositoryStart + repositoryLength)])
        let runner = Array(frame[runnerStart..<(runnerStart + runnerLength)])
        guard UTF8Check.isValid(repository), UTF8Check.isValid(runner) else { return nil }
        self.init(tag: UInt32(LittleEndian.read(frame, at: 0, width: 4)),
                  repository: String(decoding: repository, as: UTF8.self),
                  workflowRunID: LittleEndian.read(frame, at: 8, width: 8),
                  runnerName: String(decoding: runner, as: UTF8.self))
        guard Self.isValidRepository(self.repository), Self.isValidRunID(workflowRunID),
              Self.isValidRunnerName(runnerName)
        else { return nil }
    }

    /// "owner/repo" as GitHub spells them, so both go into a URL path unescaped: an owner of
    /// 1-100 letters, digits, '-' or '_' (GitHub's logins, plus Enterprise Managed Users'
    /// "_shortcode" suffix) not starting with '-' or '_', then a repository of 1-100 letters,
    /// digits, '-', '_' or '.', never "." or "..".
    public static func isValidRepository(_ text: String) -> Bool {
        let parts = Array(text.utf8).split(separator: 0x2F, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let owner = parts[0], name = parts[1]
        guard (1...100).contains(owner.count), (1...100).contains(name.count),
              let first = owner.first, isAlphanumeric(first),
              owner.allSatisfy({ isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F }),
              name.allSatisfy({ isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }),
              !name.elementsEqual([0x2E]), !name.elementsEqual([0x2E, 0x2E])
        else { return false }
        return true
    }

    /// A positive id that fits an Int64 (GitHub's ids are positive 64-bit integers).
    public static func isValidRunID(_ id: UInt64) -> Bool {
        id >= 1 && id <= UInt64(Int64.max)
    }

    /// 1 to 255 bytes of UTF-8 with no control character (C0 or DEL).
    public static func isValidRunnerName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...maxRunnerName).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }

    /// The run id a decimal string names: digits only, no sign, no leading zero, fits an Int64.
    public static func runID(decimal text: String) -> UInt64? {
        let digits = Array(text.utf8)
        guard (1...19).contains(digits.count), digits[0] != 0x30,
              digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        var value: UInt64 = 0
        for digit in digits { value = value * 10 + UInt64(digit - 0x30) }
        return isValidRunID(value) ? value : nil
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}

/// One answer, process → supervisor, of exactly `size` bytes:
///   tag (UInt32), kind (UInt8), conclusion code (UInt8), HTTP status (UInt16),
///   created_at and started_at (Int64, Unix microseconds).
/// Only `enriched` carries times and a conclusion, only `httpOther` a status; every other
/// field of a frame is 0, and a frame that says otherwise is refused.
public struct EnrichmentAnswer: Equatable, Sendable {
    public enum Kind: UInt8, CaseIterable, Sendable {
        case enriched = 1
        /// No job of the run names the runner.
        case notFound = 2
        /// More than one job names the runner: refused rather than guessed (the runner's
        /// name is unique at any one time, but a re-run or a renamed runner can repeat it).
        case ambiguous = 3
        case http401 = 4
        case http403 = 5
        case http404 = 6
        case httpOther = 7
        /// The request's deadline (connect, TLS and every page) passed.
        case timeout = 8
        /// The header section or a page's body exceeded its bound.
        case tooLarge = 9
        /// Anything the HTTP framing or the jobs decoding refused.
        case malformed = 10
        case connectFailed = 11
        case tlsFailed = 12
        /// The run has more jobs than the page limit covers.
        case tooManyPages = 13
    }

    public var tag: UInt32
    public var kind: Kind
    public var conclusionCode: UInt8
    public var status: UInt16
    public var createdAt: Int64
    public var startedAt: Int64

    public static let size = 24
    /// The largest conclusion code (`JobConclusion.code`); 0 is none.
    public static let maxConclusionCode: UInt8 = 7
    /// Times an honest answer can carry: 2008-01-01 to 2200-01-01, in Unix microseconds.
    public static let earliestTime: Int64 = 1_199_145_600_000_000
    public static let latestTime: Int64 = 7_258_118_400_000_000
    /// The longest queue time believed: a workflow run lives at most 35 days at GitHub (a job
    /// waiting for a self-hosted runner is cancelled after 24 hours), so a job that started
    /// later than that after it was created is a made-up one.
    public static let maxQueueMicroseconds: Int64 = 35 * 86_400 * 1_000_000

    /// Both times plausible and the queue time they make believable (a negative one is clock
    /// skew, clamped to 0 by the supervisor).
    public static func plausible(createdAt: Int64, startedAt: Int64) -> Bool {
        let range = earliestTime...latestTime
        return range.contains(createdAt) && range.contains(startedAt) && startedAt - createdAt <= maxQueueMicroseconds
    }

    public init(tag: UInt32, kind: Kind, conclusionCode: UInt8 = 0, status: UInt16 = 0, createdAt: Int64 = 0,
                startedAt: Int64 = 0) {
        self.tag = tag
        self.kind = kind
        self.conclusionCode = conclusionCode
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
    }

    /// What the process writes once, after it has confined itself and before it reads its
    /// first request: "RMGH", the configuration revision, then zeros. The supervisor compares
    /// it byte for byte, and `init?(frame:)` refuses it by name: read as an answer its kind byte
    /// (the revision's low byte) could be a valid kind, so its shape alone does not keep the
    /// two apart.
    public static var readyFrame: [UInt8] {
        var bytes = EnrichmentConfiguration.magic
        LittleEndian.append(EnrichmentConfiguration.revision, to: &bytes)
        return bytes + [UInt8](repeating: 0, count: size - bytes.count)
    }

    public var frame: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        LittleEndian.append(tag, to: &bytes)
        bytes.append(kind.rawValue)
        bytes.append(conclusionCode)
        LittleEndian.append(UInt32(status), to: &bytes, width: 2)
        LittleEndian.append(UInt64(bitPattern: createdAt), to: &bytes)
        LittleEndian.append(UInt64(bitPattern: startedAt), to: &bytes)
        return bytes
    }

    /// Nil unless `frame` is exactly `size` bytes forming a consistent answer (`isConsistent`).
    public init?(frame: [UInt8]) {
        guard frame.count == Self.size, frame != Self.readyFrame, let kind = Kind(rawValue: frame[4]) else { return nil }
        self.init(tag: UInt32(LittleEndian.read(frame, at: 0, width: 4)), kind: kind, conclusionCode: frame[5],
                  status: UInt16(LittleEndian.read(frame, at: 6, width: 2)),
                  createdAt: Int64(bitPattern: LittleEndian.read(frame, at: 8, width: 8)),
                  startedAt: Int64(bitPattern: LittleEndian.read(frame, at: 16, width: 8)))
        guard isConsistent else { return nil }
    }

    /// Enriched: a known conclusion code, plausible times (`plausible`), no status.
    /// httpOther: a status from 100 to 599 that has no kind of its own, nothing else. Every
    /// other kind: every field 0.
    public var isConsistent: Bool {
        switch kind {
        case .enriched:
            return conclusionCode <= Self.maxConclusionCode && status == 0
                && Self.plausible(createdAt: createdAt, startedAt: startedAt)
        case .httpOther:
            return conclusionCode == 0 && createdAt == 0 && startedAt == 0 && (100...599).contains(status)
                && status != 200 && status != 401 && status != 403 && status != 404
        case .notFound, .ambiguous, .http401, .http403, .http404, .timeout, .tooLarge, .malformed, .connectFailed,
             .tlsFailed, .tooManyPages:
            return conclusionCode == 0 && status == 0 && createdAt == 0 && startedAt == 0
        }
    }
}

/// Little-endian fields of the frames above.
enum LittleEndian {
    static func append(_ value: UInt32, to bytes: inout [UInt8], width: Int = 4) {
        for index in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(index)))) }
    }

    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    /// `width` bytes at `offset`; the caller has checked the bounds.
    static func read(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (0..<width).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }
}

/// UTF-8 well-formedness (RFC 3629: no overlong form, no surrogate, at most U+10FFFF), so a
/// frame's text decodes to exactly its bytes. WorkerProtocol links nothing, not even the decoders.
enum UTF8Check {
    static func isValid(_ bytes: [UInt8]) -> Bool {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0x00...0x7F: index += 1; continue
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            guard bytes.count - index >= length else { return false }
            for offset in 1..<length {
                let byte = bytes[index + offset]
                let (lower, upper) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard byte >= lower && byte <= upper else { return false }
            }
            index += length
        }
        return true
    }
}
