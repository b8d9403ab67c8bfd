import CSandboxShim
import Glibc
import WorkerProtocol

/// Builds the production worker: compiles the image workers' seccomp policy once and starts the
/// fork server (the `runner-metrics-worker` binary) whose children lock themselves down.
public enum WorkerLauncher {
    /// The worker binary's name; it is installed beside `runner-metrics`.
    public static let workerExecutableName = "runner-metrics-worker"

    /// Headroom over the fork server's mapped size for the worker's RLIMIT_AS: the decoder
    /// needs a few KiB, libext2fs a few MiB for an image; malloc arenas and the stack a little more.
    public static let addressSpaceHeadroom = 64 << 20

    public static func configuration(timeout: Double) throws(SeccompBuildError) -> ForkServerConfiguration {
        ForkServerConfiguration(
            cpuSeconds: max(1, Int(timeout.rounded(.up))),
            addressSpaceHeadroom: addressSpaceHeadroom,
            serverFilter: try CompiledFilter(policy: .forkServer).bytes,
            directoryFilter: try CompiledFilter(policy: .directoryWorker).bytes,
            imageFilter: try CompiledFilter(policy: .imageWorker).bytes)
    }

    public static func start(timeout: Double) throws -> ForkServer {
        try start(executableNamed: workerExecutableName, timeout: timeout)
    }

    /// Starts the fork server from the binary `name` in this executable's own directory.
    public static func start(executableNamed name: String, timeout: Double, environment: [String] = []) throws -> ForkServer {
        let configuration = try configuration(timeout: timeout)
        let executable = try openSibling(name)
        defer { close(executable) }
        return try ForkServer.start(executable: executable, arguments: [name], environment: environment,
                                    configuration: configuration)
    }

    /// Opens `name` beside /proc/self/exe and checks it before anything runs it as root: a
    /// regular, non-set-id executable (not a symlink) owned by root or by us and writable by
    /// nobody else, in a directory whose every ancestor up to / is owned by root or by us and
    /// writable by nobody else (unless sticky). The descriptor is what gets executed, so the
    /// checked file is the file run.
    static func openSibling(_ name: String) throws(SystemError) -> Int32 {
        let me = try readSelfPath()
        guard let slash = me.lastIndex(of: "/") else { throw SystemError("locating \(name)", ENOENT) }
        let directory = String(me[..<slash])
        try checkAncestors(of: directory)
        let directoryFD = try Sys.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directoryFD) }
        try checkOwnership(try Sys.fstat(directoryFD), "directory \(directory)")
        let fd = rm_openat(directoryFD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("opening \(directory)/\(name)") }
        do throws(SystemError) {
            let status = try Sys.fstat(fd)
            try checkOwnership(status, "\(directory)/\(name)")
            guard status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o111 != 0 else {
                throw SystemError("\(directory)/\(name) is not an executable regular file", EACCES)
            }
            guard status.st_mode & (S_ISUID | S_ISGID) == 0 else {
                throw SystemError("\(directory)/\(name) is set-uid or set-gid", EPERM)
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private static func checkOwnership(_ status: stat, _ what: String) throws(SystemError) {
        guard status.st_uid == 0 || status.st_uid == geteuid() else {
            throw SystemError("\(what) is owned by uid \(status.st_uid), not root", EPERM)
        }
        let sticky = status.st_mode & S_IFMT == S_IFDIR && status.st_mode & S_ISVTX != 0
        guard status.st_mode & 0o022 == 0 || sticky else {
            throw SystemError("\(what) is writable by group or others", EPERM)
        }
    }

    /// Every directory from `directory` up to /: whoever could rename one of them could put
    /// another binary in the worker's place.
    private static func checkAncestors(of directory: String) throws(SystemError) {
        var path = directory
        while !path.isEmpty {
            var status = stat()
            guard stat(path, &status) == 0 else { throw SystemError("stat \(path)") }
            try checkOwnership(status, "directory \(path)")
            guard let slash = path.lastIndex(of: "/") else { break }
            path = String(path[..<slash])
        }
        var root = stat()
        guard stat("/", &root) == 0 else { throw SystemError("stat /") }
        try checkOwnership(root, "directory /")
    }

    private static func readSelfPath() throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw SystemError("readlink /proc/self/exe") }
        guard n < buffer.count - 1 else { throw SystemError("readlink /proc/self/exe: path too long", ENAMETOOLONG) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
