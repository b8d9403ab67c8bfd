// Target: RunnerFileDecoder.decodeRecord over four files cut from the input (see splitFour).
// Invariants: the outcome equals decoding the present files one by one in the fixed order
// (first rejection wins); rejections as for the single decoders; an accepted record survives
// the frame and the event lines.
import FuzzSupport
import MetricsDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let (mask, chunks) = splitFour(input(data, size))
    guard chunks.count == 4 else { return 0 }
    func present(_ i: Int) -> UnsafeRawBufferPointer? { mask & (1 << i) != 0 ? chunks[i] : nil }
    let result = outcome { () throws(Rejection) in
        try RunnerFileDecoder.decodeRecord(installationStart: present(0), installed: present(1),
                                           preJob: present(2), postJob: present(3))
    }
    // The same, one decoder at a time; a 0-byte file is absent and noted as empty.
    let stepwise = outcome { () throws(Rejection) -> RunnerRecord in
        var r = RunnerRecord()
        for (i, file) in [RunnerFile.installationStart, .installed, .preJob, .postJob].enumerated()
        where present(i)?.isEmpty == true { r.emptyFiles.insert(file) }
        func nonEmpty(_ i: Int) -> UnsafeRawBufferPointer? { present(i).flatMap { $0.isEmpty ? nil : $0 } }
        if let b = nonEmpty(0) { r.installationStart = try RunnerFileDecoder.decodeTimestamp(b, file: .installationStart) }
        if let b = nonEmpty(1) { r.installed = try RunnerFileDecoder.decodeTimestamp(b, file: .installed) }
        if let b = nonEmpty(2) { r.preJob = try RunnerFileDecoder.decodePreJob(b) }
        if let b = nonEmpty(3) { r.postJob = try RunnerFileDecoder.decodePostJob(b) }
        return r
    }
    check(result == stepwise, "decodeRecord differs from the per-file decoders")
    switch result {
    case .failure(let r):
        checkRejection(r, file: r.file, allowed: decoderCodes.union([.invalidTimestamp]))
        check(r.file != nil, "record rejection names no file")
    case .success(let record):
        checkRecord(record)
    }
    return 0
}

@_cdecl("FuzzRecord_main")
public func FuzzRecordMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
