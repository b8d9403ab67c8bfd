import Glibc
import MetricsDecoding

/// A runner the run audits: rejected by its worker, or issued but impossible to remove.
struct Settlement {
    var location: RunnerLocation
    /// The audit line to write; its `evidence` is the planned place in the quarantine.
    var entry: AuditEntry
    /// What the run looked at (nil: nothing, e.g. an entry that is not a directory).
    var facts: RunnerFacts?
}

extension ExtractRun {
    /// Moves each runner's evidence into the quarantine directory and audits it, once
    /// (Security/DURABILITY.md: `Q` fsynced before the move, `A` after the audit fsync).
    /// Evidence that cannot be moved (another mount, immutable, busy, a second link, any
    /// error) is still audited, with where it stays and why, and held in `<state-dir>/held`
    /// so no later run extracts or audits it again. `journaled`: the `Q` records are already
    /// durable (the batch's, with its intents). Returns false when nothing could be journaled,
    /// so nothing was moved or audited.
    @discardableResult
    func settle(_ items: [Settlement], journaled: Bool) -> Bool {
        guard !items.isEmpty else { return true }
        if !journaled {
            do throws(SystemError) {
                try journal.append(items.map { .quarantine(name: $0.location.name, evidence: $0.entry.evidence ?? "", auditLine: $0.entry.jsonLine) })
                try journal.sync()
            } catch {
                fail("journal: \(error); not audited, retried next run")
                return false
            }
        }
        var settled: [Settlement] = []
        var moved: [Journal.Record] = []
        var heldNames: Set<String> = []
        for var item in items {
            let name = item.location.name
            let facts = item.facts
            let outcome = item.location.quarantine(
                to: item.entry.evidence ?? "", expectedDirectory: facts?.mounted == false ? facts?.directory : nil,
                expectedImage: facts?.image)
            switch outcome {
            case .moved(let problem):
                if let problem { diagnostics.emit(.warning, "quarantine: \(problem)", runner: name) }
            case let .held(place, reason, detail):
                item.entry.evidence = place
                item.entry.notMoved = reason
                item.entry.notMovedDetail = detail
                moved.append(.quarantine(name: name, evidence: place, auditLine: item.entry.jsonLine))
                heldNames.insert(name)
                diagnostics.emit(.warning, "quarantine: evidence not moved (\(reason.rawValue): \(detail)); audited and held at \(place)",
                                 runner: name)
            }
            settled.append(item)
        }
        // The line a crash would replay must be the one with the evidence's real place.
        if !moved.isEmpty {
            do throws(SystemError) {
                try journal.append(moved)
                try journal.sync()
            } catch { fail("journal: \(error)") }
        }
        var audited: [Journal.Record] = []
        for item in settled {
            let name = item.location.name
            do throws(SystemError) {
                try auditLog.append(item.entry.jsonLine)
                audited.append(.audited(name: name))
            } catch {
                fail("audit log: \(error)", runner: name)
            }
            let held = heldNames.contains(name)
            summary.record(.audited(item.entry.reason, held: held))
            if held { hold(name, reason: item.entry.reason.rawValue) }
        }
        do throws(SystemError) {
            try auditLog.sync()
            auditUnsynced = false
        } catch { fail("audit log fsync: \(error)") }
        try? journal.append(audited)
        return true
    }

    /// The audit entry of a runner whose events are out but whose filesystem is not gone.
    func undeletable(_ location: RunnerLocation, _ error: SystemError, facts: RunnerFacts?) -> Settlement {
        let entry = AuditEntry(timestamp: Sys.wallSeconds(), runner: location.name, flavor: config.flavor,
                               reason: .undeletable, detail: "extracted, not removed: \(error)",
                               evidence: location.evidencePath(in: config.quarantineDir, unique: uniqueSuffix()))
        return Settlement(location: location, entry: entry, facts: facts)
    }

    /// Settles durable runners whose deletion failed; those that could not be (the journal
    /// failed) stay owed to the next run, which deletes them without issuing again.
    func settleUndeletable(_ failed: [(settlement: Settlement, lines: String)]) {
        guard !failed.isEmpty else { return }
        for item in failed {
            diagnostics.emit(.warning, "delete: \(item.settlement.entry.detail); quarantined and audited as undeletable",
                             runner: item.settlement.location.name)
        }
        if settle(failed.map(\.settlement), journaled: false) {
            try? journal.append(failed.map { .done(name: $0.settlement.location.name) })
            return
        }
        for item in failed where !item.lines.isEmpty {
            let name = item.settlement.location.name
            outstanding.append(.intent(name: name, dev: 0, ino: 0, offset: 0, lines: item.lines))
            outstanding.append(.written(name: name))
        }
    }

    /// Records `name` (a valid runner name) as held, by the inode its runner-fs entry has.
    /// Before discovery (recovery) the runner-fs directory is listed here, once.
    func hold(_ name: String, reason: String) {
        let listing = self.listing ?? RunnerListing(
            device: (try? Sys.lstat(config.runnerFSDir)).flatMap { $0 }.map { UInt64($0.st_dev) },
            entries: ((try? Discovery.list(config.runnerFSDir)) ?? nil) ?? [])
        self.listing = listing
        guard let inode = listing.inodes[name], let device = listing.device else {
            // Not in the listing (gone already): nothing to hold.
            return
        }
        registry.hold(.init(rawName: Array(name.utf8), device: device, inode: inode, reason: reason))
    }

    /// The registry is written before the journal is replaced: the journal's `Q`/`A` records
    /// are what re-creates a held entry after a crash, so they go only once it is durable.
    func saveRegistry() {
        if auditUnsynced {
            do throws(SystemError) {
                try auditLog.sync()
                auditUnsynced = false
            } catch { fail("audit log fsync: \(error)") }
        }
        do throws(SystemError) { try registry.save() } catch { fail("held registry: \(error)") }
    }

    /// Warns, once per run, when the quarantine directory is not on the mount of runner-fs or
    /// of the images directory: rename(2) cannot cross mounts (EXDEV), so rejected runners'
    /// evidence will be audited and held in place instead of moved (Security/AUDIT.md).
    func checkQuarantineLayout(_ directories: HostDirectories) {
        var quarantine = config.quarantineDir
        var target = EntryIdentity.of(path: quarantine)
        if target == nil {
            // Not created yet: it will be made in its parent, on the parent's mount.
            if let slash = quarantine.lastIndex(of: "/") {
                quarantine = slash == quarantine.startIndex ? "/" : String(quarantine[..<slash])
            } else {
                quarantine = "."
            }
            target = EntryIdentity.of(path: quarantine)
        }
        guard let target else { return }
        var apart: [String] = []
        if let fs = directories.runnerFSIdentity, !fs.isOnSameMount(as: target) { apart.append(config.runnerFSDir) }
        if let images = directories.images, let identity = EntryIdentity.of(images), !identity.isOnSameMount(as: target) {
            apart.append(config.imagesDir)
        }
        guard !apart.isEmpty else { return }
        diagnostics.emit(.warning, "quarantine directory \(config.quarantineDir) is not on the same mount as "
                         + apart.joined(separator: " and ")
                         + ": evidence cannot be renamed into it; rejected runners are audited and held in place")
    }
}
