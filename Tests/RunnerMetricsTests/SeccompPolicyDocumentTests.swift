import Foundation
import RunnerSupervisor
import Testing

/// Security/SECCOMP_POLICY.md, split at the fork server's section and at the GitHub process's:
/// the worker table before the first, the fork server's table between, the GitHub process's after.
func policyDocumentTables() throws -> (workers: [Substring], forkServer: [Substring], githubClient: [Substring]) {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let document = try String(contentsOf: root.appendingPathComponent("Security/SECCOMP_POLICY.md"), encoding: .utf8)
    let parts = document.components(separatedBy: "## The fork server's policy")
    let later = parts.count > 1 ? parts[1].components(separatedBy: "## The GitHub process's policy") : []
    func rows(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| system call") }
    }
    return (rows(parts[0]), later.isEmpty ? [] : rows(later[0]), later.count > 1 ? rows(later[1]) : [])
}

/// The GitHub process's rules, each in the document's third table with the code's reason.
@Test func githubClientPolicyDocumentMatchesTheCode() throws {
    let rows = try policyDocumentTables().githubClient
    #expect(rows.count == SeccompPolicy.githubClient.rules.count)
    for rule in SeccompPolicy.githubClient.rules {
        let escapedReason = rule.reason.replacingOccurrences(of: "|", with: "\\|")
        #expect(rows.contains { $0.hasPrefix("| \(rule.name) |") && $0.hasSuffix("| \(escapedReason) |") },
                "\(rule.name): \(rule.reason)")
    }
}

/// Security/SECCOMP_POLICY.md must list every call a worker may make: both filters' rules,
/// each with the policy it belongs to and the reason the code gives. (To
/// regenerate, trace a run with `strace -f` and collect, per worker pid, the calls after its
/// `prctl(PR_SET_SECCOMP, ...)`.)
@Test func seccompPolicyDocumentMatchesTheCode() throws {
    let rows = try policyDocumentTables().workers
    let directory = SeccompPolicy.directoryWorker.rules, image = SeccompPolicy.imageWorker.rules
    let shared = directory.filter { image.contains($0) }
    #expect(rows.count == directory.count + image.count - shared.count)
    let listed = directory.map { ($0, image.contains($0) ? "both" : "directory") }
        + image.filter { !directory.contains($0) }.map { ($0, "image") }
    for (rule, policy) in listed {
        let escapedReason = rule.reason.replacingOccurrences(of: "|", with: "\\|")
        #expect(rows.contains { $0.hasPrefix("| \(rule.name) | \(policy) |") && $0.hasSuffix("| \(escapedReason) |") },
                "\(rule.name) (\(policy)): \(rule.reason)")
    }
}

/// A directory worker, the one that reads a runner's bytes on every run, keeps five system
/// calls: read, write (to descriptors 1 and 2 only), the two ways to end, and the return from
/// a signal handler.
@Test func directoryWorkerKeepsFiveSystemCalls() {
    let names = SeccompPolicy.directoryWorker.rules.map(\.name)
    #expect(Set(names) == ["read", "write", "exit", "exit_group", "rt_sigreturn"])
    let writes = SeccompPolicy.directoryWorker.rules.filter { $0.name == "write" }.map(\.conditions)
    #expect(writes == [[.equals(index: 0, value: 1)], [.equals(index: 0, value: 2)]])
}

@Test(arguments: [SeccompPolicy.directoryWorker, SeccompPolicy.imageWorker])
func workerPoliciesCompileAndAllowNoOpen(policy: SeccompPolicy) throws {
    let filter = try CompiledFilter(policy: policy)
    #expect(filter.bytes.count % 8 == 0 && filter.bytes.count > 8 * policy.rules.count)
    let names = Set(policy.rules.map(\.name))
    for forbidden in ["open", "openat", "openat2", "execve", "execveat", "fork", "vfork", "clone", "clone3", "socket",
                      "ptrace", "kill", "tgkill", "mount", "umount2", "unlinkat", "getdents64", "prctl", "setuid", "ioctl"] {
        #expect(!names.contains(forbidden), "\(forbidden) must not be allowed")
    }
}

/// The fork server's own rules, each in the document's second table with the code's reason.
@Test func forkServerPolicyDocumentMatchesTheCode() throws {
    let rows = try policyDocumentTables().forkServer
    #expect(rows.count == SeccompPolicy.forkServerOwn.count)
    for rule in SeccompPolicy.forkServerOwn {
        let escapedReason = rule.reason.replacingOccurrences(of: "|", with: "\\|")
        #expect(rows.contains { $0.hasPrefix("| \(rule.name) |") && $0.hasSuffix("| \(escapedReason) |") },
                "\(rule.name): \(rule.reason)")
    }
}

/// Stacked filters intersect: every worker rule must also be a fork-server rule, or the
/// worker would die on a call its own policy allows. And the fork server may never exec.
@Test func forkServerPolicyContainsBothWorkerPolicies() throws {
    let server = SeccompPolicy.forkServer.rules
    for rule in SeccompPolicy.directoryWorker.rules + SeccompPolicy.imageWorker.rules {
        #expect(server.contains(rule), "\(rule.name) is allowed to workers but not to the fork server")
    }
    let names = Set(server.map(\.name))
    for forbidden in ["execve", "execveat", "open", "openat2", "socket", "connect", "ptrace", "mount", "unlinkat",
                      "clone", "clone3", "vfork", "set_robust_list", "setuid", "setreuid", "ioctl", "tgkill"] {
        #expect(!names.contains(forbidden), "\(forbidden) must not be allowed to the fork server")
    }
    let filter = try CompiledFilter(policy: .forkServer)
    #expect(filter.bytes.count % 8 == 0 && filter.bytes.count > 8 * SeccompPolicy.forkServerOwn.count)
}
