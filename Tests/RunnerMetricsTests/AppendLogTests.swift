import Foundation
import Glibc
import RunnerSupervisor
import Testing

/// The metrics log on a full disk: a line the kernel took only part of is cut back, so
/// Promtail never ships half a line, and the lines before it stay as they were.
@Suite(.serialized) struct AppendLogTests {
    /// A tmpfs of two pages: the third 3,000-byte line gets the 2,192 bytes left in the second
    /// page (a short write), then ENOSPC.
    @Test func aShortWriteOnAFullDiskIsCutBackToTheLineBefore() throws {
        let tree = try TestTree()
        let mountPoint = tree.root + "/small"
        try TestTree.directory(mountPoint)
        _ = try Tool.sh("mount -t tmpfs -o size=8k,mode=0700 tmpfs \(mountPoint)")
        defer { _ = try? Tool.sh("umount \(mountPoint)") }

        let log = try AppendLog(path: mountPoint + "/metrics.log", mode: 0o644)
        let lines = (0..<3).map { index in String(repeating: Character(String(index)), count: 2_999) + "\n" }
        try log.append(lines[0])
        try log.append(lines[1])
        do {
            try log.append(lines[2])
            Issue.record("the write past the end of the filesystem succeeded")
        } catch {
            #expect(error.code == ENOSPC)
        }
        let content = try String(contentsOfFile: mountPoint + "/metrics.log", encoding: .utf8)
        #expect(content == lines[0] + lines[1])

        // The premise: the kernel does take part of that line (what the cut-back removed).
        let fd = open(mountPoint + "/metrics.log", O_WRONLY | O_APPEND)
        defer { close(fd) }
        let taken = lines[2].utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, 2_999 + 1) }
        #expect(taken == 8_192 - 6_000)
    }
}
