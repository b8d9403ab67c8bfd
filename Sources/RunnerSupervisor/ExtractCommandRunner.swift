import Glibc

/// The whole `extract` invocation around one ExtractRun: lock, fork server, signals, summary.
/// Shared by the CLI, the demo and the test probe so that all three run the same pipeline.
public enum ExtractCommandRunner {
    public static func run(
        config: ExtractConfiguration, textfileDir: String?, diagnostics: Diagnostics, printJSON: Bool,
        printText: Bool = true, startServer: ((Double) throws -> ForkServer)? = nil
    ) -> Int32 {
        let lock: RunLock
        switch RunLock.take(stateDir: config.stateDir, wait: config.lockWait, diagnostics: diagnostics) {
        case .success(let taken): lock = taken
        case .failure(let refusal): return refusal.status
        }
        defer { withExtendedLifetime(lock) {} }
        let server: ForkServer
        do {
            server = try (startServer ?? WorkerLauncher.start)(config.workerTimeout)
        } catch {
            diagnostics.emit(.error, "cannot start the worker fork server: \(error)")
            return 1
        }
        // The GitHub API process, when enrichment is on; started before the run's deletion
        // threads exist (it is forked). If the settings are refused (say, the token file is
        // not root's) or the process fails, the run still extracts and issues every runner,
        // without the API's fields, and exits 1 so that someone looks. A spent budget is a
        // slow API, reported as a warning.
        var enricherErrors = 0
        var enricher: GitHubEnricher? = nil
        if let github = config.github {
            do throws(GitHubSettingsError) { enricher = try GitHubEnricher(settings: github) } catch {
                diagnostics.emit(.error, "GitHub API: \(error); events are issued without queue_duration and job_conclusion")
                enricherErrors += 1
            }
        }
        Interrupt.install()
        var summary = ExtractRun.perform(config: config, server: server, enricher: enricher, diagnostics: diagnostics)
        if let enricher, let why = enricher.failureDescription {
            if enricher.endedByTheRun {
                diagnostics.emit(.warning, "GitHub API: \(why); later runners were issued without its fields")
            } else {
                diagnostics.emit(.error, "GitHub API: \(why); runners after that were issued without its fields")
                enricherErrors += 1
            }
        }
        enricher?.finish()
        summary.errors += enricherErrors
        server.shutdown()
        // Still under the lock: no other run moves evidence in while retention looks.
        summary.quarantine = retention(config, diagnostics: diagnostics, errors: &summary.errors)
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

extension ExtractCommandRunner {
    /// The quarantine's inventory and, with a retention configured, the removal of what is
    /// older (QuarantineRetention). A failure is the run's: the audit log or the quarantine
    /// directory is broken, which someone should look at.
    static func retention(_ config: ExtractConfiguration, diagnostics: Diagnostics, errors: inout Int) -> QuarantineRetention.Report {
        do throws(SystemError) {
            let auditLog = config.quarantineRetentionSeconds == nil ? nil : try AppendLog(path: config.auditLog, mode: 0o600)
            return try QuarantineRetention.pass(quarantineDir: config.quarantineDir, olderThan: config.quarantineRetentionSeconds,
                                                auditLog: auditLog, flavor: config.flavor,
                                                diagnostics: diagnostics)
        } catch {
            errors += 1
            diagnostics.emit(.error, "quarantine retention: \(error)")
            return QuarantineRetention.Report()
        }
    }
}

/// `--ignore-file`: one runner name per line; blank lines and `#` comments skipped. The file
/// is kept current by whatever starts runners and is read once per run, so it must be replaced
/// atomically (written beside it, then renamed over it): a file read half-written would leave
/// an active runner out of the set, and that runner would be extracted and deleted.
public enum IgnoreFile {
    public struct Contents: Sendable, Equatable {
        /// The runner names to leave alone.
        public var names: Set<String>
        /// Lines that are not a valid runner name (`[A-Za-z0-9._-]{1,128}`), by line number,
        /// escaped: no runner directory can have such a name, so the line protects nothing and
        /// most likely means the file is not what its writer meant.
        public var invalidLines: [(line: Int, text: String)]

        public static func == (a: Contents, b: Contents) -> Bool {
            a.names == b.names && a.invalidLines.elementsEqual(b.invalidLines) { $0.line == $1.line && $0.text == $1.text }
        }
    }

    /// Reads it without following a final symlink and without blocking: a FIFO or any other
    /// non-regular file is refused, never waited on while the run holds its lock.
    public static func read(_ path: String) throws(SystemError) -> Contents {
        let fd = try Sys.open(path, O_RDONLY | O_NONBLOCK)
        defer { close(fd) }
        guard try Sys.fstat(fd).st_mode & S_IFMT == S_IFREG else {
            throw SystemError("\(path): not a regular file", EINVAL)
        }
        let bytes = try Sys.readAll(fd, path)
        var contents = Contents(names: [], invalidLines: [])
        for (index, line) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            let text = String(decoding: line, as: UTF8.self).trimmingWhitespace()
            if text.isEmpty || text.hasPrefix("#") { continue }
            if RunnerName.isValid(Array(text.utf8)) {
                contents.names.insert(text)
            } else {
                contents.invalidLines.append((index + 1, JSONText.escapedBytes(Array(line))))
            }
        }
        return contents
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
