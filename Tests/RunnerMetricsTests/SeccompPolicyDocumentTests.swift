import Foundation
import RunnerWorker
import Testing

/// Security/SECCOMP_POLICY.md must list every allowed call of both policies, with the policy
/// it belongs to and the reason the code gives. (To regenerate the list, trace a run with
/// `strace -f` and collect, per worker pid, the calls after its `prctl(PR_SET_SECCOMP, ...)`.)
@Test func seccompPolicyDocumentMatchesTheCode() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let document = try String(contentsOf: root.appendingPathComponent("Security/SECCOMP_POLICY.md"), encoding: .utf8)
    let rows = document.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| system call") }
    let directory = SeccompPolicy.directoryWorker.rules, image = SeccompPolicy.imageWorker.rules
    let shared = directory.filter { image.contains($0) }
    #expect(rows.count == directory.count + image.count - shared.count)
    for (rule, policy) in directory.map({ ($0, image.contains($0) ? "both" : "directory") })
        + image.filter({ !directory.contains($0) }).map({ ($0, "image") }) {
        let escapedReason = rule.reason.replacingOccurrences(of: "|", with: "\\|")
        #expect(rows.contains { $0.hasPrefix("| \(rule.name) | \(policy) |") && $0.hasSuffix("| \(escapedReason) |") },
                "\(rule.name) (\(policy)): \(rule.reason)")
    }
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
