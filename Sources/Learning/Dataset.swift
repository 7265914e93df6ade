/// Labelled examples as one row-major feature matrix (`count x featureCount`) and class indices.
public struct Dataset: Sendable, Equatable {
    public private(set) var features: [Float]
    public private(set) var labels: [Int32]
    public let featureCount: Int
    /// Number of classes of the whole task (kept by subsets so that every shard agrees on it).
    public let classCount: Int

    public var count: Int { labels.count }

    /// Checks the shapes and label range; `name` is used in error messages.
    public init(features: [Float], labels: [Int32], featureCount: Int, classCount: Int, name: String = "dataset") throws {
        guard featureCount > 0, features.count == labels.count * featureCount else {
            throw DataError(file: name, "\(features.count) feature values do not make \(labels.count) rows of \(featureCount)")
        }
        guard classCount >= 2 else { throw DataError(file: name, "needs at least 2 classes, has \(classCount)") }
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= classCount }) {
            throw DataError(file: name, "label \(bad) outside 0..<\(classCount)")
        }
        self.features = features
        self.labels = labels
        self.featureCount = featureCount
        self.classCount = classCount
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var rows = [Float](repeating: 0, count: indices.count * featureCount)
        rows.withUnsafeMutableBufferPointer { out in
            features.withUnsafeBufferPointer { src in
                for (row, index) in indices.enumerated() {
                    let from = src.baseAddress! + index * featureCount
                    (out.baseAddress! + row * featureCount).update(from: from, count: featureCount)
                }
            }
        }
        return Dataset(unchecked: rows, labels: indices.map { labels[$0] }, featureCount: featureCount, classCount: classCount)
    }

    /// How many examples of each class.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// Mutable access to the feature values (their count cannot change), e.g. for input noise.
    public mutating func withMutableFeatures<T>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> T) rethrows -> T {
        try features.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Applies a per-feature affine map in place (see `Standardization`).
    public mutating func standardize(with standardization: Standardization) {
        precondition(standardization.mean.count == featureCount, "standardization for another feature count")
        let d = featureCount, rows = count
        features.withUnsafeMutableBufferPointer { x in
            standardization.mean.withUnsafeBufferPointer { mean in
                standardization.inverseStd.withUnsafeBufferPointer { scale in
                    for row in 0..<rows {
                        let base = row * d
                        for j in 0..<d { x[base + j] = (x[base + j] - mean[j]) * scale[j] }
                    }
                }
            }
        }
    }

    init(unchecked features: [Float], labels: [Int32], featureCount: Int, classCount: Int) {
        self.features = features
        self.labels = labels
        self.featureCount = featureCount
        self.classCount = classCount
    }
}

/// Per-feature standardisation `(x - mean) / std`, fitted on training data and stored with the model
/// so that evaluation applies the same map. Constant features keep scale 1.
public struct Standardization: Sendable, Equatable {
    public let mean: [Float]
    public let inverseStd: [Float]

    public init(mean: [Float], inverseStd: [Float]) {
        self.mean = mean
        self.inverseStd = inverseStd
    }

    public init(fitting data: Dataset) {
        let d = data.featureCount, n = max(data.count, 1)
        var sum = [Double](repeating: 0, count: d), sumSq = [Double](repeating: 0, count: d)
        data.features.withUnsafeBufferPointer { x in
            for row in 0..<data.count {
                for j in 0..<d {
                    let v = Double(x[row * d + j])
                    sum[j] += v
                    sumSq[j] += v * v
                }
            }
        }
        var mean = [Float](repeating: 0, count: d), inverse = [Float](repeating: 1, count: d)
        for j in 0..<d {
            let m = sum[j] / Double(n)
            let variance = max(sumSq[j] / Double(n) - m * m, 0)
            mean[j] = Float(m)
            if variance > 1e-12 { inverse[j] = Float(1 / variance.squareRoot()) }
        }
        self.init(mean: mean, inverseStd: inverse)
    }
}

/// A training set and the test set it is evaluated on.
public struct DataSplit: Sendable {
    public var train: Dataset
    public var test: Dataset

    public init(train: Dataset, test: Dataset) {
        self.train = train
        self.test = test
    }

    /// Throws, naming both files, unless every file's examples have the first file's shape: the
    /// model is sized by the training set, and test rows of another size would be read out of
    /// bounds or as garbage. `describe` names a shape, e.g. "784 feature columns" or "28x28 images".
    /// (Classes need no check: IDX sets share a fixed class count, CSV files one label numbering.)
    static func requireSameShape<Shape: Equatable>(_ files: [(path: String, shape: Shape)], describe: (Shape) -> String) throws {
        guard let first = files.first else { return }
        for file in files.dropFirst() where file.shape != first.shape {
            throw DataError(file: file.path, "has \(describe(file.shape)), \(first.path) has \(describe(first.shape))")
        }
    }
}
