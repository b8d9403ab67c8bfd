import Foundation
import Glibc
@testable import RunnerSupervisor
import Testing

/// How verdicts are grouped into durable batches, and how the deletions come back.
@Suite struct BatchingTests {
    /// The batch sizes a run of `runners` makes when verdicts arrive one at a time, by the rule
    /// `ExtractRun.process` applies after each one.
    static func schedule(runners: Int, batchSize: Int = 256) -> [Int] {
        var batches: [Int] = []
        var pending = 0
        for completed in 1...runners {
            pending += 1
            if pending >= ExtractRun.batchLimit(batchSize, remaining: runners - completed) {
                batches.append(pending)
                pending = 0
            }
        }
        if pending > 0 { batches.append(pending) }
        return batches
    }

    @Test func batchesAreFullUntilTheEndThenShrinkToAFewRunners() {
        #expect(Self.schedule(runners: 2_000) == [256, 256, 256, 256, 256, 240, 160, 107, 71, 47, 32, 32, 31])
        #expect(Self.schedule(runners: 100) == [33, 32, 32, 3])
        #expect(Self.schedule(runners: 10) == [10])
        // A configured batch under 32 is never exceeded.
        #expect(Self.schedule(runners: 50, batchSize: 8).allSatisfy { $0 <= 8 })
    }

    /// Two threads delete at the end of a run (the deletion thread and the supervisor's own),
    /// finishing in any order; the results come back in the order the jobs were submitted.
    @Test func deletionResultsComeBackInSubmissionOrder() throws {
        let tree = try TestTree()
        let names = (0..<300).map { String(format: "runner-%03d", $0) }
        for name in names { _ = try tree.runner(name, ["runner-installed.timestamp": "1"]) }
        let janitor = Janitor()
        let jobs = names.map {
            Janitor.Job(location: RunnerLocation(name: $0, runnerFSDir: tree.fs, imagesDir: tree.images), lines: "")
        }
        janitor.submit(Array(jobs[..<100]))
        janitor.submit(Array(jobs[100...]))
        let results = janitor.finish()
        #expect(results.map(\.job.location.name) == names)
        #expect(results.allSatisfy { $0.error == nil })
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree.fs)) ?? ["?"]).isEmpty)
    }
}
