import Glibc
import MetricsDecoding

/// The body of a worker process: confine, read, decode, answer with one frame, exit.
/// Called by the fork server in the child, with descriptors laid out as
/// `SeccompPolicy.Descriptor` says.
public enum Worker {
    public static func run(sandbox: WorkerSandbox) -> Never {
        if sandbox.apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
        let verdict = readAndDecode(directory: SeccompPolicy.Descriptor.runnerDirectory)
        let frame = Frame.encode(verdict)
        guard writeAll(SeccompPolicy.Descriptor.result, frame) else { _exit(WorkerExit.frameNotWritten) }
        _exit(WorkerExit.verdictWritten)
    }

    /// Room for the four files, one byte over the limit each. Allocated once, in the fork
    /// server's warm-up, so a worker reads into memory it inherited instead of calling malloc.
    nonisolated(unsafe) static let fileBuffers = UnsafeMutableRawBufferPointer.allocate(
        byteCount: (runnerFileSizeLimit + 1) * 4, alignment: 8)

    /// Reads the four files and decodes them. Pure apart from the reads; also used by tests.
    /// Not reentrant (one shared buffer): a worker is single-threaded and reads one runner.
    public static func readAndDecode(directory: Int32) -> WorkerVerdict {
        let slot = runnerFileSizeLimit + 1
        let storage = fileBuffers
        let reader = RunnerFileReader(directory: directory)
        do throws(Rejection) {
            var lengths: [Int?] = []
            for (index, file) in [RunnerFile.installationStart, .installed, .preJob, .postJob].enumerated() {
                let region = UnsafeMutableRawBufferPointer(rebasing: storage[(index * slot)..<((index + 1) * slot)])
                lengths.append(try reader.read(file, into: region))
            }
            func view(_ index: Int) -> UnsafeRawBufferPointer? {
                guard let length = lengths[index] else { return nil }
                return UnsafeRawBufferPointer(rebasing: storage[(index * slot)..<(index * slot + length)])
            }
            let record = try RunnerFileDecoder.decodeRecord(
                installationStart: view(0), installed: view(1), preJob: view(2), postJob: view(3))
            return .valid(record)
        } catch {
            return .rejected(error)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
    }
}

extension Worker {
    /// Runs the decode path once on built-in sample files, in the fork server before it forks
    /// anything. The Swift runtime fills its metadata and conformance caches lazily; done here,
    /// every worker inherits them copy-on-write instead of rebuilding them itself (the zygote
    /// preloading trick). Touches no runner data.
    public static func warmUp() {
        warmUpReader()
        let samples: [String] = [
            "1699999900", "1700000000",
            #"{"workflow": "CI", "repository": "octo/app", "event": "push", "timestamp": 1700000030, "workflow_run_id": "42"}"#,
            #"{"timestamp": 1700000330, "status": "abnormal", "status_info": {"code": 1}}"#,
        ]
        let bytes = samples.map { Array($0.utf8) }
        bytes[0].withUnsafeBytes { start in
            bytes[1].withUnsafeBytes { installed in
                bytes[2].withUnsafeBytes { pre in
                    bytes[3].withUnsafeBytes { post in
                        let verdict: WorkerVerdict
                        do throws(Rejection) {
                            verdict = .valid(try RunnerFileDecoder.decodeRecord(
                                installationStart: start, installed: installed, preJob: pre, postJob: post))
                        } catch {
                            verdict = .rejected(error)
                        }
                        let frame = Frame.encode(verdict)
                        _ = frame.withUnsafeBytes { try? Frame.decode($0) }
                        _ = Frame.encode(.rejected(Rejection(.invalidJSON, file: .preJob, "warm-up")))
                    }
                }
            }
        }
    }
}

extension Worker {
    /// The reader's path too, on a private empty directory that is removed at once (the
    /// descriptor stays valid; every name in it is absent). Skipped if /tmp is not writable.
    static func warmUpReader() {
        var template = Array("/tmp/runner-metrics-warmup-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        rmdir(path)
        guard fd >= 0 else { return }
        _ = readAndDecode(directory: fd)
        close(fd)
    }
}
