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

    /// Models train refuses are refused here too (a CNN too deep for 28x28 images crashed in
    /// Model.init; a 4-billion-parameter MLP aborted on allocation).
    @Test(arguments: [("mlp:", "mlp:"), ("cnn:1,1,1", "too small for convolution 3"), ("mlp:65536,65536", "too many parameters")])
    func refusesABadModel(_ spec: String, _ message: String) {
        let result = runTool(["bench-checkpoint", "--model", spec])
        #expect(result.code == 2 && result.stderr.contains(message), "\(result.stderr)")
    }
}

@Suite struct BenchTransportCommandTests {
    /// A one-byte message used to be mistaken for the one-byte warm-up message before it
    /// ("message arrived corrupted", exit 2); a failed measurement is a runtime failure (exit 1).
    @Test func measuresAOneByteMessage() {
        let result = runTool(["bench-transport", "--size", "1", "--runs", "1"])
        #expect(result.code == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").last?.hasPrefix("{") == true, "\(result.stdout)")
    }
}
