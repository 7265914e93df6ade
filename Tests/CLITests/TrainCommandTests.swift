import Foundation
import Learning
import Testing
import TestKit
@testable import GossipnodeCLI

/// `gossipnode train` and `gossipnode eval` end to end on the committed Fashion-MNIST subset.
@Suite struct TrainCommandTests {
    static let data = "fashion-mnist:" + DataSource.committedSubsetDirectory()

    static func lastJSON(_ text: String) throws -> [String: Any] {
        let line = try #require(text.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func trainSavesAModelThatEvalScoresIdentically() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let model = dir.file("model.bin"), npz = dir.file("model.npz")
        let train = runTool(["train", "--data", Self.data, "--model", "logreg", "--epochs", "2", "--lr", "0.01",
                             "--standardize", "--threads", "1", "--json", "--save", model, "--export-npz", npz])
        #expect(train.code == 0, "\(train.stderr)")
        let lines = train.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let last = try Self.lastJSON(train.stdout)
        let accuracy = try #require(last["test_accuracy"] as? Double)
        #expect(accuracy > 0.7)
        #expect(FileManager.default.fileExists(atPath: npz))
        // CPU time: positive, growing, and the evaluation's share within it. (runTool runs the
        // command inside the test process, so other tests' threads count too: no bound by wall time
        // here; MultiProcessTests bounds a real node's.)
        let epochs = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let cpu = epochs.compactMap { $0["cpu_s"] as? Double }
        #expect(cpu.count == 2 && cpu[0] > 0 && cpu[1] > cpu[0], "\(cpu)")
        let evaluation = try #require(last["evaluation_cpu_s"] as? Double)
        #expect(evaluation > 0 && evaluation < cpu[1])

        let eval = runTool(["eval", "--model", model, "--data", Self.data, "--json"])
        #expect(eval.code == 0, "\(eval.stderr)")
        let result = try Self.lastJSON(eval.stdout)
        #expect(result["accuracy"] as? Double == accuracy)
        let confusion = try #require(result["confusion"] as? [[Int]])
        #expect(confusion.count == 10 && confusion.joined().reduce(0, +) == 500)

        let text = runTool(["eval", "--model", model, "--data", Self.data])
        #expect(text.code == 0 && text.stdout.contains("confusion matrix") && text.stdout.contains("accuracy"))
        // A model path that is not a file says why, in the system's words.
        for (path, why) in [("/tmp", "/tmp: cannot open: it is a directory"), ("/nonexistent.model", "(No such file or directory)")] {
            let bad = runTool(["eval", "--model", path, "--data", Self.data])
            #expect(bad.code == 2 && bad.stderr.contains(why), "\(bad.stderr)")
        }
        // A node's state directory, given for its model, names the model inside it.
        let state = try TemporaryDirectory()
        defer { state.cleanup() }
        _ = try state.write("checkpoint", "")
        let directory = runTool(["eval", "--model", state.path, "--data", Self.data])
        #expect(directory.code == 2 && directory.stderr == "error: \(state.path): cannot open: it is a directory; a node's model is \(state.path)/checkpoint\n",
                "\(directory.stderr)")
    }

    /// A run whose weights blew up to NaN is a failure (exit 1), and nothing is saved: it used to
    /// save the NaN model and report chance-level accuracy with exit 0.
    @Test func aDivergedRunSavesNothingAndFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let result = runTool(["train", "--data", Self.data, "--model", "logreg", "--epochs", "1", "--threads", "1", "--batch-size", "1",
                              "--lr", "1000", "--momentum", "0.9999", "--weight-decay", "10", "--save", dir.file("m.model")])
        #expect(result.code == 1 && result.stderr.contains("training diverged: parameter "), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("m.model")))
    }

    @Test func textOutputHasOneLinePerEpoch() {
        let result = runTool(["train", "--data", Self.data, "--model", "mlp:16", "--epochs", "2", "--threads", "2"])
        #expect(result.code == 0, "\(result.stderr)")
        #expect(result.stdout.contains("epoch 1/2") && result.stdout.contains("epoch 2/2") && result.stdout.contains("samples/s"))
    }

    @Test func dpTrainingStopsAtTheBudgetAndReportsEpsilon() throws {
        let result = runTool(["train", "--data", Self.data, "--model", "logreg", "--epochs", "50", "--dp",
                              "--noise-multiplier", "1", "--epsilon", "1.5", "--json", "--threads", "1"])
        #expect(result.code == 0, "\(result.stderr)")
        let last = try Self.lastJSON(result.stdout)
        #expect(last["stopped_early"] as? Bool == true)
        let epsilon = try #require(last["epsilon"] as? Double)
        #expect(epsilon <= 1.5 && epsilon > 1.0)
        #expect(result.stdout.split(separator: "\n").count < 50)
    }

    /// DP-SGD's Poisson sampling and noise must be secret. `train --dp` drew them from the
    /// public --seed (default 1): anyone could replay them, so two runs with one seed saved the same
    /// model and its reported ε protected nothing. The same holds for --input-noise. The model's
    /// initialisation still follows --seed; without DP a run is still repeatable.
    @Test func dpTrainingDrawsItsNoiseFromTheSystemNotTheSeed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        func trained(_ name: String, _ extra: [String]) throws -> Data {
            let path = dir.file(name)
            let result = runTool(["train", "--data", Self.data, "--model", "logreg", "--epochs", "1", "--threads", "1",
                                  "--batch-size", "64", "--seed", "7", "--save", path] + extra)
            #expect(result.code == 0, "\(result.stderr)")
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
        let dp = ["--dp", "--noise-multiplier", "1"]
        #expect(try trained("dp1", dp) != trained("dp2", dp))
        let noisy = ["--input-noise", "gaussian:0.1"]
        #expect(try trained("noisy1", noisy) != trained("noisy2", noisy))
        #expect(try trained("plain1", []) == trained("plain2", []))
    }

    @Test(arguments: [
        (["--model", "rnn:3"], "--model"),
        (["--model", "mlp:65536,65536"], "too many parameters"),
        (["--shard", "5/4"], "--shard"),
        // Shard counts that used to crash (SIGSEGV, allocation failure) or hang: bounded by the
        // parser, then by the 2,000 training examples of the subset.
        (["--shard", "1/9223372036854775807"], "invalid value '1/9223372036854775807' for '--shard <i/n>': the shard count must be at most 1000000"),
        (["--shard", "1/1000000"], "--shard 1/1000000: 1000000 shards but only 2000 training examples"),
        (["--shard", "1/2001", "--partition", "dirichlet:1"], "--shard 1/2001: 2001 shards but only 2000 training examples"),
        (["--shard", "1/0"], "invalid value '1/0' for '--shard <i/n>': the shard count must be at least 1"),
        (["--partition", "dirichlet:0"], "--partition"),
        (["--dp"], "--noise-multiplier or --target-epsilon"),
        (["--noise-multiplier", "1"], "needs --dp"),
        (["--dp", "--noise-multiplier", "-1"], "--noise-multiplier <sigma>"),
        (["--dp", "--noise-multiplier", "1", "--delta", "2"], "delta"),
        (["--input-noise", "uniform:1"], "gaussian:S or laplace:B"),
        (["--data", "csv:x.csv"], "--label-column"),
        // A mistyped directory is named as given (it was the first file looked for in it).
        (["--data", "fashion-mnist:/nonexistent"], "error: /nonexistent: no such directory (of Fashion-MNIST's files, train-images-idx3-ubyte.gz and the like)"),
        (["--data", "fashion-mnist:/etc/hostname"], "error: /etc/hostname: not a directory"),
        // Output paths are checked before training, not after it.
        (["--save", "/nonexistent-dir/m.bin"], "--save /nonexistent-dir/m.bin: cannot write in /nonexistent-dir (No such file or directory)"),
        (["--export-npz", "/tmp"], "--export-npz /tmp: cannot write: it is a directory"),
    ])
    func badSettingsExitWithCode2(_ extra: [String], _ message: String) {
        let data = extra.contains("--data") ? [] : ["--data", Self.data]
        let result = runTool(["train", "--epochs", "1"] + data + extra)
        #expect(result.code == 2, "\(extra): \(result.stderr)")
        #expect(result.stdout.isEmpty, "\(extra): nothing starts, \(result.stdout)")
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.contains(message), "\(extra): \(result.stderr)")
    }

    /// The committed training images with 1x1 test images: `train` used to die with SIGSEGV in
    /// evaluation; now both files and sizes are named, exit code 2.
    @Test func testImagesOfAnotherSizeExitWithCode2() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let subset = DataSource.committedSubsetDirectory()
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(atPath: subset + "/" + name, toPath: dir.file(name))
        }
        let labels = try IDXReader.readLabels(path: dir.file("t10k-labels-idx1-ubyte.gz"))
        var images: [UInt8] = [0, 0, 8, 3, UInt8(labels.count >> 24), UInt8(labels.count >> 16 & 0xff), UInt8(labels.count >> 8 & 0xff), UInt8(labels.count & 0xff),
                               0, 0, 0, 1, 0, 0, 0, 1]
        images += [UInt8](repeating: 128, count: labels.count)
        try Data(images).write(to: URL(fileURLWithPath: dir.file("t10k-images-idx3-ubyte")))
        let result = runTool(["train", "--data", "fashion-mnist:" + dir.path, "--model", "logreg", "--epochs", "1", "--threads", "1"])
        #expect(result.code == 2, "\(result.stderr)")
        #expect(result.stderr.contains("\(dir.file("t10k-images-idx3-ubyte")): has 1x1 images, \(dir.file("train-images-idx3-ubyte.gz")) has 28x28 images"),
                "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// A stray label far past the class bound is named with file, line and value, exit code 2 (it
    /// used to be "--model: logreg on 1 inputs has too many parameters", or, at 60,000,000, an abort).
    @Test func csvStrayLabelExitsWithCode2() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let rows = (0..<50).map { "\(Double($0) / 50),\($0 % 3)" }
        let path = try dir.write("stray.csv", (["x,label"] + rows + ["0.5,1000000000"]).joined(separator: "\n"))
        let result = runTool(["train", "--data", "csv:" + path, "--label-column", "label", "--model", "logreg", "--epochs", "1", "--threads", "1"])
        #expect(result.code == 2, "\(result.stderr)")
        #expect(result.stderr.contains("\(path): line 52, column 'label': label 1000000000 is not a class index in 0..<1000"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// `eval` loaded the whole dataset, so a directory of only the test files failed on
    /// train-labels-idx1-ubyte; it needs t10k-images and t10k-labels alone, and names a missing one.
    @Test func evalNeedsOnlyTheTestFiles() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let model = dir.file("model.bin")
        let train = runTool(["train", "--data", Self.data, "--model", "logreg", "--epochs", "1", "--threads", "1", "--save", model])
        #expect(train.code == 0, "\(train.stderr)")
        let whole = runTool(["eval", "--model", model, "--data", Self.data, "--json"])
        #expect(whole.code == 0, "\(whole.stderr)")

        let testOnly = dir.file("t10k")
        try FileManager.default.createDirectory(atPath: testOnly, withIntermediateDirectories: false)
        let subset = DataSource.committedSubsetDirectory()
        for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(atPath: subset + "/" + name, toPath: testOnly + "/" + name)
        }
        let eval = runTool(["eval", "--model", model, "--data", "fashion-mnist:" + testOnly, "--json"])
        #expect(eval.code == 0, "\(eval.stderr)")
        let result = try Self.lastJSON(eval.stdout), expected = try Self.lastJSON(whole.stdout)
        #expect(result["examples"] as? Int == 500)
        #expect(result["accuracy"] as? Double == expected["accuracy"] as? Double)

        try FileManager.default.removeItem(atPath: testOnly + "/t10k-labels-idx1-ubyte.gz")
        let missing = runTool(["eval", "--model", model, "--data", "fashion-mnist:" + testOnly])
        #expect(missing.code == 2)
        #expect(missing.stderr == "error: \(testOnly)/t10k-labels-idx1-ubyte.gz: no such file (nor t10k-labels-idx1-ubyte): the test set's labels\n",
                "\(missing.stderr)")
        #expect(missing.stdout.isEmpty)
        // Training still needs (and names) the training files.
        let trainMissing = runTool(["train", "--data", "fashion-mnist:" + testOnly, "--epochs", "1", "--threads", "1"])
        #expect(trainMissing.code == 2)
        #expect(trainMissing.stderr.contains("\(testOnly)/train-images-idx3-ubyte.gz: no such file (nor train-images-idx3-ubyte): the training set's images"),
                "\(trainMissing.stderr)")
    }

    /// Of csv:TRAIN,TEST, eval reads TEST alone when its labels are class indices; names are
    /// numbered over both files (here the test file lacks the first name, so numbering it alone
    /// would shift every class), so then it reads TRAIN too and names it when it is missing.
    @Test func evalOfCSVNeedsTheTrainingFileOnlyForNamedLabels() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        func rows(_ classes: [Int], named: Bool) -> String {
            (["x,label"] + (0..<60).map { i in
                let c = classes[i % classes.count]
                return "\(Double(c) * 3 + Double(i % 5) * 0.1),\(named ? ["ant", "bee", "cat"][c] : String(c))"
            }).joined(separator: "\n")
        }
        for named in [false, true] {
            let trainPath = try dir.write("train.csv", rows([0, 1, 2], named: named))
            let testPath = try dir.write("test.csv", rows([1, 2], named: named))
            let data = "csv:\(trainPath),\(testPath)", model = dir.file("model.bin")
            let train = runTool(["train", "--data", data, "--label-column", "label", "--model", "logreg", "--epochs", "30",
                                 "--batch-size", "8", "--lr", "0.5", "--threads", "1", "--save", model])
            #expect(train.code == 0, "\(train.stderr)")
            let both = runTool(["eval", "--model", model, "--data", data, "--label-column", "label", "--json"])
            #expect(both.code == 0, "\(both.stderr)")
            let accuracy = try #require(try Self.lastJSON(both.stdout)["accuracy"] as? Double)
            #expect(accuracy > 0.9, "named: \(named)")

            try FileManager.default.removeItem(atPath: trainPath)
            let alone = runTool(["eval", "--model", model, "--data", data, "--label-column", "label", "--json"])
            if named {
                #expect(alone.code == 2)
                #expect(alone.stderr.hasPrefix("error: \(trainPath): cannot open (No such file or directory) (\(testPath)'s labels are names, numbered over the training and test files together)"),
                        "\(alone.stderr)")
            } else {
                #expect(alone.code == 0, "\(alone.stderr)")
                #expect(try Self.lastJSON(alone.stdout)["accuracy"] as? Double == accuracy)
            }
        }
    }

    @Test func evalRejectsDamagedModelFiles() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let bad = try dir.write("bad.bin", "GNMODEL\u{1}garbage")
        let result = runTool(["eval", "--model", bad, "--data", Self.data])
        #expect(result.code == 2)
        #expect(result.stderr.contains(bad))
    }

    @Test func csvDataTrains() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        var rows = ["x,y,label"]
        var rng = SeededGenerator(seed: 1)
        for i in 0..<200 {
            let label = i % 2
            rows.append("\(Double(label) + 0.3 * rng.nextGaussian()),\(0.3 * rng.nextGaussian()),\(label == 0 ? "no" : "yes")")
        }
        let path = try dir.write("d.csv", rows.joined(separator: "\n"))
        let result = runTool(["train", "--data", "csv:" + path, "--label-column", "label", "--model", "logreg",
                              "--epochs", "5", "--batch-size", "16", "--json"])
        #expect(result.code == 0, "\(result.stderr)")
        #expect(try Self.lastJSON(result.stdout)["test_accuracy"] as? Double ?? 0 > 0.85)
    }
}
