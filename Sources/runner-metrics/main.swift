import ArgumentParser
import Glibc
import RunnerSupervisor

// Before anything else: refuse set-id, umask, close inherited descriptors.
do { try ProcessHygiene.apply() } catch {
    Diagnostics().emit(.error, error.description)
    exit(1)
}
RunnerMetrics.main()
