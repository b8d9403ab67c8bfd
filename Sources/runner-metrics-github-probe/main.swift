// Test-only driver: runs GitHubEnricher from the command line and prints one result per line,
// so a test can trace the supervisor's side with strace and the cost per runner can be
// measured. Not part of any product.
//
// usage: runner-metrics-github-probe API_URL TOKEN_FILE CA_FILE|- REPEAT RUNNER,OWNER/REPO,RUN_ID...
// prints each result, then "seconds-per-request S" (monotonic, enrich() only) on stderr.
import Glibc
import RunnerSupervisor

let arguments = CommandLine.arguments
guard arguments.count >= 6, let repeatCount = Int(arguments[4]), repeatCount >= 1 else {
    print("usage: runner-metrics-github-probe API_URL TOKEN_FILE CA_FILE|- REPEAT RUNNER,OWNER/REPO,RUN_ID...")
    exit(2)
}
var requests: [EnrichmentRequest] = []
for argument in arguments[5...] {
    let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard parts.count == 3 else { print("bad request \(argument)"); exit(2) }
    requests.append(EnrichmentRequest(runner: parts[0], repository: parts[1], workflowRunID: parts[2]))
}
let settings = GitHubSettings(apiURL: arguments[1], tokenFile: arguments[2], caFile: arguments[3] == "-" ? nil : arguments[3],
                              requestTimeout: 10, runBudget: 600)
let enricher: GitHubEnricher
do { enricher = try GitHubEnricher(settings: settings) } catch {
    print("settings: \(error)")
    exit(2)
}
func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
let all = Array((0..<repeatCount).map { _ in requests }.joined())
let start = now()
let results = enricher.enrich(all)
let elapsed = now() - start
enricher.finish()
for result in results.prefix(requests.count) {
    switch result {
    case .enriched(let queue, let conclusion): print("enriched \(queue.value) \(conclusion?.rawValue ?? "none")")
    case .failed(let failure): print("failed \(failure.rawValue)")
    }
}
if results.count > requests.count {
    print("all-equal \(results.count == all.count && (0..<results.count).allSatisfy { results[$0] == results[$0 % requests.count] })")
}
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
printError("seconds-per-request \(elapsed / Double(all.count))")
if let failure = enricher.failureDescription, enricher.termination != .exited(0) { printError("process: \(failure)") }
