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
    .target(name: "MetricsDecoding", swiftSettings: strict),
    .target(
        name: "RunnerWorker",
        dependencies: ["MetricsDecoding", "CSeccomp", "CSandboxShim"],
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
        swiftSettings: strict
    ),
    // Test-only: runs the real supervisor with a worker body that applies the production
    // sandbox and then misbehaves. Not part of any product; production code has no such switch.
    .executableTarget(
        name: "runner-metrics-probe",
        dependencies: ["RunnerSupervisor", "RunnerWorker", "CSandboxShim"],
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
