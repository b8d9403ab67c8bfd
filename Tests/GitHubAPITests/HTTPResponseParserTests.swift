@testable import GitHubAPI
import Testing

// The response parser, fed whole and byte by byte: what it accepts, and the exact refusal of
// everything that could be read two ways or is over a bound.

func parse(_ text: String, maxHeader: Int = 16 << 10, maxBody: Int = 4 << 20, byteByByte: Bool = false)
    -> Result<HTTPResponseParser, HTTPFailure> {
    var parser = HTTPResponseParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody)
    let bytes = Array(text.utf8)
    do throws(HTTPFailure) {
        if byteByByte {
            for byte in bytes { try parser.feed([byte]) }
        } else {
            try parser.feed(bytes)
        }
    } catch {
        return .failure(error)
    }
    return .success(parser)
}

func failure(_ text: String, maxHeader: Int = 16 << 10, maxBody: Int = 4 << 20) -> HTTPFailure? {
    if case .failure(let error) = parse(text, maxHeader: maxHeader, maxBody: maxBody) { return error }
    return nil
}

func isMalformed(_ text: String) -> Bool {
    if case .malformed? = failure(text) { return true }
    return false
}

@Test(arguments: [false, true])
func contentLengthBody(byteByByte: Bool) throws {
    let parser = try parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
                           byteByByte: byteByByte).get()
    #expect(parser.isComplete)
    #expect(parser.head == HTTPResponseHead(status: 200, contentLength: 5, chunked: false, keepAlive: true))
    #expect(parser.body == Array("hello".utf8))
    #expect(parser.excessBytes == 0)
}

@Test(arguments: [false, true])
func chunkedBody(byteByByte: Bool) throws {
    let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n"
    let parser = try parse(text, byteByByte: byteByByte).get()
    #expect(parser.isComplete)
    #expect(parser.head?.chunked == true && parser.head?.contentLength == nil)
    #expect(String(decoding: parser.body, as: UTF8.self) == "hello, world!!!")
}

@Test func incompleteResponsesAreNotComplete() throws {
    #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell").get().isComplete == false)
    #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n").get().head == nil)
    #expect(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").get().isComplete == false)
    #expect(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n").get().isComplete == false)
}

@Test func connectionOptionsAndExcessBytes() throws {
    let closing = try parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n").get()
    #expect(closing.isComplete && closing.head?.keepAlive == false)
    let old = try parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").get()
    #expect(old.head?.keepAlive == false)
    let extra = try parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1").get()
    #expect(extra.body == Array("{}".utf8) && extra.excessBytes == 8)
    let noContent = try parse("HTTP/1.1 204 No Content\r\n\r\n").get()
    #expect(noContent.isComplete && noContent.body.isEmpty)
    let noReason = try parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").get()
    #expect(noReason.head?.status == 404)
    let identity = try parse("HTTP/1.1 200 OK\r\ncontent-encoding: identity\r\ncontent-length: 1\r\n\r\nx").get()
    #expect(identity.body == [0x78])
}

@Test(arguments: [
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",  // both
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",  // both, other order
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",  // duplicate, even equal
    "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\r\n",  // framed by nothing (the connection's end)
    "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",  // bare LF
    "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",  // space before the colon
    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",  // obs-fold
    "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",  // CR inside a line
    "HTTP/1.1 200 OK\r\nX-A: a\u{1}b\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/2 200\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",  // not hex
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n",  // extension
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000005\r\nhello\r\n0\r\n\r\n",  // 9 digits
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",  // empty size
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n",  // no CRLF after the data
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",  // bare LF after the size
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
])
func refusedAsMalformed(text: String) {
    #expect(isMalformed(text), "\(text.debugDescription)")
}

@Test func boundsAreTooLarge() {
    let longHeader = "HTTP/1.1 200 OK\r\nX-Pad: " + String(repeating: "a", count: 2000) + "\r\nContent-Length: 0\r\n\r\n"
    #expect(failure(longHeader, maxHeader: 1024) == .tooLarge)
    #expect((try? parse(longHeader, maxHeader: 4096).get())?.isComplete == true)
    #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n", maxBody: 1024) == .tooLarge)
    #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n") == .malformed("Content-Length is not a decimal number"))
    let chunks = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n" + String(repeating: "a", count: 512)
        + "\r\n201\r\n"
    #expect(failure(chunks, maxBody: 1024) == .tooLarge)
    let exactly = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + String(repeating: "a", count: 1024)
        + "\r\n0\r\n\r\n"
    #expect((try? parse(exactly, maxBody: 1024).get())?.body.count == 1024)
    let trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + String(repeating: "t", count: 2000) + "\r\n\r\n"
    #expect(failure(trailers, maxHeader: 1024) == .tooLarge)
}
