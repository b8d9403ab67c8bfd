import Foundation
import Glibc
import RunnerSupervisor
import RunnerWorker
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
    /// one worker alive for the 1 s timeout: long enough to read their /proc status.
    @Test func forkServerAndWorkerAreConfinedAsDocumented() throws {
        let tree = try TestTree()
        let (process, server, worker) = try Self.stuckRun(tree) { Self.status($0)["Seccomp"] == "1" }
        defer { process.waitUntilExit() }
        #expect(worker != 0, "no fork server with a confined worker appeared")
        let serverStatus = Self.status(server)
        let workerStatus = Self.status(worker)
        // CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7): nothing else.
        #expect(serverStatus["CapEff"] == "00000000000000e0")
        #expect(serverStatus["CapPrm"] == "00000000000000e0")
        #expect(serverStatus["NoNewPrivs"] == "1")
        // No filter of its own (the kernel would refuse its workers strict mode under one).
        #expect(serverStatus["Seccomp"] == "0")
        #expect(serverStatus["Seccomp_filters"] == "0")
        #expect(serverStatus["Uid"]?.split(separator: "\t").first == "0")
        // The worker: seccomp strict mode, no capability, its own uid.
        #expect(workerStatus["CapEff"] == "0000000000000000")
        #expect(workerStatus["CapPrm"] == "0000000000000000")
        #expect(workerStatus["Seccomp"] == "1")
        #expect(workerStatus["Seccomp_filters"] == "0")
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
        process.waitUntilExit()
        #expect(process.terminationStatus == 3)
        #expect(tree.auditLines.count == 1 && tree.auditLines[0].contains(#""reason": "worker-timeout""#))
    }

    /// The fork server's code and constants sit on sealed huge pages of a memfd (one page-table
    /// entry per 2 MiB for every worker) unless it runs under a service manager's filter, where
    /// they stay the executable's own file mappings.
    @Test(arguments: [false, true])
    func readOnlySegmentsMoveOntoSealedHugePagesOnlyWithoutAnOuterFilter(outerFilter: Bool) throws {
        let tree = try TestTree()
        let (process, server, worker) = try Self.stuckRun(tree, prefix: outerFilter ? "outer-filter:" : "")
        defer { process.waitUntilExit() }
        #expect(worker != 0, "no fork server with a worker appeared")
        let maps = try String(contentsOfFile: "/proc/\(server)/maps", encoding: .utf8).split(separator: "\n")
        let moved = maps.filter { $0.contains(" /memfd:runner-metrics-text") }
        let binaryCode = maps.filter { $0.contains(" r-xp ") && $0.hasSuffix("/runner-metrics-probe-worker") }
        if outerFilter {
            #expect(moved.isEmpty)
            #expect(binaryCode.count == 1)
            return
        }
        #expect(binaryCode.isEmpty, "code still mapped from the file: \(binaryCode)")
        // Constants first (read-only), then code (read and execute), shared, never writable.
        #expect(moved.count >= 2)
        #expect(moved.first?.split(separator: " ")[1] == "r--s")
        #expect(moved.dropFirst().allSatisfy { $0.split(separator: " ")[1] == "r-xs" })
        let binary = try Data(contentsOf: Tool.productsDirectory.appendingPathComponent("runner-metrics-probe-worker"))
        for line in moved {
            let range = line.split(separator: " ")[0]
            let bounds = range.split(separator: "-").compactMap { UInt64($0, radix: 16) }
            #expect(bounds.count == 2 && bounds[0] % (2 << 20) == 0 && bounds[1] - bounds[0] == 2 << 20, "\(line)")
            guard bounds.count == 2 else { continue }
            // map_files names are unpadded hex. Root reads the memfd through it.
            let path = "/proc/\(server)/map_files/" + bounds.map { String($0, radix: 16) }.joined(separator: "-")
            let file = open(path, O_RDONLY)
            #expect(file >= 0, "\(path)")
            guard file >= 0 else { continue }
            defer { close(file) }
            // Sealed: no write, no resize, no more seals (linux/fcntl.h: F_GET_SEALS is 1034;
            // F_SEAL_SEAL, _SHRINK, _GROW and _WRITE are 1, 2, 4 and 8); mode 0400.
            #expect(fcntl(file, 1034) == 0xf)
            var status = stat()
            #expect(fstat(file, &status) == 0 && status.st_mode & 0o7777 == 0o400)
            let copy = try FileHandle(fileDescriptor: file, closeOnDealloc: false).readToEnd() ?? Data()
            #expect(copy.count == 2 << 20)
            guard copy.count == 2 << 20 else { continue }
            // The bytes are the executable's: every segment's file bytes within the window.
            var compared = 0
            for segment in Self.loadSegments(binary) {
                let from = max(segment.vaddr, bounds[0]), to = min(segment.vaddr + segment.filesz, bounds[1])
                guard from < to else { continue }
                let offset = Int(segment.offset + (from - segment.vaddr)), at = Int(from - bounds[0]), length = Int(to - from)
                #expect(copy[at..<(at + length)] == binary[offset..<(offset + length)])
                compared += length
            }
            #expect(compared > 0, "\(line)")
        }
        // No descriptor of the memfds is left open in the server (nor, so, in any worker).
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server)/fd")) ?? []
        #expect(!descriptors.isEmpty)
        for fd in descriptors {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server)/fd/\(fd)")) ?? ""
            #expect(!target.contains("memfd:"), "fd \(fd) -> \(target)")
        }
        // Each window mapped by one huge page in the server.
        let smaps = try String(contentsOfFile: "/proc/\(server)/smaps", encoding: .utf8)
        let hugeMapped = smaps.split(separator: "\n").filter { $0.hasPrefix("ShmemPmdMapped:") && $0.hasSuffix(" 2048 kB") }
        #expect(hugeMapped.count == moved.count)
    }

    /// The PT_LOAD program headers of an ELF64 little-endian executable.
    static func loadSegments(_ elf: Data) -> [(offset: UInt64, vaddr: UInt64, filesz: UInt64)] {
        func integer<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            elf[at..<(at + MemoryLayout<T>.size)].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        let table = Int(integer(0x20, UInt64.self)), size = Int(integer(0x36, UInt16.self))
        return (0..<Int(integer(0x38, UInt16.self))).compactMap { index in
            let header = elf.startIndex + table + index * size
            guard integer(header, UInt32.self) == 1 else { return nil }  // PT_LOAD
            return (integer(header + 8, UInt64.self), integer(header + 16, UInt64.self), integer(header + 32, UInt64.self))
        }
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
                        == [ForkServerMessage(.started, tag: 0, value: 1)], "started, directory workers in strict mode")
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
