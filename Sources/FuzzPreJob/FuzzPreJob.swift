// Target: RunnerFileDecoder.decodePreJob.
// Invariants: rejections carry a decoder code, file pre-job-metrics.json and a clean detail,
// and survive the frame; an accepted document is also accepted by StrictJSON.parse as an
// object of exactly the five fields, and the record survives the frame and event lines.
import FuzzSupport
import MetricsDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = input(data, size)
    switch outcome({ () throws(Rejection) in try RunnerFileDecoder.decodePreJob(bytes) }) {
    case .failure(let r):
        checkRejection(r, file: .preJob, allowed: decoderCodes)
    case .success(let pre):
        guard case .success(.object(let members)) = outcome({ () throws(Rejection) in try StrictJSON.parse(bytes) }) else {
            violation("pre-job accepted but the document is not a JSON object")
        }
        check(members.count == 5, "pre-job accepted with \(members.count) members")
        checkRecord(RunnerRecord(installed: 1_700_000_000, preJob: pre))
        checkRecord(RunnerRecord(preJob: pre))
    }
    return 0
}

@_cdecl("FuzzPreJob_main")
public func FuzzPreJobMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
