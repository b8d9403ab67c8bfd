import ArgumentParser
import Glibc
import RunnerSupervisor

// Before anything else: refuse set-id, umask, close inherited descriptors.
do { try ProcessHygiene.apply() } catch {
    Diagnostics().emit(.error, error.description)
    exit(Exit.failure)
}
do {
    var command = try RunnerMetrics.parseAsRoot()
    try command.run()
} catch {
    // The contract's usage error is 2 (ArgumentParser's default would be 64).
    if RunnerMetrics.exitCode(for: error) == .validationFailure {
        let message = RunnerMetrics.fullMessage(for: error)
        FileHandleStderr.write(message + "\n")
        exit(Exit.usage)
    }
    RunnerMetrics.exit(withError: error)
}

enum FileHandleStderr {
    static func write(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
