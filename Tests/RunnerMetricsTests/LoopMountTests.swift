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

    /// After a reboot the images are not mounted. The tool does not mount attacker images in
    /// the host's mount namespace; it leaves them for a later run and says so.
    @Test func unmountedImageAfterRebootIsKeptNotDeleted() throws {
        let tree = try TestTree()
        try mountedRunner(tree, "rebooted", Sample.complete)
        try Tool.sh("umount '\(tree.fs)/rebooted'")
        let result = try tree.extract()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary(result)["kept"] == 1)
        #expect(tree.exists(tree.images + "/rebooted.img"))
        #expect(tree.exists(tree.fs + "/rebooted"))
        #expect(tree.metricLines.isEmpty)
        #expect(result.stderr.contains("not mounted"))
    }

    /// The worker is really confined: a worker that makes a forbidden system call dies by
    /// SIGSYS and its runner is quarantined as worker-sandbox-violation.
    @Test func forbiddenSystemCallIsKilledBySIGSYS() throws {
        let tree = try TestTree()
        try mountedRunner(tree, "victim", Sample.complete)
        let result = try tree.probe("execve")
        #expect(result.status == 3, "\(result.stderr)")
        let entry = try #require(tree.auditEntries.first)
        #expect(entry["reason"] as? String == "worker-sandbox-violation")
        #expect(entry["signal"] as? Int == 31)
        #expect(tree.metricLines.isEmpty)
        #expect(mountsUnder(tree.root).isEmpty)
    }
}
