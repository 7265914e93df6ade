@testable import GossipnodeCLI
import Testing

@Suite struct BenchSecAggCommandTests {
    @Test func printsOneJSONLineWithEveryFigure() {
        let (code, stdout, stderr) = runTool(["bench-secagg", "--mask-length", "3000", "--round-length", "500",
                                              "--members", "5", "--repeats", "1"])
        #expect(code == 0, "\(stderr)")
        let lines = stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let line = String(lines.last ?? "")
        #expect(line.hasPrefix("{\"bench\":\"secagg\"") && line.hasSuffix("}"))
        for field in ["mask_s", "keystream_s", "mask_ratio", "round_cpu_s", "round_2_lost_after_input_cpu_s",
                      "round_2_lost_after_share_cpu_s", "member_bytes_per_word", "max_rss_mib"] {
            #expect(line.contains("\"\(field)\":"), "\(field)")
        }
        #expect(!line.contains("null"))
    }

    /// The dropout rounds lose two members: with 3 or 4 fewer than the threshold remain, so such
    /// groups are refused up front instead of failing with a message that reads like a bug.
    @Test(arguments: ["2", "3", "4"])
    func refusesGroupsTooSmallForTheDropoutRounds(_ members: String) {
        let result = runTool(["bench-secagg", "--members", members])
        #expect(result.code == 2 && result.stderr.contains("invalid value '\(members)' for '--members <k>'"), "\(result.stderr)")
    }
}
