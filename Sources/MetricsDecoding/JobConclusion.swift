// A job's conclusion as the GitHub API reports it (the `conclusion` member of a workflow job),
// which the supervisor prints in `runner_stop` lines.

/// GitHub's values for a workflow job's `conclusion`; a job with none (`null`: still queued or
/// running) has no `JobConclusion`. The raw values are GitHub's strings, byte for byte.
public enum JobConclusion: String, CaseIterable, Sendable {
    case success
    case failure
    case neutral
    case cancelled
    case skipped
    case timedOut = "timed_out"
    case actionRequired = "action_required"

    /// The one-byte code the GitHub process's answer frame carries (0 is "no conclusion").
    public var code: UInt8 {
        switch self {
        case .success: return 1
        case .failure: return 2
        case .neutral: return 3
        case .cancelled: return 4
        case .skipped: return 5
        case .timedOut: return 6
        case .actionRequired: return 7
        }
    }

    /// The conclusion a frame's code stands for: `.some(nil)` for 0 (none), nil for a code no
    /// conclusion has (the frame is then refused).
    public static func decode(code: UInt8) -> JobConclusion?? {
        switch code {
        case 0: return .some(nil)
        case 1: return .success
        case 2: return .failure
        case 3: return .neutral
        case 4: return .cancelled
        case 5: return .skipped
        case 6: return .timedOut
        case 7: return .actionRequired
        default: return nil
        }
    }

    /// The conclusion GitHub's string names, compared byte for byte (never Unicode-equivalent).
    public init?(exactly text: String) {
        for candidate in JobConclusion.allCases where exactlyEqual(candidate.rawValue, text) {
            self = candidate
            return
        }
        return nil
    }
}
