import CKernels
import Foundation
import Testing
import TestKit
@testable import Learning

/// End-to-end training on the committed subset, optimizer arithmetic, and the file formats.
@Suite struct TrainingTests {
    @Test func mlpOnCommittedSubsetBeats75Percent() throws {
        var split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        var reports: [EpochReport] = []
        let sgd = SGDOptions(learningRate: 0.05, momentum: 0.9, schedule: .cosine(totalSteps: 4 * 32))
        let options = TrainingRunOptions(model: .mlp(hidden: [128]), epochs: 4, sgd: sgd, seed: 1, threads: 2, evalEvery: 4)
        let checkpoint = try TrainingRun.run(data: &split, options: options, algorithm: MinibatchGradient(batchSize: 64)) { reports.append($0) }
        #expect(reports.count == 4)
        #expect(reports[3].trainLoss < reports[0].trainLoss)
        let accuracy = try #require(reports[3].test).accuracy
        #expect(accuracy > 0.75, "test accuracy \(accuracy)")
        #expect(Evaluation(model: checkpoint.model, data: split.test).accuracy == accuracy)
    }

    /// Two threads split rows in the passes and weight rows in the gradient, never a sum, and the
    /// second thread's parameter replica must follow every change: the trained parameters equal
    /// the one-thread run's bit for bit (odd batch sizes included), also when the caller changes
    /// the model between calls, as a node does when it aggregates.
    @Test func threadCountDoesNotChangeTraining() throws {
        let split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        func train(threads: Int) -> (parameters: [Float], velocity: [Float], loss: Double) {
            var rng = SeededGenerator(seed: 7)
            let model = Model(spec: .mlp(hidden: [96, 40]), inputCount: split.train.featureCount,
                              classCount: split.train.classCount, rng: &rng)
            var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4),
                                       algorithm: MinibatchGradient(batchSize: 61), threads: threads)
            var lossSum = trainer.train(steps: 6, on: split.train, rng: &rng).lossSum
            trainer.model.parameters = trainer.model.parameters.map { $0 * 0.5 }
            lossSum += trainer.train(steps: 6, on: split.train, rng: &rng).lossSum
            return (trainer.model.parameters, trainer.optimizerState.velocity, lossSum)
        }
        let one = train(threads: 1), two = train(threads: 2)
        #expect(one.parameters == two.parameters)
        #expect(one.velocity == two.velocity)
        #expect(one.loss == two.loss)
        #expect(Evaluation(model: try Model(spec: .mlp(hidden: [96, 40]), inputCount: 784, classCount: 10, parameters: one.parameters),
                           data: split.test, threads: 2).accuracy > 0.3)
    }

    @Test func sgdMatchesTheFormula() {
        var state = OptimizerState(parameterCount: 2)
        var w: [Float] = [1, -2]
        let options = SGDOptions(learningRate: 0.1, momentum: 0.5, weightDecay: 0.01)
        state.apply(options, gradient: [0.5, 1], to: &w)
        // v = g + wd*w; w -= lr*v
        #expect(abs(w[0] - (1 - 0.1 * (0.5 + 0.01))) < 1e-6)
        state.apply(options, gradient: [0.5, 1], to: &w)
        let v1: Float = 0.51
        #expect(state.step == 2 && abs(state.velocity[0] - (0.5 * v1 + 0.5 + 0.01 * (1 - 0.1 * 0.51))) < 1e-6)
    }

    @Test func schedules() throws {
        #expect(LearningRateSchedule.cosine(totalSteps: 100).rate(base: 1, step: 50) == 0.5)
        #expect(LearningRateSchedule.cosine(totalSteps: 100).rate(base: 1, step: 100) < 1e-6)
        #expect(try LearningRateSchedule.parse("step:10:0.5", totalSteps: 0).rate(base: 1, step: 25) == 0.25)
        #expect(throws: DataError.self) { try LearningRateSchedule.parse("linear", totalSteps: 1) }
    }

    @Test func checkpointRoundTripsAndRejectsDamage() throws {
        var rng = SeededGenerator(seed: 5)
        let model = Model(spec: .mlp(hidden: [7, 3]), inputCount: 5, classCount: 4, rng: &rng)
        let checkpoint = ModelCheckpoint(model: model, standardization: Standardization(mean: [1, 2, 3, 4, 5], inverseStd: [1, 1, 2, 2, 3]),
                                         optimizer: OptimizerState(velocity: model.parameters.map { $0 * 2 }, step: 42))
        let bytes = checkpoint.serialized()
        #expect(try ModelCheckpoint(bytes: bytes) == checkpoint)
        #expect(try ModelCheckpoint(bytes: ModelCheckpoint(model: model).serialized()).optimizer == nil)
        var flipped = bytes
        flipped[40] ^= 1
        #expect(throws: DataError.self) { try ModelCheckpoint(bytes: flipped, source: "m.bin") }
        #expect(throws: DataError.self) { try ModelCheckpoint(bytes: Array(bytes.prefix(bytes.count - 9))) }
        #expect(throws: DataError.self) { try ModelCheckpoint(bytes: [UInt8]("not a model at all".utf8)) }
        #expect(throws: DataError.self) { try ModelCheckpoint(bytes: []) }
    }

    @Test func hostileHeaderWithValidCRCIsRejectedWithoutAllocating() throws {
        var bytes: [UInt8] = Array("GNMODEL".utf8) + [1]
        let spec = Array("mlp:65536,65536".utf8)
        bytes += [UInt8(spec.count), 0] + spec
        bytes += [0, 0, 0, 1] + [10, 0, 0, 0]                   // 16,777,216 inputs, 10 classes
        bytes += [0, 0, 0, 0, 0, 1, 0, 0]                       // 2^40 parameters declared
        bytes += [0, 0, 0, 0]
        let crc = bytes.withUnsafeBytes { ck_crc32(0, $0.baseAddress, $0.count) }
        bytes += [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)]
        #expect(throws: DataError.self) { try ModelCheckpoint(bytes: bytes, source: "hostile.bin") }
    }

    @Test func npzIsAZipOfNpyArrays() throws {
        let (_, archive) = Self.npzFixture()
        #expect(Array(archive.prefix(4)) == [0x50, 0x4B, 0x03, 0x04])
        let text = String(decoding: archive, as: UTF8.self)
        #expect(text.contains("layer0.weight.npy") && text.contains("'shape': (2, 3)") && text.contains("layer1.bias.npy"))
    }

    /// Python's standard library reads the archive back: zip CRCs, NPY header and data.
    @Test(.enabled(if: Self.python("pass").status == 0, "needs python3"))
    func npzReadsBackInPython() throws {
        try Self.withWrittenNPZ { path, w in
            let stdlib = Self.python("""
                import ast, struct, zipfile
                z = zipfile.ZipFile('\(path)'); assert z.testzip() is None
                def load(name):
                    b = z.read(name + '.npy'); assert b[:8] == b'\\x93NUMPY\\x01\\x00'
                    n = struct.unpack('<H', b[8:10])[0]; h = ast.literal_eval(b[10:10 + n].decode())
                    return h, b[10 + n:]
                h, d = load('layer1.weight'); assert h['descr'] == '<f4' and not h['fortran_order']
                values = struct.unpack('<%df' % (len(d) // 4), d); assert len(values) == h['shape'][0] * h['shape'][1]
                s, text = load('spec')
                print(text.decode('utf-32-le'), h['shape'], repr(values[2 * h['shape'][1] + 1]))
                """)
            #expect(stdlib.status == 0 && stdlib.output.hasPrefix("mlp:3 (3, 2) \(Double(w))"), "python read: \(stdlib.output)")
        }
    }

    @Test(.enabled(if: Self.python("import numpy").status == 0, "needs numpy"))
    func npzLoadsInNumpy() throws {
        try Self.withWrittenNPZ { path, w in
            let numpy = Self.python("import numpy as np; z = np.load('\(path)'); print(str(z['spec']), z['layer0.weight'].shape, float(z['layer1.weight'][2,1]))")
            #expect(numpy.status == 0 && numpy.output.hasPrefix("mlp:3 (2, 3) \(Double(w))"), "numpy read: \(numpy.output)")
        }
    }

    /// Writes the fixture's archive to a temporary file and calls `body` with its path and the
    /// weight at layer 1, row 2, column 1 (what the readers print).
    static func withWrittenNPZ(_ body: (String, Float) throws -> Void) throws {
        let (model, archive) = npzFixture()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("m.npz")
        try Data(archive).write(to: URL(fileURLWithPath: path))
        try body(path, model.parameters[model.layers[1].weightOffset + 2 * 2 + 1])
    }

    /// A small MLP and its NPZ archive.
    static func npzFixture() -> (Model, [UInt8]) {
        var rng = SeededGenerator(seed: 5)
        let model = Model(spec: .mlp(hidden: [3]), inputCount: 2, classCount: 2, rng: &rng)
        return (model, Array(NPZExport.archive(ModelCheckpoint(model: model))))
    }

    /// Runs a Python snippet; status -1 when python3 cannot be started at all.
    static func python(_ script: String) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
