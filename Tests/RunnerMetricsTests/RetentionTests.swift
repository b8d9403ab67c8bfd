import Foundation
import Glibc
import Testing

/// Quarantine retention (`prune`, `extract --quarantine-retention-days`): evidence older than
/// the limit, by the time in the name this tool gave it, is audited and then removed with the
/// tree removal a runner's filesystem gets; nothing else is touched.
@Suite struct RetentionTests {
    static let day = 86_400

    /// A quarantine as extract leaves it, evidence named `<runner>.<seconds>-<pid>-<n>[.img]`:
    /// two old entries (a directory holding a deep tree and a symlink out of it, and an
    /// image), one young, and two that this tool did not name.
    static func quarantine(_ root: String, now: Int) throws -> (old: [String], young: String, outside: String) {
        let q = root + "/runner-fs-quarantine"
        let old = now - 40 * day
        let directory = "r1.\(old)-10-1", image = "r2.\(old)-10-2.img", young = "r3.\(now - 2 * day)-11-1"
        let outside = root + "/outside"
        try Tool.sh("""
            mkdir -m 0700 '\(q)' && echo keep > '\(outside)' && mkdir '\(q)/\(directory)' '\(q)/\(young)' \
            && echo data > '\(q)/\(directory)/pre-job-metrics.json' && ln -s '\(outside)' '\(q)/\(directory)/link' \
            && cd '\(q)/\(directory)' && for i in $(seq 1 100); do mkdir d && cd d; done && echo deep > f \
            && head -c 65536 /dev/zero > '\(q)/\(image)' && echo notes > '\(q)/notes.txt' && mkdir '\(q)/r4.abc-1-1'
            """)
        return ([directory, image], young, outside)
    }

    static func pruneArguments(_ root: String, days: Int = 30) -> [String] {
        ["prune", "--older-than-days", String(days), "--quarantine-dir", root + "/runner-fs-quarantine",
         "--audit-log", root + "/audit.log", "--state-dir", root + "/state", "--flavor", "F"]
    }

    @Test func pruneRemovesOnlyOldEvidenceAndAuditsEachRemoval() throws {
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (old, young, outside) = try Self.quarantine(root, now: Int(Date().timeIntervalSince1970))
        let q = root + "/runner-fs-quarantine"
        let result = try Tool.run(Tool.runnerMetrics, Self.pruneArguments(root))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "pruned: 2 removed, 0 could not be removed, 1 kept\n")
        for name in old { #expect(!HardeningSupport.exists(q + "/" + name), "\(name)") }
        for name in [young, "notes.txt", "r4.abc-1-1"] { #expect(HardeningSupport.exists(q + "/" + name), "\(name)") }
        // The symlink inside was removed, not followed.
        #expect(HardeningSupport.read(outside) == "keep\n")
        let lines = HardeningSupport.read(root + "/audit.log").split(separator: "\n")
        #expect(lines.count == 2)
        for (line, (runner, name)) in zip(lines, [("r1", old[0]), ("r2", old[1])]) {
            #expect(line.contains(#""runner": "\#(runner)", "flavor": "F", "reason": "pruned""#), "\(line)")
            #expect(line.contains("(40 days ago) removed by retention"), "\(line)")
            #expect(line.contains(#""evidence": "\#(q)/\#(name)""#), "\(line)")
        }
        // Nothing older is left: a second pass removes and audits nothing.
        let again = try Tool.run(Tool.runnerMetrics, Self.pruneArguments(root))
        #expect(again.status == 0 && again.stdout == "pruned: 0 removed, 0 could not be removed, 1 kept\n")
        #expect(HardeningSupport.read(root + "/audit.log").split(separator: "\n").count == 2)
    }

    /// Evidence that cannot be removed (an immutable file in it) is reported, audited before
    /// the attempt, left for the next pass, and the pass exits 1; the rest is removed.
    @Test func evidenceThatCannotBeRemovedIsReportedAndLeft() throws {
        let root = try HardeningSupport.temporaryDirectory()
        let (old, _, _) = try Self.quarantine(root, now: Int(Date().timeIntervalSince1970))
        let q = root + "/runner-fs-quarantine"
        try Tool.sh("chattr +i '\(q)/\(old[0])/pre-job-metrics.json'")
        defer {
            _ = try? Tool.sh("chattr -i '\(q)/\(old[0])/pre-job-metrics.json' 2>/dev/null; true")
            try? FileManager.default.removeItem(atPath: root)
        }
        let result = try Tool.run(Tool.runnerMetrics, Self.pruneArguments(root))
        #expect(result.status == 1)
        #expect(result.stdout == "pruned: 1 removed, 1 could not be removed, 2 kept\n")
        #expect(result.stderr.contains("prune: ") && result.stderr.contains("left in place, tried again next time"), "\(result.stderr)")
        #expect(HardeningSupport.exists(q + "/\(old[0])/pre-job-metrics.json"))
        #expect(!HardeningSupport.exists(q + "/\(old[0])/d"), "what could be removed is gone")
        #expect(!HardeningSupport.exists(q + "/" + old[1]))
        #expect(HardeningSupport.read(root + "/audit.log").split(separator: "\n").count == 2)
    }

    /// Another run holds the lock: prune waits for nothing and exits 75, touching nothing.
    @Test func pruneRespectsTheRunLock() throws {
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (old, _, _) = try Self.quarantine(root, now: Int(Date().timeIntervalSince1970))
        try TestTree.directory(root + "/state")
        let fd = open(root + "/state/lock", O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        defer { close(fd) }
        let result = try Tool.run(Tool.runnerMetrics, Self.pruneArguments(root))
        #expect(result.status == 75, "\(result.stderr)")
        for name in old { #expect(HardeningSupport.exists(root + "/runner-fs-quarantine/" + name)) }
        #expect(!HardeningSupport.exists(root + "/audit.log"))
    }

    /// extract prunes at the end of its run with --quarantine-retention-days, and the textfile
    /// shows what is left (entries by kind, image bytes) and the removals.
    @Test func extractPrunesWithRetentionAndTheTextfileShowsTheQuarantine() throws {
        let promtool = try HardeningSupport.tool("promtool", package: "prometheus")
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (old, young, _) = try Self.quarantine(root, now: Int(Date().timeIntervalSince1970))
        try HardeningSupport.layTree(root, honest: ["honest-1"], hostile: ["hostile-1"])
        let result = try Tool.run(Tool.runnerMetrics, HardeningSupport.extractArguments(root)
            + ["--quarantine-retention-days", "30", "--textfile-dir", root + "/textfile", "--json"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stdout.contains(#""pruned": 2"#) && result.stdout.contains(#""quarantine_entries": 2"#), "\(result.stdout)")
        for name in old { #expect(!HardeningSupport.exists(root + "/runner-fs-quarantine/" + name)) }
        #expect(HardeningSupport.exists(root + "/runner-fs-quarantine/" + young))
        let audit = HardeningSupport.read(root + "/audit.log")
        #expect(audit.contains(#""runner": "hostile-1""#) && audit.components(separatedBy: #""reason": "pruned""#).count == 3)
        let text = HardeningSupport.read(root + "/textfile/runner-metrics.prom")
        // Left: the young directory and hostile-1's new directory evidence; no image.
        #expect(text.contains("runner_metrics_quarantine_entries{kind=\"directory\"} 2\n"), "\(text)")
        #expect(text.contains("runner_metrics_quarantine_entries{kind=\"image\"} 0\n"))
        #expect(text.contains("runner_metrics_quarantine_image_bytes 0\n"))
        #expect(text.contains("runner_metrics_quarantine_pruned_total 2\n"))
        #expect(text.contains("runner_metrics_runners_ignored 0\n"))
        #expect(!text.contains("reason=\"invalid-runner-name\""), "never quarantined, so not a quarantine series")
        let check = try HardeningSupport.run(promtool, ["check", "metrics"], stdin: text)
        #expect(check.status == 0 && check.out.isEmpty && check.err.isEmpty, "\(check.out)\(check.err)")
    }

    @Test(arguments: [(["--older-than-days", "0"], "--older-than-days 0 is out of range: 1 to 3650"),
                      (["--older-than-days", "-3"], "--older-than-days -3 is out of range: 1 to 3650")])
    func pruneRefusesOutOfRangeDays(_ arguments: [String], _ message: String) throws {
        let result = try Tool.run(Tool.runnerMetrics, ["prune"] + arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("Error: \(message)\n") && result.stderr.contains("Usage: runner-metrics prune "),
                "\(result.stderr)")
    }
}
