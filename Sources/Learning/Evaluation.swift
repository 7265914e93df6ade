/// Loss, accuracy and confusion matrix of a model on a dataset.
public struct Evaluation: Equatable, Sendable {
    public let count: Int
    public let meanLoss: Double
    public let correct: Int
    /// confusion[trueLabel][predictedLabel] counts.
    public let confusion: [[Int]]

    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }

    /// Runs the model over `data` in batches of `batchSize`.
    public init(model: Model, data: Dataset, threads: Int = 1, batchSize: Int = 500) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: model.classCount), count: model.classCount)
        var lossSum = 0.0, correct = 0
        // A CNN's workspace holds every patch of every example: smaller batches keep it small.
        let batchSize = model.convolutions.isEmpty ? batchSize : min(batchSize, 64)
        let workspace = Workspace(model: model, capacity: max(1, min(batchSize, data.count)), threads: threads)
        var start = 0
        while start < data.count {
            let end = min(start + workspace.capacity, data.count)
            workspace.loadBatch(data, indices: start..<end)
            workspace.forward(model.parameters)
            let logits = workspace.logits, classes = model.classCount
            for row in 0..<(end - start) {
                var best = 0
                for j in 1..<classes where logits[row * classes + j] > logits[row * classes + best] { best = j }
                confusion[Int(data.labels[start + row])][best] += 1
            }
            let batch = workspace.softmaxCrossEntropy(scale: 0)
            lossSum += batch.lossSum
            correct += batch.correct
            start = end
        }
        self.count = data.count
        self.meanLoss = data.count > 0 ? lossSum / Double(data.count) : 0
        self.correct = correct
        self.confusion = confusion
    }
}
