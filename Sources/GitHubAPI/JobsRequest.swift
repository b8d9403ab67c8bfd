// The request for one page of a run's jobs, as bytes on the wire.

public enum JobsRequest {
    /// Jobs per page: GitHub's maximum.
    public static let perPage = 100

    /// `{prefix}/repos/{owner}/{repo}/actions/runs/{id}/jobs?per_page=100&page={page}`. The
    /// repository is in GitHub's syntax (checked on both sides of the pipe), so it needs no escaping.
    public static func path(prefix: String, repository: String, runID: UInt64, page: Int) -> String {
        "\(prefix)/repos/\(repository)/actions/runs/\(runID)/jobs?per_page=\(perPage)&page=\(page)"
    }

    /// The GET request: GitHub's media type and API version, the token as a bearer token,
    /// and a keep-alive connection (the pages of a run, and the next runner, reuse it).
    /// No Accept-Encoding: the body comes as it is, with nothing to decompress.
    public static func bytes(host: String, port: UInt16, defaultPort: UInt16, path: String, token: [UInt8]) -> [UInt8] {
        let hostName = host.utf8.contains(0x3A) ? "[\(host)]" : host
        let authority = port == defaultPort ? hostName : "\(hostName):\(port)"
        var request = Array("GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nAuthorization: Bearer ".utf8)
        request += token
        request += Array(("\r\nAccept: application/vnd.github+json\r\nUser-Agent: runner-metrics\r\n"
            + "X-GitHub-Api-Version: 2022-11-28\r\nConnection: keep-alive\r\n\r\n").utf8)
        return request
    }
}
