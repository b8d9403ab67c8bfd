import Glibc

extension ExtractRun {
    /// Finishes what a previous run left half done (Security/DURABILITY.md): events whose
    /// lines reached the log are not issued again and their runner is deleted; a torn append
    /// is completed; a quarantine whose audit line is missing gets it; a runner whose removal
    /// fails is quarantined (or held) and audited as undeletable, like in a run.
    func recover() {
        let records: [Journal.Record]
        do throws(SystemError) { records = try journal.load() } catch {
            fail("journal: \(error)")
            return
        }
        guard !records.isEmpty else { return }
        diagnostics.emit(.warning, "journal holds \(records.count) records of an unfinished run; recovering")
        var order: [String] = []
        var state: [String: (intent: Journal.Record?, written: Bool, quarantine: Journal.Record?, audited: Bool, done: Bool)] = [:]
        for record in records {
            let name: String
            switch record {
            case .intent(let n, _, _, _, _), .written(let n), .quarantine(let n, _, _), .audited(let n), .done(let n): name = n
            }
            if state[name] == nil { order.append(name); state[name] = (nil, false, nil, false, false) }
            switch record {
            case .intent: state[name]?.intent = record
            case .written: state[name]?.written = true
            case .quarantine: state[name]?.quarantine = record
            case .audited: state[name]?.audited = true
            case .done: state[name]?.done = true
            }
        }
        var failed: [(settlement: Settlement, lines: String)] = []
        for name in order {
            guard let entry = state[name] else { continue }
            let place = location(name)
            var evidenceStays = false
            // Before the `D` check: a runner settled as undeletable is done with, but if it
            // was held in place, the held registry may not have been written yet.
            if case let .quarantine(_, evidence, line)? = entry.quarantine, (try? Sys.lstat(evidence)) ?? nil != nil {
                // Moved (or held in place) with its line journaled: audit it if that was not
                // done, and never delete or extract it again.
                evidenceStays = true
                if !entry.audited {
                    do throws(SystemError) {
                        try auditLog.append(line)
                        try auditLog.sync()
                    } catch { fail("audit log: \(error)", runner: name) }
                }
                if evidence == place.directoryPath || evidence == place.imagePath {
                    hold(name, reason: AuditReader.reason(ofLine: line) ?? "unknown")
                }
            }
            guard !entry.done, case let .intent(_, dev, ino, offset, lines)? = entry.intent else { continue }
            var written = entry.written
            if !written {
                written = completeTornAppend(dev: dev, ino: ino, offset: offset, lines: lines, runner: name)
            }
            guard written else { continue }  // not in the log: the runner is extracted afresh below
            guard !evidenceStays, (try? Sys.lstat(place.directoryPath)) ?? nil != nil else { continue }
            do throws(SystemError) {
                try place.delete()
                summary.record(.deleted)
            } catch {
                failed.append((undeletable(place, error, facts: nil), lines))
            }
        }
        settleUndeletable(failed)
        // Everything recovered is final; start this run's journal with only what is still owed
        // (kept in `outstanding`, so finish() writes it again). The held entries are durable
        // first: their journal records are what would re-create them.
        saveRegistry()
        do throws(SystemError) { try journal.replace(with: outstanding) } catch { fail("journal: \(error)") }
    }

    /// True when the metrics log (the same file) holds `lines` at `offset` — or a little after
    /// it, should another writer (the charm) have appended in between — completing a prefix
    /// that a crash cut short at the end of the file. False when they are not there: issue
    /// them afresh.
    func completeTornAppend(dev: UInt64, ino: UInt64, offset: Int64, lines: String, runner: String) -> Bool {
        guard let status = try? Sys.lstat(config.metricsLog), UInt64(status.st_dev) == dev, UInt64(status.st_ino) == ino,
              Int64(status.st_size) > offset else { return false }
        let expected = Array(lines.utf8)
        let slack = 1 << 16
        let available = Int(min(Int64(status.st_size) - offset, Int64(expected.count + slack)))
        guard let fd = try? Sys.open(config.metricsLog, O_RDONLY | O_NOFOLLOW) else { return false }
        defer { close(fd) }
        var actual = [UInt8](repeating: 0, count: available)
        let n = actual.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == available else { return false }
        // Whole lines at the offset or later, each at the start of a line.
        if let start = Self.find(expected, in: actual), start == 0 || actual[start - 1] == 0x0a {
            do throws(SystemError) { try metricsLog.sync() } catch {
                fail("metrics log: \(error)", runner: runner)
                return false
            }
            return true
        }
        // A torn append: the file ends with a prefix of the lines, at the offset.
        let tail = min(available, expected.count)
        guard Int64(status.st_size) - offset < Int64(expected.count), actual[0..<tail] == expected[0..<tail] else { return false }
        do throws(SystemError) {
            try metricsLog.ensureCurrent()
            try metricsLog.append(String(decoding: expected[tail...], as: UTF8.self))
            try metricsLog.sync()
        } catch {
            fail("metrics log: \(error)", runner: runner)
            return false
        }
        return true
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
