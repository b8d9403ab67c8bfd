/// What a host runs: the version (set here, the one place a release changes it) and the
/// commit it was built from (`Plugins/BuildInfo`).
public enum BuildInfo {
    public static let version = "0.9.0"
    public static let commit = buildCommit

    /// `runner-metrics --version`.
    public static var description: String { "runner-metrics \(version) (commit \(commit))" }
}
