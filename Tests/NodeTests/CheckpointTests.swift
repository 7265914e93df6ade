import Foundation
import Testing
import TestKit
@testable import Node

@Suite struct CheckpointTests {
    func sample() -> NodeCheckpoint {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        rule.record(round: 1, relativeChange: 0.001, validationLoss: 2, heard: [])
        return NodeCheckpoint(round: 12, convergence: rule, model: (0..<1000).map { UInt8($0 % 251) })
    }

    @Test func roundTripsThroughTheStateDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let store = CheckpointStore(stateDirectory: dir.file("state/n1"))
        #expect(try store.load() == nil)
        try store.save(sample())
        #expect(try store.load() == sample())
        let mode = try FileManager.default.attributesOfItem(atPath: store.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aDivergedModelStillCheckpoints() throws {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        rule.record(round: 1, relativeChange: .nan, validationLoss: .nan, heard: [])
        let checkpoint = NodeCheckpoint(round: 1, convergence: rule, model: [1, 2, 3])
        let decoded = try NodeCheckpoint(bytes: try checkpoint.serialized(), source: "c")
        #expect(decoded.round == 1)
        #expect(decoded.model == [1, 2, 3])
    }

    @Test func everyTruncationAndEveryFlippedByteIsRejected() throws {
        let bytes = try sample().serialized()
        for n in 0..<bytes.count {
            #expect(throws: CheckpointError.self) { try NodeCheckpoint(bytes: Array(bytes.prefix(n)), source: "c") }
        }
        for i in 0..<bytes.count {
            var damaged = bytes
            damaged[i] ^= 0x10
            #expect(throws: CheckpointError.self) { try NodeCheckpoint(bytes: damaged, source: "c") }
        }
    }
}
