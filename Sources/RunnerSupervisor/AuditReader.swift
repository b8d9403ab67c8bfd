import Glibc
import MetricsDecoding

/// Reads the audit log back for `runner-metrics audit`, with the same strict parser the
/// worker uses: the file is ours, but a tool that trusts its input would be the wrong model.
public enum AuditReader {
    public struct Entry: Sendable {
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

    public static func parseTime(_ text: String) -> Double? { UTCTime.parse(text) }

    public static func read(_ path: String) throws(SystemError) -> Listing {
        let fd = try Sys.open(path, O_RDONLY | O_NOFOLLOW)
        defer { close(fd) }
        let bytes = try Sys.readAll(fd, path)
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
            listing.entries.append(Entry(line: String(decoding: line, as: UTF8.self), time: time,
                                         seconds: UTCTime.parse(time) ?? 0, runner: runner, reason: reason,
                                         evidence: text("evidence") ?? "-"))
        }
        return listing
    }

    public static func table(_ entries: [Entry]) -> String {
        let header = ["TIME", "RUNNER", "REASON", "EVIDENCE"]
        // The runner field is already shown safely (invalid names as \xNN); only control
        // characters a forged or damaged line might hold are escaped here, not backslashes.
        func shown(_ text: String) -> String {
            String(text.unicodeScalars.flatMap { scalar -> [Character] in
                scalar.value >= 0x20 && scalar.value < 0x7f ? [Character(scalar)] : Array(JSONText.string(String(scalar)).dropFirst().dropLast())
            })
        }
        let rows = entries.map { [$0.time, shown($0.runner), $0.reason, shown($0.evidence)] }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func render(_ row: [String]) -> String {
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ") + "\n"
        }
        return ([header] + rows).map(render).joined()
    }
}
