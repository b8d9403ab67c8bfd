import Foundation
import Glibc
import RunnerSupervisor
import WorkerProtocol
import Testing

/// The fork server as it runs: its capabilities, seccomp and no_new_privs, the stacked filters of
/// its workers, and the checks the supervisor makes before it executes the worker binary.
@Suite struct ForkServerTests {
    /// `/proc/PID/status` as a field → value table.
    static func status(_ pid: Int32) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// `/proc/PID/limits` as a name → "soft hard" table.
    static func limits(_ pid: Int32) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8) else { return [:] }
        var table: [String: String] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            // Fixed columns: the name is padded to 26 characters, then soft and hard limits.
            let name = line.prefix(26).trimmingCharacters(in: .whitespaces)
            let values = line.dropFirst(26).split(separator: " ", omittingEmptySubsequences: true).prefix(2)
            table[name] = values.joined(separator: " ")
        }
        return table
    }

    static func children(_ pid: Int32) -> [Int32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// Starts the probe on one runner whose worker spins (the stuck-marker mode, `prefix`
    /// first) and waits until the fork server has a worker for which `ready` holds; returns the
    /// probe and the two pids (0 if none appeared within 5 s). The run ends at the 1 s timeout.
    static func stuckRun(_ tree: TestTree, prefix: String = "",
                         ready: (_ worker: Int32) -> Bool = { _ in true }) throws -> (Process, server: Int32, worker: Int32) {
        try tree.runner("stuck", Sample.complete.merging(["stuck": ""]) { $1 })
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.probe)
        process.arguments = [prefix + "stuck-marker", "small", tree.fs, tree.quarantine, tree.metricsLog, tree.auditLog, tree.state]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var server: Int32 = 0
        var worker: Int32 = 0
        _ = TestTree.waitUntil(5) {
            guard let first = children(process.processIdentifier).first,
                  let grandchild = children(first).first, ready(grandchild) else { return false }
            server = first
            worker = grandchild
            return true
        }
        return (process, server, worker)
    }

    /// A run whose only worker spins (the probe's stuck-marker mode) keeps the fork server and
    /// one worker alive for the 1 s timeout: long enough to read their /proc status. The same
    /// confinement with and without an outer filter (the probe's `outer-filter:` puts itself
    /// under an allow-everything filter first, as systemd's SystemCallFilter= puts the
    /// service): the server's filter and the worker's are always there, one more below them
    /// when there is an outer one.
    @Test(arguments: [false, true])
    func forkServerAndWorkerAreConfinedAsDocumented(outerFilter: Bool) throws {
        let tree = try TestTree()
        let outer = outerFilter ? 1 : 0
        let (process, server, worker) = try Self.stuckRun(tree, prefix: outerFilter ? "outer-filter:" : "") {
            Self.status($0)["Seccomp_filters"] == String(2 + outer)
        }
        defer { process.waitUntilExit() }
        #expect(worker != 0, "no fork server with a confined worker appeared")
        let serverStatus = Self.status(server)
        let workerStatus = Self.status(worker)
        // CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7): nothing else.
        #expect(serverStatus["CapEff"] == "00000000000000e0")
        #expect(serverStatus["CapPrm"] == "00000000000000e0")
        #expect(serverStatus["NoNewPrivs"] == "1")
        // Its own filter, on whatever it inherited.
        #expect(serverStatus["Seccomp"] == "2")
        #expect(serverStatus["Seccomp_filters"] == String(1 + outer))
        #expect(serverStatus["Uid"]?.split(separator: "\t").first == "0")
        // The worker: its own filter on the server's, no capability, its own uid.
        #expect(workerStatus["CapEff"] == "0000000000000000")
        #expect(workerStatus["CapPrm"] == "0000000000000000")
        #expect(workerStatus["Seccomp"] == "2")
        #expect(workerStatus["Seccomp_filters"] == String(2 + outer))
        #expect(workerStatus["NoNewPrivs"] == "1")
        let uid = workerStatus["Uid"]?.split(separator: "\t").first.flatMap { UInt32($0) } ?? 0
        #expect(uid >= 0x7FF0_0000 && uid < 0x7FF0_1000)
        // Its limits: the zero ones inherited from the server, the rest its own.
        let limits = Self.limits(worker)
        for name in ["Max file size", "Max processes", "Max core file size", "Max locked memory", "Max msgqueue size"] {
            #expect(limits[name] == "0 0", "\(name)")
        }
        #expect(limits["Max open files"] == "8 8")
        #expect(limits["Max cpu time"] == "1 2")
        // The descriptor and address-space limits and the empty group list are the server's
        // own, set once before it forked anything; only the CPU and process limits are the
        // worker's.
        let serverLimits = Self.limits(server)
        #expect(serverLimits["Max open files"] == "8 8")
        #expect(serverLimits["Max address space"] == limits["Max address space"])
        #expect(serverLimits["Max address space"]?.hasPrefix("unlimited") == false)
        #expect(serverLimits["Max cpu time"] == "unlimited unlimited")
        #expect(serverLimits["Max processes"] != "0 0")
        #expect(serverStatus["Groups"] == "" && workerStatus["Groups"] == "")
        // The code is the executable's own file mapping (nothing moved or copied at start).
        let maps = try String(contentsOfFile: "/proc/\(server)/maps", encoding: .utf8).split(separator: "\n")
        #expect(maps.filter { $0.contains(" r-xp ") && $0.hasSuffix("/runner-metrics-probe-worker") }.count == 1)
        #expect(!maps.contains { $0.contains("memfd:") })
        process.waitUntilExit()
        #expect(process.terminationStatus == 3)
        #expect(tree.auditLines.count == 1 && tree.auditLines[0].contains(#""reason": "worker-timeout""#))
    }

    /// runner-metrics and runner-metrics-worker copied side by side into a fresh directory.
    static func copyOfTheBinaries(in tree: TestTree) throws -> String {
        let dir = tree.root + "/bin"
        try TestTree.directory(dir)
        try Tool.sh("cp '\(Tool.runnerMetrics)' '\(Tool.productsDirectory.path)/runner-metrics-worker' '\(dir)/'")
        return dir
    }

    /// The supervisor runs the worker binary only if nobody but root could have put it there.
    @Test(arguments: [
        ("group-writable worker", "chmod g+w", "is writable by group or others"),
        ("set-uid worker", "chmod u+s", "is set-uid or set-gid"),
        ("missing worker", "rm -f", "opening"),
        ("worker owned by another user", "chown 65534", "is owned by uid 65534, not root"),
        ("worker is a symlink", "symlink", "opening"),
    ])
    func workerBinaryIsCheckedBeforeItRuns(_ name: String, _ change: String, _ message: String) throws {
        let tree = try TestTree()
        let dir = try Self.copyOfTheBinaries(in: tree)
        let worker = dir + "/runner-metrics-worker"
        if change == "symlink" {
            try Tool.sh("mv '\(worker)' '\(dir)/real-worker' && ln -s real-worker '\(worker)'")
        } else {
            try Tool.sh("\(change) '\(worker)'")
        }
        try tree.runner("r1", Sample.complete)
        let result = try Tool.run(dir + "/runner-metrics", ["extract"] + tree.standardArguments)
        #expect(result.status == 1, "\(name)")
        #expect(result.stderr.contains("cannot start the worker fork server") && result.stderr.contains(message),
                "\(name): \(result.stderr)")
        #expect(tree.metricLines.isEmpty)
        #expect(tree.exists(tree.fs + "/r1/pre-job-metrics.json"), "the runner is left for the next run")
    }

    /// The same copy, untouched, runs: the checks refuse only what they should.
    @Test func workerBinaryCopiedSideBySideRuns() throws {
        let tree = try TestTree()
        let dir = try Self.copyOfTheBinaries(in: tree)
        try tree.runner("r1", Sample.complete)
        let result = try Tool.run(dir + "/runner-metrics", ["extract"] + tree.standardArguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tree.metricLines == [Sample.installedLine, Sample.startLine, Sample.stopLine])
    }
}

/// The worker binary on its own, spawned with a socket on descriptor 3 as the supervisor does,
/// and fed a first packet by hand: it must refuse anything but its own build's configuration.
@Suite struct ForkServerHandshakeTests {
    /// Spawns runner-metrics-worker with 0-2 on /dev/null and 3 on one end of a SEQPACKET pair,
    /// sends `packet`, and returns its exit status once it has ended.
    static func exitStatus(afterSending packet: [UInt8]) throws -> Int32 {
        try exitStatus(afterSending: [packet], awaitingStart: false)
    }

    /// As above with several packets; with `awaitingStart`, reads the server's "started"
    /// (a whole, valid report packet) after the first.
    static func exitStatus(afterSending packets: [[UInt8]], awaitingStart: Bool) throws -> Int32 {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair) == 0)
        defer { close(pair[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        posix_spawn_file_actions_adddup2(&actions, pair[1], 3)
        posix_spawn_file_actions_addclose(&actions, pair[0])
        let path = Tool.productsDirectory.appendingPathComponent("runner-metrics-worker").path
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { free(argv[0]) }
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, [nil])
        close(pair[1])
        #expect(spawned == 0)
        for (index, packet) in packets.enumerated() {
            _ = packet.withUnsafeBytes { send(pair[0], $0.baseAddress, $0.count, 0) }
            if index == 0 && awaitingStart {
                var reply = [UInt8](repeating: 0, count: 1024)
                let n = reply.withUnsafeMutableBytes { recv(pair[0], $0.baseAddress, $0.count, 0) }
                #expect(n > 0 && reply.withUnsafeBytes { ForkServerMessage.batch(UnsafeRawBufferPointer(rebasing: $0[0..<max(0, n)])) }
                        == [ForkServerMessage(.started, tag: 0)], "started")
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        #expect(status & 0x7f == 0, "the worker binary was killed by signal \(status & 0x7f)")
        return (status >> 8) & 0xff
    }

    /// A configure packet as runner-metrics builds it, with each program `programBytes` long
    /// (`ret ALLOW` instructions; never installed: every packet here is refused first) and the
    /// header's revision word replaced by `revision` when given.
    static func configurePacket(revision: Int32? = nil, programBytes: Int = 8) -> [UInt8] {
        let allow: [UInt8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]
        let program = (0..<programBytes).map { allow[$0 % 8] }
        var packet = ForkServerConfiguration(cpuSeconds: 2, addressSpaceHeadroom: 64 << 20, serverFilter: program,
                                             directoryFilter: program,
                                             imageFilter: program).packet
        if let revision {
            for index in 0..<4 { packet[8 + index] = UInt8(truncatingIfNeeded: revision >> (8 * Int32(index))) }
        }
        return packet
    }

    @Test func aWorkerBinaryOfAnotherRevisionRefusesToStart() throws {
        let current = ForkServerConfiguration.revision
        #expect(try Self.exitStatus(afterSending: Self.configurePacket(revision: current - 1)) == ForkServerExit.revision)
        #expect(try Self.exitStatus(afterSending: Self.configurePacket(revision: current + 1)) == ForkServerExit.revision)
    }

    @Test func aMalformedConfigurationIsRefused() throws {
        // This build's revision, but programs that are not whole 8-byte instructions.
        #expect(try Self.exitStatus(afterSending: Self.configurePacket(programBytes: 7)) == ForkServerExit.configuration)
        // Not a configure packet at all: no revision to match.
        #expect(try Self.exitStatus(afterSending: [1, 2, 3]) == ForkServerExit.revision)
    }

    /// The server reports a wake-up's exits in one packet; the supervisor takes a packet only as
    /// a whole number (1 to 64) of messages of known kinds.
    @Test func reportPacketsDecodeOnlyWholeMessagesOfKnownKinds() {
        func packet(_ messages: [[Int32]]) -> [UInt8] {
            messages.flatMap { $0 }.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * Int32($0))) } }
        }
        func decode(_ bytes: [UInt8]) -> [ForkServerMessage]? { bytes.withUnsafeBytes { ForkServerMessage.batch($0) } }
        let exited = ForkServerMessage(.exited, tag: 7, value: 0, extra: 512)
        let failed = ForkServerMessage(.failed, tag: 8, value: EAGAIN)
        #expect(decode(packet([exited.words])) == [exited])
        #expect(decode(packet([exited.words, failed.words, exited.words])) == [exited, failed, exited])
        #expect(decode(packet(Array(repeating: exited.words, count: 64)))?.count == 64)
        #expect(decode(packet(Array(repeating: exited.words, count: 65))) == nil)
        #expect(decode([]) == nil)
        #expect(decode(packet([exited.words]) + [0]) == nil)
        #expect(decode(packet([exited.words, [99, 1, 0, 0]])) == nil)
    }

    /// A request the server cannot take whole (cut short, another size, an unknown kind) is
    /// never dropped: a runner would wait for a report that never comes. The server ends at
    /// once (status 70) and the supervisor, seeing it gone, keeps its runners.
    @Test(arguments: [[UInt8](repeating: 1, count: 5), [UInt8](repeating: 0, count: 17), [99, 0, 0, 0] + [UInt8](repeating: 0, count: 12)])
    func aMalformedRequestEndsTheServer(_ request: [UInt8]) throws {
        let configuration = try WorkerLauncher.configuration(timeout: 1).packet
        #expect(try Self.exitStatus(afterSending: [configuration, request], awaitingStart: true) == 70)
    }
}
