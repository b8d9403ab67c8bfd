import Glibc

/// The intent journal that makes issuance exactly-once across crashes (Security/DURABILITY.md).
///
/// Records, one per line, fields separated by spaces; free text (lines, paths) is written as
/// `<byte count>:<bytes>` so it needs no escaping and costs no encoding:
///   I <name> <dev> <ino> <offset> <n>:<lines>       about to append these lines at this offset
///   W <name>                                         those lines are in the log and fsynced
///   Q <name> <n>:<evidence> <n>:<audit line>        about to quarantine into evidence
///   A <name>                                         the audit line for that quarantine is fsynced
///   D <name>                                         the runner's filesystem is gone
/// The journal is fsynced before any of the steps it announces. At the end of a run whose
/// every step finished, it is truncated.
public final class Journal {
    public enum Record: Equatable, Sendable {
        case intent(name: String, dev: UInt64, ino: UInt64, offset: Int64, lines: String)
        case written(name: String)
        case quarantine(name: String, evidence: String, auditLine: String)
        case audited(name: String)
        case done(name: String)
    }

    let path: String
    var fd: Int32

    public init(stateDir: String) throws(SystemError) {
        path = stateDir + "/journal"
        fd = try Sys.open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600)
    }

    deinit { close(fd) }

    public func append(_ records: [Record]) throws(SystemError) {
        guard !records.isEmpty else { return }
        try Sys.writeAll(fd, records.map(Self.encode).joined())
    }

    public func sync() throws(SystemError) { try Sys.fsync(fd, path) }

    /// Replaces the journal by `records` once everything else it announced is finished and
    /// durable: empty means truncate; otherwise a new file is written, fsynced and renamed over
    /// the old one, so a crash leaves either journal whole.
    public func replace(with records: [Record]) throws(SystemError) {
        if records.isEmpty {
            guard ftruncate(fd, 0) == 0 else { throw SystemError("ftruncate \(path)") }
            try sync()
            return
        }
        let temporary = path + ".new"
        let new = try Sys.open(temporary, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
        do throws(SystemError) {
            try Sys.writeAll(new, records.map(Self.encode).joined())
            try Sys.fsync(new, temporary)
            guard rename(temporary, path) == 0 else { throw SystemError("rename \(temporary)") }
            try Sys.fsyncDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
        } catch {
            close(new)
            throw error
        }
        close(fd)
        fd = new
    }

    /// Every well-formed record; a torn last record (a crash mid-append) is ignored, which is
    /// safe because a record is only acted on after its own fsync.
    public func load() throws(SystemError) -> [Record] {
        let bytes = try Sys.readAll(fd, path)
        var records: [Record] = []
        var reader = RecordReader(bytes: bytes)
        while let record = reader.next() { records.append(record) }
        return records
    }

    static func encode(_ record: Record) -> String {
        func blob(_ text: String) -> String { "\(text.utf8.count):" + text }
        switch record {
        case let .intent(name, dev, ino, offset, lines): return "I \(name) \(dev) \(ino) \(offset) \(blob(lines))\n"
        case let .written(name): return "W \(name)\n"
        case let .quarantine(name, evidence, line): return "Q \(name) \(blob(evidence)) \(blob(line))\n"
        case let .audited(name): return "A \(name)\n"
        case let .done(name): return "D \(name)\n"
        }
    }

    /// Reads records back; stops at the first malformed or torn one.
    struct RecordReader {
        let bytes: [UInt8]
        var index = 0

        mutating func next() -> Record? {
            guard index < bytes.count, let kind = word(), let name = word(), RunnerName.isValid(Array(name.utf8)) else { return nil }
            let record: Record?
            switch kind {
            case "I":
                guard let dev = word().flatMap(UInt64.init), let ino = word().flatMap(UInt64.init),
                      let offset = word().flatMap(Int64.init), let lines = blob() else { return nil }
                record = .intent(name: name, dev: dev, ino: ino, offset: offset, lines: lines)
            case "W": record = .written(name: name)
            case "Q":
                guard let evidence = blob(), expect(0x20), let line = blob() else { return nil }
                record = .quarantine(name: name, evidence: evidence, auditLine: line)
            case "A": record = .audited(name: name)
            case "D": record = .done(name: name)
            default: return nil
            }
            // Every record ends with a newline right after its last field.
            guard index < bytes.count, bytes[index] == 0x0a else { return nil }
            index += 1
            return record
        }

        /// A space-terminated word (the space is consumed when present).
        private mutating func word() -> String? {
            let start = index
            while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0a { index += 1 }
            guard index > start else { return nil }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if index < bytes.count, bytes[index] == 0x20 { index += 1 }
            return text
        }

        private mutating func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// `<count>:<bytes>`.
        private mutating func blob() -> String? {
            var count = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39, digits < 9 {
                count = count * 10 + Int(bytes[index] - 0x30)
                index += 1
                digits += 1
            }
            guard digits > 0, expect(0x3a), index + count <= bytes.count else { return nil }
            let text = String(validating: bytes[index..<(index + count)], as: UTF8.self)
            index += count
            return text
        }
    }
}
