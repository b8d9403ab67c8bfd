import Foundation
import RunnerWorker
import Testing

/// Security/SECCOMP_POLICY.md must list every allowed call with the reason the code gives.
/// (To regenerate the list, trace a run with `strace -f` and collect, per worker pid, the calls
/// after its `prctl(PR_SET_SECCOMP, ...)` line.)
@Test func seccompPolicyDocumentMatchesTheCode() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let document = try String(contentsOf: root.appendingPathComponent("Security/SECCOMP_POLICY.md"), encoding: .utf8)
    let rows = document.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| system call") }
    #expect(rows.count == SeccompPolicy.worker.rules.count)
    for rule in SeccompPolicy.worker.rules {
        let escapedReason = rule.reason.replacingOccurrences(of: "|", with: "\\|")
        #expect(rows.contains { $0.hasPrefix("| \(rule.name) |") && $0.hasSuffix("| \(escapedReason) |") },
                "\(rule.name): \(rule.reason)")
    }
}

@Test func workerPolicyCompilesAndDeniesByDefault() throws {
    let filter = try CompiledFilter(policy: .worker)
    #expect(filter.bytes.count % 8 == 0 && filter.bytes.count > 8 * SeccompPolicy.worker.rules.count)
    let names = Set(SeccompPolicy.worker.rules.map(\.name))
    for forbidden in ["execve", "execveat", "fork", "vfork", "clone", "clone3", "socket", "ptrace", "kill", "tgkill",
                      "mount", "umount2", "unlinkat", "open", "getdents64", "prctl", "setuid", "ioctl"] {
        #expect(!names.contains(forbidden), "\(forbidden) must not be allowed")
    }
}
