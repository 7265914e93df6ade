import Foundation

/// Reads a CSV table with a header row: one named column holds the label, every other column is a
/// numeric feature. Labels that are all non-negative integers (digits only) are used as class
/// indices; names (no label all digits) are numbered in sorted order; a mix is an error. Either way there are at most
/// `maximumClassCount` classes. Fields may be wrapped in double quotes; quoted commas are not supported.
public enum CSVReader {
    /// The most classes a label column may define. The output layer and every per-class array have
    /// one entry per class, and an integer label is its class index, so one stray value (an ID, a
    /// number from the wrong column) would size them by that value: label 60,000,000 asked for
    /// ~10 GB. 1,000 (ImageNet's class count) is beyond any task this tool trains from a CSV file.
    public static let maximumClassCount = 1000

    /// Reads one table.
    public static func read(path: String, labelColumn: String) throws -> Dataset {
        try read(paths: [path], labelColumn: labelColumn)[0]
    }

    /// Reads tables that share one label numbering (for example a training and a test file).
    public static func read(paths: [String], labelColumn: String) throws -> [Dataset] {
        try datasets(paths.map { try readTable(path: $0, labelColumn: labelColumn) }, paths: paths, labelColumn: labelColumn)
    }

    /// Read tables as datasets sharing one label numbering (`classIndices`) and one class count.
    static func datasets(_ tables: [Table], paths: [String], labelColumn: String) throws -> [Dataset] {
        guard let featureCount = tables.first?.featureCount else { return [] }
        try DataSplit.requireSameShape(Array(zip(paths, tables.map(\.featureCount)))) { "\($0) feature columns" }
        let index = try classIndices(tables, paths: paths, labelColumn: labelColumn)
        let classCount = max(2, Int(index.values.max() ?? 0) + 1)
        return try zip(tables, paths).map { table, path in
            try Dataset(features: table.features, labels: table.labels.map { index[$0] ?? 0 },
                        featureCount: featureCount, classCount: classCount, name: path)
        }
    }

    /// The test file of a `csv:TRAIN,TEST` pair, numbered as `read(paths: [train, test])` numbers
    /// it: integer labels are their own class indices, so TEST alone does; names are numbered in
    /// sorted order over both files, so then the training file's labels are read too (a test file
    /// lacking a class would otherwise shift every later class's index).
    public static func readTest(path: String, trainingPath: String, labelColumn: String) throws -> Dataset {
        let test = try readTable(path: path, labelColumn: labelColumn)
        if test.labels.allSatisfy(isClassIndex) { return try datasets([test], paths: [path], labelColumn: labelColumn)[0] }
        do {
            return try read(paths: [trainingPath, path], labelColumn: labelColumn)[1]
        } catch let error as DataError where error.file == trainingPath {
            throw DataError(file: trainingPath, "\(error.problem) (\(path)'s labels are names, numbered over the training and test files together)")
        }
    }

    static func isClassIndex(_ label: String) -> Bool { !label.isEmpty && label.utf8.allSatisfy { (0x30...0x39).contains($0) } }

    /// The class index of every label. The first label that is not below `maximumClassCount` (integer
    /// labels) or that is one distinct label too many (named labels) is an error naming its file and line.
    static func classIndices(_ tables: [Table], paths: [String], labelColumn: String) throws -> [String: Int32] {
        let integers = tables.allSatisfy { $0.labels.allSatisfy(isClassIndex) }
        // Class indices mixed with anything else (1.5, -1, a name) would silently renumber every
        // class by sorted text ("10" before "2"): ask for one kind of label instead.
        if !integers, let first = tables.lazy.flatMap(\.labels).first(where: isClassIndex) {
            for (table, path) in zip(tables, paths) {
                if let (label, line) = zip(table.labels, table.lines).first(where: { !isClassIndex($0.0) }) {
                    throw DataError(file: path, "line \(line), column '\(labelColumn)': label '\(label)' is not a class index like '\(first)'; "
                        + "labels must be all class indices (0, 1, 2, ...) or all names")
                }
            }
        }
        var seen = Set<String>()
        for (table, path) in zip(tables, paths) {
            for (label, line) in zip(table.labels, table.lines) where seen.insert(label).inserted {
                let place = "line \(line), column '\(labelColumn)'"
                if integers, (Int(label) ?? .max) >= maximumClassCount {
                    throw DataError(file: path, "\(place): label \(label) is not a class index in 0..<\(maximumClassCount) (integer labels are class indices; at most \(maximumClassCount) classes)")
                }
                if seen.count > maximumClassCount {
                    throw DataError(file: path, "\(place): label '\(label)' is distinct label number \(seen.count); at most \(maximumClassCount) classes")
                }
            }
        }
        if integers { return Dictionary(uniqueKeysWithValues: seen.map { ($0, Int32($0)!) }) }
        return Dictionary(uniqueKeysWithValues: seen.sorted().enumerated().map { ($1, Int32($0)) })
    }

    /// One file's rows: features row-major, and each row's label with its line number (for errors).
    struct Table {
        var features: [Float] = []
        var labels: [String] = []
        var lines: [Int] = []
        let featureCount: Int
    }

    static func readTable(path: String, labelColumn: String) throws -> Table {
        let data = try FileAccess.contents(of: path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError(file: path, "is not UTF-8 text")
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .filter { !$0.element.allSatisfy(\.isWhitespace) }.makeIterator()
        guard let headerLine = lines.next() else { throw DataError(file: path, "is empty (no header row)") }
        let header = fields(headerLine.element)
        guard let labelIndex = header.firstIndex(of: labelColumn) else {
            throw DataError(file: path, "has no column named '\(labelColumn)' (columns: \(header.joined(separator: ", ")))")
        }
        let featureCount = header.count - 1
        guard featureCount > 0 else { throw DataError(file: path, "has no feature columns besides '\(labelColumn)'") }

        var table = Table(featureCount: featureCount)
        while let (lineIndex, line) = lines.next() {
            let row = fields(line)
            guard row.count == header.count else {
                throw DataError(file: path, "line \(lineIndex + 1) has \(row.count) fields, the header has \(header.count)")
            }
            for (column, field) in row.enumerated() where column != labelIndex {
                guard let value = Float(field), value.isFinite else {
                    throw DataError(file: path, "line \(lineIndex + 1), column '\(header[column])': '\(field)' is not a finite number")
                }
                table.features.append(value)
            }
            table.labels.append(row[labelIndex])
            table.lines.append(lineIndex + 1)
        }
        guard !table.labels.isEmpty else { throw DataError(file: path, "has a header but no rows") }
        return table
    }

    static func fields(_ line: Substring) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { raw in
            var field = raw.trimmingCharacters(in: .whitespaces)
            if field.count >= 2, field.hasPrefix("\""), field.hasSuffix("\"") { field = String(field.dropFirst().dropLast()) }
            return field
        }
    }
}
