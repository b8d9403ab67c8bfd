// Shared schema checks for records built from a parsed JSONValue (the runner files).
// The value rules themselves (no NUL, timestamps) are `FieldRules`, which the frame decoder
// applies too. Order of checks is fixed so a given input always yields the same code:
//   1. the value is an object                     -> invalid-value
//   2. members in source order: unknown key       -> unknown-field
//                               repeated key      -> duplicate-key (only reachable for
//                               values built in code; the parser already refuses them)
//   3. required fields in declaration order       -> missing-field
//   4. field values in declaration order          -> invalid-value
// Details name only our own field names, kinds and counts, never input text.

enum Schema {
    static func kindName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Matches the members of an object against `names`; returns one slot per name.
    /// `required[i]` says whether names[i] must be present.
    static func fields(
        of json: JSONValue, what: String, names: [String], required: [Bool]
    ) throws(Rejection) -> [JSONValue?] {
        guard case .object(let members) = json else {
            throw Rejection(.invalidValue, "\(what): expected an object, got \(kindName(json))")
        }
        var slots = [JSONValue?](repeating: nil, count: names.count)
        for (index, member) in members.enumerated() {
            // Exact byte comparison: a key canonically equivalent to a field name
            // (Swift's String ==) is still an unknown key.
            guard let i = names.firstIndex(where: { exactlyEqual($0, member.key) }) else {
                throw Rejection(.unknownField,
                                "\(what): member \(index) has an unknown key of \(member.key.utf8.count) bytes")
            }
            guard slots[i] == nil else {
                throw Rejection(.duplicateKey, "\(what): \(names[i]) appears twice")
            }
            slots[i] = member.value
        }
        for (i, name) in names.enumerated() where required[i] && slots[i] == nil {
            throw Rejection(.missingField, name)
        }
        return slots
    }

    /// A record string: a JSON string obeying `FieldRules.recordString` (no U+0000; the
    /// parser already checked the whole file is well-formed UTF-8).
    static func recordString(_ v: JSONValue, field: String) throws(Rejection) -> String {
        guard case .string(let s) = v else {
            throw Rejection(.invalidValue, "\(field): expected a string, got \(kindName(v))")
        }
        try FieldRules.recordString(s.utf8, field: field)
        return s
    }

    /// A timestamp: a JSON number obeying `FieldRules.timestamp`, its sign read from the
    /// lexeme (so "-0" is refused like any negative number).
    static func timestamp(_ v: JSONValue, field: String) throws(Rejection) -> Double {
        guard case .number(let n) = v else {
            throw Rejection(.invalidValue, "\(field): expected a number, got \(kindName(v))")
        }
        return try FieldRules.timestamp(n.value, signed: n.lexeme.utf8.first == UInt8(ascii: "-"), field: field)
    }

    /// Exact member of a closed set of ASCII strings (compared byte for byte).
    static func oneOf<T>(_ s: String, _ options: [(String, T)]) -> T? {
        for (name, value) in options where exactlyEqual(name, s) { return value }
        return nil
    }
}
