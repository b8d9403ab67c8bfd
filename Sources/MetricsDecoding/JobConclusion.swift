// STUB (replaced at merge)
public enum JobConclusion: String, CaseIterable, Sendable {
    case success, failure, neutral, cancelled, skipped
    case timedOut = "timed_out"
    case actionRequired = "action_required"
}
