import CSandboxShim
import Glibc
import MetricsDecoding
import WorkerProtocol

// The supervisor's side of the GitHub enrichment (Security/GITHUB_API.md): which job of a workflow run a
// runner took, how long it queued and how it concluded. The supervisor never parses a network
// byte, as it never parses a runner byte: runner-metrics-github does HTTPS and JSON as an
// unprivileged, seccomp-confined process, and answers each request with one fixed frame of
// `EnrichmentAnswer.size` bytes that this side validates again. The supervisor links neither
// OpenSSL nor the response decoders (`GitHubAPI`).

/// One runner to look up: its name and the run its pre-job metrics name.
public struct EnrichmentRequest: Sendable, Equatable {
    public var runner: String
    /// "owner/repo".
    public var repository: String
    /// The workflow run id, in decimal.
    public var workflowRunID: String

    public init(runner: String, repository: String, workflowRunID: String) {
        self.runner = runner
        self.repository = repository
        self.workflowRunID = workflowRunID
    }
}

public enum EnrichmentResult: Sendable, Equatable {
    /// `queue_duration` (started_at - created_at in seconds, clamped at 0) and `job_conclusion`.
    case enriched(queueDuration: Clamped, conclusion: JobConclusion?)
    /// Both fields are left out of the event.
    case failed(EnrichmentFailure)
}

/// Why a runner was not enriched.
public enum EnrichmentFailure: String, CaseIterable, Sendable {
    case notFound = "not-found"
    /// More than one job of the run names the runner: refused, never guessed.
    case ambiguous
    case http401 = "http-401"
    case http403 = "http-403"
    case http404 = "http-404"
    case httpOther = "http-other"
    case timeout
    case tooLarge = "too-large"
    case malformed
    case connectFailed = "connect-failed"
    case tlsFailed = "tls-failed"
    case tooManyPages = "too-many-pages"
    /// The repository or the run id is not in GitHub's syntax: nothing was sent.
    case invalidRequest = "invalid-request"
    /// The run's budget was spent.
    case budget
    /// The run was stopped (SIGTERM) while it asked.
    case interrupted
    /// The process could not start, died, overran its deadline or sent a bad frame.
    case processFailed = "process-failed"

    init(_ kind: EnrichmentAnswer.Kind) {
        switch kind {
        case .enriched: self = .malformed  // unreachable: an enriched answer is not a failure
        case .notFound: self = .notFound
        case .ambiguous: self = .ambiguous
        case .http401: self = .http401
        case .http403: self = .http403
        case .http404: self = .http404
        case .httpOther: self = .httpOther
        case .timeout: self = .timeout
        case .tooLarge: self = .tooLarge
        case .malformed: self = .malformed
        case .connectFailed: self = .connectFailed
        case .tlsFailed: self = .tlsFailed
        case .tooManyPages: self = .tooManyPages
        }
    }
}

/// The enrichment of one run: starts runner-metrics-github once, then asks it for each
/// runner in turn. Not thread-safe: one run, one caller.
public final class GitHubEnricher {
    public static let executableName = "runner-metrics-github"
    /// How long the process has beyond its own request deadline to send its `timeout` answer.
    static let answerGrace = 2.0
    /// How long the process may take to start, read its configuration and confine itself.
    static let startTimeout = 10.0

    enum State {
        case running(ClientProcess)
        /// The process could not start or was ended: every further request is `process-failed`.
        case failed
        /// The run budget was spent: every further request is `budget`.
        case budgetSpent
        /// The run was interrupted (SIGTERM): every further request is `interrupted`.
        case interrupted
    }

    let settings: GitHubSettings
    private var state: State = .failed
    /// When the budget runs out in the current `enrich` call: the budget counts the time spent
    /// asking, not the run's (a long run of many batches asks a fast API throughout).
    private var budgetEnd: Double
    /// Seconds spent in `enrich` so far.
    private var spent = 0.0
    private var nextTag: UInt32 = 1
    /// Why the process is not running, for the operator's diagnostics.
    public private(set) var failureDescription: String?
    /// How the process ended, once it has.
    public private(set) var termination: Termination?
    /// The statuses of the `http-other` answers, in order (the result carries only the kind).
    public private(set) var otherStatuses: [UInt16] = []

    /// Checks the settings and reads the token (and CA) file, which throw; then starts the
    /// process, which does not: a process that cannot start makes every request
    /// `process-failed`, and the caller's run goes on without enrichment.
    public convenience init(settings: GitHubSettings) throws(GitHubSettingsError) {
        try self.init(settings: settings, policy: .githubClient, executableName: Self.executableName)
    }

    /// `policy` and `executableName` are the production ones except in tests, which start the
    /// process under a policy that lacks a call it needs.
    init(settings: GitHubSettings, policy: SeccompPolicy, executableName: String) throws(GitHubSettingsError) {
        self.settings = settings
        guard settings.requestTimeout.isFinite, settings.requestTimeout >= 0.1, settings.requestTimeout <= 600 else {
            throw GitHubSettingsError("the request timeout must be between 0.1 and 600 seconds")
        }
        guard settings.runBudget.isFinite, settings.runBudget >= 0.1, settings.runBudget <= 86_400 else {
            throw GitHubSettingsError("the run budget must be between 0.1 and 86400 seconds")
        }
        let endpoint = try APIEndpoint(url: settings.apiURL)
        let token = try GitHubFiles.readToken(settings.tokenFile)
        let certificates = try settings.caFile.map { path throws(GitHubSettingsError) in try GitHubFiles.readCertificates(path) } ?? []
        budgetEnd = Sys.monotonicSeconds() + settings.runBudget
        let filter: [UInt8]
        do throws(SeccompBuildError) { filter = try CompiledFilter(policy: policy).bytes } catch {
            failureDescription = "the GitHub process's seccomp filter: \(error)"
            return
        }
        let configuration = EnrichmentConfiguration(
            scheme: endpoint.scheme, host: endpoint.host, port: endpoint.port, pathPrefix: endpoint.pathPrefix,
            token: token, certificates: certificates, filter: filter,
            requestTimeoutMilliseconds: UInt32((settings.requestTimeout * 1000).rounded(.up)),
            cpuSeconds: UInt32(min(86_400, (settings.runBudget + Self.startTimeout).rounded(.up))))
        do throws(SystemError) {
            let process = try ClientProcess.start(executableName: executableName)
            state = .running(process)
            let deadline = Sys.monotonicSeconds() + Self.startTimeout
            guard process.send(configuration.message, deadline: deadline),
                  process.receive(EnrichmentAnswer.size, deadline: deadline) == EnrichmentAnswer.readyFrame
            else {
                end(process, as: .failed, "did not start (it refused its configuration or could not confine itself)")
                return
            }
        } catch {
            failureDescription = "could not start \(executableName): \(error)"
        }
    }

    deinit { finish() }

    /// The process was ended for the run's sake (its budget spent, the run interrupted), not by a fault.
    public var endedByTheRun: Bool {
        switch state {
        case .budgetSpent, .interrupted: return true
        case .running, .failed: return false
        }
    }

    /// The pid of the running process, if any (for the operator's diagnostics and the tests).
    public var processID: pid_t? {
        if case .running(let process) = state { return process.pid }
        return nil
    }

    /// One result per request, in order. A request that fails validation is never sent; once
    /// the process has failed every later one is `process-failed`, once the budget is spent `budget`.
    public func enrich(_ requests: [EnrichmentRequest]) -> [EnrichmentResult] {
        let start = Sys.monotonicSeconds()
        budgetEnd = start + max(0, settings.runBudget - spent)
        defer { spent += Sys.monotonicSeconds() - start }
        return requests.map(enrichOne)
    }

    private func enrichOne(_ request: EnrichmentRequest) -> EnrichmentResult {
        let tag = nextTag
        guard let runID = EnrichmentRequestFrame.runID(decimal: request.workflowRunID),
              let frame = EnrichmentRequestFrame(tag: tag, repository: request.repository, workflowRunID: runID,
                                                 runnerName: request.runner).frame
        else { return .failed(.invalidRequest) }
        guard case .running(let process) = state else { return .failed(stateFailure) }
        guard !Interrupt.requested else {
            end(process, as: .interrupted, "was ended when the run was interrupted")
            return .failed(.interrupted)
        }
        let now = Sys.monotonicSeconds()
        guard now < budgetEnd else {
            end(process, as: .budgetSpent, "was ended when the run budget of \(settings.runBudget) s was spent")
            return .failed(.budget)
        }
        nextTag = tag == UInt32.max ? 1 : tag + 1
        let deadline = min(budgetEnd, now + settings.requestTimeout + Self.answerGrace)
        guard process.send(frame, deadline: deadline),
              let bytes = process.receive(EnrichmentAnswer.size, deadline: deadline)
        else {
            if Interrupt.requested {
                end(process, as: .interrupted, "was ended when the run was interrupted")
                return .failed(.interrupted)
            }
            if Sys.monotonicSeconds() >= budgetEnd {
                end(process, as: .budgetSpent, "was ended when the run budget of \(settings.runBudget) s was spent")
                return .failed(.budget)
            }
            end(process, as: .failed, "died or did not answer within its deadline")
            return .failed(.processFailed)
        }
        guard let answer = EnrichmentAnswer(frame: bytes), answer.tag == tag else {
            end(process, as: .failed, "sent an invalid answer frame")
            return .failed(.processFailed)
        }
        switch answer.kind {
        case .enriched:
            // isConsistent: a known code, both times in range (so the difference cannot overflow).
            guard case .some(let conclusion) = JobConclusion.decode(code: answer.conclusionCode) else {
                end(process, as: .failed, "sent an invalid answer frame")
                return .failed(.processFailed)
            }
            // Python's timedelta.total_seconds(): integer microseconds over 10**6, then max(·, 0).
            let seconds = Double(answer.startedAt - answer.createdAt) / 1e6
            return .enriched(queueDuration: Clamped.difference(seconds, 0), conclusion: conclusion)
        case .httpOther:
            otherStatuses.append(answer.status)
            return .failed(.httpOther)
        case .notFound, .ambiguous, .http401, .http403, .http404, .timeout, .tooLarge, .malformed, .connectFailed,
             .tlsFailed, .tooManyPages:
            return .failed(EnrichmentFailure(answer.kind))
        }
    }

    private var stateFailure: EnrichmentFailure {
        switch state {
        case .budgetSpent: return .budget
        case .interrupted: return .interrupted
        case .failed, .running: return .processFailed
        }
    }

    /// Kills and reaps the process; every later request answers as `next` says.
    private func end(_ process: ClientProcess, as next: State, _ why: String) {
        termination = process.kill()
        failureDescription = "\(Self.executableName) \(why)"
        state = next
    }

    /// Ends the process: its request pipe closes, it exits at EOF; one that does not within
    /// two seconds is killed. Idempotent.
    public func finish() {
        guard case .running(let process) = state else { return }
        termination = process.finish()
        state = .failed
        if failureDescription == nil { failureDescription = "\(Self.executableName) was finished" }
    }
}

/// The running process and the supervisor's ends of its two pipes.
final class ClientProcess {
    let pid: pid_t
    /// The write end of its standard input (non-blocking).
    private var requests: Int32
    /// The read end of its standard output (non-blocking).
    private let answers: Int32
    private var reaped: Termination?
    /// Waited for: reaped here, or ECHILD (the kernel reaped it). Its pid is not ours any more.
    private var gone = false

    private init(pid: pid_t, requests: Int32, answers: Int32) {
        self.pid = pid
        self.requests = requests
        self.answers = answers
    }

    deinit {
        _ = kill()
        close(answers)
    }

    /// Forks and execs the checked sibling binary `executableName` with standard input and
    /// output on two new pipes, standard error on /dev/null (the process reports through its
    /// answer frames only, so a compromised one cannot write into the supervisor's journal or
    /// an operator's terminal), no other descriptor and an empty environment (the token goes
    /// over the pipe, never in argv or the environment).
    static func start(executableName: String) throws(SystemError) -> ClientProcess {
        let executable = try WorkerLauncher.openSibling(executableName)
        defer { close(executable) }
        let null = try Sys.open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1]
        guard rm_pipe2(&input, O_CLOEXEC) == 0 else { throw SystemError("pipe2") }
        guard rm_pipe2(&output, O_CLOEXEC) == 0 else {
            let code = errno
            close(input[0]); close(input[1])
            throw SystemError("pipe2", code)
        }
        let pid: pid_t
        do throws(SystemError) {
            pid = try ChildProcess.spawn(executable: executable, arguments: [executableName], environment: [],
                                         descriptors: [input[0], output[1], null], failureStatus: 127)
        } catch {
            for fd in input + output { close(fd) }
            throw error
        }
        close(input[0])
        close(output[1])
        _ = rm_set_nonblocking(input[1])
        _ = rm_set_nonblocking(output[0])
        return ClientProcess(pid: pid, requests: input[1], answers: output[0])
    }

    /// Writes all of `bytes` before `deadline` (monotonic seconds); false if the process has
    /// gone (EPIPE, never SIGPIPE) or does not read.
    func send(_ bytes: [UInt8], deadline: Double) -> Bool {
        guard requests >= 0 else { return false }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { rm_write_without_sigpipe(requests, $0.baseAddress.map { $0 + offset }, bytes.count - offset) }
            if n > 0 { offset += n; continue }
            guard n < 0, errno == EAGAIN, wait(requests, Int16(POLLOUT), deadline: deadline) else { return false }
        }
        return true
    }

    /// Reads exactly `count` bytes before `deadline`, never more; nil on EOF, an error or the deadline.
    func receive(_ count: Int, deadline: Double) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes.withUnsafeMutableBytes { read(answers, $0.baseAddress.map { $0 + offset }, count - offset) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            guard n < 0, errno == EAGAIN, wait(answers, Int16(POLLIN), deadline: deadline) else { return nil }
        }
        return bytes
    }

    /// Polls `fd` for `events` until `deadline`: true when ready (or with an error to read).
    private func wait(_ fd: Int32, _ events: Int16, deadline: Double) -> Bool {
        while true {
            let remaining = deadline - Sys.monotonicSeconds()
            guard remaining > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&entry, 1, Int32(min(remaining * 1000, 600_000).rounded(.up)))
            if n > 0 { return true }
            // SIGTERM (no SA_RESTART) interrupts the wait: the run is stopping, and a batch
            // waiting on the API is issued without it rather than held until its deadline.
            if n < 0 && (errno != EINTR || Interrupt.requested) { return false }
        }
    }

    /// SIGKILL and reap (once).
    func kill() -> Termination? {
        // Once reaped (or found gone), the pid may belong to someone else: never signal it.
        guard !gone else { return reaped }
        closeRequests()
        Glibc.kill(pid, SIGKILL)
        return reap()
    }

    /// Closes the request pipe and gives the process two seconds to exit at EOF before SIGKILL.
    func finish() -> Termination? {
        guard !gone else { return reaped }
        closeRequests()
        var status: Int32 = 0
        for _ in 0..<200 {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                gone = true
                reaped = Termination(waitStatus: status)
                return reaped
            }
            if result < 0 && errno != EINTR {
                gone = true  // ECHILD: already reaped by someone (SIGCHLD ignored); never signal it
                return nil
            }
            usleep(10_000)
        }
        return kill()
    }

    private func closeRequests() {
        if requests >= 0 { close(requests) }
        requests = -1
    }

    private func reap() -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid {
                gone = true
                reaped = Termination(waitStatus: status)
                return reaped
            }
            if result < 0 && errno != EINTR {
                gone = true
                return nil
            }
        }
    }
}
