import CSandboxShim
import Glibc
import WorkerProtocol

/// Where the GitHub API is and how to reach it. The token is read from `tokenFile` by the
/// supervisor and handed to the GitHub process over its request pipe only.
public struct GitHubSettings: Sendable, Equatable {
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server;
    /// `http://` only to 127.0.0.1 or [::1] (tests, a local proxy).
    public var apiURL: String
    /// A root-owned regular file of mode 0600 or 0400 holding the token (one trailing newline allowed).
    public var tokenFile: String
    /// PEM CA certificates to trust instead of the system bundle (GitHub Enterprise Server, tests).
    public var caFile: String?
    /// Seconds for one runner's request: connect, TLS and every page.
    public var requestTimeout: Double
    /// Seconds for every request of one run together.
    public var runBudget: Double

    public init(apiURL: String, tokenFile: String, caFile: String? = nil, requestTimeout: Double = 10,
                runBudget: Double = 60) {
        self.apiURL = apiURL
        self.tokenFile = tokenFile
        self.caFile = caFile
        self.requestTimeout = requestTimeout
        self.runBudget = runBudget
    }
}

/// A setting the enricher refuses; the message says which and why.
public struct GitHubSettingsError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The API URL taken apart: scheme, host (an IPv6 literal without brackets), port, path prefix.
struct APIEndpoint: Equatable, Sendable {
    var scheme: EnrichmentConfiguration.Scheme
    var host: String
    var port: UInt16
    var pathPrefix: String

    init(scheme: EnrichmentConfiguration.Scheme, host: String, port: UInt16, pathPrefix: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathPrefix = pathPrefix
    }

    /// `scheme://host[:port][/prefix]`, nothing else: no user information, query or fragment,
    /// a host of letters, digits, '-' and '.' (or a bracketed IPv6 literal), a path of
    /// URL-safe bytes; one trailing '/' is dropped. Plain http only to 127.0.0.1 or ::1: the
    /// token must never cross a network in clear text.
    init(url: String) throws(GitHubSettingsError) {
        let text = Array(url.utf8)
        let https = Array("https://".utf8), http = Array("http://".utf8)
        var rest: ArraySlice<UInt8>
        if text.starts(with: https) {
            scheme = .https
            rest = text[https.count...]
        } else if text.starts(with: http) {
            scheme = .http
            rest = text[http.count...]
        } else {
            throw GitHubSettingsError("the API URL \(url) is not https:// (or http:// to loopback)")
        }
        let pathStart = rest.firstIndex(of: 0x2F) ?? rest.endIndex
        let authority = rest[..<pathStart]
        var path = Array(rest[pathStart...])
        if path.last == 0x2F { path.removeLast() }
        guard !authority.contains(0x40), !text.contains(0x3F), !text.contains(0x23) else {
            throw GitHubSettingsError("the API URL \(url) has user information, a query or a fragment")
        }
        var hostPart: ArraySlice<UInt8>, portPart: ArraySlice<UInt8>?
        if authority.first == 0x5B {
            guard let close = authority.firstIndex(of: 0x5D) else { throw GitHubSettingsError("the API URL \(url) has an unclosed [") }
            hostPart = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            guard after.isEmpty || after.first == 0x3A else { throw GitHubSettingsError("the API URL \(url) has a bad port") }
            portPart = after.isEmpty ? nil : after.dropFirst()
            guard !hostPart.isEmpty, hostPart.allSatisfy({ Self.isHexOrColon($0) }) else {
                throw GitHubSettingsError("the API URL \(url) has a bad IPv6 literal")
            }
        } else {
            let colon = authority.firstIndex(of: 0x3A)
            hostPart = authority[..<(colon ?? authority.endIndex)]
            portPart = colon.map { authority[($0 + 1)...] }
            guard !hostPart.isEmpty, hostPart.count <= EnrichmentConfiguration.maxHost,
                  hostPart.allSatisfy({ Self.isHostByte($0) })
            else { throw GitHubSettingsError("the API URL \(url) has a bad host name") }
        }
        host = String(decoding: Self.lowercased(Array(hostPart)), as: UTF8.self)
        if let portPart {
            guard (1...5).contains(portPart.count), portPart.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let value = Int(String(decoding: portPart, as: UTF8.self)), (1...65535).contains(value)
            else { throw GitHubSettingsError("the API URL \(url) has a bad port") }
            port = UInt16(value)
        } else {
            port = scheme == .https ? 443 : 80
        }
        guard path.count <= EnrichmentConfiguration.maxPathPrefix,
              path.allSatisfy(EnrichmentConfiguration.isPathByte),
              !Self.hasEmptyOrDotSegment(path)
        else { throw GitHubSettingsError("the API URL \(url) has a bad path") }
        pathPrefix = String(decoding: path, as: UTF8.self)
        if scheme == .http && host != "127.0.0.1" && host != "::1" {
            throw GitHubSettingsError("the API URL \(url) is plain http to \(host): only https, or http to 127.0.0.1 or [::1]")
        }
    }

    /// A host name's bytes: the configuration message's host bytes (EnrichmentConfiguration)
    /// but ':', which only a bracketed IPv6 literal may hold.
    static func isHostByte(_ byte: UInt8) -> Bool {
        byte != 0x3A && EnrichmentConfiguration.isHostByte(byte)
    }

    static func isHexOrColon(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66) || byte == 0x3A
            || byte == 0x2E
    }

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] { bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 } }

    /// "//", "/./" or "/../" anywhere in the path.
    static func hasEmptyOrDotSegment(_ path: [UInt8]) -> Bool {
        guard !path.isEmpty else { return false }
        let segments = path.dropFirst().split(separator: 0x2F, omittingEmptySubsequences: false)
        return segments.contains { $0.isEmpty || $0.elementsEqual([0x2E]) || $0.elementsEqual([0x2E, 0x2E]) }
    }
}

/// The operator's secret and trust files, read by the supervisor before the process starts.
enum GitHubFiles {
    static let maxToken = EnrichmentConfiguration.maxToken

    /// The token: a regular file, not a symlink, owned by root, mode 0600 or 0400 (readable by
    /// no one else), at most 4 KiB, visible ASCII with at most one trailing newline.
    static func readToken(_ path: String) throws(GitHubSettingsError) -> [UInt8] {
        let bytes = try readChecked(path, what: "token file", limit: maxToken + 2) { status throws(GitHubSettingsError) in
            let mode = status.st_mode & 0o7777
            guard mode == 0o600 || mode == 0o400 else {
                throw GitHubSettingsError("the token file \(path) has mode \(String(mode, radix: 8)), not 600 or 400")
            }
        }
        var token = bytes[...]
        if token.last == 0x0A { token = token.dropLast() }
        if token.last == 0x0D { token = token.dropLast() }
        guard !token.isEmpty, token.count <= maxToken else {
            throw GitHubSettingsError("the token file \(path) is empty or longer than \(maxToken) bytes")
        }
        guard token.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw GitHubSettingsError("the token file \(path) holds a space, a control character or a second line")
        }
        return Array(token)
    }

    /// The CA certificates: a regular file, not a symlink, owned by root and writable by no one
    /// else (whoever can change it can read the token through a server of their own), at most 4 MiB.
    static func readCertificates(_ path: String) throws(GitHubSettingsError) -> [UInt8] {
        let bytes = try readChecked(path, what: "CA file", limit: EnrichmentConfiguration.maxCertificates) { status throws(GitHubSettingsError) in
            guard status.st_mode & 0o022 == 0 else {
                throw GitHubSettingsError("the CA file \(path) is writable by group or others")
            }
        }
        guard !bytes.isEmpty else { throw GitHubSettingsError("the CA file \(path) is empty") }
        return bytes
    }

    private static func readChecked(_ path: String, what: String, limit: Int,
                                    check: (stat) throws(GitHubSettingsError) -> Void) throws(GitHubSettingsError) -> [UInt8] {
        let fd = rm_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw GitHubSettingsError("cannot open the \(what) \(path): \(SystemError("open").description)") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw GitHubSettingsError("cannot fstat the \(what) \(path)") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw GitHubSettingsError("the \(what) \(path) is not a regular file") }
        guard status.st_uid == 0 else { throw GitHubSettingsError("the \(what) \(path) is owned by uid \(status.st_uid), not root") }
        try check(status)
        guard status.st_size <= off_t(limit) else { throw GitHubSettingsError("the \(what) \(path) is larger than \(limit) bytes") }
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Sys.readAll(fd, path) } catch {
            throw GitHubSettingsError("cannot read the \(what) \(path): \(error)")
        }
        guard bytes.count <= limit else { throw GitHubSettingsError("the \(what) \(path) is larger than \(limit) bytes") }
        return bytes
    }
}
