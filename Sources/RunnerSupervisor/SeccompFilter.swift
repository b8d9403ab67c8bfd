import CSandboxShim
import CSeccomp
import Glibc

/// Errors building the filter: configuration problems on the host, never a runner's doing.
public struct SeccompBuildError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A seccomp BPF program compiled once, in the supervisor, and installed by each worker with a
/// single prctl. Compiling in the parent keeps libseccomp's allocations out of the forked child
/// and takes the compile off the per-runner path (measured: about a fifth of the fork cost).
public struct CompiledFilter: Sendable {
    public let bytes: [UInt8]

    // libseccomp's action macros are not imported into Swift.
    static let actionKillProcess: UInt32 = 0x8000_0000
    static let actionAllow: UInt32 = 0x7fff_0000

    /// Compiles `policy` with libseccomp (seccomp_init, seccomp_rule_add_array,
    /// seccomp_export_bpf) for the native architecture; any other architecture or the x32 ABI
    /// is killed by the filter's architecture check.
    public init(policy: SeccompPolicy) throws(SeccompBuildError) {
        guard let context = seccomp_init(Self.actionKillProcess) else {
            throw SeccompBuildError(description: "seccomp_init failed")
        }
        defer { seccomp_release(context) }
        // A binary tree over the system call numbers instead of a linear list: fewer
        // instructions per call, and far fewer for the kernel to emulate when it builds the
        // filter's allow cache at install (once per worker).
        guard seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2) == 0 else {
            throw SeccompBuildError(description: "seccomp_attr_set(SCMP_FLTATR_CTL_OPTIMIZE, 2) failed")
        }
        for rule in policy.rules {
            let number = seccomp_syscall_resolve_name(rule.name)
            guard number >= 0 else {
                throw SeccompBuildError(description: "system call \(rule.name) is unknown on this architecture")
            }
            var comparisons = rule.conditions.map { condition -> scmp_arg_cmp in
                switch condition {
                case let .equals(index, value):
                    return scmp_arg_cmp(arg: index, op: SCMP_CMP_EQ, datum_a: value, datum_b: 0)
                case let .maskedEquals(index, mask, value):
                    return scmp_arg_cmp(arg: index, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
                }
            }
            let status = comparisons.withUnsafeMutableBufferPointer { buffer in
                seccomp_rule_add_array(context, Self.actionAllow, number, UInt32(buffer.count), buffer.baseAddress)
            }
            guard status == 0 else {
                throw SeccompBuildError(description: "seccomp_rule_add_array(\(rule.name)) failed: \(-status)")
            }
        }
        bytes = try Self.export(context)
    }

    /// seccomp_export_bpf writes to a descriptor; a pipe keeps the program in memory.
    private static func export(_ context: scmp_filter_ctx) throws(SeccompBuildError) -> [UInt8] {
        var fds: [Int32] = [-1, -1]
        guard rm_pipe2(&fds, O_CLOEXEC) == 0 else { throw SeccompBuildError(description: "pipe2: \(errno)") }
        defer { close(fds[0]) }
        let status = seccomp_export_bpf(context, fds[1])
        close(fds[1])
        guard status == 0 else { throw SeccompBuildError(description: "seccomp_export_bpf failed: \(-status)") }
        var program: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw SeccompBuildError(description: "reading the exported filter: \(errno)") }
            if n == 0 { break }
            program.append(contentsOf: chunk[0..<n])
        }
        guard !program.isEmpty, program.count % 8 == 0 else {
            throw SeccompBuildError(description: "exported filter has \(program.count) bytes")
        }
        return program
    }
}
