import Foundation
import Glibc
import Testing
@testable import RunnerSupervisor

/// The pieces of cleanup that a run cannot be made to reach on demand.
@Suite struct CleanupUnitTests {
    /// Evidence that is not the inode the run looked at is neither moved nor re-owned.
    @Test func quarantineRefusesAnEntryThatIsNotTheOneLookedAt() throws {
        let tree = try TestTree()
        let dir = try tree.runner("swapped", Sample.complete)
        chown(dir, 1234, 1234)
        let other = try #require(EntryIdentity.of(path: tree.images))
        let location = RunnerLocation(name: "swapped", runnerFSDir: tree.fs, imagesDir: tree.images)
        let outcome = Quarantine.move(location, to: tree.quarantine + "/swapped.1", expectedDirectory: other)
        #expect(outcome == .held(place: dir, reason: .entryChanged, detail: "not the inode the run looked at"))
        let status = try #require(Hostile.lstatOf(dir))
        #expect(status.st_uid == 1234 && status.st_mode & 0o7777 == 0o755)
        #expect(tree.quarantined().isEmpty)
        // The same call with the right identity moves it and makes it root's, 0711.
        let own = try #require(EntryIdentity.of(path: dir))
        #expect(Quarantine.move(location, to: tree.quarantine + "/swapped.1", expectedDirectory: own) == .moved(problem: nil))
        let moved = try #require(Hostile.lstatOf(tree.quarantine + "/swapped.1"))
        #expect(moved.st_uid == 0 && moved.st_gid == 0 && moved.st_mode & 0o7777 == 0o711 && moved.st_ino == status.st_ino)
    }

    /// Re-owning goes through the renamed inode: a symlink stays a symlink, re-owned itself,
    /// and its target keeps its owner and mode.
    @Test func reowningASymlinkNeverTouchesItsTarget() throws {
        let tree = try TestTree()
        let target = try OutsideFile(tree.root + "/target")
        #expect(symlink(target.path, tree.fs + "/link") == 0)
        #expect(lchown(tree.fs + "/link", 1234, 1234) == 0)
        let location = RunnerLocation(name: "link", runnerFSDir: tree.fs, imagesDir: tree.images)
        #expect(Quarantine.move(location, to: tree.quarantine + "/link.1") == .moved(problem: nil))
        let moved = try #require(Hostile.lstatOf(tree.quarantine + "/link.1"))
        #expect(moved.st_mode & S_IFMT == S_IFLNK && moved.st_uid == 0)
        target.expectUnchanged()
    }

    /// The registry keeps any name bytes, survives a round trip, drops malformed lines, and
    /// never blocks on a FIFO in its place.
    @Test func heldRegistryRoundTrip() throws {
        let tree = try TestTree()
        try TestTree.directory(tree.state)
        var registry = HeldRegistry(stateDir: tree.state)
        #expect(registry.entries.isEmpty)
        let names: [[UInt8]] = [Array("bad\nname".utf8), [0xff, 0x00, 0x20], Array("runner-1".utf8)]
        for (index, name) in names.enumerated() {
            registry.hold(.init(rawName: name, device: 7, inode: UInt64(100 + index), reason: "invalid-runner-name"))
        }
        try registry.save()
        var again = HeldRegistry(stateDir: tree.state)
        #expect(again.entries.count == 3)
        #expect(again.match(names[1], device: 7, inode: 101)?.reason == "invalid-runner-name")
        // Another inode under the same name: forgotten.
        #expect(again.match(names[2], device: 7, inode: 999) == nil)
        #expect(again.entries.count == 2)
        again.keepOnly([names[0]])
        #expect(Array(again.entries.keys) == [names[0]])
        // Malformed lines are dropped, the rest is kept.
        try (HeldRegistry.hex(names[0]) + " 7 100 r\nzz 1 2 r\n61 x 2 r\n6162 1 2\n").write(toFile: tree.state + "/held", atomically: false, encoding: .utf8)
        #expect(HeldRegistry(stateDir: tree.state).entries.keys.sorted { $0.lexicographicallyPrecedes($1) } == [names[0]])
        // A FIFO in its place is not read (and does not block).
        unlink(tree.state + "/held")
        #expect(mkfifo(tree.state + "/held", 0o600) == 0)
        #expect(HeldRegistry(stateDir: tree.state).entries.isEmpty)
    }
}
