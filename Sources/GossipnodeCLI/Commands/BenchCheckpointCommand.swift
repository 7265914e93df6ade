import Crypto
import Foundation
import Learning
import Node

/// `gossipnode bench-checkpoint`: what a node's checkpoint costs every round, and its integrity
/// trailer (CRC-32) against the BLAKE2b that version 2 checkpoints carried, in the same run.
enum BenchCheckpointCommand {
    static let command = Command(
        name: "bench-checkpoint",
        abstract: "Measure a node's per-round checkpoint; print one JSON line.",
        discussion: """
        Builds the checkpoint a node of --model on Fashion-MNIST writes after every round
        (parameters, momentum, slow-momentum buffer, convergence state) and times, each the
        fastest of --repeats: serialising it (with its CRC-32 trailer), the CRC-32 alone, the
        32-byte BLAKE2b of the same bytes (the trailer of version 2 files; the reference), and a
        whole save into a temporary directory (serialise, write, fsync, rename, fsync the
        directory), in wall and CPU time. Ends with one JSON line.
        """,
        options: [
            .value("model", "spec", help: "Model whose checkpoint is measured.", default: "mlp:256"),
            .value("repeats", "n", help: "Runs of each measurement; the fastest counts.", default: "20"),
        ],
        run: { args, console in
            let spec = try ModelSpec.parse(args.string("model") ?? "mlp:256")
            // The limits train and run apply (parameter count, a CNN too deep for 28x28 images).
            try spec.validate(inputCount: 784, classCount: 10)
            let repeats = try args.int("repeats", in: 1...10_000) ?? 20
            console.out(try CheckpointBenchmark(spec: spec, repeats: repeats).run())
            return ExitCode.success
        })
}

/// The measurements behind `bench-checkpoint`.
struct CheckpointBenchmark {
    let spec: ModelSpec
    let repeats: Int

    func run() throws -> String {
        var rng = SeededGenerator(seed: 1)  // any weights do; a system call per draw took minutes for big models
        let model = Model(spec: spec, inputCount: 784, classCount: 10, rng: &rng)
        let velocity = (0..<model.parameterCount).map { _ in Float.random(in: -0.01...0.01) }
        let optimizer = OptimizerState(velocity: velocity, step: 1000)
        var rule = ConvergenceRule(settings: .init(tolerance: 0.002, patience: 3, mixingMargin: 3, maxRounds: 60))
        rule.record(round: 1, relativeChange: 0.1, validationLoss: 0.5, heard: [])
        let checkpoint = NodeCheckpoint(round: 1, convergence: rule,
                                        model: ModelCheckpoint(model: model, optimizer: optimizer).serialized(),
                                        slowMomentum: velocity)
        let bytes = try checkpoint.serialized()
        let body = Array(bytes.dropLast(4))
        let serialize = try fastest { _ = try checkpoint.serialized() }
        let crc = try fastest { _ = crc32(body) }
        let blake2b = try fastest { _ = KDF.hash(body, outputLength: 32) }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gossipnode-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = CheckpointStore(stateDirectory: directory)
        var saveCPU = Double.infinity
        let save = try fastest {
            let cpu = ProcessClock.cpuSeconds()
            try store.save(checkpoint)
            saveCPU = min(saveCPU, ProcessClock.cpuSeconds() - cpu)
        }
        guard try store.load() == checkpoint else { throw ConfigurationError("the saved checkpoint does not load back equal") }
        func ms(_ seconds: Double) -> String { String(format: "%.4f", seconds * 1e3) }
        return "{\"bench\":\"checkpoint\",\"model\":\"\(spec)\",\"parameters\":\(model.parameterCount),\"bytes\":\(bytes.count),"
            + "\"serialize_ms\":\(ms(serialize)),\"crc32_ms\":\(ms(crc)),\"blake2b_ms\":\(ms(blake2b)),"
            + "\"blake2b_to_crc32_ratio\":\(String(format: "%.2f", blake2b / crc)),"
            + "\"save_ms\":\(ms(save)),\"save_cpu_ms\":\(ms(saveCPU))}"
    }

    /// The fastest wall time of `repeats` runs of `body`.
    private func fastest(_ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = ProcessClock.wallSeconds()
            try body()
            best = min(best, ProcessClock.wallSeconds() - start)
        }
        return best
    }
}
