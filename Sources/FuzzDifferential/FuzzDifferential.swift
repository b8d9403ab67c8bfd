// Target: differential, StrictJSON.parse against Foundation's JSONSerialization
// (options .fragmentsAllowed).
//   - every document we accept, Foundation accepts with an equal value (numbers compared as
//     the decoder reads them, as Double; strings scalar by scalar; object members by key);
//   - every document Foundation rejects, we reject;
//   - where we reject and Foundation accepts, the reason must be one of the disagreements
//     below, which are by design (Security/DECODING.md, "Differential fuzzing: accepted
//     disagreements"). Anything else stops the run as a finding.
import Foundation
import FuzzSupport
import MetricsDecoding

/// Why we may refuse what Foundation accepts. Each names the rule that refuses it.
enum AcceptedDisagreement: String, CaseIterable {
    /// I-JSON: duplicate keys have no single reading (Foundation keeps one of them).
    case duplicateKey = "duplicate keys (duplicate-key)"
    /// UTF-8 only, no BOM, no lone surrogate escapes (Foundation detects UTF-16/32, skips a
    /// BOM, and may replace or keep ill-formed sequences): the i_ encoding decisions.
    case encoding = "BOM, non-UTF-8 encodings, ill-formed UTF-8, lone surrogates (invalid-encoding)"
    /// Numbers whose Double is infinite or zero from non-zero digits (invalid-value).
    case numberRange = "number overflow / underflow (invalid-value)"
    /// Nesting deeper than 8 (Foundation allows 512).
    case depth = "nesting deeper than 8 (invalid-json)"
    /// Foundation accepts a trailing comma in arrays and objects; RFC 8259 does not.
    case trailingComma = "trailing comma (invalid-json)"

    static func classify(_ r: Rejection) -> AcceptedDisagreement? {
        switch r.code {
        case .duplicateKey: return .duplicateKey
        case .invalidEncoding: return .encoding
        case .invalidValue: return .numberRange
        case .invalidJSON where r.detail.hasPrefix("nesting deeper than"): return .depth
        case .invalidJSON where r.detail.hasPrefix("trailing comma"): return .trailingComma
        default: return nil
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = input(data, size)
    let ours = outcome { () throws(Rejection) in try StrictJSON.parse(bytes) }
    let theirs: Any? = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    switch (ours, theirs) {
    case (.success(let v), nil):
        violation("we accept, Foundation rejects: \(v)")
    case (.success(let v), let t?):
        if let why = differs(v, t) { violation("both accept, values differ: \(why)") }
    case (.failure(let r), _?):
        if AcceptedDisagreement.classify(r) == nil {
            violation("Foundation accepts, we reject for a reason not on the list: \(r.code.rawValue) \(r.detail)")
        }
    case (.failure, nil):
        break
    }
    return 0
}

/// nil when equal, else what differs.
func differs(_ v: JSONValue, _ t: Any) -> String? {
    switch v {
    case .null:
        return t is NSNull ? nil : "null vs \(type(of: t))"
    case .bool(let b):
        guard let n = t as? NSNumber, isBoolean(n) else { return "bool vs \(type(of: t)) \(t)" }
        return n.boolValue == b ? nil : "bool \(b) vs \(n)"
    case .number(let x):
        guard let n = t as? NSNumber, !isBoolean(n) else { return "number vs \(type(of: t)) \(t)" }
        let d = (n as? NSDecimalNumber).map { Double($0.description) ?? .nan } ?? n.doubleValue
        return d == x.value ? nil : "number \(x.lexeme) = \(x.value) vs Foundation \(n) = \(d)"
    case .string(let s):
        guard let u = t as? String else { return "string vs \(type(of: t))" }
        return Array(s.unicodeScalars) == Array(u.unicodeScalars) ? nil : "string scalars differ"
    case .array(let a):
        guard let u = t as? [Any] else { return "array vs \(type(of: t))" }
        guard a.count == u.count else { return "array count \(a.count) vs \(u.count)" }
        for (x, y) in zip(a, u) { if let why = differs(x, y) { return why } }
        return nil
    case .object(let m):
        guard let u = t as? [String: Any] else { return "object vs \(type(of: t))" }
        // Keys are compared the way Foundation's dictionary does (String ==, canonical
        // equivalence); we keep canonically equivalent but byte-different keys apart, so
        // such an object has fewer entries on Foundation's side: a duplicate-keys case.
        let canonicalKeys = Set(m.map(\.key))
        if canonicalKeys.count != m.count { return canonicalKeys.count == u.count ? nil : "object count" }
        guard m.count == u.count else { return "object count \(m.count) vs \(u.count)" }
        for (k, x) in m {
            guard let y = u[k] else { return "key missing in Foundation's object" }
            guard let ky = u.keys.first(where: { $0 == k }),
                  Array(ky.unicodeScalars) == Array(k.unicodeScalars) else { return "key scalars differ" }
            if let why = differs(x, y) { return why }
        }
        return nil
    }
}

func isBoolean(_ n: NSNumber) -> Bool {
    // corelibs-foundation returns booleans as NSNumber(value: Bool), whose type is "c".
    String(cString: n.objCType) == "c" || n === kCFBooleanTrue || n === kCFBooleanFalse || type(of: n) != NSNumber.self && "\(type(of: n))".contains("Bool")
}

@_cdecl("FuzzDifferential_main")
public func FuzzDifferentialMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
