// swift-tools-version: 6.0
// The package draws the trust boundary in its folders:
//   MetricsDecoding  pure decoding of runner bytes and records (no I/O); used by worker and supervisor
//   WorkerProtocol   what the two sides agree on: descriptors, exit statuses, the fork server's
//                    messages (links nothing); used by worker and supervisor
//   RunnerWorker     the sandbox and the readers that run inside the per-runner worker process
//                    (with libext2fs); never linked into the supervisor
//   RunnerSupervisor the privileged side: discovery, fork server, verdicts, logs, deletion, quarantine
//   runner-metrics   the command-line tool
//   GitHubAPI        pure decoding of GitHub API responses (HTTP/1.1 framing, the jobs pages,
//                    ISO 8601 times, the job selection); linked only into runner-metrics-github
//   runner-metrics-github  the unprivileged process that asks the GitHub API (HTTPS via OpenSSL,
//                    in CTLSShim) and answers the supervisor with fixed frames; never linked into
//                    the supervisor, which neither parses a network byte nor links OpenSSL
//   runner-metrics-worker  the fork server and its workers, compiled as Embedded Swift: a small
//                    static binary whose forks are cheap (Sources/Embedded holds the same sources
//                    as MetricsDecoding, WorkerProtocol and RunnerWorker, compiled again in Embedded mode)
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// Embedded Swift, for the worker binaries only: no runtime metadata or reflection, and only
// what the code uses is linked (SwiftPM compiles such targets whole-module).
// -no-static-stdlib: the release build's --static-swift-stdlib points every compile at
// lib/swift_static, which has no Embedded stdlib; an Embedded binary links no Swift runtime anyway.
let embedded: [SwiftSetting] = [
    .swiftLanguageMode(.v6), .enableExperimentalFeature("Embedded"), .unsafeFlags(["-no-static-stdlib"]),
]

/// The toolchain's Embedded Swift libraries (swiftUnicodeDataTables: the tables String comparison
/// needs), x86-64 only like the seccomp policies (Security/SECCOMP_POLICY.md). A manifest is told
/// no toolchain path and SwiftPM has no library-search-path setting, so the directory is found
/// beside the PackageDescription library this manifest runs with: <usr>/lib/swift/pm/...
let embeddedLibraryDirectory: String = {
    let maps = String(decoding: FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
    guard let line = maps.split(separator: "\n").first(where: { $0.contains("/lib/swift/pm/") }),
          let path = line.firstIndex(of: "/"), let pm = line.range(of: "/lib/swift/pm/") else {
        fatalError("runner-metrics: cannot find the Swift toolchain (no PackageDescription library in /proc/self/maps)")
    }
    return line[path..<pm.lowerBound] + "/lib/swift/embedded/x86_64-unknown-linux-gnu"
}()

func embeddedExecutable(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["RunnerWorkerEmbedded", "WorkerProtocolEmbedded", "CEmbeddedRuntime"] + dependencies,
        swiftSettings: embedded,
        linkerSettings: [
            .linkedLibrary("swiftUnicodeDataTables"),
            .linkedLibrary("m"),
            // -static: a fork server whose every fork copies a handful of mappings (no shared
            // libraries, no dynamic loader) and that loads nothing at run time.
            .unsafeFlags(["-L", embeddedLibraryDirectory, "-Xclang-linker", "-static"]),
        ])
}

var targets: [Target] = [
    .systemLibrary(
        name: "CSeccomp",
        pkgConfig: "libseccomp",
        providers: [.apt(["libseccomp-dev"])]
    ),
    .target(name: "CSandboxShim"),
    // Reads the runner files out of an ext4 image file in userspace (libext2fs over a
    // read-only, descriptor-only io_manager), so a crafted filesystem never reaches the host kernel.
    .systemLibrary(
        name: "CExt2fs",
        pkgConfig: "ext2fs",
        providers: [.apt(["libext2fs-dev"])]
    ),
    // com_err is linked explicitly: the reader installs a silent com_err hook (libext2fs's
    // default error printer would call isatty(2), an ioctl the worker's seccomp policy kills).
    .target(name: "CExt2Reader", dependencies: ["CExt2fs"], linkerSettings: [.linkedLibrary("com_err")]),
    .target(name: "MetricsDecoding", swiftSettings: strict),
    .target(name: "WorkerProtocol", swiftSettings: strict),
    .target(
        name: "RunnerWorker",
        dependencies: ["MetricsDecoding", "WorkerProtocol", "CSandboxShim", "CExt2Reader"],
        swiftSettings: strict
    ),
    // The same sources in Embedded mode, for the worker binaries (directory symlinks).
    .target(name: "MetricsDecodingEmbedded", path: "Sources/Embedded/MetricsDecoding", swiftSettings: embedded),
    .target(name: "WorkerProtocolEmbedded", path: "Sources/Embedded/WorkerProtocol", swiftSettings: embedded),
    .target(
        name: "RunnerWorkerEmbedded",
        dependencies: ["MetricsDecodingEmbedded", "WorkerProtocolEmbedded", "CSandboxShim", "CExt2Reader"],
        path: "Sources/Embedded/RunnerWorker",
        swiftSettings: embedded
    ),
    // What the Embedded stdlib expects the platform to provide (a C-locale strtod).
    .target(name: "CEmbeddedRuntime"),
    embeddedExecutable("runner-metrics-worker", dependencies: []),
    // TLS for runner-metrics-github only: OpenSSL (Debian's libssl-dev) behind a small C API
    // over a connected non-blocking socket, CA certificates from memory, no config file.
    .systemLibrary(
        name: "COpenSSL",
        pkgConfig: "openssl",
        providers: [.apt(["libssl-dev"])]
    ),
    .target(name: "CTLSShim", dependencies: ["COpenSSL"]),
    .target(name: "GitHubAPI", dependencies: ["MetricsDecoding", "WorkerProtocol"], swiftSettings: strict),
    .executableTarget(
        name: "runner-metrics-github",
        dependencies: ["GitHubAPI", "WorkerProtocol", "MetricsDecoding", "CTLSShim", "CSandboxShim"],
        swiftSettings: strict,
        // Full RELRO, as for runner-metrics: this process parses network bytes, so its GOT is
        // read-only before the first one arrives.
        linkerSettings: [.unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now"])]
    ),
    // Records the commit the binaries are built from (runner-metrics --version, build_info).
    .plugin(name: "BuildInfo", capability: .buildTool()),
    .target(
        name: "RunnerSupervisor",
        dependencies: ["MetricsDecoding", "WorkerProtocol", "CSandboxShim", "CSeccomp"],
        swiftSettings: strict,
        plugins: ["BuildInfo"]
    ),
    .executableTarget(
        name: "runner-metrics",
        dependencies: [
            "RunnerSupervisor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: strict,
        // Full RELRO for the root process: every symbol bound at start-up, then the GOT read-only
        // (SwiftPM has no setting for it; the default is RELRO without BIND_NOW).
        linkerSettings: [.unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now"])]
    ),
    // Test-only: runs the real supervisor with a worker body that applies the production
    // sandbox and then misbehaves. Not part of any product; production code has no such switch.
    .target(name: "CProbeShim"),
    embeddedExecutable("runner-metrics-probe-worker", dependencies: ["CProbeShim"]),
    .executableTarget(
        name: "runner-metrics-probe",
        dependencies: ["RunnerSupervisor", "CSandboxShim"],
        swiftSettings: strict
    ),
    // Test-only: runs GitHubEnricher from the command line (the strace test of the supervisor's
    // own system calls, and the cost measurement). Not part of any product.
    .executableTarget(
        name: "runner-metrics-github-probe",
        dependencies: ["RunnerSupervisor"],
        swiftSettings: strict
    ),
    .testTarget(name: "GitHubAPITests", dependencies: ["GitHubAPI", "MetricsDecoding", "WorkerProtocol"],
                swiftSettings: strict),
    // JSONTestSuite/ is data (the vendored conformance suite), read by path from the tests.
    .testTarget(name: "MetricsDecodingTests", dependencies: ["MetricsDecoding"], exclude: ["JSONTestSuite"],
                swiftSettings: strict),
    // The tests run the built binaries, the Embedded worker binaries included; those cannot be
    // dependencies here (SwiftPM would link their Embedded objects into the test bundle), so
    // `swift build` comes before `swift test` (README, .ci/run) and the tests say so if not.
    .testTarget(
        name: "RunnerMetricsTests",
        dependencies: ["MetricsDecoding", "WorkerProtocol", "RunnerWorker", "RunnerSupervisor", "runner-metrics",
                       "runner-metrics-probe", "runner-metrics-github", "runner-metrics-github-probe"],
        swiftSettings: strict
    ),
]

let package = Package(
    name: "runner-metrics",
    products: [
        .executable(name: "runner-metrics", targets: ["runner-metrics"]),
        .executable(name: "runner-metrics-worker", targets: ["runner-metrics-worker"]),
        .executable(name: "runner-metrics-github", targets: ["runner-metrics-github"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: targets
)

// Fuzzing (Security/fuzz/run.sh): the libFuzzer targets exist only when RUNNER_METRICS_FUZZ is
// set, so a normal `swift build` / `swift test` never builds them and stays sanitizer-free.
// run.sh builds them with `-Xswiftc -sanitize=fuzzer,address` so that MetricsDecoding,
// RunnerWorker, GitHubAPI and WorkerProtocol are instrumented too (coverage guidance needs the
// code under test instrumented).
if Context.environment["RUNNER_METRICS_FUZZ"] != nil {
    let fuzzFlags: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["MetricsDecoding"], swiftSettings: fuzzFlags))
    for (name, dependencies) in [
        ("FuzzStrictJSON", []), ("FuzzTimestamp", []), ("FuzzPreJob", []), ("FuzzPostJob", []),
        ("FuzzRecord", []), ("FuzzFrame", []), ("FuzzWorker", ["RunnerWorker"]), ("FuzzDifferential", []),
        ("FuzzGitHubResponse", ["GitHubAPI", "WorkerProtocol"]), ("FuzzEnrichmentFrames", ["WorkerProtocol"]),
    ] as [(String, [Target.Dependency])] {
        package.targets.append(.executableTarget(
            name: name, dependencies: ["MetricsDecoding", "FuzzSupport"] + dependencies, swiftSettings: fuzzFlags))
    }
}
