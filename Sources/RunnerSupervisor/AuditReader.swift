import CSandboxShim
import Glibc
import MetricsDecoding

/// Reads the audit log back for `runner-metrics audit`, with the same strict parser the
/// worker uses: the file is ours, but a tool that trusts its input would be the wrong model.
/// Every field it prints, in the table or as JSON, is escaped to printable ASCII again: a
/// forged line cannot reach the operator's terminal with a control character.
public enum AuditReader {
    public struct Entry: Sendable {
        /// The line re-encoded as the tool writes lines: printable ASCII, one line.
        public var line: String
        public var time: String
        public var seconds: Double
        public var runner: String
        public var reason: String
        public var evidence: String
    }

    public struct Listing: Sendable {
        public var entries: [Entry] = []
        public var unreadableLines = 0
    }

    /// The most a log (or its decompressed text) may hold: a year of rejections at one per
    /// second is a few GiB less than this; anything larger is refused, not read into memory.
    static let maxBytes = 1 << 30

    public static func parseTime(_ text: String) -> Double? { UTCTime.parse(text) }

    /// The `reason` of one of our own audit lines (recovery, for the held registry).
    static func reason(ofLine line: String) -> String? {
        let bytes = Array(line.utf8.prefix(while: { $0 != 0x0a }))
        guard case .object(let members)? = bytes.withUnsafeBytes({ raw -> JSONValue? in try? StrictJSON.parse(raw) }) else { return nil }
        for member in members where member.key == "reason" { if case .string(let s) = member.value { return s } }
        return nil
    }

    /// `path` as the operator gave it: `-` for standard input; a regular file only (opened
    /// O_NONBLOCK|O_NOFOLLOW, then fstat: a FIFO, device or symlink is refused at once, never
    /// waited on); a name ending in `.gz` (a rotated log) decompressed by `gzip -dc`.
    public static func read(_ path: String) throws(SystemError) -> Listing {
        parse(try contents(path))
    }

    static func contents(_ path: String) throws(SystemError) -> [UInt8] {
        if path == "-" { return try readStream(0, "standard input") }
        let fd = try Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        defer { close(fd) }
        let status = try Sys.fstat(fd)
        guard status.st_mode & S_IFMT == S_IFREG else { throw SystemError("\(path): not a regular file", EINVAL) }
        if path.hasSuffix(".gz") { return try gunzip(fd, path) }
        guard status.st_size <= maxBytes else { throw SystemError("\(path): larger than \(maxBytes) bytes", EFBIG) }
        return try Sys.readAll(fd, path)
    }

    /// Reads to end of file, at most `maxBytes`.
    static func readStream(_ fd: Int32, _ what: String) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw SystemError("read \(what)") }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= maxBytes else { throw SystemError("\(what): more than \(maxBytes) bytes", EFBIG) }
        }
    }

    /// The unprivileged identity `gzip -dc` runs as (nobody).
    static let gzipIdentity: uid_t = 65534

    /// Decompresses with `gzip -dc` in a child of its own: the already open file as its
    /// standard input, a pipe as its output, uid and gid nobody, no groups, no_new_privs, an
    /// empty environment. The tool links no zlib, and a decompressor fed a forged file is
    /// better run without root; the child can read nothing but the descriptor it is given.
    static func gunzip(_ fd: Int32, _ path: String) throws(SystemError) -> [UInt8] {
        let program = ["/usr/bin/gzip", "/bin/gzip"].first { (candidate: String) in access(candidate, X_OK) == 0 }
        guard let program else { throw SystemError("\(path): gzip not found in /usr/bin or /bin", ENOENT) }
        var ends: [Int32] = [-1, -1]
        guard rm_pipe2(&ends, O_CLOEXEC) == 0 else { throw SystemError("pipe2") }
        // The child gets descriptors above 2 (see rm_spawn_unprivileged).
        let input = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        let output = fcntl(ends[1], F_DUPFD_CLOEXEC, 3)
        close(ends[1])
        defer { if input >= 0 { close(input) } }
        guard input >= 0, output >= 0 else {
            let failure = SystemError("dup")
            close(ends[0])
            if output >= 0 { close(output) }
            throw failure
        }
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) & ~O_NONBLOCK)
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("gzip"), strdup("-dc"), nil]
        defer { for pointer in argv { free(pointer) } }
        let pid = rm_spawn_unprivileged(program, &argv, input, output, gzipIdentity, gzipIdentity)
        close(output)
        guard pid > 0 else {
            let failure = SystemError("start \(program)")
            close(ends[0])
            throw failure
        }
        let read: Result<[UInt8], SystemError>
        do throws(SystemError) { read = .success(try readStream(ends[0], "\(program) -dc \(path)")) } catch { read = .failure(error) }
        close(ends[0])
        let status = rm_wait_exit_status(pid)
        let bytes = try read.get()
        guard status == 0 else {
            throw SystemError("\(program) -dc \(path): exit status \(status >> 8 & 0xff), signal \(status & 0x7f)", EIO)
        }
        return bytes
    }

    static func parse(_ bytes: [UInt8]) -> Listing {
        var listing = Listing()
        for line in bytes.split(separator: 0x0a) {
            let parsed = line.withUnsafeBytes { raw -> JSONValue? in try? StrictJSON.parse(raw) }
            guard case .object(let members)? = parsed else { listing.unreadableLines += 1; continue }
            func text(_ key: String) -> String? {
                for member in members where member.key == key { if case .string(let s) = member.value { return s } }
                return nil
            }
            guard let time = text("timestamp"), let runner = text("runner"), let reason = text("reason") else {
                listing.unreadableLines += 1
                continue
            }
            listing.entries.append(Entry(line: encode(.object(members)), time: time,
                                         seconds: UTCTime.parse(time) ?? 0, runner: runner, reason: reason,
                                         evidence: text("evidence") ?? "-"))
        }
        return listing
    }

    /// JSON text in the log's own form (`JSONText`: everything outside printable ASCII
    /// escaped); numbers keep their source text, which the grammar makes ASCII.
    static func encode(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number): return number.lexeme
        case .string(let text): return JSONText.string(text)
        case .array(let items): return "[" + items.map(encode).joined(separator: ", ") + "]"
        case .object(let members): return JSONText.object(members.map { ($0.key, encode($0.value)) })
        }
    }

    /// A field as the table shows it: printable ASCII as it is (an invalid runner name is
    /// already `\xNN` text and is not escaped twice), every other scalar as its JSON escape
    /// (`\u001b`, `\u009b`, `\u202e`, `\n`), so nothing reaches the terminal as a control.
    static func shown(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value < 0x7f {
                out.unicodeScalars.append(scalar)
            } else {
                out += JSONText.string(String(scalar)).dropFirst().dropLast()
            }
        }
        return out
    }

    public static func table(_ entries: [Entry]) -> String {
        let header = ["TIME", "RUNNER", "REASON", "EVIDENCE"]
        let rows = entries.map { [shown($0.time), shown($0.runner), shown($0.reason), shown($0.evidence)] }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func render(_ row: [String]) -> String {
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ") + "\n"
        }
        return ([header] + rows).map(render).joined()
    }
}
