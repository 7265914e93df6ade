import Foundation

/// Reads a CSV table with a header row: one named column holds the label, every other column is a
/// numeric feature. Non-negative integer labels are used as class indices; any other labels are numbered in
/// sorted order. Fields may be wrapped in double quotes; quoted commas are not supported.
public enum CSVReader {
    /// Reads one table.
    public static func read(path: String, labelColumn: String) throws -> Dataset {
        try read(paths: [path], labelColumn: labelColumn)[0]
    }

    /// Reads tables that share one label numbering (for example a training and a test file).
    public static func read(paths: [String], labelColumn: String) throws -> [Dataset] {
        let tables = try paths.map { try readTable(path: $0, labelColumn: labelColumn) }
        guard let featureCount = tables.first?.featureCount else { return [] }
        try DataSplit.requireSameShape(Array(zip(paths, tables.map(\.featureCount)))) { "\($0) feature columns" }
        let allLabels = tables.flatMap(\.labels)
        let index: [String: Int32]
        if allLabels.allSatisfy({ Int32($0).map { $0 >= 0 } ?? false }) {
            index = Dictionary(allLabels.map { ($0, Int32($0) ?? 0) }, uniquingKeysWith: { a, _ in a })
        } else {
            let names = Array(Set(allLabels)).sorted()
            index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        }
        let classCount = max(2, Int(index.values.max() ?? 0) + 1)
        return try zip(tables, paths).map { table, path in
            try Dataset(features: table.features, labels: table.labels.map { index[$0] ?? 0 },
                        featureCount: featureCount, classCount: classCount, name: path)
        }
    }

    static func readTable(path: String, labelColumn: String) throws -> (features: [Float], labels: [String], featureCount: Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot open")
        }
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

        var features: [Float] = []
        var rawLabels: [String] = []
        while let (lineIndex, line) = lines.next() {
            let row = fields(line)
            guard row.count == header.count else {
                throw DataError(file: path, "line \(lineIndex + 1) has \(row.count) fields, the header has \(header.count)")
            }
            for (column, field) in row.enumerated() where column != labelIndex {
                guard let value = Float(field), value.isFinite else {
                    throw DataError(file: path, "line \(lineIndex + 1), column '\(header[column])': '\(field)' is not a finite number")
                }
                features.append(value)
            }
            rawLabels.append(row[labelIndex])
        }
        guard !rawLabels.isEmpty else { throw DataError(file: path, "has a header but no rows") }
        return (features, rawLabels, featureCount)
    }

    static func fields(_ line: Substring) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { raw in
            var field = raw.trimmingCharacters(in: .whitespaces)
            if field.count >= 2, field.hasPrefix("\""), field.hasSuffix("\"") { field = String(field.dropFirst().dropLast()) }
            return field
        }
    }
}
