import Foundation
import Learning
import Node
import Transport

/// `gossipnode eval`: accuracy, loss and confusion matrix of a saved model on a test set.
enum EvalCommand {
    static let command = Command(
        name: "eval",
        abstract: "Evaluate a saved model: accuracy, loss and confusion matrix.",
        discussion: """
        Loads a model written by 'train --save' or 'run --keep-round-models', or the model in a
        node's checkpoint (<state>/checkpoint), applies the standardisation stored with it, and
        evaluates it on the test set of --data. Only the test files are read: of a Fashion-MNIST
        directory t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or uncompressed); of
        csv:TRAIN,TEST only TEST, unless its labels are names (numbered over both files, as in
        training); csv:FILE holds out every 5th row of FILE, as training did.
        """,
        options: [
            .value("model", "file", help: "The model file.", required: true),
            .value("data", "source", help: "fashion-mnist, fashion-mnist:DIR, csv:FILE or csv:TRAIN,TEST.", default: "fashion-mnist"),
            .value("label-column", "name", help: "The label column of CSV data."),
            .value("threads", "n", help: "Threads for the numeric kernels.", derivedDefault: "the number of cores"),
            .flag("json", help: "Write one JSON object instead of text."),
        ],
        run: { args, console in
            let path = try args.required("model")
            // A node's state directory is the directory most likely given: name the model inside it.
            if FileKind.of(path, followingSymlink: true) == S_IFDIR, FileManager.default.fileExists(atPath: path + "/checkpoint") {
                throw ConfigurationError("\(path): cannot open: it is a directory; a node's model is \(path)/checkpoint")
            }
            let checkpoint = try NodeCheckpoint.readModel(from: path)
            let dataText = args.string("data")!
            let source: DataSource
            do { source = try DataSource.parse(dataText, labelColumn: args.string("label-column")) } catch let error as DataError {
                throw args.invalid("data", dataText, error.problem)
            }
            let threads = try args.int("threads", in: 1...256) ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
            var test = try source.loadTest()
            let model = checkpoint.model
            guard test.featureCount == model.inputCount, test.classCount <= model.classCount else {
                throw ConfigurationError("\(path): model takes \(model.inputCount) features and \(model.classCount) classes; \(source) has \(test.featureCount) and \(test.classCount)")
            }
            if let standardization = checkpoint.standardization { test.standardize(with: standardization) }
            let evaluation = Evaluation(model: model, data: test, threads: threads)
            if args.flag("json") {
                let rows = evaluation.confusion.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",")
                console.out("{\"model\":\"\(model.spec)\",\"examples\":\(evaluation.count),\"accuracy\":\(ReportText.jsonFixed(evaluation.accuracy, 6)),"
                            + "\"loss\":\(ReportText.jsonFixed(evaluation.meanLoss, 6)),\"confusion\":[\(rows)]}")
            } else {
                console.out("\(model.spec) on \(evaluation.count) test examples of \(source): accuracy \(ReportText.percent(evaluation.accuracy)), loss \(ReportText.fixed(evaluation.meanLoss, 4))")
                console.out(confusionTable(evaluation.confusion))
            }
            return ExitCode.success
        })

    /// Rows are true labels, columns predicted labels.
    static func confusionTable(_ confusion: [[Int]]) -> String {
        let width = max(5, String(confusion.flatMap { $0 }.max() ?? 0).count + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var lines = ["confusion matrix (rows: true label, columns: predicted)", pad("") + confusion.indices.map { pad(String($0)) }.joined()]
        for (label, row) in confusion.enumerated() { lines.append(pad(String(label)) + row.map { pad(String($0)) }.joined()) }
        return lines.joined(separator: "\n")
    }
}
