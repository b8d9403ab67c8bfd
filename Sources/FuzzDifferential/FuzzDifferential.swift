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

    /// Not a refusal but a value difference: Foundation reads integers beyond Int64 as
    /// Decimal, which keeps 38 significant digits and drops the rest, so its Double can be
    /// a few ulps off; the decoder's Double is the correctly rounded one (checked in
    /// FuzzStrictJSON against the stdlib). Allowed only for lexemes of more than 38
    /// significant digits, and only within 1e-15 relative.
    case decimalPrecision = "Foundation's 38-digit Decimal for long numbers (value, not refusal)"

    /// Not a refusal but a value difference (a Foundation bug, found by this target): a raw
    /// (unescaped) U+FEFF at the start of a string, or right after an escape sequence, is
    /// missing from Foundation's string: it builds strings from UTF-8 runs and skips a
    /// "BOM" at the start of each run. We keep the scalar. Allowed only when the strings are
    /// equal once U+FEFF is removed and Foundation's holds fewer of them.
    case droppedFEFF = "Foundation drops U+FEFF at the start of a string or after an escape (value, not refusal)"

    /// Foundation guesses UTF-16/UTF-32 from NUL bytes among the first four (RFC 4627
    /// section 3) and decodes the text that way; we read UTF-8 only, where those NULs are
    /// not JSON (invalid-json) or the rest is ill-formed (invalid-encoding).
    case otherEncoding = "UTF-16 / UTF-32 detected by Foundation from NUL bytes (invalid-json / invalid-encoding)"

    static func classify(_ r: Rejection, _ bytes: UnsafeRawBufferPointer) -> AcceptedDisagreement? {
        if bytes.prefix(4).contains(0) && (r.code == .invalidJSON || r.code == .invalidEncoding) { return .otherEncoding }
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
        if AcceptedDisagreement.classify(r, bytes) == nil {
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
        guard isBoolean(t), let n = t as? Bool else { return "bool vs \(type(of: t)) \(t)" }
        return n == b ? nil : "bool \(b) vs \(n)"
    case .number(let x):
        guard let d = doubleValue(t) else { return "number vs \(type(of: t)) \(t)" }
        if d != x.value && isDecimal(t) && significantDigits(x.lexeme) > 38
            && abs(d - x.value) <= abs(x.value) * 1e-15 {
            return nil // AcceptedDisagreement.decimalPrecision
        }
        return d == x.value ? nil : "number \(x.lexeme) = \(x.value) vs Foundation \(type(of: t)) \(t) = \(d)"
    case .string(let s):
        guard let u = t as? String else { return "string vs \(type(of: t))" }
        return sameAsFoundation(s, u) ? nil : "string scalars differ"
    case .array(let a):
        guard let u = t as? [Any] else { return "array vs \(type(of: t))" }
        guard a.count == u.count else { return "array count \(a.count) vs \(u.count)" }
        for (x, y) in zip(a, u) { if let why = differs(x, y) { return why } }
        return nil
    case .object(let m):
        guard let u = t as? [String: Any] else { return "object vs \(type(of: t))" }
        // Keys are compared the way Foundation's dictionary does (String ==, canonical
        // equivalence); we keep canonically equivalent but byte-different keys apart, so
        // such an object may have fewer entries on Foundation's side: a duplicate-keys case.
        // Foundation's dropped U+FEFFs (droppedFEFF) can make keys equivalent too. Only a
        // count that differs is explained that way: "a" and "a\u{FEFF}" (a U+FEFF Foundation
        // keeps) are two members on both sides, compared one by one below.
        if m.count != u.count {
            let canonicalKeys = Set(m.map { String(String.UnicodeScalarView($0.key.unicodeScalars.filter { $0 != "\u{FEFF}" })) })
            return canonicalKeys.count == u.count ? nil : "object count \(m.count) vs \(u.count)"
        }
        for (k, x) in m {
            // The same key first ("a\u{FEFF}" is not "a" to Foundation's dictionary either),
            // then one that lost a U+FEFF on Foundation's side.
            guard let y = u[k] ?? u.first(where: { sameAsFoundation(k, $0.key) })?.value else {
                return "key missing in Foundation's object"
            }
            if let why = differs(x, y) { return why }
        }
        return nil
    }
}

/// Scalar-exact equality, allowing only Foundation's loss of U+FEFF scalars.
func sameAsFoundation(_ ours: String, _ theirs: String) -> Bool {
    let a = Array(ours.unicodeScalars), b = Array(theirs.unicodeScalars)
    if a == b { return true }
    // AcceptedDisagreement.droppedFEFF: the same scalars once U+FEFFs are removed, and
    // Foundation's side holds fewer of them (it only ever drops, never adds).
    let feff: Unicode.Scalar = "\u{FEFF}"
    return a.filter { $0 != feff } == b.filter { $0 != feff }
        && b.filter { $0 == feff }.count < a.filter { $0 == feff }.count
}

func isDecimal(_ t: Any) -> Bool { t is Decimal || t is NSDecimalNumber }

/// Digits of the mantissa without leading zeros (trailing zeros count: they are digits
/// Decimal has to hold).
func significantDigits(_ lexeme: String) -> Int {
    var n = 0
    var leading = true
    for b in lexeme.utf8 {
        if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { break }
        guard b >= 0x30 && b <= 0x39 else { continue }
        if leading && b == 0x30 { continue }
        leading = false
        n += 1
    }
    return n
}

func isBoolean(_ t: Any) -> Bool {
    if t is Bool && !(t is NSNumber) { return true }
    // corelibs-foundation hands out booleans as NSNumber(value: Bool), whose type is "c".
    if let n = t as? NSNumber { return String(cString: n.objCType) == "c" }
    return false
}

/// The value of a Foundation number as a Double (its NSDecimalNumber, Int or Double form).
func doubleValue(_ t: Any) -> Double? {
    if isBoolean(t) { return nil }
    // Decimal first: an NSDecimalNumber also bridges to Double, through its doubleValue,
    // which is not correctly rounded; its exact digits read by Double(_:) are.
    if let n = t as? NSDecimalNumber { return Double(n.description) }
    if let dec = t as? Decimal { return Double(dec.description) }
    switch t {
    case let d as Double: return d
    case let i as Int: return Double(i)
    case let u as UInt64: return Double(u)
    case let i as Int64: return Double(i)
    case let dec as Decimal: return Double(dec.description)
    case let n as NSDecimalNumber: return Double(n.description)
    case let n as NSNumber: return n.doubleValue
    default: return nil
    }
}

@_cdecl("FuzzDifferential_main")
public func FuzzDifferentialMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
