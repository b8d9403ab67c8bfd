// Target: RunnerFileDecoder.decodeTimestamp (both .timestamp files share it).
// Oracle: an independent reading of the documented grammar ^(0|[1-9][0-9]*)(\.[0-9]+)?\n?$
// plus the stdlib's correctly rounded Double(_:) must agree with the decoder on accept/reject
// and on the value; rejections are invalid-timestamp (file-too-large over 1024 bytes) and
// name the file; an accepted value survives the frame and the event lines.
import FuzzSupport
import MetricsDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = input(data, size)
    let file: RunnerFile = size % 2 == 0 ? .installed : .installationStart
    let result = outcome { () throws(Rejection) in try RunnerFileDecoder.decodeTimestamp(bytes, file: file) }
    let expected = oracle(bytes)
    switch result {
    case .failure(let r):
        checkRejection(r, file: file, allowed: [.invalidTimestamp, .fileTooLarge])
        check((r.code == .fileTooLarge) == (size > runnerFileSizeLimit), "file-too-large iff over the limit")
        check(expected == nil, "decoder refused a timestamp the grammar accepts (\(String(describing: expected)))")
    case .success(let v):
        check(expected == v, "decoder read \(v), oracle \(String(describing: expected))")
        checkRecord(RunnerRecord(installationStart: file == .installationStart ? v : nil, installed: v))
    }
    return 0
}

/// nil when the bytes are not a timestamp file.
func oracle(_ b: UnsafeRawBufferPointer) -> Double? {
    guard b.count <= runnerFileSizeLimit else { return nil }
    var s = Array(b)
    if s.last == 0x0A { s.removeLast() }
    let digit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
    let parts = s.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
    let intPart = parts[0]
    guard !intPart.isEmpty, intPart.allSatisfy(digit), intPart.count == 1 || intPart.first != 0x30 else { return nil }
    if parts.count == 2 { guard !parts[1].isEmpty, parts[1].allSatisfy(digit) else { return nil } }
    guard let v = Double(String(decoding: s, as: UTF8.self)), v.isFinite else { return nil }
    if v == 0 && s.contains(where: { $0 >= 0x31 && $0 <= 0x39 }) { return nil } // underflow
    return v
}

@_cdecl("FuzzTimestamp_main")
public func FuzzTimestampMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
