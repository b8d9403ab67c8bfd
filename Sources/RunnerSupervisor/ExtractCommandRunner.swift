import Glibc

/// The whole `extract` invocation around one ExtractRun: lock, fork server, signals, summary.
/// Shared by the CLI, the demo and the test probe so that all three run the same pipeline.
public enum ExtractCommandRunner {
    /// Exit status 75: another run holds the lock.
    public static let lockedStatus: Int32 = 75

    public static func run(
        config: ExtractConfiguration, textfileDir: String?, diagnostics: Diagnostics, printJSON: Bool,
        printText: Bool = true, startServer: ((Double) throws -> ForkServer)? = nil
    ) -> Int32 {
        let lock: RunLock
        do throws(RunLock.Failure) { lock = try RunLock(stateDir: config.stateDir, wait: config.lockWait) } catch {
            switch error {
            case .held:
                diagnostics.emit(.warning, "another run holds \(config.stateDir)/lock; exiting 75")
                return lockedStatus
            case .system(let failure):
                diagnostics.emit(.error, "lock: \(failure)")
                return 1
            }
        }
        defer { withExtendedLifetime(lock) {} }
        let server: ForkServer
        do {
            server = try (startServer ?? WorkerLauncher.start)(config.workerTimeout)
        } catch {
            diagnostics.emit(.error, "cannot start the worker fork server: \(error)")
            return 1
        }
        Interrupt.install()
        let summary = ExtractRun(config: config, server: server, diagnostics: diagnostics).run()
        server.shutdown()
        // The textfile describes the run; it never decides it. Events are out and runners
        // deleted by now, so a textfile that cannot be written (a missing or read-only
        // directory) is reported and the run keeps its status: exiting 1 would tell cron and
        // systemd that the extraction failed when it did not. node_exporter then serves the
        // previous file, whose runner_metrics_last_success_timestamp_seconds stops advancing,
        // which is what "no run for a while" alerts watch.
        if let textfileDir {
            do throws(SystemError) { try Textfile.write(summary, flavor: config.flavor, to: textfileDir) } catch {
                diagnostics.emit(.error, "textfile: \(error); the run's own outcome stands")
            }
        }
        if printJSON {
            print(summary.json)
        } else if printText {
            print(summary.text, terminator: "")
        }
        return summary.exitStatus
    }
}

/// `--ignore-file`: one runner name per line; blank lines and `#` comments skipped.
public enum IgnoreFile {
    public static func read(_ path: String) throws(SystemError) -> Set<String> {
        let fd = try Sys.open(path, O_RDONLY)
        defer { close(fd) }
        let bytes = try Sys.readAll(fd, path)
        var names = Set<String>()
        for line in bytes.split(separator: 0x0a) {
            let text = String(decoding: line, as: UTF8.self).trimmingWhitespace()
            if text.isEmpty || text.hasPrefix("#") { continue }
            names.insert(text)
        }
        return names
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
