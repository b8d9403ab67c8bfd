import Foundation
import Glibc
import MetricsDecoding
@testable import RunnerSupervisor
import Testing
import WorkerProtocol

// GitHubEnricher end to end: the real runner-metrics-github (built beside the test binary;
// `swift build` first) against Tests/Support/fake_github.py on loopback, over HTTPS with a CA
// and server certificate made for each test by the openssl tool, verification on. Timeouts
// are asserted by result kind only, never by wall-clock time.

/// The fake API, one per test: its own certificates, port and request log.
final class FakeGitHub {
    let directory: String
    let port: Int
    let tls: Bool
    private let server: Process

    static let script = HardeningSupport.packageRoot + "/Tests/Support/fake_github.py"

    let host: String

    init(tls: Bool = true, host: String = "127.0.0.1") throws {
        self.host = host
        directory = try HardeningSupport.temporaryDirectory()
        self.tls = tls
        let python = try HardeningSupport.tool("python3", package: "python3")
        _ = try HardeningSupport.tool("openssl", package: "openssl")
        if tls {
            let made = try HardeningSupport.run(python, [Self.script, "make-certs", directory + "/certs"])
            guard made.status == 0 else { throw HardeningSupport.Missing(what: "test certificates: \(made.err)") }
        }
        server = Process()
        server.executableURL = URL(fileURLWithPath: python)
        server.arguments = [Self.script, "serve", "--log", directory + "/requests.log", "--host", host]
            + (tls ? ["--cert", directory + "/certs"] : [])
        _ = FileManager.default.createFile(atPath: directory + "/port", contents: nil)
        server.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/port"))
        server.standardError = FileHandle.nullDevice
        try server.run()
        var found: Int?
        for _ in 0..<200 {
            let text = HardeningSupport.read(directory + "/port")
            if text.hasPrefix("PORT "), text.hasSuffix("\n") { found = Int(text.dropFirst(5).dropLast()) }
            if found != nil { break }
            usleep(50_000)
        }
        guard let found else {
            kill(server.processIdentifier, SIGKILL)
            throw HardeningSupport.Missing(what: "the fake GitHub API's port")
        }
        port = found
        try HardeningSupport.write(directory + "/token", "ghp_testtoken0123456789\n", mode: 0o600)
    }

    deinit {
        // SIGKILL: the server inherits the test thread's signal mask, which blocks SIGTERM.
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let token = "ghp_testtoken0123456789"
    var url: String { "\(tls ? "https" : "http")://\(host):\(port)" }
    var caFile: String { directory + "/certs/ca.pem" }
    var otherCAFile: String { directory + "/certs/other-ca.pem" }
    var tokenFile: String { directory + "/token" }

    func settings(timeout: Double = 2, budget: Double = 60, caFile: String? = nil) -> GitHubSettings {
        GitHubSettings(apiURL: url, tokenFile: tokenFile, caFile: tls ? (caFile ?? self.caFile) : nil,
                       requestTimeout: timeout, runBudget: budget)
    }

    struct Request: Equatable {
        var path: String
        var query: String
        var headers: [String: String]
    }

    /// Every request the server received, in order.
    func requests() -> [Request] {
        HardeningSupport.read(directory + "/requests.log").split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let path = object["path"] as? String, let query = object["query"] as? String,
                  let headers = object["headers"] as? [String: String]
            else { return nil }
            return Request(path: path, query: query, headers: headers)
        }
    }

    func pages(of repository: String) -> [String] {
        requests().filter { $0.path.hasPrefix("/repos/\(repository)/") }.map(\.query)
    }
}

/// The binary `name` in the directory of `binary` (the build's products directory). Only the
/// last component changes: the checkout's own path may contain "runner-metrics" too.
func sibling(of binary: String, _ name: String) -> String {
    URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent(name).path
}

func request(_ runner: String, _ scenario: String, run: String = "1") -> EnrichmentRequest {
    EnrichmentRequest(runner: runner, repository: "octo/\(scenario)", workflowRunID: run)
}

func enrich(_ fake: FakeGitHub, _ requests: [EnrichmentRequest], timeout: Double = 2) throws -> [EnrichmentResult] {
    let enricher = try GitHubEnricher(settings: fake.settings(timeout: timeout))
    defer { enricher.finish() }
    return enricher.enrich(requests)
}

let twelveAndAHalf = EnrichmentResult.enriched(queueDuration: Clamped.difference(12.5, 0), conclusion: .success)

@Suite struct GitHubEnrichmentTests {
    @Test func enrichesFromOnePageAndSendsTheTokenAsBearer() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "single", run: "123")]) == [twelveAndAHalf])
        let requests = fake.requests()
        #expect(requests.map(\.path) == ["/repos/octo/single/actions/runs/123/jobs"])
        #expect(requests.map(\.query) == ["per_page=100&page=1"])
        let headers = try #require(requests.first?.headers)
        #expect(headers["Authorization"] == "Bearer \(FakeGitHub.token)")
        #expect(headers["Accept"] == "application/vnd.github+json")
        #expect(headers["User-Agent"] == "runner-metrics")
        #expect(headers["X-GitHub-Api-Version"] == "2022-11-28")
        #expect(headers["Host"] == "127.0.0.1:\(fake.port)")
    }

    @Test func followsThePagesAndAsksExactlyThem() throws {
        let fake = try FakeGitHub()
        // created 03:04:05.25+01:00, started 02:04:07.000001Z: 1.750001 s, computed in microseconds.
        #expect(try enrich(fake, [request("runner-p", "pages")])
            == [.enriched(queueDuration: Clamped.difference(Double(1_750_001) / 1e6, 0), conclusion: .failure)])
        #expect(fake.pages(of: "octo/pages") == ["per_page=100&page=1", "per_page=100&page=2", "per_page=100&page=3"])
    }

    @Test func aRunnerNamedTwiceIsAmbiguous() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-t", "twice")]) == [.failed(.ambiguous)])
        #expect(fake.pages(of: "octo/twice") == ["per_page=100&page=1", "per_page=100&page=2"])
    }

    @Test func noJobForTheRunnerIsNotFound() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "nomatch")]) == [.failed(.notFound)])
    }

    @Test func nullConclusionAndNullRunnerNames() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-n", "nullconclusion"), request("runner-1", "runnernull")])
            == [.enriched(queueDuration: Clamped.difference(12.5, 0), conclusion: nil), twelveAndAHalf])
    }

    @Test func negativeQueueTimeIsClampedToZero() throws {
        let fake = try FakeGitHub()
        let results = try enrich(fake, [request("runner-neg", "negative")])
        #expect(results == [.enriched(queueDuration: Clamped.difference(0, 5), conclusion: .success)])
        guard case .enriched(let queue, _)? = results.first else { return }
        #expect(queue.value == 0 && queue.value.sign == .plus)
    }

    @Test func everyConclusionArrives() throws {
        let fake = try FakeGitHub()
        // The fake answers run id n with GitHub's n-th conclusion (0 and 8: null).
        let results = try enrich(fake, (1...8).map { request("runner-c", "conclusions", run: String($0)) })
        let expected: [JobConclusion?] = [.success, .failure, .neutral, .cancelled, .skipped, .timedOut, .actionRequired, nil]
        #expect(results == expected.map { .enriched(queueDuration: Clamped.difference(12.5, 0), conclusion: $0) })
    }

    @Test func statusesHaveKindsOfTheirOwn() throws {
        let fake = try FakeGitHub()
        let enricher = try GitHubEnricher(settings: fake.settings())
        defer { enricher.finish() }
        let results = enricher.enrich(["s401", "s403", "s404", "s500", "s302"].map { request("runner-1", $0) })
        #expect(results == [.failed(.http401), .failed(.http403), .failed(.http404), .failed(.httpOther), .failed(.httpOther)])
        #expect(enricher.otherStatuses == [500, 302])
    }

    @Test func aServerThatNeverAnswersTimesOutAndTheNextRequestIsServed() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "hang"), request("runner-1", "single")], timeout: 1)
            == [.failed(.timeout), twelveAndAHalf])
    }

    @Test func aSlowDripTimesOut() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "drip")], timeout: 1) == [.failed(.timeout)])
    }

    @Test func anOversizedBodyIsTooLarge() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "huge"), request("runner-1", "single")], timeout: 10)
            == [.failed(.tooLarge), twelveAndAHalf])
    }

    @Test func malformedResponses() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, ["badjson", "duplicatekey", "bothlengths"].map { request("runner-1", $0) })
            == [.failed(.malformed), .failed(.malformed), .failed(.malformed)])
    }

    @Test func moreThanTenPagesIsRefusedAfterTheFirst() throws {
        let fake = try FakeGitHub()
        #expect(try enrich(fake, [request("runner-1", "toomany")]) == [.failed(.tooManyPages)])
        #expect(fake.pages(of: "octo/toomany") == ["per_page=100&page=1"])
    }

    @Test func aServerCertificateFromAnotherCAIsTLSFailed() throws {
        let fake = try FakeGitHub()
        let enricher = try GitHubEnricher(settings: fake.settings(caFile: fake.otherCAFile))
        defer { enricher.finish() }
        #expect(enricher.enrich([request("runner-1", "single")]) == [.failed(.tlsFailed)])
        #expect(fake.requests().isEmpty, "no request is sent over an unverified connection")
    }

    @Test func theSystemBundleDoesNotTrustTheTestCA() throws {
        let fake = try FakeGitHub()
        let settings = GitHubSettings(apiURL: fake.url, tokenFile: fake.tokenFile, requestTimeout: 2)
        let enricher = try GitHubEnricher(settings: settings)
        defer { enricher.finish() }
        #expect(enricher.enrich([request("runner-1", "single")]) == [.failed(.tlsFailed)])
    }

    @Test func theHostNameIsVerified() throws {
        // The certificate names 127.0.0.1, ::1 and localhost, not 127.0.0.2 (also loopback).
        let elsewhere = try FakeGitHub(host: "127.0.0.2")
        let wrongName = try GitHubEnricher(settings: elsewhere.settings())
        defer { wrongName.finish() }
        #expect(wrongName.enrich([request("runner-1", "single")]) == [.failed(.tlsFailed)])
        #expect(elsewhere.requests().isEmpty)
        let fake = try FakeGitHub()
        var settings = fake.settings()
        settings.apiURL = "https://localhost:\(fake.port)"
        let byName = try GitHubEnricher(settings: settings)
        defer { byName.finish() }
        #expect(byName.enrich([request("runner-1", "single")]) == [twelveAndAHalf])
    }

    @Test func plainHTTPOnLoopbackAndConnectionHandling() throws {
        let fake = try FakeGitHub(tls: false)
        #expect(try enrich(fake, [request("runner-1", "single"), request("runner-1", "chunked"), request("runner-1", "close"),
                                  request("runner-1", "close"), request("runner-1", "single")])
            == Array(repeating: twelveAndAHalf, count: 5))
    }

    @Test func nothingListensIsConnectFailed() throws {
        let fake = try FakeGitHub(tls: false)
        var settings = fake.settings()
        settings.apiURL = "http://127.0.0.1:1"
        let enricher = try GitHubEnricher(settings: settings)
        defer { enricher.finish() }
        #expect(enricher.enrich([request("runner-1", "single")]) == [.failed(.connectFailed)])
    }

    @Test func invalidRequestsAreNeverSent() throws {
        let fake = try FakeGitHub()
        let results = try enrich(fake, [
            EnrichmentRequest(runner: "runner-1", repository: "octo/../x", workflowRunID: "1"),
            EnrichmentRequest(runner: "runner-1", repository: "octo/single?page=2", workflowRunID: "1"),
            EnrichmentRequest(runner: "runner-1", repository: "octo/single", workflowRunID: "01"),
            EnrichmentRequest(runner: "runner-1", repository: "octo/single", workflowRunID: "1/../2"),
            EnrichmentRequest(runner: "", repository: "octo/single", workflowRunID: "1"),
            EnrichmentRequest(runner: "runner-1", repository: "octo/single", workflowRunID: "1"),
        ])
        #expect(results == Array(repeating: .failed(.invalidRequest), count: 5) + [twelveAndAHalf])
        #expect(fake.requests().map(\.path) == ["/repos/octo/single/actions/runs/1/jobs"])
    }

    /// The process as the kernel sees it: its own uid and gid, no capability, seccomp filter
    /// mode, no_new_privs, only descriptors 0-2 once started, and the token in neither its
    /// command line nor its environment.
    @Test func theProcessIsConfined() throws {
        let fake = try FakeGitHub()
        let enricher = try GitHubEnricher(settings: fake.settings())
        defer { enricher.finish() }
        let pid = try #require(enricher.processID)
        let status = HardeningSupport.read("/proc/\(pid)/status")
        func field(_ name: String) -> String? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
        }
        let id = GitHubClientIdentity.id
        #expect(field("Uid") == "\(id)\t\(id)\t\(id)\t\(id)")
        #expect(field("Gid") == "\(id)\t\(id)\t\(id)\t\(id)")
        #expect(field("Groups") == "")
        #expect(field("Seccomp") == "2")
        #expect(field("NoNewPrivs") == "1")
        #expect(field("CapEff") == "0000000000000000")
        #expect(field("CapPrm") == "0000000000000000")
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
        #expect(descriptors == [0, 1, 2])
        let cmdline = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        #expect(cmdline == Data("runner-metrics-github\0".utf8))
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
        #expect(environ.isEmpty)
        #expect(cmdline.range(of: Data(FakeGitHub.token.utf8)) == nil && environ.range(of: Data(FakeGitHub.token.utf8)) == nil)
        // Still the same process, and it works.
        #expect(enricher.enrich([request("runner-1", "single")]) == [twelveAndAHalf])
        #expect(enricher.processID == pid)
        // Soft and hard limits, as /proc prints them: "Max open files  4  4  files".
        let limits = HardeningSupport.read("/proc/\(pid)/limits").split(separator: "\n")
        func limit(_ name: String) -> [Substring]? {
            limits.first { $0.hasPrefix(name) }.map { Array($0.dropFirst(name.count).split(separator: " ").prefix(2)) }
        }
        #expect(limit("Max open files") == ["4", "4"])
        #expect(limit("Max processes") == ["0", "0"])
        #expect(limit("Max file size") == ["0", "0"])
        #expect(limit("Max core file size") == ["0", "0"])
        enricher.finish()
        #expect(enricher.termination == .exited(0), "the process exits 0 at the end of its request pipe")
    }

    /// Under a policy without `connect`, the first connection attempt kills the process with
    /// SIGSYS; that request and every later one are `process-failed`.
    @Test func aCallOutsideThePolicyKillsWithSIGSYS() throws {
        let fake = try FakeGitHub()
        let policy = SeccompPolicy(rules: SeccompPolicy.githubClient.rules.filter { $0.name != "connect" })
        let enricher = try GitHubEnricher(settings: fake.settings(), policy: policy, executableName: GitHubEnricher.executableName)
        defer { enricher.finish() }
        #expect(enricher.processID != nil, "it started and confined itself: connect is needed only later")
        #expect(enricher.enrich([request("runner-1", "single"), request("runner-1", "single")])
            == [.failed(.processFailed), .failed(.processFailed)])
        #expect(enricher.termination == .signaled(SIGSYS))
        #expect(fake.requests().isEmpty)
    }

    @Test func theProductionPolicyAllowsNoFilesystemCall() throws {
        let names = Set(SeccompPolicy.githubClient.rules.map(\.name))
        for forbidden in ["open", "openat", "openat2", "creat", "execve", "execveat", "fork", "vfork", "clone", "clone3",
                          "ptrace", "kill", "tgkill", "unlink", "unlinkat", "rename", "mkdir", "stat", "newfstatat",
                          "statx", "fstat", "getdents64", "prctl", "setuid", "setresuid", "ioctl", "bind", "listen",
                          "accept", "accept4", "sendmsg", "recvmsg", "socketpair", "mount"] {
            #expect(!names.contains(forbidden), "\(forbidden) must not be allowed")
        }
        let sockets = SeccompPolicy.githubClient.rules.filter { $0.name == "socket" }.map(\.conditions)
        #expect(sockets == [
            [.equals(index: 0, value: UInt64(AF_INET)), .equals(index: 1, value: 0o2004001), .equals(index: 2, value: 0)],
            [.equals(index: 0, value: UInt64(AF_INET6)), .equals(index: 1, value: 0o2004001), .equals(index: 2, value: 0)],
        ])
        _ = try CompiledFilter(policy: .githubClient)
    }

    /// Once the run budget is spent the process is killed: the request in flight and every
    /// later one are `budget`.
    @Test func aSpentBudgetKillsTheProcess() throws {
        let fake = try FakeGitHub()
        let enricher = try GitHubEnricher(settings: fake.settings(timeout: 20, budget: 3))
        #expect(enricher.processID != nil)
        defer { enricher.finish() }
        #expect(enricher.enrich([request("runner-1", "hang"), request("runner-1", "single")])
            == [.failed(.budget), .failed(.budget)])
        #expect(enricher.termination == .signaled(SIGKILL))
        #expect(enricher.processID == nil)
    }

    @Test func aProcessThatCannotStartFailsEveryRequest() throws {
        let fake = try FakeGitHub()
        let enricher = try GitHubEnricher(settings: fake.settings(), policy: .githubClient,
                                          executableName: "runner-metrics-github-missing")
        #expect(enricher.enrich([request("runner-1", "single"), request("runner-1", "nomatch")])
            == [.failed(.processFailed), .failed(.processFailed)])
        #expect(enricher.failureDescription?.contains("runner-metrics-github-missing") == true)
        #expect(fake.requests().isEmpty)
    }

    @Test func settingsAreRefused() throws {
        let fake = try FakeGitHub()
        func refused(_ settings: GitHubSettings) -> String? {
            do { _ = try GitHubEnricher(settings: settings); return nil } catch { return error.description }
        }
        var settings = fake.settings()
        for url in ["http://example.com", "http://10.0.0.1:80", "ftp://127.0.0.1", "https://user@api.github.com",
                    "https://api.github.com/?x", "https://api.github.com:0", "https://api.github.com:99999",
                    "https://api.github.com/a//b", "https://api.github.com/../x", "https://", "https://a b"] {
            settings.apiURL = url
            #expect(refused(settings) != nil, "\(url)")
        }
        settings = fake.settings()
        chmod(fake.tokenFile, 0o644)
        #expect(refused(settings)?.contains("mode 644") == true)
        chmod(fake.tokenFile, 0o400)
        #expect(refused(settings) == nil)
        let link = fake.directory + "/token-link"
        symlink(fake.tokenFile, link)
        settings.tokenFile = link
        #expect(refused(settings)?.contains("cannot open") == true)
        settings = fake.settings()
        try HardeningSupport.write(fake.directory + "/two-lines", "a\nb\n", mode: 0o600)
        settings.tokenFile = fake.directory + "/two-lines"
        #expect(refused(settings)?.contains("second line") == true)
        try HardeningSupport.write(fake.directory + "/empty", "\n", mode: 0o600)
        settings.tokenFile = fake.directory + "/empty"
        #expect(refused(settings)?.contains("empty") == true)
        settings = fake.settings()
        chmod(fake.caFile, 0o666)
        #expect(refused(settings)?.contains("writable by group or others") == true)
        chmod(fake.caFile, 0o644)
        settings.requestTimeout = 0
        #expect(refused(settings) != nil)
        #expect(APIEndpoint(urlOrNil: "https://GHE.example.com:8443/api/v3/")
            == APIEndpoint(scheme: .https, host: "ghe.example.com", port: 8443, pathPrefix: "/api/v3"))
        #expect(APIEndpoint(urlOrNil: "http://[::1]:8080") == APIEndpoint(scheme: .http, host: "::1", port: 8080, pathPrefix: ""))
        #expect(APIEndpoint(urlOrNil: "https://api.github.com") == APIEndpoint(scheme: .https, host: "api.github.com", port: 443,
                                                                             pathPrefix: ""))
    }

    /// The supervisor's binary links neither OpenSSL nor the response decoders; the GitHub
    /// process links OpenSSL (so the check sees a library when there is one).
    @Test func theSupervisorLinksNoOpenSSLNorTheDecoders() throws {
        let ldd = try HardeningSupport.tool("ldd", package: "libc-bin")
        let nm = try HardeningSupport.tool("nm", package: "binutils")
        let supervisor = try HardeningSupport.binary()
        let client = sibling(of: supervisor, "runner-metrics-github")
        let supervisorLibraries = try HardeningSupport.run(ldd, [supervisor])
        let clientLibraries = try HardeningSupport.run(ldd, [client])
        #expect(supervisorLibraries.status == 0 && clientLibraries.status == 0)
        #expect(!supervisorLibraries.out.contains("libssl") && !supervisorLibraries.out.contains("libcrypto"))
        #expect(clientLibraries.out.contains("libssl.so") && clientLibraries.out.contains("libcrypto.so"))
        let supervisorSymbols = try HardeningSupport.run(nm, [supervisor])
        let clientSymbols = try HardeningSupport.run(nm, [client])
        // GitHubAPI's mangled module name, "9GitHubAPI", in its symbols.
        #expect(supervisorSymbols.status == 0 && !supervisorSymbols.out.contains("9GitHubAPI"))
        #expect(clientSymbols.out.contains("9GitHubAPI"))
    }

    /// The supervisor itself opens no network socket and connects nowhere: traced with
    /// strace -f, every socket and connect call comes from the runner-metrics-github process.
    @Test func theSupervisorMakesNoNetworkCall() throws {
        let fake = try FakeGitHub()
        let strace = try HardeningSupport.tool("strace", package: "strace")
        let probe = sibling(of: try HardeningSupport.binary(), "runner-metrics-github-probe")
        let traces = fake.directory + "/trace"
        let result = try HardeningSupport.run(strace, [
            "-f", "-ff", "-qq", "-e", "trace=socket,connect,execve,execveat", "-o", traces, probe, fake.url, fake.tokenFile,
            fake.caFile, "3", "runner-1,octo/single,1",
        ])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.hasPrefix("enriched 12.5 success\n"))
        var clientTraces = 0, supervisorTraces = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: fake.directory) where name.hasPrefix("trace.") {
            let text = HardeningSupport.read(fake.directory + "/" + name)
            if text.contains("execveat(") && text.contains("[\"runner-metrics-github\"]") {
                clientTraces += 1
                #expect(text.contains("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"), "the trace sees the client's socket")
                #expect(text.contains("connect("))
            } else {
                supervisorTraces += 1
                #expect(!text.contains("socket("), "\(name): \(text)")
                #expect(!text.contains("connect("), "\(name): \(text)")
            }
        }
        #expect(clientTraces == 1)
        #expect(supervisorTraces >= 1)
    }
}

extension GitHubEnrichmentTests {
    /// Root is given up before a byte of the network is read: the name lookup (`localhost`
    /// through nsswitch.conf and /etc/hosts) and the system CA bundle are opened as the
    /// process's own uid, after no_new_privs, and its standard error is /dev/null.
    @Test func theLookupAndTheBundleHappenWithoutRoot() throws {
        let fake = try FakeGitHub()
        let strace = try HardeningSupport.tool("strace", package: "strace")
        let probe = sibling(of: try HardeningSupport.binary(), "runner-metrics-github-probe")
        let traces = fake.directory + "/trace"
        // No CA file: the process reads the system bundle itself (which does not trust the
        // test CA, so the request fails TLS; the order of the calls is what is looked at).
        _ = try HardeningSupport.run(strace, [
            "-f", "-ff", "-qq", "-e", "trace=setresuid,prctl,openat,dup2", "-o", traces, probe,
            "https://localhost:\(fake.port)", fake.tokenFile, "-", "1", "runner-1,octo/single,1",
        ])
        var seen = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: fake.directory) where name.hasPrefix("trace.") {
            let lines = HardeningSupport.read(fake.directory + "/" + name).split(separator: "\n").map(String.init)
            guard let uid = lines.firstIndex(where: { $0.hasPrefix("setresuid(2146435071, 2146435071, 2146435071)") }) else { continue }
            seen += 1
            let noNewPrivs = lines.firstIndex { $0.hasPrefix("prctl(PR_SET_NO_NEW_PRIVS") }
            let hosts = lines.firstIndex { $0.contains("\"/etc/hosts\"") }
            let bundle = lines.firstIndex { $0.contains("\"/etc/ssl/certs/ca-certificates.crt\"") }
            #expect(noNewPrivs.map { $0 > uid } == true, "\(lines)")
            #expect(hosts.map { $0 > (noNewPrivs ?? Int.max) } == true, "the lookup ran before root was given up: \(lines)")
            #expect(bundle.map { $0 > (noNewPrivs ?? Int.max) } == true, "the bundle was read before root was given up: \(lines)")
        }
        #expect(seen == 1, "no trace of runner-metrics-github changing its uid")
    }

    /// A queue of more than 35 days is made up: the process answers malformed, and a frame
    /// claiming one is refused by the supervisor.
    @Test func aQueueLongerThanAWorkflowRunCanLiveIsRefused() {
        let created: Int64 = 1_704_164_645_000_000  // 2024-01-02T03:04:05Z
        let day: Int64 = 86_400_000_000
        #expect(EnrichmentAnswer.plausible(createdAt: created, startedAt: created + 35 * day))
        #expect(!EnrichmentAnswer.plausible(createdAt: created, startedAt: created + 35 * day + 1))
        #expect(EnrichmentAnswer.plausible(createdAt: created, startedAt: created - day))  // skew: clamped later
        let forged = EnrichmentAnswer(tag: 1, kind: .enriched, conclusionCode: 1, createdAt: created,
                                      startedAt: created + 36 * day).frame
        #expect(EnrichmentAnswer(frame: forged) == nil)
    }
}

extension APIEndpoint {
    init?(urlOrNil url: String) {
        guard let endpoint = try? APIEndpoint(url: url) else { return nil }
        self = endpoint
    }
}
