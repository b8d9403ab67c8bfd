import CSandboxShim
#if hasFeature(Embedded)
import MetricsDecodingEmbedded
import WorkerProtocolEmbedded
#else
import MetricsDecoding
import WorkerProtocol
#endif

/// The two confinements, one per source; they differ only in their seccomp policy.
public struct WorkerSandboxes: Sendable {
    public var directory: WorkerSandbox
    public var image: WorkerSandbox

    public init(directory: WorkerSandbox, image: WorkerSandbox) {
        self.directory = directory
        self.image = image
    }
}

extension WorkerExit {
    /// Ends a worker with `status` by the exit system call, with nothing run before it (no
    /// atexit handler, no stdio flush: calls the directory filter does not allow).
    public static func end(_ status: Int32) -> Never { rm_exit_thread(status) }
}

/// The body of a worker process: confine, read, decode, answer with one frame, exit.
/// Called by the fork server in the child, with descriptors laid out as
/// `WorkerDescriptor` says.
public enum Worker {
    public static func run(_ source: RunnerSource, sandboxes: WorkerSandboxes, slot: Int32) -> Never {
        let descriptor = WorkerDescriptor.runnerDirectory
        let verdict: WorkerVerdict
        switch source {
        case .directory:
            // Opening by fixed name happens between the two stages: unprivileged, with
            // no_new_privs, before the filter, which then allows no open at all (only read,
            // write to the pipe, and the ways to end). No runner byte is read until it is on.
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
        guard writeAll(WorkerDescriptor.result, frame) else { WorkerExit.end(WorkerExit.frameNotWritten) }
        WorkerExit.end(WorkerExit.verdictWritten)
    }

    /// Writes the marker; a worker that cannot is ended as a setup failure (nothing read yet).
    public static func announceConfined() {
        var marker = ConfinementMarker.byte
        guard write(WorkerDescriptor.result, &marker, 1) == 1 else { WorkerExit.end(WorkerExit.sandboxSetupFailed) }
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

    /// Room for the four files, one byte over the limit each. Allocated once, by the fork
    /// server before it forks anything, so a worker reads into memory it inherited.
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
    /// between (tests, fuzzing).
    public static func readAndDecode(directory: Int32) -> WorkerVerdict {
        let reader = RunnerFileReader(directory: directory)
        return decodeFiles { _, file, buffer throws(Rejection) in try reader.read(file, into: buffer) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && rm_errno() == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
    }
}
