import MetricsDecoding

/// Writes a parsed value back as JSON text (numbers by their lexeme, strings with the
/// mandatory escapes only, objects in source order). Re-parsing it must give the same value.
public func jsonText(_ v: JSONValue) -> [UInt8] {
    var out: [UInt8] = []
    func str(_ s: String) {
        out.append(0x22)
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
    func go(_ v: JSONValue) {
        switch v {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n): out += Array(n.lexeme.utf8)
        case .string(let s): str(s)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() { if i > 0 { out.append(UInt8(ascii: ",")) }; go(e) }
            out.append(UInt8(ascii: "]"))
        case .object(let m):
            out.append(UInt8(ascii: "{"))
            for (i, e) in m.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                str(e.key); out.append(UInt8(ascii: ":")); go(e.value)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
    go(v)
    return out
}

/// Container nesting depth (a scalar is 0).
public func depth(_ v: JSONValue) -> Int {
    switch v {
    case .array(let a): return 1 + (a.map(depth).max() ?? 0)
    case .object(let m): return 1 + (m.map { depth($0.value) }.max() ?? 0)
    default: return 0
    }
}
