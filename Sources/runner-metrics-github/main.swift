// runner-metrics-github: asks the GitHub API which job of a workflow run a runner took, for
// the privileged supervisor, which never parses a network byte itself.
//
// Started by the supervisor as root with standard input the request pipe, standard output the
// answer pipe, standard error /dev/null, nothing else open and an empty environment. It reads
// its configuration (the token included) from standard input, then gives up root before it
// reads a byte of the network: no supplementary group, a uid and gid of its own (no capability
// left), not dumpable, SIGKILL when the supervisor dies, no_new_privs. Only then does it
// resolve the API host and load the CA certificates (files the filter will not allow), and
// lock itself down for good: resource limits and the supervisor's seccomp filter (default kill;
// sockets, polls, reads and writes, memory, nothing of the filesystem). Then it answers each
// request with one fixed frame until its standard input ends.
import CSandboxShim
import CTLSShim
import Glibc
import WorkerProtocol

/// Reads exactly `count` bytes from descriptor 0: nil at EOF before the first byte; exits with
/// `status` on EOF in the middle or an error.
func readExactly(_ count: Int, orExit status: Int32) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var offset = 0
    while offset < count {
        let n = bytes.withUnsafeMutableBytes { read(0, $0.baseAddress.map { $0 + offset }, count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n == 0 && offset == 0 { return nil }
        guard n > 0 else { _exit(status) }
        offset += n
    }
    return bytes
}

func writeAll(_ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress.map { $0 + offset }, bytes.count - offset) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        offset += n
    }
    return true
}

/// A whole regular file of at most `limit` bytes; nil otherwise. Before the filter only (the
/// system CA bundle, which may be a symlink, as on Fedora; /proc/self/statm).
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = rm_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { return nil }
        if n == 0 { return bytes }
        guard bytes.count + n <= limit else { return nil }
        bytes += chunk[0..<n]
    }
}

/// The process's mapped size in bytes (the first field of /proc/self/statm, in pages).
func mappedBytes() -> Int? {
    guard let statm = readFile("/proc/self/statm", limit: 4096),
          let field = statm.split(separator: 0x20).first, !field.isEmpty, field.count < 16,
          field.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
    else { return nil }
    let pages = field.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Step one, before a byte from the network (a DNS answer) is read: no supplementary group, a
/// uid and gid of its own (leaving uid 0 clears every capability), not dumpable, SIGKILL when
/// the supervisor dies, no_new_privs. The name lookup and the CA bundle need none of root's
/// powers: resolv.conf, hosts, nsswitch.conf and the bundle are world-readable.
func dropPrivileges(parent: pid_t) -> Bool {
    guard setgroups(0, nil) == 0, rm_setresgid(GitHubClientIdentity.id) == 0,
          rm_setresuid(GitHubClientIdentity.id) == 0
    else { return false }
    // After the uid change, which would clear a parent-death signal set before it.
    return rm_set_not_dumpable() == 0 && rm_set_parent_death_signal(SIGKILL) == 0 && getppid() == parent
        && rm_set_no_new_privs() == 0
}

/// Step two, once the host is resolved and the CAs loaded: whatever the resolver's modules left
/// open is closed, then the limits and the filter (which has none of the calls these make).
func limitAndFilter(_ configuration: EnrichmentConfiguration) -> Bool {
    guard let mapped = mappedBytes() else { return false }
    // Descriptor 3 is the socket's alone: an NSS module may have left one open.
    _ = rm_close_from(3)
    let addressSpace = UInt64(mapped) + UInt64(configuration.addressSpaceHeadroomMiB) << 20
    let cpu = UInt64(configuration.cpuSeconds)
    // No file written, no core, no locked memory, no message queue, no process (fork fails
    // for our uid), descriptors 0-3 only (the pipes, stderr and one socket), bounded memory and CPU.
    for resource in [rm_rlimit_fsize, rm_rlimit_core, rm_rlimit_memlock, rm_rlimit_msgqueue, rm_rlimit_nproc] {
        guard rm_setrlimit(resource, 0, 0) == 0 else { return false }
    }
    guard rm_setrlimit(rm_rlimit_nofile, 4, 4) == 0, rm_setrlimit(rm_rlimit_as, addressSpace, addressSpace) == 0,
          rm_setrlimit(rm_rlimit_cpu, cpu, cpu + 1) == 0
    else { return false }
    return configuration.filter.withUnsafeBytes { rm_install_seccomp_filter($0.baseAddress, $0.count) } == 0
}

let parent = getppid()
// A mask inherited from the supervisor's thread must not hold back SIGXCPU (the soft CPU limit).
_ = rm_unblock_all_signals()
// Nothing but 0-2 may be open (the supervisor closes the rest; this makes sure).
_ = rm_close_from(3)
// A write to a closed answer pipe or socket is an error to handle, not a signal to die of.
_ = rm_ignore_signal(SIGPIPE)

guard let header = readExactly(EnrichmentConfiguration.headerSize, orExit: GitHubClientExit.configuration),
      let length = EnrichmentConfiguration.messageLength(header: header),
      let rest = readExactly(length - header.count, orExit: GitHubClientExit.configuration),
      let configuration = EnrichmentConfiguration(message: header + rest)
else { _exit(GitHubClientExit.configuration) }

guard dropPrivileges(parent: parent) else { _exit(GitHubClientExit.confinement) }

// Resolve now, unprivileged: the filter has no file access for /etc/hosts or resolv.conf, nor
// a datagram socket.
var resolved = [rm_address](repeating: rm_address(), count: 8)
let count = configuration.host.withCString { rm_resolve($0, configuration.port, 0, &resolved, Int32(resolved.count)) }
let addresses = count > 0 ? Array(resolved[0..<Int(count)]) : []
// Plain HTTP only to loopback: the token never crosses a network in clear text.
if configuration.scheme == .http, addresses.contains(where: { $0.loopback == 0 }) { _exit(GitHubClientExit.configuration) }

var context: OpaquePointer?
if configuration.scheme == .https {
    let pem = configuration.certificates.isEmpty
        ? readFile(EnrichmentConfiguration.systemCertificates, limit: EnrichmentConfiguration.maxCertificates)
        : configuration.certificates
    var loaded: Int32 = 0
    guard rm_tls_global_init() == 0, let pem,
          let created = pem.withUnsafeBytes({ rm_tls_context_new($0.baseAddress, $0.count, &loaded) })
    else { _exit(GitHubClientExit.tls) }
    context = created
}

guard limitAndFilter(configuration) else { _exit(GitHubClientExit.confinement) }
guard writeAll(EnrichmentAnswer.readyFrame) else { _exit(GitHubClientExit.answerNotWritten) }

let client = Client(configuration: configuration, addresses: addresses, context: context)
while let frame = readExactly(EnrichmentRequestFrame.size, orExit: GitHubClientExit.request) {
    guard let request = EnrichmentRequestFrame(frame: frame) else { _exit(GitHubClientExit.request) }
    guard writeAll(client.answer(request).frame) else { _exit(GitHubClientExit.answerNotWritten) }
}
_exit(0)
