// swift-tools-version: 6.0
// The package draws the trust boundary in its folders:
//   MetricsDecoding  pure decoding of runner bytes and records (no I/O); used by worker and supervisor
//   RunnerWorker     the sandbox and the reader that run inside the per-runner worker process
//   RunnerSupervisor the privileged side: discovery, fork server, verdicts, logs, deletion, quarantine
//   runner-metrics   the command-line tool
//   runner-metrics-worker  the fork server and its workers, compiled as Embedded Swift: a small
//                    binary whose forks are cheap (Sources/Embedded holds the same sources as
//                    MetricsDecoding and RunnerWorker, compiled again in Embedded mode)
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
// Embedded Swift: no runtime metadata, no reflection, whole-module; only what the code uses
// is linked. Used for the worker binaries only.
/// The toolchain's usr/lib, found from the PackageDescription library this manifest runs with.
let toolchainLibrary: String = {
    let maps = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() ?? Data()
    for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
        guard let slash = line.firstIndex(of: "/"), let pm = line.range(of: "/lib/swift/pm/") else { continue }
        return String(line[slash..<pm.lowerBound]) + "/lib"
    }
    fatalError("runner-metrics: cannot find the Swift toolchain (no PackageDescription library in /proc/self/maps)")
}()

// The resource directory is named explicitly: `swift build --static-swift-stdlib` (the release
// build) points every target at lib/swift_static, which has no Embedded stdlib.
let embedded: [SwiftSetting] = [
    .swiftLanguageMode(.v6), .enableExperimentalFeature("Embedded"),
    // One section per function, so the linker can order them (see embeddedExecutable), and
    // no merged functions: LLVM's MergeFunctions pass leaves unnamed bodies (array storage
    // deallocators, say) that a symbol ordering file cannot name.
    .unsafeFlags(["-wmo", "-resource-dir", toolchainLibrary + "/swift", "-Xfrontend", "-function-sections",
                  "-Xfrontend", "-disable-llvm-merge-functions-pass"]),
]

/// The toolchain's Embedded Swift libraries (the Unicode data tables String comparison needs).
/// x86-64 only, like the seccomp policies (Security/SECCOMP_POLICY.md).
func embeddedLibraryDirectory() -> String {
    toolchainLibrary + "/swift/embedded/x86_64-unknown-linux-gnu"
}

func embeddedExecutable(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["RunnerWorkerEmbedded", "CEmbeddedRuntime"] + dependencies,
        exclude: name == "runner-metrics-worker" ? ["hot-functions.order"] : [],
        swiftSettings: embedded,
        linkerSettings: [
            .unsafeFlags(["-enable-experimental-feature", "Embedded", "-L", embeddedLibraryDirectory()]),
            // Static (10 mappings to copy per fork instead of ~50), linked by lld with the
            // functions a worker runs packed together (Security/bench/hot_functions.py made the
            // list): measured 28 -> 21 page faults per worker.
            .unsafeFlags(["-Xclang-linker", "-static", "-use-ld=lld",
                          "-Xlinker", "--symbol-ordering-file=" + Context.packageDirectory + "/Sources/runner-metrics-worker/hot-functions.order",
                          "-Xlinker", "--no-warn-symbol-ordering"]),
            .linkedLibrary("swiftUnicodeDataTables"),
            .linkedLibrary("m"),
            // As for runner-metrics: resolve every symbol at start-up, GOT read-only after it.
            .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now", "-Xlinker", "-z", "-Xlinker", "relro"]),
            .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "max-page-size=0x200000"]),
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
    .target(
        name: "RunnerWorker",
        dependencies: ["MetricsDecoding", "CSandboxShim", "CExt2Reader"],
        swiftSettings: strict
    ),
    // The same sources in Embedded mode, for the worker binaries (directory symlinks).
    .target(name: "MetricsDecodingEmbedded", path: "Sources/Embedded/MetricsDecoding", swiftSettings: embedded),
    .target(
        name: "RunnerWorkerEmbedded",
        dependencies: ["MetricsDecodingEmbedded", "CSandboxShim", "CExt2Reader"],
        path: "Sources/Embedded/RunnerWorker",
        swiftSettings: embedded
    ),
    // What the Embedded stdlib expects the platform to provide (a C-locale strtod).
    .target(name: "CEmbeddedRuntime"),
    embeddedExecutable("runner-metrics-worker", dependencies: []),
    // Records the commit the binaries are built from (runner-metrics --version, build_info).
    .plugin(name: "BuildInfo", capability: .buildTool()),
    .target(
        name: "RunnerSupervisor",
        dependencies: ["MetricsDecoding", "RunnerWorker", "CSandboxShim", "CSeccomp"],
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
        // Resolve every dynamic symbol at start-up (BIND_NOW, and RELRO read-only after it):
        // otherwise each forked worker resolves the symbols it first calls itself, again,
        // per runner — and a writable GOT is one less thing to leave an attacker.
        linkerSettings: [
            .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now", "-Xlinker", "-z", "-Xlinker", "relro"]),
        ]
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
    .testTarget(name: "MetricsDecodingTests", dependencies: ["MetricsDecoding"], swiftSettings: strict),
    // The tests run the built binaries, the Embedded worker binaries included; those cannot be
    // dependencies here (SwiftPM would link their Embedded objects into the test bundle), so
    // `swift build` comes before `swift test` (README, .ci/run) and the tests say so if not.
    .testTarget(
        name: "RunnerMetricsTests",
        dependencies: ["MetricsDecoding", "RunnerWorker", "RunnerSupervisor", "runner-metrics", "runner-metrics-probe"],
        swiftSettings: strict
    ),
]

let package = Package(
    name: "runner-metrics",
    products: [
        .executable(name: "runner-metrics", targets: ["runner-metrics"]),
        .executable(name: "runner-metrics-worker", targets: ["runner-metrics-worker"]),
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
