import Foundation
import Glibc
import MetricsDecoding
import RunnerWorker
import Testing

/// Runner images read from userspace with libext2fs (`Worker.readAndDecode(image:)`), never
/// mounted. Images are made with mkfs.ext4 and edited with debugfs -w (no kernel involved).
// Serialized: `Worker.readAndDecode` reads into the one set of file buffers a worker process
// owns (`Worker.fileBuffers`; a worker is single-threaded and reads one runner). In this test
// process two readings at once, such as the two cases of `randomByteFlipsNeverCrash`, would
// share them, and a second reading of the same bytes could differ from the first.
@Suite(.serialized) struct ImageReaderTests {
    /// A 1 MiB image in its own temporary directory, removed afterwards.
    final class Image {
        let directory: String
        var path: String { directory + "/runner.img" }

        /// dd + mkfs.ext4 as the charm does, then the files written with debugfs, then
        /// `commands` (more debugfs requests, run in the root directory).
        init(files: [String: [UInt8]] = [:], commands: [String] = [], mkfsOptions: String = "") throws {
            var template = Array("/tmp/rm-image-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
            directory = String(cString: made)
            try Tool.sh("dd if=/dev/zero of='\(path)' bs=1M count=1 status=none && mkfs.ext4 -q -F \(mkfsOptions) '\(path)'")
            var script: [String] = []
            for (index, (name, bytes)) in files.sorted(by: { $0.key < $1.key }).enumerated() {
                let local = directory + "/local-\(index)"
                try Data(bytes).write(to: URL(fileURLWithPath: local))
                script.append("write \(local) \(name)")
            }
            script += commands
            if !script.isEmpty { try debugfs(script) }
        }

        convenience init(texts: [String: String], commands: [String] = [], mkfsOptions: String = "") throws {
            try self.init(files: texts.mapValues { Array($0.utf8) }, commands: commands, mkfsOptions: mkfsOptions)
        }

        func debugfs(_ script: [String]) throws {
            let file = directory + "/script"
            try (script.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            try Tool.sh("debugfs -w -f '\(file)' '\(path)' >/dev/null 2>&1")
        }

        func bytes() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
        func replace(with bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Opens the image O_RDONLY and runs the worker's image path on the descriptor. The two
    /// failing writes to descriptor -1 (14 and 12 bytes) are markers for strace filtering:
    /// everything a thread does between them is the image path.
    static func verdict(ofImageAt path: String) throws -> WorkerVerdict {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw POSIXError(.ENOENT) }
        defer { close(fd) }
        _ = "rm-image-begin".withCString { write(-1, $0, 14) }
        let verdict = Worker.readAndDecode(image: fd)
        _ = "rm-image-end".withCString { write(-1, $0, 12) }
        return verdict
    }

    func verdict(_ image: Image) throws -> WorkerVerdict { try Self.verdict(ofImageAt: image.path) }

    func rejection(_ verdict: WorkerVerdict) -> Rejection? {
        if case .rejected(let r) = verdict { return r }
        return nil
    }

    func record(_ verdict: WorkerVerdict) -> RunnerRecord? {
        if case .valid(let r) = verdict { return r }
        return nil
    }

    // MARK: honest images

    @Test func honestImageDecodesAllFourFiles() throws {
        let image = try Image(texts: Sample.complete)
        let got = try #require(record(try verdict(image)))
        #expect(got.installationStart == 1699999900)
        #expect(got.installed == 1700000000)
        #expect(got.preJob == PreJobMetrics(workflow: "CI", repository: "octo/app", event: "push",
                                            timestamp: 1700000030, workflowRunID: "42"))
        #expect(got.postJob == PostJobMetrics(timestamp: 1700000330, status: .normal))
    }

    @Test func honestImageWithoutMetadataChecksumsDecodes() throws {
        let image = try Image(texts: Sample.complete, mkfsOptions: "-O ^metadata_csum")
        let got = try #require(record(try verdict(image)))
        #expect(got.installed == 1700000000 && got.preJob?.workflow == "CI")
    }

    @Test func inlineDataFilesDecode() throws {
        // Small files stored in the inode itself (ext4 inline_data).
        // libext2fs hands back the whole inline area (60+ bytes); only i_size bytes are the file.
        let image = try Image(texts: Sample.complete, mkfsOptions: "-O inline_data")
        #expect(try verdict(image) == verdict(try Image(texts: Sample.complete)))
        let got = try #require(record(try verdict(image)))
        #expect(got.installed == 1700000000 && got.postJob?.timestamp == 1700000330 && got.preJob?.workflowRunID == "42")
    }

    @Test func absentFilesAreNil() throws {
        let image = try Image(texts: ["runner-installed.timestamp": Sample.installed])
        #expect(try verdict(image) == .valid(RunnerRecord(installed: 1700000000)))
    }

    @Test func exactly1024BytesIsAccepted() throws {
        var files = Sample.complete
        files["pre-job-metrics.json"] = String(repeating: " ", count: 1024 - Sample.preJob.utf8.count) + Sample.preJob
        let image = try Image(texts: files)
        #expect(record(try verdict(image))?.preJob?.workflow == "CI")
    }

    // MARK: refused files

    @Test func file1025BytesIsTooLarge() throws {
        var files = Sample.complete
        files["pre-job-metrics.json"] = String(repeating: " ", count: 1025 - Sample.preJob.utf8.count) + Sample.preJob
        let image = try Image(texts: files)
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .fileTooLarge && r.file == .preJob)
    }

    @Test func symlinkIsNotRegular() throws {
        var files = Sample.complete
        files["pre-job-metrics.json"] = nil
        let image = try Image(texts: files, commands: ["symlink pre-job-metrics.json /etc/passwd"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .notRegularFile && r.file == .preJob && r.detail.contains("symlink"))
    }

    @Test(arguments: [("p", "fifo"), ("c 1 3", "character device"), ("b 7 0", "block device")])
    func deviceNodesAreNotRegular(kind: String, described: String) throws {
        var files = Sample.complete
        files["post-job-metrics.json"] = nil
        let image = try Image(texts: files, commands: ["mknod post-job-metrics.json \(kind)"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .notRegularFile && r.file == .postJob && r.detail.contains(described))
    }

    @Test func directoryIsNotRegular() throws {
        var files = Sample.complete
        files["runner-installed.timestamp"] = nil
        let image = try Image(texts: files, commands: ["mkdir runner-installed.timestamp"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .notRegularFile && r.file == .installed)
    }

    @Test func hardLinkIsNotRegular() throws {
        // Two names for one inode, link count 2 (debugfs ln does not count links; sif does).
        var files = Sample.complete
        files["pre-job-metrics.json"] = nil
        let image = try Image(texts: files, commands: [
            "ln post-job-metrics.json pre-job-metrics.json",
            "sif post-job-metrics.json links_count 2",
        ])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .notRegularFile && r.file == .preJob && r.detail.contains("2 hard links"))
    }

    @Test func linkCountAboveOneWithOneNameIsNotRegular() throws {
        let image = try Image(texts: Sample.complete, commands: ["sif runner-installed.timestamp links_count 3"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .notRegularFile && r.file == .installed)
    }

    @Test func fileInSubdirectoryIsAbsent() throws {
        var files = Sample.complete
        files["pre-job-metrics.json"] = nil
        let local = "/tmp/rm-image-prejob-\(getpid())"
        try Data(Sample.preJob.utf8).write(to: URL(fileURLWithPath: local))
        defer { unlink(local) }
        let image = try Image(texts: files, commands: ["mkdir sub", "cd sub", "write \(local) pre-job-metrics.json"])
        let got = try #require(record(try verdict(image)))
        #expect(got.preJob == nil && got.installed == 1700000000 && got.postJob != nil)
    }

    @Test func reservedInodeUnderARunnerNameIsCorrupt() throws {
        // Inode 7 (the resize inode) is a regular file with one link; the kernel's lookup
        // refuses reserved inodes, and so do we.
        var files = Sample.complete
        files["runner-installed.timestamp"] = nil
        let image = try Image(texts: files, commands: ["ln <7> runner-installed.timestamp"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .unreadableFile && r.file == .installed && r.detail.contains("corrupt"))
    }

    @Test func duplicateNameInRootIsCorrupt() throws {
        // Two directory entries with the same name (impossible honestly; debugfs refuses to
        // make one, so the second name is patched in a checksum-free image).
        var files = Sample.complete
        files["pre-job-metrics.jsoX"] = #"{"workflow": "evil"}"#
        let image = try Image(texts: files, mkfsOptions: "-O ^metadata_csum")
        var bytes = try image.bytes()
        let needle = Array("pre-job-metrics.jsoX".utf8)
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) })
        bytes[at + needle.count - 1] = UInt8(ascii: "n")
        try image.replace(with: bytes)
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .unreadableFile && r.file == .preJob)
    }

    // MARK: refused filesystems

    @Test func needsRecoveryIsRefused() throws {
        let image = try Image(texts: Sample.complete, commands: ["feature needs_recovery"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .unreadableFile && r.detail.contains("journal"))
    }

    @Test(arguments: ["encrypt", "casefold"])
    func unsupportedIncompatFeaturesAreRefused(feature: String) throws {
        let image = try Image(texts: Sample.complete, commands: ["feature \(feature)"])
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .unreadableFile && r.detail.contains("unsupported"))
    }

    @Test func unknownIncompatBitIsRefused() throws {
        // Bit 0x80000000 of s_feature_incompat (superblock offset 0x60), checksum-free image.
        let image = try Image(texts: Sample.complete, mkfsOptions: "-O ^metadata_csum")
        var bytes = try image.bytes()
        bytes[1024 + 0x60 + 3] |= 0x80
        try image.replace(with: bytes)
        #expect(rejection(try verdict(image))?.code == .unreadableFile)
    }

    @Test func blockCountTooSmallForTheGroupIsCorruptAndQuiet() throws {
        // s_blocks_count_lo = 2 in a checksum-free image: libext2fs's check_desc complains
        // through com_err ("Unknown code ext2 45 #2 for check_desc map"), whose default handler
        // would write to stderr and call isatty(2) = ioctl(TCGETS), which the worker's seccomp
        // policy kills. The reader's com_err hook keeps it silent and refuses the image.
        let image = try Image(texts: Sample.complete, mkfsOptions: "-O ^metadata_csum")
        var bytes = try image.bytes()
        bytes[1024 + 4] = 2
        bytes[1024 + 5] = 0
        try image.replace(with: bytes)
        let r = try #require(rejection(try verdict(image)))
        #expect(r.code == .unreadableFile && r.detail.contains("corrupt"))
    }

    @Test func truncatedImageIsUnreadable() throws {
        let image = try Image(texts: Sample.complete)
        try image.replace(with: Array(try image.bytes().prefix(64 * 1024)))
        #expect(rejection(try verdict(image))?.code == .unreadableFile)
    }

    @Test func emptyImageIsUnreadable() throws {
        let image = try Image(texts: Sample.complete)
        try image.replace(with: [])
        #expect(rejection(try verdict(image))?.code == .unreadableFile)
    }

    @Test(arguments: [true, false])
    func randomSuperblockIsUnreadable(checksums: Bool) throws {
        let image = try Image(texts: Sample.complete, mkfsOptions: checksums ? "" : "-O ^metadata_csum")
        var bytes = try image.bytes()
        var rng = SplitMix64(seed: 7)
        for i in 1024..<2048 { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        try image.replace(with: bytes)
        #expect(rejection(try verdict(image))?.code == .unreadableFile)
    }

    @Test(arguments: [true, false])
    func randomInodeTableIsUnreadable(checksums: Bool) throws {
        let image = try Image(texts: Sample.complete, mkfsOptions: checksums ? "" : "-O ^metadata_csum")
        let (first, last) = try inodeTable(image)
        var bytes = try image.bytes()
        var rng = SplitMix64(seed: 11)
        for i in (first * 1024)..<((last + 1) * 1024) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        try image.replace(with: bytes)
        #expect(rejection(try verdict(image))?.code == .unreadableFile)
    }

    /// "Inode table at 42-73" from dumpe2fs (1 KiB blocks: the images are 1 MiB).
    func inodeTable(_ image: Image) throws -> (Int, Int) {
        let out = try Tool.sh("dumpe2fs '\(image.path)' 2>/dev/null | grep -o 'Inode table at [0-9]*-[0-9]*'")
        let range = try #require(out.split(separator: " ").last?.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        try #require(range.count == 2)
        return (range[0], range[1])
    }

    // MARK: system calls

    /// The measurement harness for the seccomp rules: for a few honest and hostile images,
    /// fork, put the image on descriptor 3 as the worker has it, and run the image path in the
    /// child between two marker writes to descriptor -1. Run under strace:
    ///   RM_TRACE_IMAGE=1 strace -f -s 0 -o /tmp/st.txt .build-ext2/debug/runner-metricsPackageTests.xctest \
    ///     --testing-library swift-testing --filter forkedImageReadsForStrace
    /// Off by default: forking a multi-threaded test process is fine for a measurement, not for CI.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RM_TRACE_IMAGE"] != nil))
    func forkedImageReadsForStrace() throws {
        var oversized = Sample.complete
        oversized["pre-job-metrics.json"] = String(repeating: " ", count: 2000)
        var noPreJob = Sample.complete
        noPreJob["pre-job-metrics.json"] = nil
        let images = [
            try Image(texts: Sample.complete),
            try Image(texts: Sample.complete, mkfsOptions: "-O inline_data"),
            try Image(texts: Sample.complete, mkfsOptions: "-O ^metadata_csum"),
            try Image(texts: oversized),
            try Image(texts: noPreJob, commands: ["symlink pre-job-metrics.json /etc/passwd"]),
            try Image(texts: Sample.complete, commands: ["feature needs_recovery"]),
        ]
        let truncated = try Image(texts: Sample.complete)
        try truncated.replace(with: Array(try truncated.bytes().prefix(64 * 1024)))
        let scrambled = try Image(texts: Sample.complete)
        var bytes = try scrambled.bytes()
        var rng = SplitMix64(seed: 5)
        for i in 1024..<2048 { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        try scrambled.replace(with: bytes)
        for image in images + [truncated, scrambled] {
            let fd = open(image.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            try #require(fd >= 0)
            defer { close(fd) }
            let child = fork()
            if child == 0 {
                if fd != 3 { dup2(fd, 3) }
                _ = "rm-image-begin".withCString { write(-1, $0, 14) }
                let verdict = Worker.readAndDecode(image: 3)
                _ = "rm-image-end".withCString { write(-1, $0, 12) }
                if case .valid = verdict { _exit(0) }
                _exit(1)
            }
            try #require(child > 0)
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            #expect(status & 0x7f == 0, "child killed by signal \(status & 0x7f)")
        }
    }

    // MARK: fuzz-ish

    /// 200 images with random byte changes in the first 64 KiB (superblock, group descriptors,
    /// bitmaps, inode table, root directory): each must give a verdict, in-process, no crash,
    /// the same one when read again, and a rejection only with a code a worker may report. The
    /// changes must reach the reader's checks: some images are refused.
    @Test(arguments: [true, false])
    func randomByteFlipsNeverCrash(checksums: Bool) throws {
        let image = try Image(texts: Sample.complete, mkfsOptions: checksums ? "" : "-O ^metadata_csum")
        let pristine = try image.bytes()
        var rng = SplitMix64(seed: checksums ? 2024 : 2025)
        var valid = 0, rejected: [ReasonCode: Int] = [:]
        for _ in 0..<200 {
            var bytes = pristine
            let flips = 1 + Int(rng.next() % 24)
            for _ in 0..<flips {
                // Half the changes land in the first 8 KiB, where the superblock and group
                // descriptors live; the rest anywhere in the first 64 KiB.
                let window: UInt64 = rng.next() % 2 == 0 ? 8192 : 65536
                let at = Int(rng.next() % window)
                bytes[at] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
            }
            try image.replace(with: bytes)
            let first = try verdict(image)
            #expect(try verdict(image) == first, "a second reading of the same bytes differs")
            switch first {
            case .valid: valid += 1
            case .rejected(let r):
                #expect(r.code.isWorkerReportable, "\(r.code)")
                rejected[r.code, default: 0] += 1
            }
        }
        #expect(!rejected.isEmpty, "no changed image was refused: the changes never reached a check")
        print("ImageReaderTests fuzz (checksums \(checksums)): valid \(valid), rejected \(rejected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " "))")
    }
}

/// Seeded, deterministic (Steele/Lea/Flood's SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
