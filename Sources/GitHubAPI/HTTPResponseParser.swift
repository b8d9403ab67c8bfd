// An HTTP/1.1 response parser for the answers of one API server, fed bytes as they arrive.
//
// Strict where leniency would give one byte stream two readings (RFC 9112 section 6.3,
// request smuggling's response-side cousins): a body is framed by exactly one Content-Length
// or by chunked coding, never both, never by the connection's end; a repeated Content-Length
// or Transfer-Encoding, a coding other than chunked, a chunk extension, a folded header line,
// whitespace before a colon or a bare LF are all refused. Bounded: the header section and the
// body each have a byte limit, checked before anything is kept, and every byte is looked at a
// bounded number of times.

/// Why a response was refused.
public enum HTTPFailure: Error, Equatable, Sendable {
    /// The header section or the body is over its limit.
    case tooLarge
    /// Anything else: a response the parser will not guess about.
    case malformed(String)
}

/// The status line and the framing-relevant header fields of a response.
public struct HTTPResponseHead: Equatable, Sendable {
    public var status: Int
    /// nil with chunked coding, or for a status that has no body.
    public var contentLength: Int?
    public var chunked: Bool
    /// False after `Connection: close` or from an HTTP/1.0 server.
    public var keepAlive: Bool
}

public struct HTTPResponseParser: Sendable {
    public let maxHeaderBytes: Int
    public let maxBodyBytes: Int
    public private(set) var head: HTTPResponseHead?
    public private(set) var body: [UInt8] = []
    /// Bytes that arrived after the response was complete (a server that sends them cannot
    /// have its connection reused).
    public private(set) var excessBytes = 0

    enum State: Sendable {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers(bytes: Int)
        case done
    }

    var state: State = .head
    /// The incomplete header section, chunk-size line or trailer line.
    var pending: [UInt8] = []

    public init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes `bytes`; throws on the first byte that makes the response invalid or too large.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPFailure) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .done:
                excessBytes += bytes.count - index
                return
            case .head:
                index = try consumeHead(bytes, from: index)
            case .fixed(let remaining):
                let take = min(remaining, bytes.count - index)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                state = remaining == take ? .done : .fixed(remaining: remaining - take)
            case .chunkSize:
                let byte = bytes[index]
                index += 1
                try chunkSizeByte(byte)
            case .chunkData(let remaining):
                let take = min(remaining, bytes.count - index)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                state = remaining == take ? .chunkEnd : .chunkData(remaining: remaining - take)
            case .chunkEnd:
                pending.append(bytes[index])
                index += 1
                if pending.count == 2 {
                    guard pending == [0x0D, 0x0A] else { throw .malformed("chunk data not followed by CRLF") }
                    pending.removeAll(keepingCapacity: true)
                    state = .chunkSize
                }
            case .trailers(let count):
                let byte = bytes[index]
                index += 1
                try trailerByte(byte, count: count + 1)
            }
        }
    }

    public mutating func feed(_ bytes: [UInt8]) throws(HTTPFailure) {
        let failure: HTTPFailure? = bytes.withUnsafeBytes { buffer in
            do throws(HTTPFailure) { try feed(buffer) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    // MARK: - The header section

    /// Appends to the header section up to and including CRLF CRLF, then parses it.
    private mutating func consumeHead(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(HTTPFailure) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            guard pending.count < maxHeaderBytes else { throw .tooLarge }
            pending.append(byte)
            let n = pending.count
            if byte == 0x0A {
                guard n >= 2, pending[n - 2] == 0x0D else { throw .malformed("bare LF in the header section") }
                if n >= 4, pending[n - 3] == 0x0A, pending[n - 4] == 0x0D {
                    let section = pending
                    pending.removeAll(keepingCapacity: true)
                    try parseHead(section)
                    return index
                }
            }
        }
        return index
    }

    private mutating func parseHead(_ section: [UInt8]) throws(HTTPFailure) {
        // Lines without their CRLF; the last two are the empty line's.
        var lines = section.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.dropLast() }
        lines.removeLast(2)
        guard let statusLine = lines.first else { throw .malformed("no status line") }
        for line in lines where line.contains(0x0D) { throw .malformed("CR inside a header line") }
        let (status, http10) = try Self.parseStatusLine(Array(statusLine))
        var contentLength: Int?
        var chunked = false, sawTransferEncoding = false, close = http10
        for line in lines.dropFirst() {
            let (name, value) = try Self.parseField(Array(line))
            switch name {
            case "content-length":
                guard contentLength == nil else { throw .malformed("more than one Content-Length") }
                guard (1...10).contains(value.count), value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .malformed("Content-Length is not a decimal number")
                }
                var length = 0
                for digit in value { length = length * 10 + Int(digit - 0x30) }
                contentLength = length
            case "transfer-encoding":
                guard !sawTransferEncoding else { throw .malformed("more than one Transfer-Encoding") }
                sawTransferEncoding = true
                guard Self.lowercased(value) == Array("chunked".utf8) else {
                    throw .malformed("a transfer coding other than chunked")
                }
                chunked = true
            case "content-encoding":
                guard Self.lowercased(value) == Array("identity".utf8) else {
                    throw .malformed("a content coding (none was asked for)")
                }
            case "connection":
                for option in value.split(separator: 0x2C) {
                    if Self.lowercased(Self.trimmed(Array(option))) == Array("close".utf8) { close = true }
                }
            default:
                break
            }
        }
        guard !(chunked && contentLength != nil) else { throw .malformed("both Content-Length and Transfer-Encoding") }
        var head = HTTPResponseHead(status: status, contentLength: contentLength, chunked: chunked, keepAlive: !close)
        if status == 204 || status == 304 {
            head.contentLength = nil
            head.chunked = false
            self.head = head
            state = .done
            return
        }
        if chunked {
            self.head = head
            state = .chunkSize
            return
        }
        guard let length = contentLength else {
            throw .malformed("a body framed by neither Content-Length nor chunked coding")
        }
        guard length <= maxBodyBytes else { throw .tooLarge }
        self.head = head
        body.reserveCapacity(length)
        state = length == 0 ? .done : .fixed(remaining: length)
    }

    /// "HTTP/1.1 200 OK" (or HTTP/1.0; the reason phrase may be empty or absent); 1xx refused
    /// (nothing was asked that a 1xx answers).
    static func parseStatusLine(_ line: [UInt8]) throws(HTTPFailure) -> (status: Int, http10: Bool) {
        let v11 = Array("HTTP/1.1 ".utf8), v10 = Array("HTTP/1.0 ".utf8)
        guard line.count >= 12 else { throw .malformed("short status line") }
        let version = Array(line[0..<9])
        guard version == v11 || version == v10 else { throw .malformed("not an HTTP/1.x status line") }
        let digits = line[9..<12]
        guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .malformed("status code is not 3 digits") }
        let status = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        guard line.count == 12 || line[12] == 0x20 else { throw .malformed("status code not followed by a space") }
        guard line.dropFirst(12).allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .malformed("control byte in the reason phrase")
        }
        guard (200...599).contains(status) else { throw .malformed("status \(status)") }
        return (status, version == v10)
    }

    /// "name: value": a token name (lowercased on return), no whitespace before the colon, no
    /// folding, a value of visible bytes, spaces and tabs, trimmed.
    static func parseField(_ line: [UInt8]) throws(HTTPFailure) -> (name: String, value: [UInt8]) {
        guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { throw .malformed("header line without a name") }
        let name = line[..<colon]
        guard name.allSatisfy(isTokenByte) else { throw .malformed("invalid header name (or a folded line)") }
        let value = trimmed(Array(line[(colon + 1)...]))
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .malformed("control byte in a header value")
        }
        return (String(decoding: lowercased(Array(name)), as: UTF8.self), value)
    }

    /// RFC 9110 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var slice = bytes[...]
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return Array(slice)
    }

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    }

    // MARK: - Chunked coding

    /// A chunk-size line: 1 to 8 hex digits and CRLF, no extension, no whitespace.
    private mutating func chunkSizeByte(_ byte: UInt8) throws(HTTPFailure) {
        if byte != 0x0A {
            guard pending.count < 9 else { throw .malformed("chunk size line too long") }
            pending.append(byte)
            return
        }
        guard pending.last == 0x0D else { throw .malformed("chunk size line not ended by CRLF") }
        let digits = pending.dropLast()
        guard (1...8).contains(digits.count) else { throw .malformed("chunk size of \(digits.count) digits") }
        var size = 0
        for digit in digits {
            let value: Int
            switch digit {
            case 0x30...0x39: value = Int(digit - 0x30)
            case 0x41...0x46: value = Int(digit - 0x41 + 10)
            case 0x61...0x66: value = Int(digit - 0x61 + 10)
            default: throw .malformed("chunk size is not hexadecimal (or has an extension)")
            }
            size = size * 16 + value
        }
        pending.removeAll(keepingCapacity: true)
        if size == 0 {
            state = .trailers(bytes: 0)
            return
        }
        guard size <= maxBodyBytes - body.count else { throw .tooLarge }
        state = .chunkData(remaining: size)
    }

    /// Trailer fields after the last chunk, ignored but held to the header limit and syntax;
    /// the empty line ends the response.
    private mutating func trailerByte(_ byte: UInt8, count: Int) throws(HTTPFailure) {
        guard count <= maxHeaderBytes else { throw .tooLarge }
        state = .trailers(bytes: count)
        pending.append(byte)
        guard byte == 0x0A else { return }
        guard pending.count >= 2, pending[pending.count - 2] == 0x0D else { throw .malformed("bare LF in the trailers") }
        let line = Array(pending.dropLast(2))
        pending.removeAll(keepingCapacity: true)
        if line.isEmpty {
            state = .done
            return
        }
        guard !line.contains(0x0D) else { throw .malformed("CR inside a trailer line") }
        _ = try Self.parseField(line)
    }
}
