import Glibc

/// Quarantine retention: evidence older than a given age is removed, with the same removal as
/// a runner's tree (never following a link, never leaving the quarantine's own filesystem),
/// and each removal is audited (`pruned`). Also the inventory the textfile reports.
///
/// The age is read from the entry's name, `<runner>.<seconds>-<pid>-<n>[.img]`, which this
/// tool wrote when it moved the evidence in: a runner controls its files' times (and a moved
/// directory keeps them), never the name its evidence gets. An entry without such a name was
/// not put there by this tool and is left alone.
public enum QuarantineRetention {
    /// One entry of the quarantine directory this tool named.
    struct Evidence: Equatable {
        var name: String
        var runner: String
        var quarantinedAt: Double
    }

    /// What a pass found and did.
    public struct Report: Sendable, Equatable {
        /// Entries this tool named, left in place (younger than the limit, or no limit given).
        public var entries = 0
        /// Bytes allocated to image evidence left in place (a directory's contents are not
        /// walked to be counted: it is a runner's tree, of any size).
        public var imageBytes: Int64 = 0
        public var directories = 0
        public var pruned = 0
        /// Entries older than the limit that could not be removed (immutable flags, a mount):
        /// left, reported, tried again by the next pass.
        public var failed = 0
        /// Entries whose name this tool did not write.
        public var foreign = 0

        public init() {}
    }

    /// `name` as this tool names evidence, or nil.
    static func evidence(named name: [UInt8]) -> Evidence? {
        var stem = name[...]
        if stem.count > 4, stem.suffix(4).elementsEqual(".img".utf8) { stem = stem.dropLast(4) }
        guard let dot = stem.lastIndex(of: UInt8(ascii: ".")) else { return nil }
        let runner = stem[..<dot], suffix = stem[stem.index(after: dot)...]
        let parts = suffix.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard RunnerName.isValid(runner), parts.count == 3,
              parts.allSatisfy({ (1...19).contains($0.count) && $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let seconds = Int64(String(decoding: parts[0], as: UTF8.self))
        else { return nil }
        return Evidence(name: String(decoding: name, as: UTF8.self), runner: String(decoding: runner, as: UTF8.self),
                        quarantinedAt: Double(seconds))
    }

    /// Lists `quarantineDir` and, given `olderThan` seconds, removes and audits every entry
    /// quarantined longer ago than that. The caller holds the run lock, so no extract moves
    /// evidence in meanwhile. A missing quarantine directory is an empty one.
    public static func pass(quarantineDir: String, olderThan: Double?, now: Double? = nil, auditLog: AppendLog?,
                            flavor: String, diagnostics: Diagnostics) throws(SystemError) -> Report {
        let now = now ?? Sys.wallSeconds()
        var report = Report()
        let fd = Glibc.open(quarantineDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return report }
            throw SystemError("open \(quarantineDir)")
        }
        defer { close(fd) }
        guard let device = EntryIdentity.of(fd)?.device else { throw SystemError("statx \(quarantineDir)") }
        var expired: [(evidence: Evidence, isDirectory: Bool)] = []
        for entry in try Discovery.list(descriptor: fd, quarantineDir) {
            guard let evidence = evidence(named: entry.rawName) else {
                report.foreign += 1
                continue
            }
            var status = stat()
            guard fstatat(fd, evidence.name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let isDirectory = status.st_mode & S_IFMT == S_IFDIR
            if let limit = olderThan, now - evidence.quarantinedAt > limit {
                expired.append((evidence, isDirectory))
                continue
            }
            report.entries += 1
            if isDirectory { report.directories += 1 } else { report.imageBytes += Int64(status.st_blocks) * 512 }
        }
        guard !expired.isEmpty else { return report }
        // Audited before anything is removed, and made durable: a crash in between leaves
        // evidence whose removal is already on record (the next pass removes it and says so
        // again), never evidence gone without a line.
        if let auditLog {
            do throws(SystemError) {
                for (evidence, _) in expired {
                    let days = Int((now - evidence.quarantinedAt) / 86_400)
                    let entry = AuditEntry(
                        timestamp: now, runner: evidence.runner, flavor: flavor, reason: .pruned,
                        detail: "evidence quarantined at \(UTCTime.iso8601(evidence.quarantinedAt)) (\(days) days ago) removed by retention",
                        evidence: quarantineDir + "/" + evidence.name)
                    try auditLog.append(entry.jsonLine)
                }
                try auditLog.sync()
            } catch {
                throw SystemError("audit log: \(error); no evidence removed", error.code)
            }
        }
        for (evidence, isDirectory) in expired {
            do throws(SystemError) {
                if isDirectory {
                    try TreeRemoval.remove(parentFD: fd, parent: quarantineDir, name: evidence.name, files: .none, device: device)
                } else if unlinkat(fd, evidence.name, 0) != 0 && errno != ENOENT {
                    throw SystemError("unlink \(quarantineDir)/\(evidence.name)")
                }
                report.pruned += 1
            } catch {
                report.failed += 1
                report.entries += 1
                diagnostics.emit(.warning, "prune: \(error); left in place, tried again next time", runner: evidence.runner)
            }
        }
        if report.pruned > 0 {
            do throws(SystemError) { try Sys.fsyncDirectory(quarantineDir) } catch {
                diagnostics.emit(.warning, "fsync \(quarantineDir): \(error)")
            }
        }
        return report
    }
}
