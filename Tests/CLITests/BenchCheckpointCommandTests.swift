@testable import GossipnodeCLI
import Testing

@Suite struct BenchCheckpointCommandTests {
    @Test func printsOneJSONLineWithEveryFigure() {
        let (code, stdout, stderr) = runTool(["bench-checkpoint", "--model", "mlp:16", "--repeats", "2"])
        #expect(code == 0, "\(stderr)")
        let lines = stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let line = String(lines.last ?? "")
        #expect(line.hasPrefix("{\"bench\":\"checkpoint\"") && line.hasSuffix("}"))
        for field in ["parameters", "bytes", "serialize_ms", "crc32_ms", "blake2b_ms", "blake2b_to_crc32_ratio", "save_ms", "save_cpu_ms"] {
            #expect(line.contains("\"\(field)\":"), "\(field)")
        }
        // 784*16+16 + 16*10+10 parameters.
        #expect(line.contains("\"parameters\":12730,"))
        #expect(!line.contains("nan") && !line.contains("inf"))
    }

    @Test func refusesABadModel() {
        #expect(runTool(["bench-checkpoint", "--model", "mlp:"]).code == 2)
    }
}
