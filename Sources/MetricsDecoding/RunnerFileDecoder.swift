// Entry points for the worker: bytes of each runner file in, a record or a Rejection out.
// Every rejection from here names the file it concerns.

/// A set of runner files, one bit each: 0x01 installation start, 0x02 installed, 0x04
/// pre-job, 0x08 post-job (the frame's presence bits for the same files).
public struct RunnerFileSet: Equatable, Sendable {
    public private(set) var bits: UInt8

    public init() { bits = 0 }

    /// nil when `bits` names something that is not a runner file (above 0x0F).
    public init?(bits: UInt8) {
        guard bits & ~Self.allBits == 0 else { return nil }
        self.bits = bits
    }

    static var allBits: UInt8 { 0x0F }

    public var isEmpty: Bool { bits == 0 }
    public var count: Int { bits.nonzeroBitCount }
    public func contains(_ file: RunnerFile) -> Bool { bits & file.bit != 0 }
    public mutating func insert(_ file: RunnerFile) { bits |= file.bit }
    /// The members in the order the files are read and reported.
    public var files: [RunnerFile] { RunnerFile.allCases.filter { contains($0) } }
}

extension RunnerFile {
    /// The file's bit in a `RunnerFileSet`. Written out, not derived from case order, since
    /// the frame carries these bits.
    var bit: UInt8 {
        switch self {
        case .installationStart: 0x01
        case .installed: 0x02
        case .preJob: 0x04
        case .postJob: 0x08
        }
    }
}

public struct RunnerRecord: Equatable, Sendable {
    public var installationStart: Double?
    public var installed: Double?
    public var preJob: PreJobMetrics?
    public var postJob: PostJobMetrics?
    /// Files that were there with 0 bytes: decided as absent, as upstream does (its runner
    /// scripts write `jq ... > file || true`, which leaves an empty file when jq fails). A
    /// file is never both here and present above.
    public var emptyFiles: RunnerFileSet

    public init(installationStart: Double? = nil, installed: Double? = nil,
                preJob: PreJobMetrics? = nil, postJob: PostJobMetrics? = nil,
                emptyFiles: RunnerFileSet = RunnerFileSet()) {
        self.installationStart = installationStart
        self.installed = installed
        self.preJob = preJob
        self.postJob = postJob
        self.emptyFiles = emptyFiles
    }
}

public enum RunnerFileDecoder {
    /// The reader enforces the limit with stat; checking again here keeps the decoder
    /// safe when called on its own (and by tests), at no cost.
    static func checkSize(_ bytes: UnsafeRawBufferPointer, _ file: RunnerFile) throws(Rejection) {
        if bytes.count > runnerFileSizeLimit {
            throw Rejection(.fileTooLarge, file: file, "\(bytes.count) bytes, limit \(runnerFileSizeLimit)")
        }
    }

    public static func decodeTimestamp(_ bytes: UnsafeRawBufferPointer, file: RunnerFile) throws(Rejection) -> Double {
        try checkSize(bytes, file)
        do {
            return try TimestampFile.parse(bytes)
        } catch {
            throw error.attributed(to: file)
        }
    }

    public static func decodePreJob(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> PreJobMetrics {
        try checkSize(bytes, .preJob)
        do {
            return try PreJobMetrics(json: try StrictJSON.parse(bytes))
        } catch {
            throw error.attributed(to: .preJob)
        }
    }

    public static func decodePostJob(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> PostJobMetrics {
        try checkSize(bytes, .postJob)
        do {
            return try PostJobMetrics(json: try StrictJSON.parse(bytes))
        } catch {
            throw error.attributed(to: .postJob)
        }
    }

    /// Decodes whichever files are present (nil = absent), in the fixed order
    /// installation start, installed, pre-job, post-job; the first rejection wins.
    /// Any rejection makes the whole runner corrupt (upstream: no events, quarantine).
    ///
    /// A 0-byte file is absent, noted in `emptyFiles`: upstream decides it exactly as a
    /// missing file, and its own writers leave one when `jq` fails. It cannot carry an attack
    /// (the runner could as well delete the file). The per-file entry points above still
    /// refuse empty input: only here, at the level of a runner's files, is "empty" a decision.
    public static func decodeRecord(
        installationStart: UnsafeRawBufferPointer?, installed: UnsafeRawBufferPointer?,
        preJob: UnsafeRawBufferPointer?, postJob: UnsafeRawBufferPointer?
    ) throws(Rejection) -> RunnerRecord {
        var record = RunnerRecord()
        /// The bytes to decode, or nil for an absent or empty file (an empty one is noted).
        func content(_ bytes: UnsafeRawBufferPointer?, _ file: RunnerFile) -> UnsafeRawBufferPointer? {
            guard let bytes else { return nil }
            if bytes.isEmpty {
                record.emptyFiles.insert(file)
                return nil
            }
            return bytes
        }
        if let b = content(installationStart, .installationStart) {
            record.installationStart = try decodeTimestamp(b, file: .installationStart)
        }
        if let b = content(installed, .installed) { record.installed = try decodeTimestamp(b, file: .installed) }
        if let b = content(preJob, .preJob) { record.preJob = try decodePreJob(b) }
        if let b = content(postJob, .postJob) { record.postJob = try decodePostJob(b) }
        return record
    }
}
