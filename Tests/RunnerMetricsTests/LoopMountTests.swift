import Foundation
import Testing

/// Runners laid out as the charm lays them: a 1 MiB ext4 image per runner, loop-mounted on
/// its directory. Needs root and loop devices (CI has both).
@Suite(.serialized) struct LoopMountTests {
    /// dd + mkfs.ext4 + mount -o loop, then the files written through the mount.
    func mountedRunner(_ tree: TestTree, _ name: String, _ files: [String: String]) throws {
        let image = tree.images + "/" + name + ".img"
        let dir = tree.fs + "/" + name
        try TestTree.directory(dir)
        try Tool.sh("dd if=/dev/zero of='\(image)' bs=1M count=1 status=none && mkfs.ext4 -q -F '\(image)' && mount -o loop '\(image)' '\(dir)' && chmod 755 '\(dir)'")
        for (file, body) in files {
            _ = FileManager.default.createFile(atPath: dir + "/" + file, contents: Data(body.utf8))
            chmod(dir + "/" + file, 0o644)
        }
    }

    func mountsUnder(_ path: String) -> [String] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(path) ? String(fields[4]) : nil
        }
    }

    func loopDevicesBacking(_ path: String) throws -> String {
        try Tool.run("/sbin/losetup", ["-a"]).stdout.split(separator: "\n").filter { $0.contains(path) }.joined(separator: "\n")
    }

    @Test func mountedRunnersAreIssuedUnmountedAndRemoved() throws {
        let tree = try TestTree()
        try mountedRunner(tree, "honest", Sample.complete)
        var corrupt = Sample.complete
        corrupt["post-job-metrics.json"] = #"{"timestamp": 1700000330, "status": "normal",}"#
        try mountedRunner(tree, "corrupt", corrupt)
        #expect(mountsUnder(tree.root).count == 2)

        let result = try tree.extract()
        #expect(result.status == 3, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(mountsUnder(tree.root).isEmpty)
        #expect(try loopDevicesBacking(tree.root) == "")
        for name in ["honest", "corrupt"] {
            #expect(!tree.exists(tree.fs + "/" + name))
            #expect(!tree.exists(tree.images + "/" + name + ".img"))
        }
        #expect(tree.reasons == ["corrupt": "invalid-json"])
        let evidence = try #require(tree.auditEntries.first?["evidence"] as? String)
        #expect(evidence.hasPrefix(tree.quarantine + "/corrupt.") && evidence.hasSuffix(".img"))
        var status = stat()
        #expect(lstat(evidence, &status) == 0)
        #expect(status.st_mode & 0o7777 == 0o600 && status.st_uid == 0 && status.st_size == 1 << 20)
        // The evidence is the whole image, unread and intact: it still mounts and holds the file.
        let probe = tree.root + "/evidence-mount"
        try TestTree.directory(probe)
        try Tool.sh("mount -o loop,ro '\(evidence)' '\(probe)'")
        defer { _ = try? Tool.sh("umount '\(probe)'") }
        #expect(try String(contentsOfFile: probe + "/post-job-metrics.json", encoding: .utf8) == corrupt["post-job-metrics.json"])
    }

    /// After a reboot the images are not mounted. The tool never mounts an attacker's image in
    /// the host kernel: the worker reads the image file from userspace (libext2fs) inside its
    /// sandbox. Honest ones are issued and deleted, hostile ones quarantined, nothing is mounted.
    @Test func unmountedImagesAfterRebootAreReadFromUserspace() throws {
        let tree = try TestTree()
        try mountedRunner(tree, "rebooted-honest", Sample.complete)
        var corrupt = Sample.complete
        corrupt["pre-job-metrics.json"] = #"{"workflow": "CI", "workflow": "CD"}"#
        try mountedRunner(tree, "rebooted-hostile", corrupt)
        try Tool.sh("umount '\(tree.fs)/rebooted-honest' '\(tree.fs)/rebooted-hostile'")
        #expect(mountsUnder(tree.root).isEmpty)

        let result = try tree.extract()
        #expect(result.status == 3, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(mountsUnder(tree.root).isEmpty, "an image was mounted on the host")
        #expect(try loopDevicesBacking(tree.root) == "")
        for name in ["rebooted-honest", "rebooted-hostile"] {
            #expect(!tree.exists(tree.fs + "/" + name))
            #expect(!tree.exists(tree.images + "/" + name + ".img"))
        }
        #expect(tree.reasons == ["rebooted-hostile": "duplicate-key"])
        let evidence = try #require(tree.auditEntries.first?["evidence"] as? String)
        #expect(evidence.hasSuffix(".img"))

        // An operator sees why, from the evidence image, without mounting it.
        let inspect = try Tool.run(Tool.runnerMetrics, ["inspect", evidence, "--json"])
        #expect(inspect.status == 3)
        #expect(inspect.stdout.contains(#""reason": "duplicate-key""#))
        #expect(mountsUnder(tree.root).isEmpty)
    }

    /// Runner names may be 128 bytes long, so their images' entries are 132: the images
    /// directory's listing is judged by the name before `.img`. Rebooted (read from the image)
    /// and still mounted, each is issued once and its image removed.
    @Test func longestRunnerNamesFindTheirImages() throws {
        let tree = try TestTree()
        let rebooted = String(repeating: "r", count: 128), mounted = String(repeating: "m", count: 128)
        try mountedRunner(tree, rebooted, Sample.complete)
        try mountedRunner(tree, mounted, Sample.complete)
        try Tool.sh("umount '\(tree.fs)/\(rebooted)'")
        let result = try tree.extract()
        #expect(result.status == 0, "\(result.stderr)")
        let one = [Sample.installedLine, Sample.startLine, Sample.stopLine]
        #expect(tree.metricLines == one + one)
        #expect(mountsUnder(tree.root).isEmpty)
        for name in [rebooted, mounted] {
            #expect(!tree.exists(tree.fs + "/" + name))
            #expect(!tree.exists(tree.images + "/" + name + ".img"))
        }
    }

    /// The worker is really confined: a worker that makes a forbidden system call is killed by
    /// its filter's SIGSYS and its runner quarantined as worker-sandbox-violation, on a mounted
    /// runner (a directory worker) and on a rebooted one (an image worker), with or without a
    /// service manager's filter above (the probe's `outer-filter:` modes).
    @Test(arguments: [(false, "", 31), (true, "", 31), (false, "outer-filter:", 31), (true, "outer-filter:", 31)])
    func forbiddenSystemCallIsKilled(rebooted: Bool, prefix: String, signal: Int) throws {
        let tree = try TestTree()
        try mountedRunner(tree, "victim", Sample.complete)
        if rebooted { try Tool.sh("umount '\(tree.fs)/victim'") }
        let result = try tree.probe(prefix + "execve")
        #expect(result.status == 3, "\(result.stderr)")
        let entry = try #require(tree.auditEntries.first)
        #expect(entry["reason"] as? String == "worker-sandbox-violation")
        #expect(entry["signal"] as? Int == signal)
        #expect(tree.metricLines.isEmpty)
        #expect(mountsUnder(tree.root).isEmpty)
    }

    @Test func underAServiceManagersFilterAnHonestRunnerIsIssued() throws {
        let tree = try TestTree()
        try mountedRunner(tree, "honest", Sample.complete)
        let result = try tree.probe("outer-filter:honest")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
        #expect(tree.auditLines.isEmpty)
        #expect(mountsUnder(tree.root).isEmpty)
    }
}
