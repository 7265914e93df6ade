import Foundation
import Testing
@testable import Node

/// Every JSON line a command prints must parse, whatever the names and numbers in it: node names
/// and failure texts come from files, losses can diverge.
@Suite struct ReportTextTests {
    static func parse(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    @Test func stringsSurviveAsJSON() throws {
        for text in ["plain", "quote \" and \\ backslash", "line\nbreak\r\ttab", "bell \u{7} nul \u{0} esc \u{1b}", "ε ✓ 日本", ""] {
            let line = "{\"v\":" + ReportText.jsonString(text) + "}"
            let object = try #require(Self.parse(line), "not JSON: \(line)")
            #expect(object["v"] as? String == text)
        }
    }

    @Test func numbersThatJSONCannotSpellAreNull() {
        for value in [Double.infinity, -.infinity, .nan] {
            #expect(ReportText.jsonNumber(value) == "null")
            #expect(ReportText.jsonFixed(value, 3) == "null")
        }
        #expect(ReportText.jsonNumber(nil) == "null")
        #expect(ReportText.jsonNumber(0.000123456789) == "0.000123457")
        #expect(ReportText.jsonFixed(2.5, 3) == "2.500")
        #expect(ReportText.fixed(.nan, 2) == "nan" && ReportText.fixed(.infinity, 2) == "inf")
        #expect(ReportText.percent(0.8512) == "85.12%")
    }

    /// A diverged round of a node whose name holds a quote still gives one parseable line.
    @Test func aRoundReportIsJSONWhateverItHolds() throws {
        var report = RoundReport(node: "n\"1", round: 3, group: ["n\"1", "b\\2"], dropouts: ["c\n3"], failure: "bad \"sum\"",
                                 trainLoss: .nan, localSteps: 10, validationLoss: .infinity, testAccuracy: nil,
                                 epsilon: 1.5, clippedCoordinates: 0, bytesSent: 10, bytesReceived: 20, seconds: 0.25)
        report.cpuSeconds = .infinity
        let object = try #require(Self.parse(report.json), "not JSON: \(report.json)")
        #expect(object["node"] as? String == "n\"1")
        #expect(object["group"] as? [String] == ["n\"1", "b\\2"])
        #expect(object["dropouts"] as? [String] == ["c\n3"])
        #expect(object["failure"] as? String == "bad \"sum\"")
        #expect(object["train_loss"] is NSNull && object["validation_loss"] is NSNull && object["cpu_seconds"] is NSNull)
        #expect(object["epsilon"] as? Double == 1.5)
        #expect(report.text.contains("loss nan") && report.text.contains("val-loss inf"))
    }
}
