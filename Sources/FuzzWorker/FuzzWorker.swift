// Target: the whole worker path, Worker.readAndDecode, on a real runner directory.
// The input is cut like FuzzRecord's (splitFour), but byte 0 holds two bits per file:
//   0 absent, 1 or 2 a regular file with the chunk's bytes, 3 something that is not a plain
//   file, chosen by the chunk's length mod 4: a directory, a symlink, a FIFO, or a regular
//   file with a second hard link.
// The files are written into one private temporary directory per process (removed at exit)
// and the worker reads them through a directory descriptor, as in production (without the
// seccomp filter: the sandbox is not what is fuzzed here).
// Oracle: the reader refuses the first non-plain or over-limit file (in file order) with
// not-regular-file / file-too-large naming that file; otherwise the verdict is exactly what
// RunnerFileDecoder.decodeRecord says for the same bytes. Plus the rejection and record checks.
import FuzzSupport
import Glibc
import MetricsDecoding
import RunnerWorker

nonisolated(unsafe) var directoryPath: String = ""
nonisolated(unsafe) var directoryFD: Int32 = -1

func setUp() {
    var template = Array("/tmp/runner-metrics-fuzz-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { violation("mkdtemp failed: errno \(errno)") }
    directoryPath = String(cString: p)
    directoryFD = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directoryFD >= 0 else { violation("open temp dir failed") }
    atexit {
        clearDirectory()
        rmdir(directoryPath)
    }
}

let auxName = "aux-hardlink-target"

func remove(_ name: String) {
    if unlinkat(directoryFD, name, 0) != 0 && (errno == EISDIR || errno == EPERM) {
        _ = unlinkat(directoryFD, name, AT_REMOVEDIR)
    }
}

func clearDirectory() {
    for f in fileOrder { remove(f.rawValue) }
    remove(auxName)
}

func writeFile(_ name: String, _ bytes: UnsafeRawBufferPointer) {
    let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard fd >= 0 else { violation("cannot create \(name): errno \(errno)") }
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        guard n > 0 else { violation("write failed: errno \(errno)") }
        off += n
    }
    close(fd)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if directoryFD < 0 { setUp() }
    let (mask, chunks) = splitFour(input(data, size))
    guard chunks.count == 4 else { return 0 }
    clearDirectory()
    var readerRefusal: (RunnerFile, ReasonCode)?
    var present: [UnsafeRawBufferPointer?] = [nil, nil, nil, nil]
    for (i, file) in fileOrder.enumerated() {
        let kind = (mask >> (2 * i)) & 3
        let chunk = chunks[i]
        switch kind {
        case 0:
            continue
        case 1, 2:
            writeFile(file.rawValue, chunk)
            present[i] = chunk
            if chunk.count > runnerFileSizeLimit && readerRefusal == nil { readerRefusal = (file, .fileTooLarge) }
        default:
            switch chunk.count % 4 {
            case 0: check(mkdirat(directoryFD, file.rawValue, 0o755) == 0, "mkdirat")
            case 1: check(symlinkat(auxName, directoryFD, file.rawValue) == 0, "symlinkat")
            case 2: check(mkfifoat(directoryFD, file.rawValue, 0o644) == 0, "mkfifoat")
            default:
                writeFile(auxName, chunk)
                check(linkat(directoryFD, auxName, directoryFD, file.rawValue, 0) == 0, "linkat")
            }
            if readerRefusal == nil { readerRefusal = (file, .notRegularFile) }
        }
    }
    let verdict = Worker.readAndDecode(directory: directoryFD)
    if let (file, code) = readerRefusal {
        guard case .rejected(let r) = verdict else { violation("reader accepted a \(code.rawValue) file \(file.rawValue)") }
        check(r.code == code && r.file == file, "expected \(code.rawValue) for \(file.rawValue), got \(r.code.rawValue) \(String(describing: r.file))")
        checkRejection(r, file: file, allowed: [code])
        return 0
    }
    let expected = outcome { () throws(Rejection) in
        try RunnerFileDecoder.decodeRecord(installationStart: present[0], installed: present[1],
                                           preJob: present[2], postJob: present[3])
    }
    switch (verdict, expected) {
    case (.valid(let a), .success(let b)):
        check(a == b, "worker record differs from the in-memory decode")
        checkRecord(a)
    case (.rejected(let a), .failure(let b)):
        check(a == b, "worker rejection differs from the in-memory decode: \(a) vs \(b)")
        checkRejection(a, file: a.file, allowed: decoderCodes.union([.invalidTimestamp]))
        check(a.file != nil, "worker rejection names no file")
    default:
        violation("worker verdict \(verdict) but in-memory decode \(expected)")
    }
    return 0
}

@_cdecl("FuzzWorker_main")
public func FuzzWorkerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
