import Glibc
import MetricsDecoding

/// Where a worker's runner data is: a directory (mounted image or plain directory) or, after
/// a reboot, an unmounted image file read from userspace.
public enum RunnerSource: Int32, Sendable {
    case directory = 0
    case image = 1
}

/// The two confinements, one per source; they differ only in their seccomp policy.
public struct WorkerSandboxes: Sendable {
    public var directory: WorkerSandbox
    public var image: WorkerSandbox

    public init(directory: WorkerSandbox, image: WorkerSandbox) {
        self.directory = directory
        self.image = image
    }
}

/// The body of a worker process: confine, read, decode, answer with one frame, exit.
/// Called by the fork server in the child, with descriptors laid out as
/// `SeccompPolicy.Descriptor` says.
public enum Worker {
    public static func run(_ source: RunnerSource, sandboxes: WorkerSandboxes, slot: Int32) -> Never {
        let descriptor = SeccompPolicy.Descriptor.runnerDirectory
        let verdict: WorkerVerdict
        switch source {
        case .directory:
            // Opening by fixed name happens between the two stages: unprivileged, with
            // no_new_privs, before the filter that then allows no open at all. No runner byte
            // is read until the filter is on.
            let sandbox = sandboxes.directory.forSlot(slot)
            if sandbox.confine() != nil { _exit(WorkerExit.sandboxSetupFailed) }
            let opened = openAll(directory: descriptor)
            if sandbox.lockDown() != nil { _exit(WorkerExit.sandboxSetupFailed) }
            announceConfined()
            verdict = decodeFiles { index, file, buffer throws(Rejection) in
                switch opened[index] {
                case .success(nil): return nil
                case .success(let fd?): return try RunnerFileReader.read(fd, file, into: buffer)
                case .failure(let rejection): throw rejection
                }
            }
        case .image:
            if sandboxes.image.forSlot(slot).apply() != nil { _exit(WorkerExit.sandboxSetupFailed) }
            announceConfined()
            verdict = readAndDecode(image: descriptor)
        }
        let frame = Frame.encode(verdict)
        guard writeAll(SeccompPolicy.Descriptor.result, frame) else { _exit(WorkerExit.frameNotWritten) }
        _exit(WorkerExit.verdictWritten)
    }

    /// Written to the result pipe once the filter is on and before the first runner byte is
    /// read. From then on the worker may be compromised, so the supervisor judges every ending
    /// after the marker as the runner's doing — including the "sandbox setup failed" status,
    /// which only a worker without the marker may use to say "not the runner's fault".
    public static let confinedMarker: UInt8 = 0x2A

    /// Writes the marker; a worker that cannot is ended as a setup failure (nothing read yet).
    public static func announceConfined() {
        var marker = confinedMarker
        guard write(SeccompPolicy.Descriptor.result, &marker, 1) == 1 else { _exit(WorkerExit.sandboxSetupFailed) }
    }

    /// The four runner files in the order they are read and reported.
    public static let files: [RunnerFile] = [.installationStart, .installed, .preJob, .postJob]

    /// Opens each file (or records why not), stopping at the first refusal: later files are
    /// never touched once the runner is already rejected.
    static func openAll(directory: Int32) -> [Result<Int32?, Rejection>] {
        let reader = RunnerFileReader(directory: directory)
        var opened: [Result<Int32?, Rejection>] = []
        for file in files {
            do throws(Rejection) { opened.append(.success(try reader.open(file))) } catch {
                opened.append(.failure(error))
                break
            }
        }
        return opened
    }

    /// Room for the four files, one byte over the limit each. Allocated once, in the fork
    /// server's warm-up, so a worker reads into memory it inherited instead of calling malloc.
    nonisolated(unsafe) static let fileBuffers = UnsafeMutableRawBufferPointer.allocate(
        byteCount: (runnerFileSizeLimit + 1) * 4, alignment: 8)

    /// Reads the four files with `read` (nil: absent) into the shared buffers and decodes them.
    /// Not reentrant (one shared buffer): a worker is single-threaded and reads one runner.
    static func decodeFiles(
        _ read: (Int, RunnerFile, UnsafeMutableRawBufferPointer) throws(Rejection) -> Int?
    ) -> WorkerVerdict {
        let slot = runnerFileSizeLimit + 1
        let storage = fileBuffers
        do throws(Rejection) {
            var lengths: [Int?] = []
            for (index, file) in files.enumerated() {
                let region = UnsafeMutableRawBufferPointer(rebasing: storage[(index * slot)..<((index + 1) * slot)])
                lengths.append(try read(index, file, region))
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

    /// Reads the four files of a runner directory and decodes them, with no sandbox in
    /// between (tests, fuzzing, warm-up).
    public static func readAndDecode(directory: Int32) -> WorkerVerdict {
        let reader = RunnerFileReader(directory: directory)
        return decodeFiles { _, file, buffer throws(Rejection) in try reader.read(file, into: buffer) }
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
