import Foundation
import Testing

/// Security/prometheus: the alert rules load (`promtool check rules`) and each fires on the
/// series that should raise it and only then (`promtool test rules`, the cases in
/// runner-metrics.rules.test.yml).
@Suite struct AlertRuleTests {
    static var directory: String { HardeningSupport.security("prometheus") }

    @Test func promtoolChecksTheRules() throws {
        let promtool = try HardeningSupport.tool("promtool", package: "prometheus")
        let result = try HardeningSupport.run(promtool, ["check", "rules", Self.directory + "/runner-metrics.rules.yml"])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.out.contains("SUCCESS: 4 rules found"), "\(result.out)")
    }

    @Test func promtoolRuleTestsPass() throws {
        let promtool = try HardeningSupport.tool("promtool", package: "prometheus")
        let result = try HardeningSupport.run(promtool, ["test", "rules", Self.directory + "/runner-metrics.rules.test.yml"])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.out.contains("SUCCESS"), "\(result.out)")
    }

    /// The cases can fail: with the failing-run alert's 10 minutes cut to 1 and the
    /// quarantine alert's window cut to 1 minute, the same tests report both.
    @Test func ruleTestsNoticeAChangedRule() throws {
        let promtool = try HardeningSupport.tool("promtool", package: "prometheus")
        let root = try HardeningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rules = HardeningSupport.read(Self.directory + "/runner-metrics.rules.yml")
            .replacingOccurrences(of: "for: 10m", with: "for: 1m")
            .replacingOccurrences(of: "quarantined_total[15m]", with: "quarantined_total[1m]")
        #expect(rules != HardeningSupport.read(Self.directory + "/runner-metrics.rules.yml"))
        try HardeningSupport.write(root + "/runner-metrics.rules.yml", rules)
        try HardeningSupport.write(root + "/runner-metrics.rules.test.yml",
                                   HardeningSupport.read(Self.directory + "/runner-metrics.rules.test.yml"))
        let result = try HardeningSupport.run(promtool, ["test", "rules", root + "/runner-metrics.rules.test.yml"])
        #expect(result.status != 0)
        let output = result.out + result.err
        #expect(output.contains("alertname: RunnerMetricsRunFailing"), "\(output)")
        #expect(output.contains("alertname: RunnerMetricsRunnersQuarantined"), "\(output)")
    }
}
