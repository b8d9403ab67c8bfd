// The value model of the strict parser.
//
// Equality is exact, never "Unicode-smart": Swift's `String ==` treats canonically
// equivalent strings as equal (e.g. "\u{212A}" KELVIN SIGN == "K"), which would give two
// different byte sequences one meaning and break "one reading of the bytes". Strings and
// keys are therefore compared scalar by scalar (via their UTF-8 bytes).

public struct JSONNumber: Equatable, Sendable {
    /// Exact source text, e.g. "1.50e3". ASCII only (the grammar admits nothing else).
    public let lexeme: String
    /// The correctly rounded Double; always finite, and non-zero unless the mantissa is zero.
    public let value: Double
    /// No fraction and no exponent in the lexeme.
    public let isInteger: Bool

    // Not public: numbers come only from the parser, so lexeme and value always agree.
    init(lexeme: String, value: Double, isInteger: Bool) {
        self.lexeme = lexeme
        self.value = value
        self.isInteger = isInteger
    }
}

public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    /// Members in source order; the parser guarantees unique keys (compared exactly).
    case object([(key: String, value: JSONValue)])

    /// Structural equality: same kinds, strings equal byte for byte, arrays and objects
    /// element by element in order (object member order is part of the reading).
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case let (.bool(a), .bool(b)):
            return a == b
        case let (.number(a), .number(b)):
            return a == b
        case let (.string(a), .string(b)):
            return exactlyEqual(a, b)
        case let (.array(a), .array(b)):
            return a == b
        case let (.object(a), .object(b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where !exactlyEqual(x.key, y.key) || x.value != y.value {
                return false
            }
            return true
        default:
            return false
        }
    }
}

/// Scalar-exact string equality (see the file comment for why not `==`).
@inline(__always)
func exactlyEqual(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}

/// A String wrapper whose identity is its exact UTF-8 bytes, for duplicate-key sets.
struct ExactKey: Hashable {
    let text: String

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        exactlyEqual(lhs.text, rhs.text)
    }

    func hash(into hasher: inout Hasher) {
        // Swift's Hasher is SipHash with a per-process seed, so attacker-chosen keys
        // cannot be crafted to collide (no hash-flooding of the duplicate check).
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }
}
