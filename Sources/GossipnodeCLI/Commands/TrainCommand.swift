import Crypto
import Foundation
import Learning
import Node
import Privacy

/// `gossipnode train`: centralised training on one machine with the same flags as `run`.
enum TrainCommand {
    static let command = Command(
        name: "train",
        abstract: "Train a model on local data and report accuracy per epoch.",
        discussion: """
        Trains on the chosen data (or one shard of it) without any network, printing one line per
        epoch with the mean training loss, test accuracy, training throughput and elapsed time.
        With --dp, training is DP-SGD and every line shows the ε spent so far at --delta.
        --save writes the model, its standardisation and optimizer state in gossipnode's binary
        format; --export-npz writes the model for numpy.load (see SPEC.md, Models and training).
        """,
        options: TrainingFlags.options + TrainingPrivacyFlags.options + [
            .value("epochs", "n", help: "Passes over the training data.", default: "10"),
            .value("eval-every", "n", help: "Evaluate on the test set every N epochs (0: only at the end).", default: "1"),
            .value("save", "file", help: "Write the trained model (binary format) to this file."),
            .value("export-npz", "file", help: "Also write the model as a NumPy .npz archive."),
            .flag("json", help: "Write one JSON object per line instead of text."),
        ],
        run: { args, console in
            let flags = try TrainingFlags(args)
            let privacy = try TrainingPrivacyFlags(args)
            let epochs = try args.int("epochs", in: 1...100_000)!
            let evalEvery = try args.int("eval-every", in: 0...100_000)!
            let json = args.flag("json")
            // Before training, not after it: a typo in an output path must not cost the run.
            for flag in ["save", "export-npz"] {
                if let path = args.string(flag) { try FileAccess.checkWritable(path, flag: "--" + flag) }
            }
            var data = try flags.loadData()
            guard data.train.count > 0 else { throw ConfigurationError("shard \(flags.shard) of \(flags.source) is empty") }
            try flags.model.validate(inputCount: data.train.featureCount, classCount: data.train.classCount)
            if let noise = privacy.inputNoise {
                // From the operating system, as in `run`: noise drawn from the public --seed can be
                // subtracted again by anyone.
                var rng = SystemRandom()
                noise.apply(to: &data.train, rng: &rng)
            }
            func options(stepsPerEpoch: Int) -> TrainingRunOptions {
                TrainingRunOptions(model: flags.model, epochs: epochs, sgd: flags.sgd(totalSteps: epochs * stepsPerEpoch),
                                   seed: flags.seed, threads: flags.threads, evalEvery: evalEvery == 0 ? epochs : evalEvery,
                                   standardize: flags.standardize)
            }
            if !json {
                console.out("training \(flags.model) on \(data.train.count) examples of \(flags.source) (shard \(flags.shard), \(flags.partition)); "
                            + "\(data.test.count) test examples; \(flags.threads) thread(s), kernels: \(Kernels.instructionSet)")
            }
            let report = { (report: EpochReport) in
                let epsilon = privacy.epsilon(report.privacySteps)
                console.out(json ? TrainingOutput.json(report, epsilon: epsilon) : TrainingOutput.text(report, epochs: epochs, epsilon: epsilon))
            }
            let checkpoint: ModelCheckpoint
            if privacy.dp {
                let dp = try privacy.algorithm(batchSize: flags.batchSize, datasetSize: data.train.count, epochs: epochs)
                if !json {
                    console.out("DP-SGD: q = \(dp.options.samplingRate(datasetSize: data.train.count)), σ = \(dp.options.noiseMultiplier), "
                                + "C = \(dp.options.clipNorm), δ = \(privacy.delta)" + (privacy.budget.map { ", budget ε = \($0.epsilon)" } ?? ""))
                }
                // Sampling and noise from the operating system, never from the public --seed.
                var secret = DeterministicRandom.keyedBySystem()
                checkpoint = try TrainingRun.run(data: &data, options: options(stepsPerEpoch: dp.stepsPerEpoch(datasetSize: data.train.count)),
                                             algorithm: dp, training: &secret, report: report)
            } else {
                let plain = MinibatchGradient(batchSize: flags.batchSize)
                checkpoint = try TrainingRun.run(data: &data, options: options(stepsPerEpoch: plain.stepsPerEpoch(datasetSize: data.train.count)),
                                             algorithm: plain, report: report)
            }
            // A diverged model (NaN or infinite weights) is no result: say so rather than save it
            // and report chance-level accuracy as if it had trained (run stops the same way).
            if let bad = checkpoint.model.parameters.firstIndex(where: { !$0.isFinite }) {
                throw RuntimeFailure(description: "training diverged: parameter \(bad) is \(checkpoint.model.parameters[bad]); "
                                   + "nothing saved; lower --lr (or --momentum, --weight-decay)")
            }
            // Both files were checked writable before training; failing now (a full disk) is a
            // runtime failure (exit 1), not a configuration error: the training did run.
            do {
                if let path = args.string("save") {
                    try checkpoint.write(to: path)
                    if !json { console.out("saved model to \(path)") }
                }
                if let path = args.string("export-npz") {
                    try NPZExport.write(checkpoint, to: path)
                    if !json { console.out("exported model to \(path)") }
                }
            } catch {
                throw RuntimeFailure(description: "\(error)")
            }
            return ExitCode.success
        })
}

/// Formats epoch reports as text lines or JSON objects.
enum TrainingOutput {
    static func text(_ r: EpochReport, epochs: Int, epsilon: Double? = nil) -> String {
        var line = "epoch \(r.epoch)/\(epochs)  loss \(ReportText.fixed(r.trainLoss, 4))  train-acc \(ReportText.percent(r.trainAccuracy))"
        if let test = r.test { line += "  test-acc \(ReportText.percent(test.accuracy))  test-loss \(ReportText.fixed(test.meanLoss, 4))" }
        if let epsilon { line += "  ε \(ReportText.fixed(epsilon, 3))" }
        line += "  \(Int(r.samplesPerSecond.rounded())) samples/s  \(ReportText.fixed(r.elapsedSeconds, 1))s"
        if r.stoppedEarly { line += "  (stopped: privacy budget reached)" }
        return line
    }

    static func json(_ r: EpochReport, epsilon: Double? = nil) -> String {
        let number = ReportText.jsonFixed
        var fields = ["\"epoch\":\(r.epoch)", "\"steps\":\(r.steps)", "\"loss\":\(number(r.trainLoss, 6))",
                      "\"train_accuracy\":\(number(r.trainAccuracy, 6))"]
        if let test = r.test { fields += ["\"test_accuracy\":\(number(test.accuracy, 6))", "\"test_loss\":\(number(test.meanLoss, 6))"] }
        if let epsilon { fields.append("\"epsilon\":\(number(epsilon, 6))") }
        fields += ["\"samples_per_second\":\(number(r.samplesPerSecond, 1))", "\"elapsed_s\":\(number(r.elapsedSeconds, 3))", "\"evaluation_s\":\(number(r.evaluationSeconds, 3))",
                   "\"cpu_s\":\(number(r.cpuSeconds, 3))", "\"evaluation_cpu_s\":\(number(r.evaluationCPUSeconds, 3))",
                   "\"stopped_early\":\(r.stoppedEarly)"]
        return "{" + fields.joined(separator: ",") + "}"
    }

}
