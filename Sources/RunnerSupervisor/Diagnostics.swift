import Glibc

/// The tool's own diagnostics on stderr (journald or cron mail picks them up). Never carries
/// runner file contents: only names (validated or escaped), reason codes and errno text.
public struct Diagnostics: Sendable {
    public enum Format: String, Sendable, CaseIterable { case text, json }
    public enum Level: String, Sendable { case info, warning, error }

    public var format: Format
    public var quiet: Bool

    public init(format: Format = .text, quiet: Bool = false) {
        self.format = format
        self.quiet = quiet
    }

    public func emit(_ level: Level, _ message: String, runner: String? = nil) {
        if quiet && level == .info { return }
        let line: String
        switch format {
        case .text:
            line = "runner-metrics: \(level.rawValue): " + (runner.map { "\(JSONText.string($0)): " } ?? "") + JSONText.string(message).dropFirst().dropLast() + "\n"
        case .json:
            var members = [("time", JSONText.string(UTCTime.iso8601(Sys.wallSeconds()))), ("level", JSONText.string(level.rawValue))]
            if let runner { members.append(("runner", JSONText.string(runner))) }
            members.append(("message", JSONText.string(message)))
            line = JSONText.object(members) + "\n"
        }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// SIGTERM/SIGINT: stop starting workers, kill the running ones, finish the current step.
public enum Interrupt {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0

    public static var requested: Bool { flag != 0 }

    public static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Interrupt.flag = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: poll returns EINTR and the loop notices
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
    }
}
