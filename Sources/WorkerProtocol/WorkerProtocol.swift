// What the supervisor and the worker side agree on: descriptor numbers, exit statuses, the
// confinement marker, worker identities, and the fork server's messages. A target of its own
// that links nothing, used by the supervisor (as WorkerProtocol) and compiled into the embedded
// worker binary (as WorkerProtocolEmbedded), so the two sides cannot drift apart and the
// supervisor carries none of the worker's readers.

/// Descriptors a worker is handed by the fork server; the seccomp policy pins them.
public enum WorkerDescriptor {
    /// The write end of the result pipe.
    public static let result: Int32 = 1
    /// /dev/null, so a runtime fatal-error message goes nowhere instead of into the host's logs.
    public static let diagnostics: Int32 = 2
    /// The runner's directory (O_DIRECTORY|O_NOFOLLOW) or its image (O_RDONLY|O_NOFOLLOW),
    /// opened by the supervisor.
    public static let runnerDirectory: Int32 = 3
    /// RLIMIT_NOFILE: descriptors 0...7 exist at most, so "fd < 8" is a cheap mask test.
    public static let limit: Int32 = 8
}

/// The fork server's control socket: the descriptor the supervisor execs it with (0-2 are /dev/null).
public enum ForkServerDescriptor {
    public static let control: Int32 = 3
}

/// Where a worker's runner data is: a directory (mounted image or plain directory) or, after
/// a reboot, an unmounted image file read from userspace.
public enum RunnerSource: Int32, Sendable {
    case directory = 0
    case image = 1
}

/// Exit statuses a worker uses on purpose. Anything else is a crash.
public enum WorkerExit {
    public static let verdictWritten: Int32 = 0
    /// Confinement could not be applied: a host problem, raised before any runner byte is read.
    public static let sandboxSetupFailed: Int32 = 71
    /// The result pipe refused the frame.
    public static let frameNotWritten: Int32 = 74
}

/// Exit statuses of the fork server itself, so the supervisor can say why it did not start.
public enum ForkServerExit {
    public static let execFailed: Int32 = 127
    public static let configuration: Int32 = 65
    public static let seccomp: Int32 = 66
    public static let capabilities: Int32 = 67
    public static let revision: Int32 = 68
    public static let setID: Int32 = 69
    public static let limits: Int32 = 71
    public static let childSignals: Int32 = 72
    public static let heap: Int32 = 73

    public static func describe(_ status: Int32) -> String {
        switch status {
        case execFailed: return "could not be executed"
        case configuration: return "refused its configuration"
        case seccomp: return "could not set up seccomp (no_new_privs, its mode, or its own filter)"
        case capabilities: return "could not drop its capabilities"
        case revision: return "is from another build of runner-metrics (protocol revision mismatch: install both binaries from one build)"
        case setID: return "is set-id, which it must not be"
        case heap: return "could not reserve the heap its workers allocate from under their filter"
        case limits: return "could not set the resource limits and groups every worker inherits"
        case childSignals: return "could not set up the signal descriptor it learns of exited workers from"
        default: return "exited with status \(status)"
        }
    }
}

/// Written to the result pipe once the filter is on and before the first runner byte is
/// read. From then on the worker may be compromised, so the supervisor judges every ending
/// after the marker as the runner's doing — including the "sandbox setup failed" status,
/// which only a worker without the marker may use to say "not the runner's fault".
public enum ConfinementMarker {
    public static let byte: UInt8 = 0x2A
}

/// Worker uids and gids: 0x7FF00000 + (slot mod 4096). Below 2^31 (some tools mishandle larger
/// ids), far above distribution, systemd-dynamic and container sub-id ranges, and never
/// mapped to an account. Concurrent workers get different ids (at most 4 × --jobs are alive).
public enum WorkerIdentity {
    public static let base: UInt32 = 0x7FF0_0000
    public static let count: Int32 = 4096

    public static func id(forSlot slot: Int32) -> UInt32 {
        base + UInt32(truncatingIfNeeded: ((slot % count) + count) % count)
    }
}

/// Fixed-size messages on the fork server's SOCK_SEQPACKET socket:
///   supervisor → server: configure (once, first; payload below), spawn(tag, source) carrying
///                        [runner directory or image, result pipe write end], kill(tag)
///   server → supervisor: started(0) once configured and confined; failed(tag, errno);
///                        exited(tag, wait status, peak RSS in KiB)
/// A successful spawn is not reported: the supervisor needs nothing from it. The server sends
/// what one wake-up produced (every worker it reaped, every spawn that failed) as one packet of
/// up to `reportsPerPacket` messages back to back, so a busy run costs the supervisor one
/// wake-up per batch of exits, not one per worker.
public struct ForkServerMessage: Equatable, Sendable {
    public enum Kind: Int32, Sendable {
        case spawn = 1, kill = 2, started = 3, failed = 4, exited = 5, configure = 6
    }
    public var kind: Kind
    public var tag: Int32
    public var value: Int32
    /// exited: the worker's peak resident set in KiB (wait4's ru_maxrss).
    public var extra: Int32

    public static let size = 16
    /// The most messages one server → supervisor packet holds.
    public static let reportsPerPacket = 64

    public var words: [Int32] { [kind.rawValue, tag, value, extra] }

    public init(_ kind: Kind, tag: Int32, value: Int32 = 0, extra: Int32 = 0) {
        self.kind = kind
        self.tag = tag
        self.value = value
        self.extra = extra
    }

    public init?(_ words: [Int32]) {
        guard words.count == 4, let kind = Kind(rawValue: words[0]) else { return nil }
        self.init(kind, tag: words[1], value: words[2], extra: words[3])
    }

    /// The messages of one packet: nil unless it is a whole number (1 to `reportsPerPacket`)
    /// of valid messages.
    public static func batch(_ packet: UnsafeRawBufferPointer) -> [ForkServerMessage]? {
        let count = packet.count / size
        guard count >= 1, count <= reportsPerPacket, packet.count == count * size else { return nil }
        func word(_ index: Int, _ word: Int) -> Int32 {
            let offset = index * size + word * 4
            var value: UInt32 = 0
            for byte in (0..<4).reversed() { value = value << 8 | UInt32(packet[offset + byte]) }
            return Int32(bitPattern: value)
        }
        var messages: [ForkServerMessage] = []
        messages.reserveCapacity(count)
        for index in 0..<count {
            guard let kind = Kind(rawValue: word(index, 0)) else { return nil }
            messages.append(ForkServerMessage(kind, tag: word(index, 1), value: word(index, 2), extra: word(index, 3)))
        }
        return messages
    }
}

/// The fork server's one-time configuration, sent by the supervisor as the first packet:
/// the message header (kind configure, value the protocol revision), then little-endian Int64 fields
///   cpu seconds, address-space headroom bytes, and the lengths of the three BPF programs
///   (fork server, directory worker, image worker), then the three programs.
/// The supervisor compiles the policies with libseccomp; the server only copies the bytes. The
/// server installs its own filter on itself before it forks anything, and every worker stacks
/// its own on top.
public struct ForkServerConfiguration: Equatable, Sendable {
    public var cpuSeconds: Int
    public var addressSpaceHeadroom: Int
    /// Installed by the server on itself before its first fork; inherited by every worker.
    public var serverFilter: [UInt8]
    public var directoryFilter: [UInt8]
    public var imageFilter: [UInt8]

    /// The supervisor and the worker binary must come from one build: the supervisor compiles
    /// the seccomp policies the worker's code must live within, and both speak this protocol.
    /// Bump it whenever the protocol, the policies or the system calls a worker makes change;
    /// a server of another revision exits with `ForkServerExit.revision` before forking.
    public static let revision: Int32 = 9

    static let fieldCount = 5
    /// A classic BPF program has at most 4096 instructions of 8 bytes.
    static let maxProgram = 4096 * 8
    /// Largest packet accepted: the header, the fields and three programs of maximum size.
    public static let maxPacket = ForkServerMessage.size + 8 * fieldCount + 3 * maxProgram

    public init(cpuSeconds: Int, addressSpaceHeadroom: Int, serverFilter: [UInt8], directoryFilter: [UInt8],
                imageFilter: [UInt8]) {
        self.cpuSeconds = cpuSeconds
        self.addressSpaceHeadroom = addressSpaceHeadroom
        self.serverFilter = serverFilter
        self.directoryFilter = directoryFilter
        self.imageFilter = imageFilter
    }

    public var packet: [UInt8] {
        var bytes: [UInt8] = []
        for word in ForkServerMessage(.configure, tag: 0, value: Self.revision).words {
            Self.append(Int64(word), into: &bytes, width: 4)
        }
        for field in [cpuSeconds, addressSpaceHeadroom, serverFilter.count, directoryFilter.count, imageFilter.count] {
            Self.append(Int64(field), into: &bytes, width: 8)
        }
        return bytes + serverFilter + directoryFilter + imageFilter
    }

    /// Nil unless the packet is exactly a configure header, the fields and the three programs,
    /// each a non-empty whole number of 8-byte BPF instructions.
    public init?(packet: UnsafeRawBufferPointer) {
        let base = ForkServerMessage.size
        let programs = base + 8 * Self.fieldCount
        guard packet.count >= programs, Self.revision(of: packet) == Self.revision else { return nil }
        let cpu = Self.field(packet, at: base, width: 8)
        let headroom = Self.field(packet, at: base + 8, width: 8)
        let lengths = (2..<Self.fieldCount).map { Self.field(packet, at: base + 8 * $0, width: 8) }
        guard cpu > 0, cpu < 86_400, headroom > 0, headroom < (1 << 40),
              lengths.allSatisfy({ $0 > 0 && $0 % 8 == 0 && $0 <= Int64(Self.maxProgram) }),
              packet.count == programs + lengths.reduce(0, { $0 + Int($1) })
        else { return nil }
        var cuts: [Int] = [programs]
        for length in lengths { cuts.append((cuts.last ?? programs) + Int(length)) }
        self.init(cpuSeconds: Int(cpu), addressSpaceHeadroom: Int(headroom),
                  serverFilter: Array(packet[cuts[0]..<cuts[1]]),
                  directoryFilter: Array(packet[cuts[1]..<cuts[2]]),
                  imageFilter: Array(packet[cuts[2]..<cuts[3]]))
    }

    /// The revision a configure packet carries (its header's value word), or nil.
    public static func revision(of packet: UnsafeRawBufferPointer) -> Int32? {
        guard packet.count >= ForkServerMessage.size,
              field(packet, at: 0, width: 4) == Int64(ForkServerMessage.Kind.configure.rawValue)
        else { return nil }
        return Int32(truncatingIfNeeded: field(packet, at: 8, width: 4))
    }

    private static func append(_ value: Int64, into bytes: inout [UInt8], width: Int) {
        for index in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * Int64(index)))) }
    }

    private static func field(_ packet: UnsafeRawBufferPointer, at offset: Int, width: Int) -> Int64 {
        var value: Int64 = 0
        for index in (0..<width).reversed() { value = (value << 8) | Int64(packet[offset + index]) }
        if width == 4 { value = Int64(Int32(truncatingIfNeeded: value)) }
        return value
    }
}
