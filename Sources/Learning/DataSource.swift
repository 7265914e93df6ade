import Foundation

/// Where training and test data come from, parsed from the `--data` flag:
/// `fashion-mnist` (the Debian package, else the committed subset), `fashion-mnist:DIR`,
/// `csv:FILE` (every 5th row held out for testing) or `csv:TRAIN,TEST`, with `labelColumn` for CSV.
public enum DataSource: Equatable, Sendable, CustomStringConvertible {
    case fashionMNIST(directory: String?)
    case csv(train: String, test: String?, labelColumn: String)

    /// Where the Debian package `dataset-fashion-mnist` installs the data.
    public static let systemFashionMNIST = "/usr/share/datasets/fashion-mnist"

    public static func parse(_ text: String, labelColumn: String? = nil) throws -> DataSource {
        if text == "fashion-mnist" { return .fashionMNIST(directory: nil) }
        if text.hasPrefix("fashion-mnist:") { return .fashionMNIST(directory: String(text.dropFirst("fashion-mnist:".count))) }
        if text.hasPrefix("csv:") {
            let files = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard let column = labelColumn, !column.isEmpty else {
                throw DataError(file: text, "CSV data needs --label-column NAME")
            }
            guard (1...2).contains(files.count), files.allSatisfy({ !$0.isEmpty }) else {
                throw DataError(file: text, "expected csv:FILE or csv:TRAIN,TEST")
            }
            return .csv(train: files[0], test: files.count == 2 ? files[1] : nil, labelColumn: column)
        }
        throw DataError(file: text, "unknown data source (expected fashion-mnist, fashion-mnist:DIR, csv:FILE or csv:TRAIN,TEST)")
    }

    public var description: String {
        switch self {
        case .fashionMNIST(let directory): directory.map { "fashion-mnist:\($0)" } ?? "fashion-mnist"
        case .csv(let train, let test, _): "csv:" + ([train] + (test.map { [$0] } ?? [])).joined(separator: ",")
        }
    }

    /// Loads the training and test sets.
    public func load() throws -> DataSplit {
        switch self {
        case .fashionMNIST(let directory):
            let dir = directory ?? Self.defaultFashionMNISTDirectory()
            return try Self.loadIDX(directory: dir, prefixes: ("train", "t10k"))
        case .csv(let train, let test?, let column):
            let sets = try CSVReader.read(paths: [train, test], labelColumn: column)
            return DataSplit(train: sets[0], test: sets[1])
        case .csv(let train, nil, let column):
            let all = try CSVReader.read(path: train, labelColumn: column)
            let testRows = stride(from: 4, to: all.count, by: 5).map { $0 }
            let trainRows = (0..<all.count).filter { $0 % 5 != 4 }
            guard !testRows.isEmpty else { throw DataError(file: train, "needs at least 5 rows to hold out a test set") }
            return DataSplit(train: all.subset(trainRows), test: all.subset(testRows))
        }
    }

    /// Loads the test set alone, all that evaluating a trained model needs: of a Fashion-MNIST
    /// directory only `t10k-images-idx3-ubyte[.gz]` and `t10k-labels-idx1-ubyte[.gz]`; of
    /// `csv:TRAIN,TEST` only TEST, unless its labels are names, which are numbered over both files
    /// together as training numbered them (then TRAIN too); of `csv:FILE`, FILE (every 5th row).
    public func loadTest() throws -> Dataset {
        switch self {
        case .fashionMNIST(let directory):
            let dir = directory ?? Self.defaultFashionMNISTDirectory()
            try Self.requireIDXDirectory(dir, example: "t10k")
            return try Self.loadIDXSet(directory: dir, prefix: "t10k").data
        case .csv(let train, let test?, let column):
            return try CSVReader.readTest(path: test, trainingPath: train, labelColumn: column)
        case .csv(_, nil, _):
            return try load().test
        }
    }

    /// The Debian package's directory if present, else the committed subset (`data/fashion-mnist-subset`)
    /// found from the working directory, next to the executable, or in the source tree.
    public static func defaultFashionMNISTDirectory() -> String {
        let fm = FileManager.default
        if fm.fileExists(atPath: systemFashionMNIST + "/train-images-idx3-ubyte.gz") { return systemFashionMNIST }
        return committedSubsetDirectory()
    }

    /// The committed 2,000/500-image subset of Fashion-MNIST.
    public static func committedSubsetDirectory() -> String {
        let relative = "data/fashion-mnist-subset"
        let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let executableDir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relative),
            executableDir.appendingPathComponent("../../../" + relative).standardizedFileURL,
            executableDir.appendingPathComponent("../share/gossipnode/fashion-mnist-subset").standardizedFileURL,
            sourceRoot.appendingPathComponent(relative),
        ]
        let found = candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("train-labels-idx1-ubyte.gz").path) }
        return (found ?? sourceRoot.appendingPathComponent(relative)).path
    }

    /// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` for train and test,
    /// whose images must have the same size.
    public static func loadIDX(directory: String, prefixes: (train: String, test: String), classCount: Int = 10) throws -> DataSplit {
        try requireIDXDirectory(directory, example: prefixes.train)
        let train = try loadIDXSet(directory: directory, prefix: prefixes.train, classCount: classCount)
        let test = try loadIDXSet(directory: directory, prefix: prefixes.test, classCount: classCount)
        try DataSplit.requireSameShape([train.images, test.images]) { "\($0.map(String.init).joined(separator: "x")) images" }
        return DataSplit(train: train.data, test: test.data)
    }

    /// A mistyped directory is named as given, not as the first file looked for in it.
    static func requireIDXDirectory(_ directory: String, example prefix: String) throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        guard exists, isDirectory.boolValue else {
            throw DataError(file: directory, exists ? "not a directory"
                : "no such directory (of Fashion-MNIST's files, \(prefix)-images-idx3-ubyte.gz and the like)")
        }
    }

    /// One set's `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]`, and the
    /// images' path and size (for the check that train and test images agree).
    static func loadIDXSet(directory: String, prefix: String, classCount: Int = 10) throws
        -> (data: Dataset, images: (path: String, shape: [Int])) {
        let set = prefix == "t10k" ? "test" : prefix == "train" ? "training" : "'\(prefix)'"
        func file(_ name: String, _ what: String) throws -> String {
            let plain = directory + "/" + name
            if FileManager.default.fileExists(atPath: plain + ".gz") { return plain + ".gz" }
            // Neither spelling: name the file looked for, not just the last one tried.
            guard FileManager.default.fileExists(atPath: plain) else {
                throw DataError(file: plain + ".gz", "no such file (nor \(name)): the \(set) set's \(what)")
            }
            return plain
        }
        let imagesPath = try file("\(prefix)-images-idx3-ubyte", "images")
        let labelsPath = try file("\(prefix)-labels-idx1-ubyte", "labels")
        let labels = try IDXReader.readLabels(path: labelsPath)
        let (header, pixels) = try IDXReader.readImages(path: imagesPath)
        guard header.count == labels.count else {
            throw DataError(file: imagesPath, "has \(header.count) images but \(labelsPath) has \(labels.count) labels")
        }
        let data = try Dataset(features: pixels, labels: labels, featureCount: header.itemSize, classCount: classCount, name: labelsPath)
        return (data, (imagesPath, Array(header.dimensions.dropFirst())))
    }
}
