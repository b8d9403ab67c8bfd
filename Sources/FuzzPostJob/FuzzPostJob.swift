// Target: RunnerFileDecoder.decodePostJob.
// Invariants: as for pre-job; an accepted status_info code is an integer lexeme in Int32.
import FuzzSupport
import MetricsDecoding

let pre = PreJobMetrics(workflow: "w", repository: "o/r", event: "push", timestamp: 1_700_000_030, workflowRunID: "1")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = input(data, size)
    switch outcome({ () throws(Rejection) in try RunnerFileDecoder.decodePostJob(bytes) }) {
    case .failure(let r):
        checkRejection(r, file: .postJob, allowed: decoderCodes)
    case .success(let post):
        guard case .success(.object(let members)) = outcome({ () throws(Rejection) in try StrictJSON.parse(bytes) }) else {
            violation("post-job accepted but the document is not a JSON object")
        }
        check(members.count == (post.statusInfoCode == nil ? 2 : 3), "post-job member count")
        checkRecord(RunnerRecord(installed: 1_700_000_000, preJob: pre, postJob: post))
        checkRecord(RunnerRecord(postJob: post))
    }
    return 0
}

@_cdecl("FuzzPostJob_main")
public func FuzzPostJobMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
