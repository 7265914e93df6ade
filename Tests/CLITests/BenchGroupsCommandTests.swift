import Foundation
@testable import GossipnodeCLI
import Node
import Testing

@Suite struct BenchGroupsCommandTests {
    @Test func printsOneJSONLineWithEveryFigure() throws {
        let (code, stdout, stderr) = runTool(["bench-groups", "--peers", "27", "--group-size", "3", "--rounds", "200"])
        #expect(code == 0, "\(stderr)")
        let lines = stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data((lines.last ?? "").utf8)) as? [String: Any])
        #expect(json["bench"] as? String == "groups")
        #expect(json["margin"] as? Int == GroupSchedule.mixingMargin(peers: 27, groupSize: 3))
        #expect(json["unmixed_windows"] as? Int == 0)
        let candidates = try #require(json["candidates_per_round"] as? Double)
        #expect(candidates >= 1 && candidates < 2)
        for field in ["schedule_s", "random_groupings_s", "ratio"] { #expect(json[field] is Double, "\(field)") }
    }

    @Test(arguments: [["--peers", "2"], ["--peers", "8", "--group-size", "9"], ["--rounds", "0"]])
    func refusesBadSizes(_ flags: [String]) {
        let result = runTool(["bench-groups"] + flags)
        #expect(result.code == 2, "\(result.stderr)")
    }
}
