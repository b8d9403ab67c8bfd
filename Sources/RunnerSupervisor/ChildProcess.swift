import CSandboxShim
import Glibc

/// Starts one of the tool's own binaries (the fork server, the GitHub process): fork, lay out
/// the child's descriptors, execveat the checked executable by descriptor. Everything the child
/// needs is built before fork; between fork and exec it only moves descriptors, so nothing it
/// does can take a lock another thread of the supervisor holds.
enum ChildProcess {
    /// Forks and executes `executable` with `descriptors[i]` as descriptor i and nothing else
    /// open (each is first moved above the range being laid out, so one may be any other's
    /// target). A child that cannot lay them out or exec ends with `failureStatus`.
    static func spawn(executable: Int32, arguments: [String], environment: [String], descriptors: [Int32],
                      failureStatus: Int32) throws(SystemError) -> pid_t {
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        let moved = UnsafeMutablePointer<Int32>.allocate(capacity: descriptors.count)
        defer { argv.free(); envp.free(); moved.deallocate() }
        let count = descriptors.count
        let pid = descriptors.withUnsafeBufferPointer { wanted in
            let pid = fork()
            guard pid == 0 else { return pid }
            let lowest = Int32(max(10, count))
            let program = fcntl(executable, F_DUPFD_CLOEXEC, lowest)
            guard program >= 0 else { _exit(failureStatus) }
            for index in 0..<count {
                moved[index] = fcntl(wanted[index], F_DUPFD_CLOEXEC, lowest)
                guard moved[index] >= 0 else { _exit(failureStatus) }
            }
            for index in 0..<count where dup2(moved[index], Int32(index)) != Int32(index) { _exit(failureStatus) }
            guard rm_cloexec_from(UInt32(count)) == 0 else { _exit(failureStatus) }
            _ = rm_execute_descriptor(program, argv.pointers, envp.pointers)
            _exit(failureStatus)
        }
        guard pid >= 0 else { throw SystemError("fork") }
        return pid
    }
}

/// A NULL-terminated `char *[]` for execve, allocated before fork.
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointers[index]) }
        pointers.deallocate()
    }
}
