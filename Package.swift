// swift-tools-version: 6.0
// The package draws the trust boundary in its folders:
//   MetricsDecoding  pure decoding of runner bytes and records (no I/O); used by worker and supervisor
//   RunnerWorker     the sandbox and the reader that run inside the per-runner worker process
//   RunnerSupervisor the privileged side: discovery, fork server, verdicts, logs, deletion, quarantine
//   runner-metrics   the command-line tool
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

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
    .target(
        name: "RunnerWorker",
        dependencies: ["MetricsDecoding", "CSeccomp", "CSandboxShim", "CExt2Reader"],
        swiftSettings: strict
    ),
    .target(
        name: "RunnerSupervisor",
        dependencies: ["MetricsDecoding", "RunnerWorker", "CSandboxShim"],
        swiftSettings: strict
    ),
    .executableTarget(
        name: "runner-metrics",
        dependencies: [
            "RunnerSupervisor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: strict,
        // Resolve every dynamic symbol at start-up (BIND_NOW, and RELRO read-only after it):
        // otherwise each forked worker resolves the symbols it first calls itself, again,
        // per runner — and a writable GOT is one less thing to leave an attacker.
        linkerSettings: [.unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now", "-Xlinker", "-z", "-Xlinker", "relro"])]
    ),
    // Test-only: runs the real supervisor with a worker body that applies the production
    // sandbox and then misbehaves. Not part of any product; production code has no such switch.
    .target(name: "CProbeShim"),
    .executableTarget(
        name: "runner-metrics-probe",
        dependencies: ["RunnerSupervisor", "RunnerWorker", "MetricsDecoding", "CProbeShim"],
        swiftSettings: strict
    ),
    .testTarget(name: "MetricsDecodingTests", dependencies: ["MetricsDecoding"], swiftSettings: strict),
    .testTarget(
        name: "RunnerMetricsTests",
        dependencies: ["MetricsDecoding", "RunnerSupervisor", "runner-metrics", "runner-metrics-probe"],
        swiftSettings: strict
    ),
]

let package = Package(
    name: "runner-metrics",
    products: [
        .executable(name: "runner-metrics", targets: ["runner-metrics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: targets
)

// Fuzzing (Security/fuzz/run.sh): the libFuzzer targets exist only when RUNNER_METRICS_FUZZ is
// set, so a normal `swift build` / `swift test` never builds them and stays sanitizer-free.
// run.sh builds them with `-Xswiftc -sanitize=fuzzer,address` so that MetricsDecoding and
// RunnerWorker are instrumented too (coverage guidance needs the code under test instrumented).
if Context.environment["RUNNER_METRICS_FUZZ"] != nil {
    let fuzzFlags: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["MetricsDecoding"], swiftSettings: fuzzFlags))
    for (name, dependencies) in [
        ("FuzzStrictJSON", []), ("FuzzTimestamp", []), ("FuzzPreJob", []), ("FuzzPostJob", []),
        ("FuzzRecord", []), ("FuzzFrame", []), ("FuzzWorker", ["RunnerWorker"]), ("FuzzDifferential", []),
    ] as [(String, [Target.Dependency])] {
        package.targets.append(.executableTarget(
            name: name, dependencies: ["MetricsDecoding", "FuzzSupport"] + dependencies, swiftSettings: fuzzFlags))
    }
}
