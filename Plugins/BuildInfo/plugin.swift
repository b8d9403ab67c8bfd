import Foundation
import PackagePlugin

/// Writes `BuildCommit.swift` with the commit the package is built from, for
/// `runner-metrics --version` and the textfile's `runner_metrics_build_info` gauge. A prebuild
/// command runs before every build, so the commit is never stale; the file is rewritten only
/// when it changes, so an unchanged commit recompiles nothing. `unknown` outside a git
/// checkout (a source tarball).
@main struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = """
            set -e; mkdir -p "$1"
            c=$(git -C "$2" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            f="$1/BuildCommit.swift"; t="$f.tmp"
            printf '/// The commit this binary was built from (git rev-parse --short=12 HEAD at build time).\\npackage let buildCommit = "%s"\\n' "$c" > "$t"
            if cmp -s "$t" "$f"; then rm "$t"; else mv "$t" "$f"; fi
            """
        return [.prebuildCommand(displayName: "Record the build's commit", executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "sh", output.path, context.package.directoryURL.path],
                                 outputFilesDirectory: output)]
    }
}
