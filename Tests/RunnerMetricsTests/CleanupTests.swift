import Foundation
import Glibc
import Testing

// Removal and quarantine of what a hostile runner leaves, end to end. Every case
// asserts the exit status of the first run and of the next one, the exact audit lines, and
// that files outside the runner keep their owner, mode and contents.

/// A file outside every runner, and what it must still be afterwards.
struct OutsideFile {
    let path: String
    let contents: Data
    let uid: uid_t
    let mode: mode_t

    /// Created with owner 1234:1234 and mode 0644 (a tool that re-owns or re-modes it shows).
    init(_ path: String, _ text: String = "outside, not the runner's\n") throws {
        self.path = path
        contents = Data(text.utf8)
        uid = 1234
        mode = 0o644
        #expect(FileManager.default.createFile(atPath: path, contents: contents))
        #expect(chown(path, uid, gid_t(uid)) == 0 && chmod(path, mode) == 0)
    }

    func expectUnchanged(sourceLocation: SourceLocation = #_sourceLocation) {
        var status = stat()
        #expect(lstat(path, &status) == 0, "\(path) is gone", sourceLocation: sourceLocation)
        #expect(status.st_uid == uid && status.st_gid == gid_t(uid), "owner \(status.st_uid):\(status.st_gid)", sourceLocation: sourceLocation)
        #expect(status.st_mode & 0o7777 == mode, "mode \(String(status.st_mode & 0o7777, radix: 8))", sourceLocation: sourceLocation)
        #expect(FileManager.default.contents(atPath: path) == contents, sourceLocation: sourceLocation)
    }
}

enum Cleanup {
    /// `levels` nested directories named `d` under `directory`, made by descriptor (a path of
    /// that depth is longer than PATH_MAX), with a file at the bottom.
    static func nest(_ directory: String, levels: Int) {
        var fd = open(directory, O_RDONLY | O_DIRECTORY)
        for _ in 0..<levels {
            #expect(mkdirat(fd, "d", 0o755) == 0)
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
        }
        let file = openat(fd, "bottom", O_WRONLY | O_CREAT, 0o644)
        #expect(file >= 0)
        close(file)
        close(fd)
    }

    static func held(_ result: Tool.Result) -> Int? { summary(result)["held"] }

    /// The keys and values of the one audit line, for exact comparison.
    static func only(_ tree: TestTree, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(tree.auditLines.count == 1, "\(tree.auditLines)", sourceLocation: sourceLocation)
        return try #require(tree.auditEntries.first, sourceLocation: sourceLocation)
    }

    static func mountsUnder(_ path: String) -> [String] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(path) ? String(fields[4]) : nil
        }
    }
}

@Suite(.serialized) struct CleanupTests {
    /// A tree far deeper than any recursion limit, and wide, is removed after its events are
    /// issued; the next run has nothing to do.
    @Test func deepAndWideTreesAreRemoved() throws {
        let tree = try TestTree()
        let outside = try OutsideFile(tree.root + "/outside")
        let dir = try tree.runner("deep", Sample.complete)
        try TestTree.directory(dir + "/wide")
        Cleanup.nest(dir, levels: 1500)
        try Tool.sh("cd '\(dir)/wide' && seq -f 'w%05g' 1 3000 | xargs mkdir && seq -f 'w%05g/f' 1 3000 | xargs touch && ln -s '\(outside.path)' link && ln '\(outside.path)' hard")
        let first = try tree.extract()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(tree.auditLines.isEmpty)
        #expect(!tree.exists(dir))
        #expect(summary(first)["deleted"] == 1 && summary(first)["errors"] == 0)
        outside.expectUnchanged()
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(Cleanup.held(next) == 0)
    }

    /// An immutable and an append-only file: EPERM is not taken for a directory. Everything
    /// else is removed, the rest is moved into the quarantine and audited once as
    /// undeletable; the next run exits 0 and audits nothing.
    @Test func immutableFilesAreQuarantinedAsUndeletableOnce() throws {
        let tree = try TestTree()
        let dir = try tree.runner("stuck", Sample.complete)
        try TestTree.directory(dir + "/sub")
        try Tool.sh("echo a > '\(dir)/sub/immutable' && echo b > '\(dir)/append-only' && touch '\(dir)/sub/other' && chattr +i '\(dir)/sub/immutable' && chattr +a '\(dir)/append-only'")
        try tree.runner("good", Sample.complete)
        defer { _ = try? Tool.sh("chattr -R -i -a '\(tree.quarantine)' '\(tree.fs)' 2>/dev/null; true") }
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines + Hostile.honestLines)
        let entry = try Cleanup.only(tree)
        #expect(entry["runner"] as? String == "stuck")
        #expect(entry["reason"] as? String == "undeletable")
        #expect(entry["detail"] as? String == "extracted, not removed: unlinkat in runner tree (immutable or append-only): Operation not permitted")
        #expect(entry["not_moved"] == nil)
        let evidence = try #require(entry["evidence"] as? String)
        #expect(evidence.hasPrefix(tree.quarantine + "/stuck."))
        // What could go went; what could not is the evidence, moved unread.
        #expect(try FileManager.default.contentsOfDirectory(atPath: evidence).sorted() == ["append-only", "sub"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: evidence + "/sub") == ["immutable"])
        #expect(!tree.exists(dir) && !tree.exists(tree.fs + "/good"))
        let counts = summary(first)
        #expect(counts["deleted"] == 1 && counts["undeletable"] == 1 && counts["quarantined"] == 0 && counts["errors"] == 0
                && counts["kept"] == 0 && counts["held"] == 0, "\(counts)")
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == 1)
        #expect(tree.metricLines.count == 6)
    }

    /// The runner directory itself immutable: neither removed nor movable. Audited once with
    /// where it stays and why, held; the next run neither extracts nor audits it (exit 0,
    /// held 1); once it is gone the registry forgets it.
    @Test func unmovableRunnerIsHeldInPlaceAndForgottenWhenGone() throws {
        let tree = try TestTree()
        let dir = try tree.runner("frozen", Sample.complete)
        try Tool.sh("chattr +i '\(dir)'")
        defer { _ = try? Tool.sh("chattr -i '\(dir)' 2>/dev/null; true") }
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        let entry = try Cleanup.only(tree)
        #expect(entry["reason"] as? String == "undeletable")
        #expect(entry["evidence"] as? String == dir)
        #expect(entry["not_moved"] as? String == "not-permitted")
        #expect(entry["not_moved_detail"] as? String == "rename into \(tree.quarantine): Operation not permitted")
        #expect(Cleanup.held(first) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 4)

        let watch = try OpenWatch(dir)
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(Cleanup.held(next) == 1)
        #expect(tree.auditLines.count == 1)
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(watch.openedNames().isEmpty, "a held runner was read again")

        try Tool.sh("chattr -i '\(dir)' && rm -r '\(dir)'")
        let after = try tree.extract()
        #expect(after.status == 0, "\(after.stderr)")
        #expect(Cleanup.held(after) == 0)
        #expect(FileManager.default.contents(atPath: tree.state + "/held") == Data())
    }

    /// A directory bind-mounted inside a plain runner: never entered, its files untouched;
    /// the runner is issued, what remains is quarantined as undeletable, exit 3 then 0.
    @Test func bindMountInsideRunnerIsNotCrossed() throws {
        let tree = try TestTree()
        let elsewhere = tree.root + "/elsewhere"
        try TestTree.directory(elsewhere)
        let outside = try OutsideFile(elsewhere + "/pre-job-metrics.json", Sample.preJob)
        let dir = try tree.runner("bound", Sample.complete)
        try TestTree.directory(dir + "/mnt")
        try Tool.sh("mount --bind '\(elsewhere)' '\(dir)/mnt'")
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        outside.expectUnchanged()
        let entry = try Cleanup.only(tree)
        #expect(entry["reason"] as? String == "undeletable")
        #expect(entry["detail"] as? String == "extracted, not removed: remove: a mount inside the runner tree; not crossed: Invalid cross-device link")
        let evidence = try #require(entry["evidence"] as? String)
        #expect(evidence.hasPrefix(tree.quarantine + "/bound."))
        #expect(!tree.exists(dir))
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == 1)
        outside.expectUnchanged()
    }

    /// A directory moved out of the runner while its tree is being removed (done here by root,
    /// the worst a live runner could do): the walk's step up must reach the inode it left, so
    /// it stops instead of emptying the directory the moved one now sits in.
    @Test func treeMovedDuringRemovalIsNotFollowed() throws {
        let tree = try TestTree()
        let elsewhere = tree.root + "/elsewhere"
        try TestTree.directory(elsewhere)
        let keep = try OutsideFile(elsewhere + "/keep")
        let dir = try tree.runner("moving", Sample.complete)
        try TestTree.directory(dir + "/a")
        Cleanup.nest(dir + "/a", levels: 3000)
        let mover = Process()
        mover.executableURL = URL(fileURLWithPath: "/bin/sh")
        mover.arguments = ["-c", "sleep 0.3; mv '\(dir)/a/d' '\(elsewhere)/d' 2>/dev/null; true"]
        try mover.run()
        let first = try tree.extract()
        mover.waitUntilExit()
        #expect(first.status == 0 || first.status == 3, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        keep.expectUnchanged()
        if first.status == 3 {
            let entry = try Cleanup.only(tree)
            #expect(entry["reason"] as? String == "undeletable")
            #expect(entry["detail"] as? String == "extracted, not removed: remove: the runner tree changed during removal: Stale file handle")
        }
        print("tree moved during removal: first run exited \(first.status)")
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        keep.expectUnchanged()
    }

    /// Two mounts stacked on one runner directory: the top one is the runner read; after
    /// its umount2 the directory is looked at again and the one under it is unmounted too,
    /// never emptied: its files are still in its image afterwards.
    @Test func stackedMountsAreUnmountedNotEmptied() throws {
        let tree = try TestTree()
        let dir = tree.fs + "/stacked"
        try TestTree.directory(dir)
        let lowerImage = tree.root + "/lower.img"
        try Tool.sh("dd if=/dev/zero of='\(lowerImage)' bs=1M count=1 status=none && mkfs.ext4 -q -F '\(lowerImage)' && mount -o loop '\(lowerImage)' '\(dir)'")
        for (name, body) in Sample.complete { #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(body.utf8))) }
        try Tool.sh("mount -t tmpfs -o size=1m tmpfs '\(dir)' && chmod 755 '\(dir)'")
        for (name, body) in Sample.complete {
            #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(body.utf8)))
            chmod(dir + "/" + name, 0o644)
        }
        let first = try tree.extract()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(Cleanup.mountsUnder(tree.fs).isEmpty)
        #expect(!tree.exists(dir))
        // The lower filesystem kept every file.
        let probe = tree.root + "/probe"
        try TestTree.directory(probe)
        try Tool.sh("mount -o loop,ro '\(lowerImage)' '\(probe)'")
        defer { _ = try? Tool.sh("umount '\(probe)'") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: probe).filter { $0 != "lost+found" }.sorted() == Sample.complete.keys.sorted())
        let next = try tree.extract()
        #expect(next.status == 0 && tree.metricLines == Hostile.honestLines)
    }

    /// An image that is a second link to a file elsewhere: its worker rejects it, and
    /// quarantine refuses to rename, chown or chmod it (the other name's owner and mode stay);
    /// audited once with `not_moved: multiply-linked`, held; the next run exits 0 and reads
    /// nothing.
    @Test func hardLinkedImageIsNotReowned() throws {
        let tree = try TestTree()
        let outside = try OutsideFile(tree.root + "/outside.img", String(repeating: "x", count: 8192))
        try TestTree.directory(tree.fs + "/linked")
        #expect(link(outside.path, tree.images + "/linked.img") == 0)
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        outside.expectUnchanged()
        let entry = try Cleanup.only(tree)
        #expect(entry["runner"] as? String == "linked")
        #expect(entry["not_moved"] as? String == "multiply-linked")
        #expect(entry["not_moved_detail"] as? String == "2 links")
        #expect(entry["evidence"] as? String == tree.images + "/linked.img")
        #expect(tree.quarantined().isEmpty)
        #expect(Cleanup.held(first) == 1)
        let watch = try OpenWatch(tree.images)
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == 1 && Cleanup.held(next) == 1)
        #expect(watch.openedNames().isEmpty)
        outside.expectUnchanged()
    }

    /// A runner-fs entry that is a hard link to a file elsewhere: not a directory, and not
    /// moved or re-owned. Audited once, held; exit 3 then 0.
    @Test func hardLinkedRunnerEntryIsNotReowned() throws {
        let tree = try TestTree()
        let outside = try OutsideFile(tree.root + "/secret")
        #expect(link(outside.path, tree.fs + "/entry") == 0)
        try tree.runner("good", Sample.complete)
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        outside.expectUnchanged()
        let entry = try Cleanup.only(tree)
        #expect(entry["reason"] as? String == "not-a-directory")
        #expect(entry["not_moved"] as? String == "multiply-linked")
        #expect(entry["evidence"] as? String == tree.fs + "/entry")
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == 1 && Cleanup.held(next) == 1)
        outside.expectUnchanged()
    }

    /// The quarantine directory on another filesystem (a tmpfs mounted on it): rename is
    /// EXDEV. The run warns, naming the directories; the hostile runner is audited with its
    /// reason, the evidence's place and `not_moved: cross-device`, left as it was (owner,
    /// mode, contents), exit 3; the next run reads nothing of it, audits nothing, exits 0.
    @Test func quarantineOnAnotherFilesystemStillAudits() throws {
        let tree = try TestTree()
        try TestTree.directory(tree.quarantine)
        try Tool.sh("mount -t tmpfs -o size=1m,mode=700 tmpfs '\(tree.quarantine)'")
        let bad = try Hostile.pair(tree, [Hostile.preJob: Array(#"{"workflow": "CI", "workflow": "CD"}"#.utf8)])
        var before = stat()
        #expect(lstat(bad + "/" + Hostile.preJob, &before) == 0)
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        #expect(first.stderr.contains("quarantine directory \(tree.quarantine) is not on the same mount as \(tree.fs) and \(tree.images)"))
        #expect(tree.metricLines == Hostile.honestLines)
        let entry = try Cleanup.only(tree)
        #expect(entry["runner"] as? String == "bad")
        #expect(entry["reason"] as? String == "duplicate-key")
        #expect(entry["evidence"] as? String == bad)
        #expect(entry["not_moved"] as? String == "cross-device")
        #expect(entry["not_moved_detail"] as? String == "rename into \(tree.quarantine): Invalid cross-device link")
        #expect(tree.quarantined().isEmpty)
        var after = stat()
        #expect(lstat(bad + "/" + Hostile.preJob, &after) == 0)
        #expect(after.st_ino == before.st_ino && after.st_uid == before.st_uid && after.st_mode == before.st_mode)
        #expect(FileManager.default.contents(atPath: bad + "/" + Hostile.preJob) == Data(#"{"workflow": "CI", "workflow": "CD"}"#.utf8))
        let counts = summary(first)
        #expect(counts["quarantined"] == 1 && counts["held"] == 1 && counts["deleted"] == 1 && counts["errors"] == 0)

        let watch = try OpenWatch(bad)
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(watch.openedNames().isEmpty, "held evidence was read")
        #expect(tree.auditLines.count == 1 && Cleanup.held(next) == 1)
        #expect(tree.metricLines == Hostile.honestLines)
    }

    /// The same with a loop-mounted runner: it is unmounted (inert), its image stays where it
    /// is, audited with the image as evidence; the next run neither mounts nor reads it.
    @Test func mountedRunnerWithQuarantineOnAnotherFilesystem() throws {
        let tree = try TestTree()
        try TestTree.directory(tree.quarantine)
        try Tool.sh("mount -t tmpfs -o size=1m,mode=700 tmpfs '\(tree.quarantine)'")
        let dir = tree.fs + "/bad", image = tree.images + "/bad.img"
        try TestTree.directory(dir)
        try Tool.sh("dd if=/dev/zero of='\(image)' bs=1M count=1 status=none && mkfs.ext4 -q -F '\(image)' && mount -o loop '\(image)' '\(dir)' && chmod 755 '\(dir)'")
        var files = Sample.complete
        files[Hostile.preJob] = "{"
        for (name, body) in files {
            #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(body.utf8)))
            chmod(dir + "/" + name, 0o644)
        }
        let first = try tree.extract()
        #expect(first.status == 3, "\(first.stderr)")
        let entry = try Cleanup.only(tree)
        #expect(entry["reason"] as? String == "invalid-json")
        #expect(entry["evidence"] as? String == image)
        #expect(entry["not_moved"] as? String == "cross-device")
        #expect(Cleanup.mountsUnder(dir).isEmpty, "the hostile runner is still mounted")
        #expect(tree.exists(image) && tree.exists(dir))
        let watch = try OpenWatch(tree.images)
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(watch.openedNames().isEmpty)
        #expect(tree.auditLines.count == 1 && Cleanup.held(next) == 1)
        #expect(tree.metricLines.isEmpty)
    }

    /// runner-fs itself the root of an ext4 filesystem: its lost+found is not a runner (not
    /// audited, not counted). A lost+found that is just a directory is an invalid name.
    @Test(arguments: [true, false])
    func lostAndFoundAtAFilesystemRoot(mounted: Bool) throws {
        let tree = try TestTree()
        if mounted {
            let image = tree.root + "/runner-fs.img"
            try Tool.sh("dd if=/dev/zero of='\(image)' bs=1M count=4 status=none && mkfs.ext4 -q -F '\(image)' && mount -o loop '\(image)' '\(tree.fs)'")
        } else {
            try TestTree.directory(tree.fs + "/lost+found")
        }
        try tree.runner("good", Sample.complete)
        let first = try tree.extract()
        #expect(first.status == (mounted ? 0 : 3), "\(first.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(tree.exists(tree.fs + "/lost+found"))
        #expect(tree.auditLines.count == (mounted ? 0 : 1))
        #expect(summary(first)["skipped"] == (mounted ? 0 : 1))
        if !mounted { #expect(tree.reasons == ["lost+found": "invalid-runner-name"]) }
        let next = try tree.extract()
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == (mounted ? 0 : 1))
    }

    /// An invalid name is audited once, counted in the summary and the textfile while it
    /// remains, forgotten once it is gone, and audited again when a new inode takes the name.
    @Test func invalidNameIsAuditedOnceAndCountedWhileItRemains() throws {
        let tree = try TestTree()
        let raw = Array("bad\nname".utf8)
        #expect(Hostile.mkdirRaw(tree.fs, raw) == 0)
        let textfile = tree.root + "/textfile"
        let first = try tree.extract(["--textfile-dir", textfile])
        #expect(first.status == 3, "\(first.stderr)")
        #expect(tree.auditLines.count == 1 && tree.reasons == ["bad\\x0aname": "invalid-runner-name"])
        #expect(summary(first)["skipped"] == 1 && Cleanup.held(first) == 1)
        let next = try tree.extract(["--textfile-dir", textfile])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(tree.auditLines.count == 1)
        #expect(summary(next)["skipped"] == 0 && Cleanup.held(next) == 1)
        let prom = try String(contentsOfFile: textfile + "/runner-metrics.prom", encoding: .utf8)
        #expect(prom.split(separator: "\n").contains("runner_metrics_runners_held 1"))
        #expect(prom.split(separator: "\n").contains("runner_metrics_runners_skipped_total 1"))

        // Gone from runner-fs (moved aside, so its inode stays in use): forgotten.
        let oldInode = try #require(Hostile.lstatOf(tree.fs + "/bad\nname")).st_ino
        #expect(rename(tree.fs + "/bad\nname", tree.root + "/moved-aside") == 0)
        let gone = try tree.extract()
        #expect(gone.status == 0 && Cleanup.held(gone) == 0)
        #expect(FileManager.default.contents(atPath: tree.state + "/held") == Data())
        // A new directory of that name is another inode, so another entry: audited again.
        #expect(Hostile.mkdirRaw(tree.fs, raw) == 0)
        #expect(try #require(Hostile.lstatOf(tree.fs + "/bad\nname")).st_ino != oldInode)
        let again = try tree.extract()
        #expect(again.status == 3)
        #expect(tree.auditLines.count == 2)
    }
}

/// `runner-metrics audit` on forged, compressed, piped and non-regular input.
@Suite struct AuditCommandTests {
    static let forged = #"{"timestamp": "2026-01-01T00:00:00.000Z\u001b]0;owned\u0007", "runner": "r\u009b31m\u202e", "flavor": "s", "reason": "duplicate-key\u001b[2J", "detail": "\u007f", "evidence": "/q/\u0085x", "signal": 9}"#

    static func printable(_ text: String) -> Bool { text.utf8.allSatisfy { $0 == 0x0a || (0x20...0x7e).contains($0) } }

    func forgedLog() throws -> (TestTree, String) {
        let tree = try TestTree()
        let path = tree.root + "/forged.log"
        #expect(FileManager.default.createFile(atPath: path, contents: Data((Self.forged + "\n").utf8)))
        return (tree, path)
    }

    @Test func everyFieldOfTheTableIsEscaped() throws {
        let (tree, path) = try forgedLog()
        _ = tree
        let result = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.printable(result.stdout))
        let row = try #require(result.stdout.split(separator: "\n").last)
        #expect(row.split(separator: " ", omittingEmptySubsequences: true).map(String.init) == [
            #"2026-01-01T00:00:00.000Z\u001b]0;owned\u0007"#, #"r\u009b31m\u202e"#, #"duplicate-key\u001b[2J"#, #"/q/\u0085x"#])
    }

    @Test func jsonIsPrintableASCIIAndParsesBack() throws {
        let (tree, path) = try forgedLog()
        _ = tree
        let result = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.printable(result.stdout))
        #expect(result.stdout == Self.forged + "\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["runner"] as? String == "r\u{9b}31m\u{202e}")
        #expect(object["signal"] as? Int == 9)
    }

    /// A FIFO (or anything not a regular file) is refused at once, never opened for reading.
    @Test func nonRegularAuditLogIsRefusedAtOnce() throws {
        let tree = try TestTree()
        let fifo = tree.root + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let result = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", fifo], timeout: 10)
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(fifo): not a regular file"))
        let directory = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.root], timeout: 10)
        #expect(directory.status == 1 && directory.stderr.contains("not a regular file"))
    }

    /// A rotated `.gz` file and standard input give what the plain file gives.
    @Test func rotatedGzipAndStandardInputAreRead() throws {
        let (tree, path) = try forgedLog()
        try Tool.sh("gzip -c '\(path)' > '\(path).1.gz' && chmod 600 '\(path).1.gz'")
        let plain = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", path, "--json"])
        let gz = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", path + ".1.gz", "--json"])
        #expect(gz.status == 0, "\(gz.stderr)")
        #expect(gz.stdout == plain.stdout && !plain.stdout.isEmpty)
        let piped = try Tool.run("/bin/sh", ["-c", "'\(Tool.runnerMetrics)' audit --audit-log - --json < '\(path)'"])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout == plain.stdout)
        // A file that is not gzip is an error, not an empty listing.
        try Tool.sh("cp '\(path)' '\(tree.root)/not.gz'")
        let broken = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.root + "/not.gz"])
        #expect(broken.status == 1 && broken.stderr.contains("-dc"))
    }
}
