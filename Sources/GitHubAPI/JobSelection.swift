// Which job of a run is the runner's, across the pages of the jobs list.
//
// Exactly one job may name the runner. Two that do (a re-run attempt listed with the first, a
// runner re-registered under a name in use, or a hostile API) have no single reading: which
// one's times are the runner's is a guess, so the answer is `ambiguous`, never the first or
// the last. Every page is therefore read before a match counts.

public struct JobSelection: Sendable {
    public enum Outcome: Equatable, Sendable {
        case found(WorkflowJob)
        case notFound
        case ambiguous
        case tooManyPages
        /// A page longer than asked for.
        case malformed
    }

    public enum Step: Equatable, Sendable {
        case fetch(page: Int)
        case finished(Outcome)
    }

    public let runnerName: String
    public let perPage: Int
    public let maxPages: Int
    public private(set) var next: Step = .fetch(page: 1)
    var match: WorkflowJob?
    var seen = 0
    var totalCount = 0

    public init(runnerName: String, perPage: Int = 100, maxPages: Int = 10) {
        self.runnerName = runnerName
        self.perPage = perPage
        self.maxPages = maxPages
    }

    /// Takes the page `next` asked for and says what to do next. The first page's
    /// `total_count` decides how many jobs there are: more than `maxPages` pages of them is
    /// `tooManyPages` at once; the list ends when that many were seen or a page is short.
    public mutating func add(_ page: JobsPage) -> Step {
        guard case .fetch(let number) = next else { return next }
        guard page.jobs.count <= perPage else { return finish(.malformed) }
        if number == 1 {
            totalCount = page.totalCount
            guard totalCount <= perPage * maxPages else { return finish(.tooManyPages) }
        }
        for job in page.jobs {
            guard let name = job.runnerName, name.utf8.elementsEqual(runnerName.utf8) else { continue }
            guard match == nil else { return finish(.ambiguous) }
            match = job
        }
        seen += page.jobs.count
        if seen >= totalCount || page.jobs.count < perPage {
            return finish(match.map { .found($0) } ?? .notFound)
        }
        guard number < maxPages else { return finish(.tooManyPages) }
        next = .fetch(page: number + 1)
        return next
    }

    private mutating func finish(_ outcome: Outcome) -> Step {
        next = .finished(outcome)
        return next
    }
}
