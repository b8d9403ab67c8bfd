// Target: Frame.decode, the supervisor's reading of a (possibly compromised) worker's frame.
// Byte 0 selects the mode:
//   0 mod 4: the rest is the frame as is (header included);
//   1 mod 4: the rest is the payload; a correct "RMF2" + length header is put in front,
//            so the fuzzer spends its time on the layout, not on guessing the length;
//   2 mod 4: the rest seeds a verdict built in code (a record or a worker-reportable
//            rejection) and decode(encode(x)) == x is checked for it;
//   3 mod 4: the rest seeds a verdict built in code; its frame is then changed by the
//            (offset u16, byte) pairs that follow and decoded (near-honest frames: bit flips
//            in timestamps, lengths, tags, string bytes), header length kept correct.
// Invariants: every refusal is protocol-violation with a clean "frame: ..." detail; an
// accepted frame is byte-identical to Frame.encode of what it decoded to (one spelling),
// its rejection (if any) is worker-reportable with a clean detail, its record passes the
// record checks, and decode(encode(x)) == x.
import FuzzSupport
import MetricsDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let all = input(data, size)
    guard let mode = all.first else { return 0 }
    let rest = UnsafeRawBufferPointer(rebasing: all[1...])
    switch mode % 4 {
    case 0:
        decodeAndCheck(rest)
    case 1:
        var frame: [UInt8] = Array("RMF2".utf8)
        let n = UInt32(rest.count)
        frame += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
        frame += rest
        frame.withUnsafeBytes { decodeAndCheck($0) }
    case 2:
        var source = ByteSource(rest)
        let verdict = source.verdict()
        checkFrameRoundTrip(verdict)
        if case .valid(let record) = verdict { checkRecord(record) }
    default:
        var source = ByteSource(rest)
        var frame = Frame.encode(source.verdict())
        while source.pos + 3 <= source.bytes.count, frame.count > 8 {
            let at = 8 + Int(UInt16(source.byte()) << 8 | UInt16(source.byte())) % (frame.count - 8)
            frame[at] = source.byte()
        }
        frame.withUnsafeBytes { decodeAndCheck($0) }
    }
    return 0
}

func decodeAndCheck(_ frame: UnsafeRawBufferPointer) {
    switch outcome({ () throws(Rejection) in try Frame.decode(frame) }) {
    case .failure(let r):
        checkRejection(r, file: nil, allowed: [.protocolViolation])
        check(r.detail.hasPrefix("frame: "), "frame refusal detail does not start with 'frame: '")
    case .success(let verdict):
        check(Frame.encode(verdict).elementsEqual(frame), "accepted frame is not the canonical encoding of its verdict")
        switch verdict {
        case .rejected(let r):
            check(r.code.isWorkerReportable, "accepted a rejection with a supervisor-only code")
            check(isCleanDetail(r.detail), "accepted a rejection with an unclean detail")
            checkFrameRoundTrip(verdict)
        case .valid(let record):
            checkRecord(record)
        }
    }
}

/// Draws values from the fuzz bytes (zeros when they run out).
struct ByteSource {
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    init(_ b: UnsafeRawBufferPointer) { bytes = b }

    mutating func byte() -> UInt8 {
        guard pos < bytes.count else { return 0 }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func u64() -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return v
    }

    /// A timestamp a decoder could produce: finite, >= 0, never -0.0.
    mutating func timestamp() -> Double {
        let d = Double(bitPattern: u64()).magnitude
        return d.isFinite ? d : Double(u64() >> 12)
    }

    /// A string of up to 63 bytes (length from one byte), repaired to valid UTF-8, no NUL.
    mutating func string() -> String {
        let n = Int(byte() & 63)
        var raw: [UInt8] = []
        for _ in 0..<n { raw.append(byte()) }
        let s = String(decoding: raw, as: UTF8.self)
        return String(String.UnicodeScalarView(s.unicodeScalars.filter { $0.value != 0 }))
    }

    mutating func verdict() -> WorkerVerdict {
        let flags = byte()
        if flags & 1 == 1 {
            let codes = ReasonCode.allCases.filter(\.isWorkerReportable)
            let code = codes[Int(byte()) % codes.count]
            let f = byte()
            let file: RunnerFile? = f < 4 * 50 ? fileOrder[Int(f) % 4] : nil
            return .rejected(Rejection(code, file: file, string()))
        }
        var record = RunnerRecord()
        if flags & 2 != 0 { record.installationStart = timestamp() }
        if flags & 4 != 0 { record.installed = timestamp() }
        if flags & 8 != 0 {
            func noLF(_ s: String) -> String { String(String.UnicodeScalarView(s.unicodeScalars.filter { $0 != "\n" })) }
            let owner = noLF(string()), repo = noLF(string())
            let repository = (owner.isEmpty ? "o" : owner) + "/" + (repo.isEmpty ? "r" : repo)
            record.preJob = PreJobMetrics(workflow: string(), repository: repository, event: string(),
                                          timestamp: timestamp(), workflowRunID: string())
        }
        if flags & 16 != 0 {
            let status = JobStatus.allCases[Int(byte()) % JobStatus.allCases.count]
            let code: Int32? = flags & 32 != 0 ? Int32(bitPattern: UInt32(truncatingIfNeeded: u64())) : nil
            record.postJob = PostJobMetrics(timestamp: timestamp(), status: status, statusInfoCode: code)
        }
        if flags & 64 != 0 {
            // 0-byte files: only files that are not present (a decoded record never has both).
            let present: UInt8 = (record.installationStart != nil ? 1 : 0) | (record.installed != nil ? 2 : 0)
                | (record.preJob != nil ? 4 : 0) | (record.postJob != nil ? 8 : 0)
            record.emptyFiles = RunnerFileSet(bits: byte() & 0x0F & ~present) ?? RunnerFileSet()
        }
        return .valid(record)
    }
}

@_cdecl("FuzzFrame_main")
public func FuzzFrameMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
