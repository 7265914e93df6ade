import Foundation
import Testing
import TestKit
@testable import Learning

/// IDX and CSV readers on good files, and on truncated, mis-sized, mismatched and corrupt ones.
@Suite struct DataTests {
    static let subset = DataSource.committedSubsetDirectory()

    static func idx(type: UInt8 = 8, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { bytes += [UInt8(d >> 24), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return bytes + payload
    }

    static func expectError(_ path: String, containing text: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error mentioning '\(text)' for \(path)")
        } catch let error as DataError {
            #expect(error.file == path)
            #expect(error.problem.contains(text), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func committedSubsetLoads() throws {
        let split = try DataSource.fashionMNIST(directory: Self.subset).load()
        #expect(split.train.count == 2000 && split.test.count == 500)
        #expect(split.train.featureCount == 784 && split.train.classCount == 10)
        #expect(split.train.features.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(split.train.features.contains { $0 == 1 })
        // Every class is present in the subset, roughly balanced.
        #expect(split.train.classCounts().allSatisfy { $0 > 120 && $0 < 280 })
    }

    @Test func plainIDXRoundTrip() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let images = dir.file("x-images-idx3-ubyte"), labels = dir.file("x-labels-idx1-ubyte")
        try Data(Self.idx(dims: [2, 2, 2], payload: [0, 255, 51, 102, 1, 2, 3, 4])).write(to: URL(fileURLWithPath: images))
        try Data(Self.idx(dims: [2], payload: [3, 1])).write(to: URL(fileURLWithPath: labels))
        let (header, pixels) = try IDXReader.readImages(path: images)
        #expect(header.dimensions == [2, 2, 2])
        #expect(pixels[0] == 0 && pixels[1] == 1 && abs(pixels[2] - 0.2) < 1e-6)
        #expect(try IDXReader.readLabels(path: labels) == [3, 1])
    }

    @Test func corruptIDXFilesAreRejectedWithTheFileName() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = dir.file(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let truncated = try write("truncated", Self.idx(dims: [3, 2, 2], payload: [UInt8](repeating: 7, count: 11)))
        Self.expectError(truncated, containing: "truncated") { _ = try IDXReader.readImages(path: truncated) }
        let long = try write("long", Self.idx(dims: [1, 2, 2], payload: [UInt8](repeating: 7, count: 5)))
        Self.expectError(long, containing: "mis-sized") { _ = try IDXReader.readImages(path: long) }
        let magic = try write("magic", [1, 2, 3, 4, 5, 6, 7, 8])
        Self.expectError(magic, containing: "not an IDX file") { _ = try IDXReader.readLabels(path: magic) }
        let type = try write("type", Self.idx(type: 0x0D, dims: [1], payload: [0, 0, 0, 0]))
        Self.expectError(type, containing: "not supported") { _ = try IDXReader.readLabels(path: type) }
        let dims = try write("dims", Self.idx(dims: [1, 1], payload: [0]))
        Self.expectError(dims, containing: "dimensions") { _ = try IDXReader.readLabels(path: dims) }
        let header = try write("header", [0, 0, 8, 3, 0, 0])
        Self.expectError(header, containing: "truncated") { _ = try IDXReader.readImages(path: header) }
        let missing = dir.file("missing.gz")
        Self.expectError(missing, containing: "cannot open") { _ = try IDXReader.readLabels(path: missing) }
    }

    @Test func truncatedAndCorruptGzipAreRejected() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let original = try Data(contentsOf: URL(fileURLWithPath: Self.subset + "/t10k-images-idx3-ubyte.gz"))
        let cut = dir.file("cut.gz")
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: cut))
        Self.expectError(cut, containing: "truncated") { _ = try IDXReader.readImages(path: cut) }
        var flipped = [UInt8](original)
        for i in stride(from: 1000, to: 1100, by: 1) { flipped[i] ^= 0x5A }
        let corrupt = dir.file("corrupt.gz")
        try Data(flipped).write(to: URL(fileURLWithPath: corrupt))
        do {
            _ = try IDXReader.readImages(path: corrupt)
            Issue.record("corrupt gzip accepted")
        } catch let error as DataError {
            #expect(error.file == corrupt)
        }
    }

    @Test func mismatchedImageAndLabelCountsAreRejected() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        for prefix in ["train", "t10k"] {
            try Data(Self.idx(dims: [3, 2, 2], payload: [UInt8](repeating: 9, count: 12))).write(to: URL(fileURLWithPath: dir.file("\(prefix)-images-idx3-ubyte")))
            try Data(Self.idx(dims: [prefix == "train" ? 2 : 3], payload: [UInt8](repeating: 1, count: prefix == "train" ? 2 : 3))).write(to: URL(fileURLWithPath: dir.file("\(prefix)-labels-idx1-ubyte")))
        }
        do {
            _ = try DataSource.loadIDX(directory: dir.path, prefixes: ("train", "t10k"))
            Issue.record("mismatch accepted")
        } catch let error as DataError {
            #expect(error.file.hasSuffix("train-images-idx3-ubyte"))
            #expect(error.problem.contains("3 images") && error.problem.contains("2 labels"))
        }
    }

    /// Test images of another size than the training images are an error naming both files and
    /// sizes (1x1 test images used to crash evaluation, 20x20 ones to give garbage accuracy).
    @Test(arguments: [[1, 1], [20, 20], [2, 8]])
    func testImagesOfAnotherSizeAreRejected(_ testSize: [UInt32]) throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        func write(_ prefix: String, size: [UInt32]) throws {
            let pixels = Int(size[0] * size[1])
            try Data(Self.idx(dims: [2] + size, payload: [UInt8](repeating: 9, count: 2 * pixels))).write(to: URL(fileURLWithPath: dir.file("\(prefix)-images-idx3-ubyte")))
            try Data(Self.idx(dims: [2], payload: [0, 1])).write(to: URL(fileURLWithPath: dir.file("\(prefix)-labels-idx1-ubyte")))
        }
        try write("train", size: [4, 4])
        try write("t10k", size: testSize)
        let size = testSize.map(String.init).joined(separator: "x")
        Self.expectError(dir.file("t10k-images-idx3-ubyte"), containing: "has \(size) images, \(dir.file("train-images-idx3-ubyte")) has 4x4 images") {
            _ = try DataSource.loadIDX(directory: dir.path, prefixes: ("train", "t10k"))
        }
        try write("t10k", size: [4, 4])
        #expect(try DataSource.loadIDX(directory: dir.path, prefixes: ("train", "t10k")).test.featureCount == 16)
    }

    /// The CSV form TRAIN,TEST makes the same check, by the same function.
    @Test func csvTestFileWithOtherColumnsIsRejected() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let train = try dir.write("train.csv", "a,b,label\n1,2,0\n3,4,1\n")
        let test = try dir.write("test.csv", "a,label\n1,0\n")
        Self.expectError(test, containing: "has 1 feature columns, \(train) has 2 feature columns") {
            _ = try CSVReader.read(paths: [train, test], labelColumn: "label")
        }
    }

    @Test func csvWithNamedLabelColumn() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let train = try dir.write("train.csv", "a, species ,b\n1.5,cat,2\n-1,dog,0.25\n3,\"cat\",4\n")
        let test = try dir.write("test.csv", "a,species,b\n0,bird,1\n")
        let sets = try CSVReader.read(paths: [train, test], labelColumn: "species")
        #expect(sets[0].features == [1.5, 2, -1, 0.25, 3, 4])
        #expect(sets[0].labels == [1, 2, 1]) // bird 0, cat 1, dog 2 (sorted names)
        #expect(sets[1].labels == [0] && sets[1].classCount == 3)
        let numeric = try dir.write("n.csv", "x,y\n0.5,1\n0.25,0\n1,3\n")
        let data = try CSVReader.read(path: numeric, labelColumn: "y")
        #expect(data.labels == [1, 0, 3] && data.classCount == 4 && data.featureCount == 1)
        let crlf = try dir.write("crlf.csv", "x,y\r\n0.5,1\r\n0.25,0\n1,3\r\n")
        #expect(try CSVReader.read(path: crlf, labelColumn: "y") == data)
    }

    @Test func badCSVNamesFileAndLine() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let short = try dir.write("short.csv", "a,b,label\n1,2,0\n1,0\n")
        Self.expectError(short, containing: "line 3 has 2 fields") { _ = try CSVReader.read(path: short, labelColumn: "label") }
        let text = try dir.write("text.csv", "a,label\nx,0\n")
        Self.expectError(text, containing: "line 2, column 'a'") { _ = try CSVReader.read(path: text, labelColumn: "label") }
        let nolabel = try dir.write("nolabel.csv", "a,b\n1,2\n")
        Self.expectError(nolabel, containing: "no column named 'label'") { _ = try CSVReader.read(path: nolabel, labelColumn: "label") }
        let empty = try dir.write("empty.csv", "")
        Self.expectError(empty, containing: "empty") { _ = try CSVReader.read(path: empty, labelColumn: "label") }
    }

    /// Class counts are bounded by `CSVReader.maximumClassCount`; the first label past the bound is
    /// named with its file and line (one stray label 60,000,000 used to ask for ~10 GB, and a column
    /// of IDs 0...99,999 to train for minutes).
    @Test(arguments: [
        ("60000000", "label 60000000 is not a class index in 0..<1000 (integer labels are class indices; at most 1000 classes)"),
        ("1000", "label 1000 is not a class index in 0..<1000"),
        ("99999999999999999999", "label 99999999999999999999 is not a class index in 0..<1000"),
    ])
    func strayIntegerLabelNamesFileAndLine(_ stray: String, _ message: String) throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let rows = (0..<50).map { "\(Double($0) / 50),\($0 % 3)" }
        let path = try dir.write("stray.csv", (["x,label"] + rows + ["0.5,\(stray)", "0.25,\(stray)"]).joined(separator: "\n"))
        Self.expectError(path, containing: "line 52, column 'label': " + message) { _ = try CSVReader.read(path: path, labelColumn: "label") }
        // In a TRAIN,TEST pair the test file is named.
        let train = try dir.write("train.csv", (["x,label"] + rows).joined(separator: "\n"))
        Self.expectError(path, containing: "line 52, column 'label': " + message) { _ = try CSVReader.read(paths: [train, path], labelColumn: "label") }
        let top = try dir.write("top.csv", (["x,label"] + rows + ["0.5,999"]).joined(separator: "\n"))
        #expect(try CSVReader.read(path: top, labelColumn: "label").classCount == 1000)
    }

    /// Class indices with a stray non-index among them (a decimal, a negative number, a name)
    /// used to renumber every class by sorted text; now the stray label is named.
    @Test(arguments: ["1.5", "-1", "cat"])
    func labelsMixingIndicesAndOtherValuesNameTheFirstOther(_ stray: String) throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let rows = (0..<50).map { "\(Double($0) / 50),\($0 % 3)" }
        let path = try dir.write("mixed.csv", (["x,label"] + rows + ["0.5,\(stray)"]).joined(separator: "\n"))
        Self.expectError(path, containing: "line 52, column 'label': label '\(stray)' is not a class index like '0'") {
            _ = try CSVReader.read(path: path, labelColumn: "label")
        }
    }

    @Test func tooManyNamedLabelsNameFileAndLine() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let rows = (0..<1000).map { "1,id\($0)" }
        let ok = try dir.write("ok.csv", (["x,label"] + rows + ["2,id0"]).joined(separator: "\n"))
        #expect(try CSVReader.read(path: ok, labelColumn: "label").classCount == 1000)
        let many = try dir.write("many.csv", (["x,label"] + rows + ["2,id0", "3,extra"]).joined(separator: "\n"))
        Self.expectError(many, containing: "line 1003, column 'label': label 'extra' is distinct label number 1001; at most 1000 classes") {
            _ = try CSVReader.read(path: many, labelColumn: "label")
        }
    }

    @Test func standardizationGivesZeroMeanUnitVariance() throws {
        var data = try Dataset(features: [1, 5, 3, 5, 5, 5], labels: [0, 1, 0], featureCount: 2, classCount: 2)
        let s = Standardization(fitting: data)
        data.standardize(with: s)
        let column0 = [data.features[0], data.features[2], data.features[4]]
        #expect(abs(column0.reduce(0, +)) < 1e-6)
        #expect(abs(column0.map { $0 * $0 }.reduce(0, +) / 3 - 1) < 1e-5)
        #expect(data.features[1] == 0 && s.inverseStd[1] == 1) // constant feature: centred, not scaled
    }
}
