import Foundation
import Learning
import Privacy
import Crypto
import Testing
import TestKit
@testable import Node

@Suite struct CheckpointTests {
    func sample() -> NodeCheckpoint {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        rule.record(round: 1, relativeChange: 0.001, validationLoss: 2, heard: [])
        return NodeCheckpoint(round: 12, convergence: rule, model: (0..<1000).map { UInt8($0 % 251) },
                              slowMomentum: [0.5, -1.25, .leastNonzeroMagnitude])
    }

    /// Version 1 (before the slow-momentum buffer: the model runs to the hash) still loads.
    @Test func aVersion1CheckpointStillLoads() throws {
        let current = sample()
        let bytes = try current.serialized()
        // Rewrite the current layout as version 1: drop the model length and the buffer.
        let metadataLength = Int(littleEndianUInt32(bytes, at: 8))
        let modelStart = 12 + metadataLength + 8
        var v1 = Array(bytes[0..<(12 + metadataLength)]) + Array(bytes[modelStart..<(modelStart + current.model.count)])
        v1[4] = 1
        v1 += KDF.hash(v1, outputLength: 32)
        let loaded = try NodeCheckpoint(bytes: v1, source: "old")
        #expect(loaded.model == current.model && loaded.round == current.round && loaded.convergence == current.convergence)
        #expect(loaded.slowMomentum.isEmpty)
    }

    /// Version 2 (the same layout ending with a 32-byte BLAKE2b) still loads; version 3 ends with
    /// the CRC-32 of everything before it.
    @Test func aVersion2CheckpointStillLoadsAndVersion3EndsWithACRC() throws {
        let current = sample()
        let bytes = try current.serialized()
        #expect(littleEndianUInt32(bytes, at: 4) == 3)
        let body = Array(bytes.dropLast(4))
        #expect(Array(bytes.suffix(4)) == withUnsafeBytes(of: crc32(body).littleEndian) { Array($0) })
        var v2 = body
        v2[4] = 2
        v2 += KDF.hash(v2, outputLength: 32)
        #expect(try NodeCheckpoint(bytes: v2, source: "old") == current)
        // A version 2 file's BLAKE2b is checked like the CRC: one flipped bit is refused.
        v2[20] ^= 1
        #expect { try NodeCheckpoint(bytes: v2, source: "old") } throws: { "\($0)".contains("checksum") }
    }

    /// A checksum-valid file whose buffer is not whole floats, or whose model length overruns it, is
    /// refused with the reason.
    @Test func aMalformedSlowMomentumSectionIsRefused() throws {
        let bytes = try sample().serialized()
        let body = Array(bytes.dropLast(4))
        #expect { try NodeCheckpoint(bytes: NodeCheckpoint.sealed(body.dropLast(1)), source: "c") } throws: { "\($0)".contains("whole floats") }
        var overrun = body
        let lengthAt = 12 + Int(littleEndianUInt32(bytes, at: 8))
        overrun[lengthAt + 7] = 0x7F
        #expect { try NodeCheckpoint(bytes: NodeCheckpoint.sealed(overrun), source: "c") } throws: { "\($0)".contains("exceeds the file") }
    }

    /// A save killed before its rename leaves a partial temporary file beside the checkpoint
    /// (AtomicFile's ".checkpoint.tmp-PID-RANDOM"): the previous checkpoint still loads whole,
    /// and the next save still replaces it.
    @Test func aSaveKilledBeforeItsRenameLeavesThePreviousCheckpoint() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let store = CheckpointStore(stateDirectory: dir.file("state/n1"))
        try store.save(sample())
        let full = try sample().serialized()
        try Data(full.prefix(full.count / 2)).write(to: URL(fileURLWithPath: dir.file("state/n1/.checkpoint.tmp-4242-17")))
        #expect(try store.load() == sample())
        let next = NodeCheckpoint(round: 13, convergence: sample().convergence, model: sample().model, slowMomentum: [])
        try store.save(next)
        #expect(try store.load() == next)
    }

    /// A `checkpoint` that is a directory is an error naming it and why, not an empty start.
    @Test func aCheckpointThatIsADirectoryIsAnError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let store = CheckpointStore(stateDirectory: dir.file("state/n1"))
        try FileManager.default.createDirectory(atPath: store.path, withIntermediateDirectories: true)
        #expect(throws: CheckpointError(path: store.path, problem: "unreadable (cannot open: it is a directory)")) { try store.load() }
    }

    /// A state directory replaced by a file while the node runs: the save names the checkpoint
    /// and gives the system's reason (it was Foundation's NSError, dumped whole).
    @Test func aStateDirectoryThatBecameAFileIsAnErrorNamingIt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        _ = try dir.write("n1", "")
        let store = CheckpointStore(stateDirectory: dir.file("n1"))
        #expect(throws: CheckpointError(path: store.path, problem: "not writable: cannot create \(dir.file("n1")) (File exists)")) {
            try store.save(sample())
        }
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

    /// A checkpoint says whether its model was ever trained without DP-SGD, so that `run --dp`
    /// can refuse to resume it (its ledger would understate ε); the mark survives a later DP run,
    /// and files written before it existed read as unknown.
    @Test func aCheckpointRemembersTrainingWithoutPrivacy() throws {
        var rng = SeededGenerator(seed: 5)
        let shard = try Dataset(features: (0..<60).map { _ in Float(rng.nextGaussian()) }, labels: (0..<20).map { Int32($0 % 2) },
                                featureCount: 3, classCount: 2)
        let initial = ModelCheckpoint(model: Model(spec: .logisticRegression, inputCount: 3, classCount: 2, rng: &rng))
        func host(dp: DPSGDOptions?) throws -> NodeHost {
            let settings = NodeLearner.Settings(model: .logisticRegression, sgd: SGDOptions(learningRate: 0.1, momentum: 0),
                                                batchSize: 4, localSteps: 1, threads: 1, dp: dp, delta: 1e-5, budget: nil)
            return NodeHost(name: "n", learner: try NodeLearner(settings: settings, shard: shard, initial: initial, stateDirectory: nil),
                            test: nil, checkpoints: nil, evalEvery: 0)
        }
        let rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        let plain = try host(dp: nil).snapshot(round: 1, convergence: rule)
        #expect(plain.trainedWithoutPrivacy == true)
        #expect(try NodeCheckpoint(bytes: plain.serialized(), source: "c").trainedWithoutPrivacy == true)
        var resumed = try host(dp: DPSGDOptions(noiseMultiplier: 1, expectedBatchSize: 4))
        #expect(resumed.snapshot(round: 1, convergence: rule).trainedWithoutPrivacy == false)
        resumed.resumedTrainedWithoutPrivacy = true
        #expect(resumed.snapshot(round: 2, convergence: rule).trainedWithoutPrivacy == true)
        let unknown = NodeCheckpoint(round: 1, convergence: rule, model: [1, 2, 3])
        #expect(try NodeCheckpoint(bytes: unknown.serialized(), source: "c").trainedWithoutPrivacy == nil)
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

    /// `eval` reads a model file, a kept round model and a node checkpoint alike; a damaged node
    /// checkpoint is an error naming the file.
    @Test func theModelIsReadFromAModelFileAKeptRoundModelOrANodeCheckpoint() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = SeededGenerator(seed: 3)
        let model = ModelCheckpoint(model: Model(spec: .mlp(hidden: [4]), inputCount: 5, classCount: 3, rng: &rng))
        let store = CheckpointStore(stateDirectory: dir.file("state/n1"))
        try store.save(NodeCheckpoint(round: 7, convergence: sample().convergence, model: model.serialized()))
        try store.saveRoundModel(model.serialized(), round: 7)
        #expect(store.roundModelPath(round: 7) == dir.file("state/n1/rounds/round-000007.model"))
        // Private like the checkpoint: after a failed round it is the node's own trained model.
        let attributes = { try FileManager.default.attributesOfItem(atPath: $0)[.posixPermissions] as? Int }
        #expect(try attributes(store.roundModelPath(round: 7)) == 0o600)
        #expect(try attributes(dir.file("state/n1/rounds")) == 0o700)
        try model.write(to: dir.file("plain.model"))
        for path in [store.path, store.roundModelPath(round: 7), dir.file("plain.model")] {
            #expect(try NodeCheckpoint.readModel(from: path).serialized() == model.serialized())
        }
        var damaged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: store.path)))
        damaged[damaged.count / 2] ^= 1
        let path = dir.file("damaged")
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        #expect { try NodeCheckpoint.readModel(from: path) } throws: { "\($0)".contains(path) && "\($0)".contains("checksum") }
    }
}
