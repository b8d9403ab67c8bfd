import Foundation
import Glibc
import Testing
@testable import RunnerSupervisor

// Hostile runner filesystems, end to end through `runner-metrics extract`.
// Every case runs a hostile runner "bad" beside an honest runner "good" in the same run and
// asserts: no event for "bad" (the metric lines are exactly the honest runner's), "bad"
// quarantined (or skipped) with the exact reason code, "good" issued and deleted, and the run
// ended within a bound.

/// Shared helpers for the hostile cases.
enum Hostile {
    static let honestLines = [Sample.installedLine, Sample.startLine, Sample.stopLine]
    static let preJob = "pre-job-metrics.json"

    /// `extract` with a wall-clock bound (the child is killed past `bound`); returns seconds.
    static func extract(_ tree: TestTree, _ extra: [String] = [], bound: Double = 30) throws -> (result: Tool.Result, seconds: Double) {
        let start = Date()
        let result = try Tool.run(Tool.runnerMetrics, ["extract"] + tree.standardArguments + ["--json"] + extra, timeout: bound)
        return (result, Date().timeIntervalSince(start))
    }

    /// The assertions every quarantine case shares. Returns the hostile runner's audit entry.
    @discardableResult
    static func expectQuarantined(
        _ tree: TestTree, _ run: (result: Tool.Result, seconds: Double), reason: String, file: String?,
        bound: Double = 15, bad: String = "bad", earlierHonestRuns: Int = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Any] {
        let result = run.result
        #expect(run.seconds < bound, "run took \(run.seconds) s", sourceLocation: sourceLocation)
        #expect(result.status == 3, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(tree.metricLines == Array(repeating: honestLines, count: 1 + earlierHonestRuns).flatMap { $0 }, sourceLocation: sourceLocation)
        #expect(tree.reasons == [bad: reason], sourceLocation: sourceLocation)
        #expect(tree.auditLines.count == 1, sourceLocation: sourceLocation)
        #expect(!tree.exists(tree.fs + "/" + bad), "hostile runner left in place", sourceLocation: sourceLocation)
        #expect(!tree.exists(tree.fs + "/good"), "honest runner not deleted", sourceLocation: sourceLocation)
        #expect(tree.quarantined().count == 1, sourceLocation: sourceLocation)
        let counts = summary(result)
        #expect(counts["quarantined"] == 1 && counts["deleted"] == 1 && counts["errors"] == 0
                && counts["runner_installed"] == 1 && counts["runner_stop"] == 1,
                "\(counts)", sourceLocation: sourceLocation)
        let entry = try #require(tree.auditEntries.first, sourceLocation: sourceLocation)
        #expect(entry["file"] as? String == file, sourceLocation: sourceLocation)
        let evidence = try #require(entry["evidence"] as? String, sourceLocation: sourceLocation)
        #expect(evidence.hasPrefix(tree.quarantine + "/" + bad + "."), sourceLocation: sourceLocation)
        #expect(tree.exists(evidence), "evidence \(evidence) missing", sourceLocation: sourceLocation)
        #expect(entry["exit_status"] == nil && entry["signal"] == nil, sourceLocation: sourceLocation)
        return entry
    }

    /// A bad runner (the honest files plus `overrides`) and the honest runner "good".
    @discardableResult
    static func pair(_ tree: TestTree, _ overrides: [String: [UInt8]], removing: [String] = []) throws -> String {
        var files = Sample.complete.mapValues { Array($0.utf8) }
        for (name, bytes) in overrides { files[name] = bytes }
        for name in removing { files[name] = nil }
        let dir = try tree.runnerBytes("bad", files)
        try tree.runner("good", Sample.complete)
        return dir
    }

    /// mkdir with a raw byte name (not necessarily UTF-8).
    static func mkdirRaw(_ parent: String, _ name: [UInt8]) -> Int32 {
        let path = Array(parent.utf8) + [UInt8(ascii: "/")] + name + [0]
        return path.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { mkdir($0, 0o755) }
        }
    }

    static func lstatOf(_ path: String) -> stat? {
        var status = stat()
        return lstat(path, &status) == 0 ? status : nil
    }
}

/// Records every open(2) of an entry of one directory with inotify (IN_OPEN covers every file
/// type: FIFOs, devices, sockets' paths are never openable, regular files). The watch follows
/// the directory's inode, so it keeps reporting after the directory is renamed into quarantine.
final class OpenWatch {
    let fd: Int32

    init(_ directory: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        guard inotify_add_watch(fd, directory, UInt32(IN_OPEN)) >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    /// Names of the entries opened since the watch was set (the directory's own opens have an
    /// empty name and are left out).
    func openedNames() -> Set<String> {
        var names = Set<String>()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                let nameBytes = buffer[(offset + 16)..<(offset + 16 + length)].prefix(while: { $0 != 0 })
                if !nameBytes.isEmpty { names.insert(String(decoding: nameBytes, as: UTF8.self)) }
                offset += 16 + length
            }
        }
        return names
    }
}

@Suite struct HostileRunnerTests {
    // MARK: Runner files that are not plain regular files

    enum Node: String, CaseIterable, CustomTestStringConvertible {
        case symlinkToShadow, symlinkToDevZero, symlinkToOtherRunnersFile, danglingSymlink, symlinkLoop
        case fifo, characterDevice, blockDevice, unassignedBlockDevice, unixSocket, directory

        var testDescription: String { rawValue }

        /// What the worker's lstat calls it, as the audit detail says.
        var detail: String {
            switch self {
            case .symlinkToShadow, .symlinkToDevZero, .symlinkToOtherRunnersFile, .danglingSymlink, .symlinkLoop:
                return "not a regular file (symlink)"
            case .fifo: return "not a regular file (fifo)"
            case .characterDevice: return "not a regular file (character device)"
            case .blockDevice, .unassignedBlockDevice: return "not a regular file (block device)"
            case .unixSocket: return "not a regular file (socket)"
            case .directory: return "not a regular file (directory)"
            }
        }

        func make(at path: String, tree: TestTree) throws {
            switch self {
            case .symlinkToShadow: #expect(symlink("/etc/shadow", path) == 0)
            case .symlinkToDevZero: #expect(symlink("/dev/zero", path) == 0)
            case .symlinkToOtherRunnersFile: #expect(symlink(tree.fs + "/good/" + Hostile.preJob, path) == 0)
            case .danglingSymlink: #expect(symlink(tree.root + "/does-not-exist", path) == 0)
            case .symlinkLoop:
                // pre-job-metrics.json -> loop-a -> pre-job-metrics.json
                let other = (path as NSString).deletingLastPathComponent + "/loop-a"
                #expect(symlink(path, other) == 0)
                #expect(symlink(other, path) == 0)
            case .fifo: #expect(mkfifo(path, 0o644) == 0)
            case .characterDevice: try Tool.sh("mknod '\(path)' c 1 5")            // /dev/zero
            case .blockDevice: try Tool.sh("mknod '\(path)' b 7 0")                // loop0
            case .unassignedBlockDevice: try Tool.sh("mknod '\(path)' b 240 77")   // local/experimental major: no driver
            case .unixSocket:
                let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                #expect(sock >= 0)
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                let bytes = Array(path.utf8)
                try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
                withUnsafeMutableBytes(of: &address.sun_path) { raw in
                    for (i, b) in bytes.enumerated() { raw[i] = b }
                }
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                #expect(bound == 0, "bind: errno \(errno)")
                #expect(listen(sock, 1) == 0)
                close(sock)
            case .directory:
                try TestTree.directory(path)
                _ = FileManager.default.createFile(atPath: path + "/x", contents: Data(Sample.preJob.utf8))
            }
        }
    }

    /// Each kind in place of pre-job-metrics.json: refused by lstat as not-regular-file and
    /// never opened (inotify sees the two files read before it opened, and not this one).
    @Test(arguments: Node.allCases)
    func nonRegularRunnerFileIsRefusedWithoutOpening(_ node: Node) throws {
        let tree = try TestTree()
        let dir = try Hostile.pair(tree, [:], removing: [Hostile.preJob])
        let path = dir + "/" + Hostile.preJob
        try node.make(at: path, tree: tree)
        let shadowBefore = Hostile.lstatOf("/etc/shadow")
        let watch = try OpenWatch(dir)
        let run = try Hostile.extract(tree)
        let entry = try Hostile.expectQuarantined(tree, run, reason: "not-regular-file", file: Hostile.preJob)
        #expect(entry["detail"] as? String == node.detail)

        let opened = watch.openedNames()
        #expect(opened.contains("runner-installation-start.timestamp") && opened.contains("runner-installed.timestamp"),
                "positive control: inotify saw \(opened)")
        #expect(!opened.contains(Hostile.preJob), "the hostile node was opened")
        #expect(!opened.contains("loop-a"))

        let evidence = try #require(entry["evidence"] as? String)
        let moved = try #require(Hostile.lstatOf(evidence + "/" + Hostile.preJob), "node not at its evidence path")
        switch node {
        case .fifo:
            #expect(moved.st_mode & S_IFMT == S_IFIFO)
            // The FIFO's writer side never saw a reader: opening it for writing still fails.
            let writer = open(evidence + "/" + Hostile.preJob, O_WRONLY | O_NONBLOCK)
            let code = errno
            if writer >= 0 { close(writer) }
            #expect(writer < 0 && code == ENXIO, "open(O_WRONLY|O_NONBLOCK) = \(writer), errno \(code)")
        case .symlinkToShadow:
            #expect(moved.st_mode & S_IFMT == S_IFLNK)
            let after = try #require(Hostile.lstatOf("/etc/shadow"))
            // (Not st_nlink: the hard-link test links /etc/shadow for a moment, in parallel.)
            #expect(after.st_mode == shadowBefore?.st_mode && after.st_ino == shadowBefore?.st_ino
                    && after.st_size == shadowBefore?.st_size)
        case .characterDevice, .blockDevice, .unassignedBlockDevice:
            #expect([S_IFCHR, S_IFBLK].contains(moved.st_mode & S_IFMT))
        case .unixSocket:
            #expect(moved.st_mode & S_IFMT == S_IFSOCK)
        default:
            break
        }
    }

    // MARK: Hard links to files outside the runner directory

    enum Outside: String, CaseIterable, CustomTestStringConvertible {
        /// A root-only file beside runner-fs whose content would be accepted if read.
        case secretTempFile
        /// /etc/shadow itself (same filesystem here; a root-only 0600 stand-in if not).
        case etcShadow
        var testDescription: String { rawValue }
    }

    /// A second name for an inode outside the runner directory (plain-directory layout): the
    /// link count gives it away before any open, and no byte of it reaches any output.
    @Test(arguments: Outside.allCases)
    func hardLinkToOutsideFileIsRefusedByLinkCount(_ outside: Outside) throws {
        let tree = try TestTree()
        let marker = "SECRET" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let secretPath = tree.root + "/secret.json"
        let secret = #"{"workflow": "\#(marker)", "repository": "octo/\#(marker)", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#
        _ = FileManager.default.createFile(atPath: secretPath, contents: Data(secret.utf8))
        chmod(secretPath, 0o600)
        let dir = try Hostile.pair(tree, [:], removing: [Hostile.preJob])
        let link = dir + "/" + Hostile.preJob
        var target = secretPath
        // Windows of /etc/shadow are searched for; the stand-in's JSON shares key names with
        // our own output, so for it only the random marker is searched for.
        var secretBytes: [UInt8] = []
        if outside == .etcShadow {
            if Glibc.link("/etc/shadow", link) == 0 {
                target = "/etc/shadow"
                secretBytes = Array((FileManager.default.contents(atPath: "/etc/shadow") ?? Data()).utf8String.utf8)
            } else {
                // /etc on another filesystem (EXDEV): the root-only stand-in plays its part.
                #expect(errno == EXDEV)
                #expect(Glibc.link(secretPath, link) == 0)
            }
        } else {
            #expect(Glibc.link(secretPath, link) == 0)
        }
        let before = try #require(Hostile.lstatOf(target))
        #expect(before.st_nlink == 2)
        let watch = try OpenWatch(dir)
        let run = try Hostile.extract(tree)
        let entry = try Hostile.expectQuarantined(tree, run, reason: "not-regular-file", file: Hostile.preJob)
        let evidence = try #require(entry["evidence"] as? String)
        // Undo the second name at once so /etc/shadow is back to one link.
        defer { unlink(evidence + "/" + Hostile.preJob) }
        #expect(entry["detail"] as? String == "regular file with 2 hard links")
        #expect(!watch.openedNames().contains(Hostile.preJob), "the linked file was opened")
        // No byte sequence of the file reaches the audit line, the metrics log or the output.
        let outputs = [tree.auditLines.joined(separator: "\n"), tree.metricLines.joined(separator: "\n"),
                       run.result.stdout, run.result.stderr]
        for output in outputs {
            #expect(!output.contains(marker))
            let haystack = Array(output.utf8)
            let width = 12
            var leaked: String?
            if secretBytes.count >= width && haystack.count >= width {
                var windows = Set<[UInt8]>()
                for start in 0...(haystack.count - width) { windows.insert(Array(haystack[start..<(start + width)])) }
                for start in 0...(secretBytes.count - width) where windows.contains(Array(secretBytes[start..<(start + width)])) {
                    leaked = String(decoding: secretBytes[start..<(start + width)], as: UTF8.self)
                    break
                }
            }
            #expect(leaked == nil, "12-byte window of the linked file in an output: \(leaked ?? "")")
        }
        let after = try #require(Hostile.lstatOf(target))
        #expect(after.st_ino == before.st_ino && after.st_mode == before.st_mode)
    }

    // MARK: Size, permissions, emptiness

    /// A 10 GiB sparse file: refused by its st_size, never read, quickly.
    @Test func sparseTenGiBFileIsRefusedQuickly() throws {
        let tree = try TestTree()
        let dir = try Hostile.pair(tree, [:], removing: [Hostile.preJob])
        try Tool.sh("truncate -s 10G '\(dir)/\(Hostile.preJob)'")
        let watch = try OpenWatch(dir)
        let run = try Hostile.extract(tree, ["--worker-timeout", "1"], bound: 20)
        let entry = try Hostile.expectQuarantined(tree, run, reason: "file-too-large", file: Hostile.preJob, bound: 10)
        #expect(entry["detail"] as? String == "size 10737418240 exceeds 1024 bytes")
        #expect(!watch.openedNames().contains(Hostile.preJob))
    }

    /// Sizes at the limit for every file: 1024 bytes accepted, 1025 refused, mode 000 refused
    /// as unreadable (the worker is `nobody`). An empty file is absent, as upstream decides it
    /// (UpstreamShapesTests).
    @Test(arguments: RunnerFileCase.allFiles)
    func sizeAndPermissionLimitsPerFile(_ file: RunnerFileCase) throws {
        // 1024 bytes: accepted, the exact honest lines.
        do {
            let tree = try TestTree()
            var files = Sample.complete
            files[file.name] = file.padded(to: 1024)
            try tree.runner("r1", files)
            let run = try Hostile.extract(tree)
            #expect(run.result.status == 0, "\(run.result.stderr)")
            #expect(tree.metricLines == Hostile.honestLines)
            #expect(tree.auditLines.isEmpty)
        }
        // 1025 bytes, mode 000.
        for (content, mode, reason) in [(file.padded(to: 1025), mode_t(0o644), "file-too-large"),
                                        (Sample.complete[file.name]!, mode_t(0), "unreadable-file")] {
            let tree = try TestTree()
            let dir = try Hostile.pair(tree, [file.name: Array(content.utf8)])
            chmod(dir + "/" + file.name, mode)
            let run = try Hostile.extract(tree)
            try Hostile.expectQuarantined(tree, run, reason: reason, file: file.name)
        }
    }

    /// A file replaced between runs: the first run leaves the runner alone (--ignore), the
    /// file is then swapped for an oversized one by rename (new inode) or grown in place
    /// (same inode); the second run judges what is there now.
    @Test(arguments: ["rename", "grow-in-place"])
    func fileReplacedBetweenRunsIsJudgedAgain(_ how: String) throws {
        let tree = try TestTree()
        let dir = try Hostile.pair(tree, [:])
        let first = try Hostile.extract(tree, ["--ignore", "bad"])
        #expect(first.result.status == 0, "\(first.result.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(tree.exists(dir + "/" + Hostile.preJob))
        let big = Sample.preJob + String(repeating: " ", count: 2000)
        if how == "rename" {
            _ = FileManager.default.createFile(atPath: dir + "/new", contents: Data(big.utf8))
            #expect(rename(dir + "/new", dir + "/" + Hostile.preJob) == 0)
        } else {
            let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + Hostile.preJob))
            handle.seekToEndOfFile()
            handle.write(Data(String(repeating: " ", count: 2000).utf8))
            try handle.close()
        }
        try tree.runner("good", Sample.complete)
        let second = try Hostile.extract(tree)
        try Hostile.expectQuarantined(tree, second, reason: "file-too-large", file: Hostile.preJob, earlierHonestRuns: 1)
    }

    /// A writer rewrites the file in place while runs read it (content V, then V padded past
    /// the limit, again and again). Whatever the interleaving, a run either issues exactly
    /// the honest lines or quarantines the runner; never a different event. The race is shown
    /// to have run: the writer is rewriting before each run starts and still after it ends.
    @Test func fileRewrittenDuringRunsNeverYieldsOtherEvents() throws {
        let outcomes = Locked<[String]>([])
        for _ in 0..<4 {
            let tree = try TestTree()
            let dir = try tree.runner("bad", Sample.complete)
            let path = dir + "/" + Hostile.preJob
            let fd = open(path, O_WRONLY)
            try #require(fd >= 0)
            let stop = Locked<Bool>(false), rewrites = Locked<Int>(0), stopped = DispatchSemaphore(value: 0)
            let writer = Thread {
                let small = Array(Sample.preJob.utf8), big = small + Array(repeating: UInt8(ascii: " "), count: 3000)
                var flip = false
                while !stop.value {
                    let bytes = flip ? big : small
                    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                    ftruncate(fd, off_t(bytes.count))
                    flip.toggle()
                    rewrites.value += 1
                }
                close(fd)
                stopped.signal()
            }
            writer.start()
            while rewrites.value < 100 { usleep(100) }
            let before = rewrites.value
            let run = try Hostile.extract(tree)
            let after = rewrites.value
            stop.value = true
            stopped.wait()  // the writer is done before the tree goes
            #expect(after > before, "the file was not rewritten while the run read it")
            #expect([0, 3].contains(run.result.status), "\(run.result.stderr)")
            if run.result.status == 0 {
                #expect(tree.metricLines == Hostile.honestLines)
                outcomes.value.append("issued")
            } else {
                #expect(tree.metricLines.isEmpty)
                let reason = tree.reasons["bad"] ?? "?"
                #expect(["file-too-large", "invalid-json", "not-regular-file"].contains(reason), "\(reason)")
                outcomes.value.append(reason)
            }
        }
        print("rewrite race outcomes: \(outcomes.value)")
    }

    // MARK: Decoding rules, in each of the four files

    @Test(arguments: DecodingCase.all)
    func decodingRuleInEachFile(_ item: DecodingCase) throws {
        let tree = try TestTree()
        try Hostile.pair(tree, [item.file: item.bytes])
        let run = try Hostile.extract(tree)
        try Hostile.expectQuarantined(tree, run, reason: item.reason, file: item.file)
        // The evidence keeps the file exactly as it was.
        let evidence = try #require(tree.auditEntries.first?["evidence"] as? String)
        #expect(FileManager.default.contents(atPath: evidence + "/" + item.file).map(Array.init) == item.bytes)
    }

    // MARK: The runner directory itself

    /// runner-fs/bad is a symlink to a complete runner directory elsewhere: not-a-directory,
    /// the symlink itself moved to quarantine, the target untouched.
    @Test func runnerDirectoryThatIsASymlinkIsQuarantinedNotFollowed() throws {
        let tree = try TestTree()
        let target = tree.root + "/elsewhere"
        try TestTree.directory(target)
        for (name, body) in Sample.complete { _ = FileManager.default.createFile(atPath: target + "/" + name, contents: Data(body.utf8)) }
        #expect(symlink(target, tree.fs + "/bad") == 0)
        try tree.runner("good", Sample.complete)
        let run = try Hostile.extract(tree)
        let entry = try Hostile.expectQuarantined(tree, run, reason: "not-a-directory", file: nil)
        let evidence = try #require(entry["evidence"] as? String)
        let moved = try #require(Hostile.lstatOf(evidence))
        #expect(moved.st_mode & S_IFMT == S_IFLNK)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: evidence)) == target)
        for (name, body) in Sample.complete {
            #expect(FileManager.default.contents(atPath: target + "/" + name) == Data(body.utf8))
        }
        #expect(Hostile.lstatOf(target).map { $0.st_mode & S_IFMT } == S_IFDIR)
    }

    /// Other non-directories where a runner directory should be: a FIFO (opening it must not
    /// block), a regular file, a symlink to a FIFO.
    @Test(arguments: ["fifo", "regular-file", "symlink-to-fifo"])
    func runnerEntryThatIsNotADirectory(_ kind: String) throws {
        let tree = try TestTree()
        let path = tree.fs + "/bad"
        switch kind {
        case "fifo": #expect(mkfifo(path, 0o644) == 0)
        case "regular-file": _ = FileManager.default.createFile(atPath: path, contents: Data(Sample.preJob.utf8))
        default:
            #expect(mkfifo(tree.root + "/fifo", 0o644) == 0)
            #expect(symlink(tree.root + "/fifo", path) == 0)
        }
        try tree.runner("good", Sample.complete)
        let run = try Hostile.extract(tree, ["--worker-timeout", "1"], bound: 20)
        let entry = try Hostile.expectQuarantined(tree, run, reason: "not-a-directory", file: nil, bound: 10)
        #expect((entry["detail"] as? String)?.hasPrefix("runner entry is not a directory") == true)
    }

    /// Thousands of extra entries, deep subdirectories and hostile extra entries (a FIFO, a
    /// symlink to /etc, a device) are ignored by the worker; the runner is issued and
    /// deleted without following anything.
    @Test(arguments: ["5000-files", "deep-subdirectories", "hostile-extras"])
    func extraEntriesAreIgnoredAndTheRunnerIssued(_ kind: String) throws {
        let tree = try TestTree()
        let dir = try tree.runner("busy", Sample.complete)
        let outside = tree.root + "/outside"
        try TestTree.directory(outside)
        _ = FileManager.default.createFile(atPath: outside + "/keep", contents: Data("keep".utf8))
        switch kind {
        case "5000-files":
            try Tool.sh("cd '\(dir)' && seq -f 'extra-%05g' 1 5000 | xargs touch")
        case "deep-subdirectories":
            var deep = dir
            for _ in 0..<60 { deep += "/d"; try TestTree.directory(deep) }
            _ = FileManager.default.createFile(atPath: deep + "/" + Hostile.preJob, contents: Data("junk".utf8))
        default:
            #expect(mkfifo(dir + "/a-fifo", 0o644) == 0)
            #expect(symlink(outside, dir + "/outside-link") == 0)
            #expect(symlink("/etc", dir + "/etc") == 0)
            try Tool.sh("mknod '\(dir)/zero' c 1 5")
        }
        let run = try Hostile.extract(tree, bound: 60)
        #expect(run.seconds < 30)
        #expect(run.result.status == 0, "\(run.result.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(tree.auditLines.isEmpty)
        #expect(!tree.exists(dir))
        #expect(summary(run.result)["deleted"] == 1)
        #expect(FileManager.default.contents(atPath: outside + "/keep") == Data("keep".utf8))
        #expect(tree.exists("/etc/passwd"))
    }

    /// Names outside [A-Za-z0-9._-]{1,128}: skipped, audited invalid-runner-name with the raw
    /// bytes shown as \xNN escapes, never touched. (A 300-byte name cannot exist: NAME_MAX is
    /// 255; 129 and 255 bytes stand in.)
    @Test(arguments: RunnerNameCase.all)
    func invalidRunnerNameIsSkippedAuditedAndUntouched(_ item: RunnerNameCase) throws {
        let tree = try TestTree()
        #expect(Hostile.mkdirRaw(tree.fs, item.raw) == 0, "mkdir: errno \(errno)")
        let path = Array(tree.fs.utf8) + [UInt8(ascii: "/")] + item.raw
        let display = item.display
        // A complete runner inside: still never read, moved or deleted.
        let created = (Array(Sample.preJob.utf8)).withUnsafeBytes { body -> Bool in
            let file = path + Array("/\(Hostile.preJob)".utf8) + [0]
            let fd = file.withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: file.count) { open($0, O_WRONLY | O_CREAT, 0o644) } }
            defer { close(fd) }
            return fd >= 0 && write(fd, body.baseAddress, body.count) == body.count
        }
        #expect(created)
        try tree.runner("good", Sample.complete)
        let run = try Hostile.extract(tree)
        #expect(run.seconds < 15)
        #expect(run.result.status == 3, "\(run.result.stderr)")
        #expect(tree.metricLines == Hostile.honestLines)
        #expect(!tree.exists(tree.fs + "/good"))
        let counts = summary(run.result)
        #expect(counts["skipped"] == 1 && counts["quarantined"] == 0 && counts["deleted"] == 1 && counts["errors"] == 0)
        #expect(tree.auditLines.count == 1)
        let entry = try #require(tree.auditEntries.first)
        #expect(entry["runner"] as? String == display)
        #expect(entry["reason"] as? String == "invalid-runner-name")
        #expect(entry["detail"] as? String == "name outside [A-Za-z0-9._-]{1,128}; not touched")
        #expect(entry["evidence"] is NSNull)
        #expect(entry["file"] == nil)
        // Untouched: still there with its file, nothing in quarantine.
        let file = path + Array("/\(Hostile.preJob)".utf8) + [0]
        var status = stat()
        let present = file.withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: file.count) { lstat($0, &status) } }
        #expect(present == 0 && status.st_size == off_t(Sample.preJob.utf8.count))
        #expect(tree.quarantined().isEmpty)
        // The audit line is printable ASCII and one line.
        let raw = try #require(FileManager.default.contents(atPath: tree.auditLog))
        #expect(raw.allSatisfy { $0 == 0x0a || (0x20...0x7e).contains($0) })
        #expect(raw.filter { $0 == 0x0a }.count == 1)
    }

    /// Names that look like path tricks but are valid runner names stay inside runner-fs:
    /// "..." is a directory like any other.
    @Test func dotLikeValidNamesAreOrdinaryRunners() throws {
        let tree = try TestTree()
        for name in ["...", ".hidden", "-rf"] { try tree.runner(name, Sample.complete) }
        let run = try Hostile.extract(tree)
        #expect(run.result.status == 0, "\(run.result.stderr)")
        #expect(tree.metricLines.count == 9)
        #expect(summary(run.result)["deleted"] == 3)
        #expect(tree.exists(tree.fs) && tree.exists(tree.images))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
    }

    // MARK: The audit line

    /// A runner name and a detail with newlines, quotes, an ESC and U+2028 still make one
    /// printable-ASCII line that parses back to the same strings.
    @Test func auditLineStaysOneLine() throws {
        let runner = "bad\nname\"\u{1b}[31m\u{2028}\u{2215}"
        let detail = "line one\nline two\r\t\\ \u{0}"
        for termination in [Termination?.none, .exited(9), .signaled(31)] {
            let entry = AuditEntry(timestamp: 1_700_000_000.25, runner: runner, flavor: "small\n", reason: .workerCrashed,
                                   file: .preJob, detail: detail, evidence: "/q/bad\n.1", termination: termination)
            let line = entry.jsonLine
            #expect(line.last == "\n")
            #expect(line.dropLast().allSatisfy { $0.isASCII && !$0.isNewline })
            #expect(line.utf8.allSatisfy { $0 == 0x0a || (0x20...0x7e).contains($0) })
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["runner"] as? String == runner)
            #expect(object["detail"] as? String == detail)
            #expect(object["flavor"] as? String == "small\n")
            #expect(object["timestamp"] as? String == "2023-11-14T22:13:20.250Z")
            #expect(object["evidence"] as? String == "/q/bad\n.1")
            switch termination {
            case .exited(let status)?: #expect(object["exit_status"] as? Int == Int(status) && object["signal"] == nil)
            case .signaled(let signal)?: #expect(object["signal"] as? Int == Int(signal) && object["exit_status"] == nil)
            case nil: #expect(object["signal"] == nil && object["exit_status"] == nil)
            }
            // Field order as AUDIT.md documents it.
            let keys = ["timestamp", "runner", "flavor", "reason", "file", "detail", "evidence"]
            let positions = keys.map { line.range(of: "\"\($0)\": ")!.lowerBound }
            #expect(positions == positions.sorted())
        }
        #expect(line(of: "caf\u{e9}") == #""caf\u00e9""#)
        #expect(line(of: "\u{1F600}") == #""\ud83d\ude00""#)
        #expect(JSONText.escapedBytes([0x62, 0x0a, 0x5c, 0xff, 0x7f]) == #"b\x0a\x5c\xff\x7f"#)
    }

    private func line(of text: String) -> String { JSONText.string(text) }

    /// `audit` lists what `extract` quarantined; `inspect` re-runs the worker read-only on
    /// the evidence and reaches the same verdict.
    @Test func auditAndInspectAgreeOnEvidence() throws {
        let tree = try TestTree()
        try Hostile.pair(tree, [Hostile.preJob: Array(#"{"workflow": "CI", "workflow": "CD"}"#.utf8)])
        let run = try Hostile.extract(tree)
        try Hostile.expectQuarantined(tree, run, reason: "duplicate-key", file: Hostile.preJob)
        let evidence = try #require(tree.auditEntries.first?["evidence"] as? String)
        // Evidence: root-owned, searchable but not listable (inspect's worker runs as nobody),
        // inside a 0700 quarantine directory.
        let evidenceStatus = try #require(Hostile.lstatOf(evidence))
        #expect(evidenceStatus.st_uid == 0 && evidenceStatus.st_mode & 0o7777 == 0o711)
        #expect(Hostile.lstatOf(tree.quarantine).map { $0.st_mode & 0o7777 } == 0o700)

        let listed = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.auditLog, "--json"])
        #expect(listed.status == 0)
        #expect(listed.stdout == tree.auditLines.joined(separator: "\n") + "\n")
        let table = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.auditLog, "--runner", "bad"])
        #expect(table.stdout.hasPrefix("TIME"))
        #expect(table.stdout.contains("duplicate-key") && table.stdout.contains(evidence))
        let none = try Tool.run(Tool.runnerMetrics, ["audit", "--audit-log", tree.auditLog, "--runner", "good"])
        #expect(none.stdout.split(separator: "\n").count == 1)

        let inspected = try Tool.run(Tool.runnerMetrics, ["inspect", evidence, "--json"])
        #expect(inspected.status == 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        #expect(object["verdict"] as? String == "rejected")
        #expect(object["reason"] as? String == "duplicate-key")
        #expect(object["file"] as? String == Hostile.preJob)
        #expect(object["detail"] as? String == tree.auditEntries.first?["detail"] as? String)
        #expect(tree.exists(evidence + "/" + Hostile.preJob))  // read-only
    }
}

// MARK: Tables

/// One runner file, with how to fill it to an exact size.
struct RunnerFileCase: Sendable, CustomTestStringConvertible {
    var name: String
    var isTimestamp: Bool
    var testDescription: String { name }

    static let allFiles: [RunnerFileCase] = [
        RunnerFileCase(name: "runner-installation-start.timestamp", isTimestamp: true),
        RunnerFileCase(name: "runner-installed.timestamp", isTimestamp: true),
        RunnerFileCase(name: "pre-job-metrics.json", isTimestamp: false),
        RunnerFileCase(name: "post-job-metrics.json", isTimestamp: false),
    ]

    /// The honest content, padded to exactly `size` bytes without changing its meaning:
    /// fraction zeros for a timestamp, leading spaces for JSON.
    func padded(to size: Int) -> String {
        let base = Sample.complete[name]!
        if isTimestamp { return base + "." + String(repeating: "0", count: size - base.utf8.count - 1) }
        return String(repeating: " ", count: size - base.utf8.count) + base
    }
}

/// A decoding rule broken in one file, with the exact reason code.
struct DecodingCase: Sendable, CustomTestStringConvertible {
    var rule: String
    var file: String
    var bytes: [UInt8]
    var reason: String
    var testDescription: String { "\(file): \(rule) -> \(reason)" }

    static let bom: [UInt8] = [0xef, 0xbb, 0xbf]
    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }
    static let nested9 = String(repeating: "[", count: 9) + "1" + String(repeating: "]", count: 9)

    static var all: [DecodingCase] {
        var cases: [DecodingCase] = []
        for file in ["runner-installation-start.timestamp", "runner-installed.timestamp"] {
            let t = "invalid-timestamp"
            cases += [
                DecodingCase(rule: "bad UTF-8", file: file, bytes: text("17000000") + [0xff] + text("0"), reason: t),
                DecodingCase(rule: "BOM", file: file, bytes: bom + text("1700000000"), reason: t),
                DecodingCase(rule: "trailing comma", file: file, bytes: text("1700000000,"), reason: t),
                DecodingCase(rule: "duplicate keys", file: file, bytes: text(#"{"a": 1, "a": 2}"#), reason: t),
                DecodingCase(rule: "unknown field", file: file, bytes: text(#"{"timestamp": 1700000000}"#), reason: t),
                DecodingCase(rule: "huge number 1e400", file: file, bytes: text("1e400"), reason: t),
                DecodingCase(rule: "huge number 1 and 400 zeros", file: file, bytes: text("1" + String(repeating: "0", count: 400)), reason: t),
                DecodingCase(rule: "deep nesting", file: file, bytes: text(nested9), reason: t),
                DecodingCase(rule: "NUL escape", file: file, bytes: text(#"17000\u0000"#), reason: t),
                DecodingCase(rule: "raw NUL", file: file, bytes: text("1700000000") + [0], reason: t),
                DecodingCase(rule: "CRLF", file: file, bytes: text("1700000000\r\n"), reason: t),
            ]
        }
        let pre = { (workflow: String, extra: String) in
            #"{"workflow": \#(workflow), "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"\#(extra)}"#
        }
        let p = "pre-job-metrics.json"
        let preTail = #"I", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#
        cases += [
            DecodingCase(rule: "bad UTF-8", file: p, bytes: text(#"{"workflow": "C"#) + [0xff] + text(preTail), reason: "invalid-encoding"),
            DecodingCase(rule: "overlong UTF-8", file: p, bytes: text(#"{"workflow": "C"#) + [0xc0, 0xaf] + text(preTail), reason: "invalid-encoding"),
            DecodingCase(rule: "BOM", file: p, bytes: bom + text(Sample.preJob), reason: "invalid-encoding"),
            DecodingCase(rule: "trailing comma", file: p, bytes: text(pre(#""CI""#, ",")), reason: "invalid-json"),
            DecodingCase(rule: "duplicate keys", file: p, bytes: text(pre(#""CI""#, #", "workflow": "CD""#)), reason: "duplicate-key"),
            DecodingCase(rule: "duplicate keys via escape", file: p, bytes: text(pre(#""CI""#, #", "\u0077orkflow": "CD""#)), reason: "duplicate-key"),
            DecodingCase(rule: "unknown field", file: p, bytes: text(pre(#""CI""#, #", "extra": 1"#)), reason: "unknown-field"),
            DecodingCase(rule: "missing field", file: p, bytes: text(#"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030}"#), reason: "missing-field"),
            DecodingCase(rule: "huge number 1e400", file: p, bytes: text(Sample.preJob.replacingOccurrences(of: "1700000030", with: "1e400")), reason: "invalid-value"),
            DecodingCase(rule: "deep nesting", file: p, bytes: text(pre(nested9, "")), reason: "invalid-json"),
            DecodingCase(rule: "NUL escape", file: p, bytes: text(pre(#""C\u0000I""#, "")), reason: "invalid-value"),
            DecodingCase(rule: "raw control character", file: p, bytes: text(pre("\"C\u{1}I\"", "")), reason: "invalid-json"),
            DecodingCase(rule: "NaN", file: p, bytes: text(Sample.preJob.replacingOccurrences(of: "1700000030", with: "NaN")), reason: "invalid-json"),
        ]
        let q = "post-job-metrics.json"
        cases += [
            DecodingCase(rule: "bad UTF-8", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "nor"#) + [0xff] + text(#"mal"}"#), reason: "invalid-encoding"),
            DecodingCase(rule: "BOM", file: q, bytes: bom + text(Sample.postJob), reason: "invalid-encoding"),
            DecodingCase(rule: "trailing comma", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "normal",}"#), reason: "invalid-json"),
            DecodingCase(rule: "duplicate keys", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "normal", "status": "abnormal"}"#), reason: "duplicate-key"),
            DecodingCase(rule: "unknown field", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "normal", "exit": 0}"#), reason: "unknown-field"),
            DecodingCase(rule: "missing field", file: q, bytes: text(#"{"timestamp": 1700000330}"#), reason: "missing-field"),
            DecodingCase(rule: "huge number 1e400", file: q, bytes: text(#"{"timestamp": 1e400, "status": "normal"}"#), reason: "invalid-value"),
            DecodingCase(rule: "huge status code", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": 1e400}}"#), reason: "invalid-value"),
            DecodingCase(rule: "deep nesting", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": \#(nested9)}}"#), reason: "invalid-json"),
            DecodingCase(rule: "NUL escape", file: q, bytes: text(#"{"timestamp": 1700000330, "status": "normal\u0000"}"#), reason: "invalid-value"),
        ]
        return cases
    }
}

/// A runner directory name that is not a valid runner name, and how the audit line shows it.
struct RunnerNameCase: Sendable, CustomTestStringConvertible {
    var label: String
    var raw: [UInt8]
    var display: String
    var testDescription: String { label }

    static var all: [RunnerNameCase] {
        [
            RunnerNameCase(label: "newline", raw: Array("bad\nname".utf8), display: #"bad\x0aname"#),
            RunnerNameCase(label: "dot space dot", raw: Array(". .".utf8), display: ". ."),
            RunnerNameCase(label: "one-dot leaders (U+2024 U+2024)", raw: Array("\u{2024}\u{2024}".utf8), display: #"\xe2\x80\xa4\xe2\x80\xa4"#),
            RunnerNameCase(label: "division slash (U+2215)", raw: Array("..\u{2215}etc".utf8), display: #"..\xe2\x88\x95etc"#),
            RunnerNameCase(label: "backslash", raw: Array(#"..\etc"#.utf8), display: #"..\x5cetc"#),
            RunnerNameCase(label: "escape sequence", raw: Array("r\u{1b}[2J".utf8), display: #"r\x1b[2J"#),
            RunnerNameCase(label: "invalid UTF-8", raw: [0x72, 0xff, 0xfe], display: #"r\xff\xfe"#),
            RunnerNameCase(label: "129 bytes", raw: Array(repeating: UInt8(ascii: "x"), count: 129), display: String(repeating: "x", count: 129)),
            RunnerNameCase(label: "255 bytes (NAME_MAX)", raw: Array(repeating: UInt8(ascii: "y"), count: 255), display: String(repeating: "y", count: 255)),
        ]
    }
}

/// A tiny lock-protected box for the race test (Foundation's NSLock; no Synchronization import).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

private extension Data {
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}
