// Target: StrictJSON.parse on arbitrary bytes.
// Invariants: a rejection has a parser-level code, no file, a clean non-empty detail;
// ill-formed UTF-8 (by the stdlib's validator) or a BOM is always invalid-encoding; an
// accepted value nests at most 8 deep, its numbers are finite and agree with their lexeme,
// and written back as JSON it re-parses to the same value.
import FuzzSupport
import MetricsDecoding

let parserCodes: Set<ReasonCode> = [.invalidJSON, .invalidEncoding, .invalidValue, .duplicateKey]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = input(data, size)
    let result = outcome { () throws(Rejection) in try StrictJSON.parse(bytes) }
    let validUTF8 = String(validating: bytes, as: UTF8.self) != nil
    let bom = size >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    switch result {
    case .failure(let r):
        checkRejection(r, file: nil, allowed: parserCodes)
        if !validUTF8 || bom { check(r.code == .invalidEncoding, "ill-formed UTF-8 or BOM gave \(r.code.rawValue)") }
    case .success(let v):
        check(validUTF8 && !bom, "accepted ill-formed UTF-8 or a BOM")
        check(depth(v) <= StrictJSON.maxDepth, "accepted nesting deeper than \(StrictJSON.maxDepth)")
        checkNumbers(v)
        let text = jsonText(v)
        let again = text.withUnsafeBytes { b in outcome { () throws(Rejection) in try StrictJSON.parse(b) } }
        guard case .success(let w) = again else { violation("re-written value does not parse: \(again)") }
        check(w == v, "re-written value parses differently")
    }
    return 0
}

func checkNumbers(_ v: JSONValue) {
    switch v {
    case .number(let n):
        check(n.value.isFinite, "non-finite number accepted")
        check(Double(n.lexeme) == n.value, "number value differs from Double(lexeme)")
        check(n.isInteger == !n.lexeme.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") },
              "isInteger disagrees with the lexeme")
    case .array(let a): a.forEach(checkNumbers)
    case .object(let m): m.forEach { checkNumbers($0.value) }
    default: break
    }
}

@_cdecl("FuzzStrictJSON_main")
public func FuzzStrictJSONMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
