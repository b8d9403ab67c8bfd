// Entry points for the worker: bytes of each runner file in, a record or a Rejection out.
// Every rejection from here names the file it concerns.

public struct RunnerRecord: Equatable, Sendable {
    public var installationStart: Double?
    public var installed: Double?
    public var preJob: PreJobMetrics?
    public var postJob: PostJobMetrics?

    public init(installationStart: Double? = nil, installed: Double? = nil,
                preJob: PreJobMetrics? = nil, postJob: PostJobMetrics? = nil) {
        self.installationStart = installationStart
        self.installed = installed
        self.preJob = preJob
        self.postJob = postJob
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
    public static func decodeRecord(
        installationStart: UnsafeRawBufferPointer?, installed: UnsafeRawBufferPointer?,
        preJob: UnsafeRawBufferPointer?, postJob: UnsafeRawBufferPointer?
    ) throws(Rejection) -> RunnerRecord {
        var record = RunnerRecord()
        if let b = installationStart { record.installationStart = try decodeTimestamp(b, file: .installationStart) }
        if let b = installed { record.installed = try decodeTimestamp(b, file: .installed) }
        if let b = preJob { record.preJob = try decodePreJob(b) }
        if let b = postJob { record.postJob = try decodePostJob(b) }
        return record
    }
}
