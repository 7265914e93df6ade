import Foundation
import Learning

extension DataError: ConfigurationProblem {}

/// The data, model and optimizer flags shared by `train` and `run`, and their validation.
struct TrainingFlags {
    static let options: [OptionSpec] = [
        .value("data", "source", help: "fashion-mnist, fashion-mnist:DIR, csv:FILE (every 5th row is the test set) or csv:TRAIN,TEST.",
               default: "fashion-mnist"),
        .value("label-column", "name", help: "The label column of CSV data."),
        .flag("standardize", help: "Scale each feature to zero mean and unit variance (training-set statistics, saved with the model)."),
        .value("shard", "i/n", help: "Train on shard I of N (1 <= I <= N, N at most the training examples).", default: "1/1"),
        .value("partition", "scheme", help: "How shards are dealt: iid, or dirichlet:ALPHA for label skew.", default: "iid"),
        .value("model", "spec", help: "logreg, mlp:H[,H2...] (hidden layer widths), or cnn[:C1,C2...[:H...]] (5x5 convolutions with C filters, each with ReLU and 2x2 max-pooling, then hidden widths H; cnn = cnn:16,32:128).", default: "mlp:256"),
        .value("batch-size", "n", help: "Examples per step.", default: "64"),
        .value("lr", "rate", help: "Learning rate.", default: "0.05"),
        .value("momentum", "m", help: "SGD momentum.", default: "0.9"),
        .value("weight-decay", "w", help: "L2 weight decay.", default: "0"),
        .value("lr-schedule", "name", help: "constant, cosine (to zero over the run) or step:EVERY:FACTOR.", default: "constant"),
        .value("seed", "n", help: "Seed for initialisation, shuffling and partitioning.", default: "1"),
        .value("threads", "n", help: "Threads for the numeric kernels.", derivedDefault: "the number of cores"),
    ]

    let source: DataSource
    let standardize: Bool
    var shard: Shard
    let partition: PartitionScheme
    let model: ModelSpec
    let batchSize: Int
    let learningRate: Float
    let momentum: Float
    let weightDecay: Float
    let scheduleText: String
    let seed: UInt64
    let threads: Int

    /// - Parameter partitionOption: the name of the data-partition flag (`simulate` calls it
    ///   `data-partition`, its `--partition` splits the network).
    init(_ args: ParsedArguments, partitionOption: String = "partition") throws {
        source = try Self.parse(args, "data") { try DataSource.parse($0, labelColumn: args.string("label-column")) }
        standardize = args.declares("standardize") && args.flag("standardize")
        // `simulate` deals every node its own shard and runs single-threaded kernels: it declares neither.
        // `run` declares --shard without a default: it picks the node's own shard when none is given.
        shard = args.declares("shard") && args.string("shard") != nil ? try Self.parse(args, "shard", Shard.parse) : .whole
        partition = try Self.parse(args, partitionOption, PartitionScheme.parse)
        model = try Self.parse(args, "model", ModelSpec.parse)
        batchSize = try args.int("batch-size", in: 1...1_000_000)!
        learningRate = Float(try args.double("lr", in: 0...1000)!)
        momentum = Float(try args.double("momentum", in: 0...0.9999)!)
        weightDecay = Float(try args.double("weight-decay", in: 0...10)!)
        scheduleText = args.string("lr-schedule")!
        _ = try Self.parse(args, "lr-schedule") { try LearningRateSchedule.parse($0, totalSteps: 1) }
        seed = UInt64(try args.int("seed", in: 0...Int.max)!)
        threads = args.declares("threads")
            ? try args.int("threads", in: 1...256) ?? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
    }

    /// SGD settings for a run of `totalSteps` steps (the cosine schedule needs the length).
    func sgd(totalSteps: Int) -> SGDOptions {
        let schedule = (try? LearningRateSchedule.parse(scheduleText, totalSteps: totalSteps)) ?? .constant
        return SGDOptions(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, schedule: schedule)
    }

    /// Loads the data and keeps this node's shard of the training set (the test set stays whole).
    func loadData() throws -> DataSplit {
        var split = try source.load()
        split.train = try partition.shard(split.train, shard, seed: seed)
        return split
    }

    private static func parse<T>(_ args: ParsedArguments, _ name: String, _ parser: (String) throws -> T) throws -> T {
        let text = args.string(name) ?? ""
        do { return try parser(text) } catch let error as DataError {
            throw args.invalid(name, text, error.problem)
        }
    }
}
