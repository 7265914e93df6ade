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

    @Test func refusesGroupsTooSmallForSecureAggregation() {
        #expect(runTool(["bench-secagg", "--members", "2"]).code == 2)
    }
}
