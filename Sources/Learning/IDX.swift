/// Reader for the IDX format of (Fashion-)MNIST: big-endian header `0 0 type ndims`, `ndims` UInt32
/// sizes, then the unsigned-byte payload. Only type 0x08 (unsigned byte) is accepted.
public enum IDXReader {
    /// The header of an IDX file: the size of each dimension.
    public struct Header: Equatable, Sendable {
        public let dimensions: [Int]
        public var count: Int { dimensions.first ?? 0 }
        public var itemSize: Int { dimensions.dropFirst().reduce(1, *) }
    }

    /// Reads an image file as `count x (rows*cols)` features scaled to [0, 1].
    public static func readImages(path: String) throws -> (header: Header, pixels: [Float]) {
        let reader = try CompressedFileReader(path: path)
        let header = try readHeader(reader, expectedDimensions: 3)
        let total = header.count * header.itemSize
        var pixels: [Float] = []
        // Sized once (growing by appends copied 60,000 images several times over), but never
        // beyond what the file can hold, so a hostile header's claim allocates nothing.
        pixels.reserveCapacity(min(total, reader.contentBound))
        try readPayload(reader, count: total, what: "pixel data of \(header.count) images (\(total) bytes)") { chunk in
            // A plain loop over buffers vectorises; appending a lazy map went element by element.
            let start = pixels.count
            pixels.append(contentsOf: repeatElement(0, count: chunk.count))
            pixels.withUnsafeMutableBufferPointer { out in
                for i in 0..<chunk.count { out[start + i] = Float(chunk[i]) * (1 / 255) }
            }
        }
        try expectEnd(reader)
        return (header, pixels)
    }

    /// Reads a label file as class indices.
    public static func readLabels(path: String) throws -> [Int32] {
        let reader = try CompressedFileReader(path: path)
        let header = try readHeader(reader, expectedDimensions: 1)
        var labels: [Int32] = []
        labels.reserveCapacity(min(header.count, 1 << 20))
        try readPayload(reader, count: header.count, what: "\(header.count) labels") { chunk in
            labels.append(contentsOf: chunk.lazy.map { Int32($0) })
        }
        try expectEnd(reader)
        return labels
    }

    /// Reads `count` payload bytes in chunks: memory grows with the data actually present, so a
    /// header that claims billions of items in a tiny (or hostile) file costs nothing.
    static func readPayload(_ reader: CompressedFileReader, count: Int, what: String,
                            _ consume: (UnsafeBufferPointer<UInt8>) -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 16))
        var done = 0
        while done < count {
            let n = min(chunk.count, count - done)
            try chunk.withUnsafeMutableBytes { buffer in
                try reader.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), what: what)
            }
            chunk.withUnsafeBufferPointer { consume(UnsafeBufferPointer(rebasing: $0[0..<n])) }
            done += n
        }
    }

    static func readHeader(_ reader: CompressedFileReader, expectedDimensions: Int) throws -> Header {
        var magic = [UInt8](repeating: 0, count: 4)
        try magic.withUnsafeMutableBytes { try reader.readExactly(into: $0, what: "the IDX magic number") }
        guard magic[0] == 0, magic[1] == 0 else {
            throw DataError(file: reader.path, "not an IDX file (magic bytes \(magic.map { String($0, radix: 16) }))")
        }
        guard magic[2] == 0x08 else {
            throw DataError(file: reader.path, "IDX element type 0x\(String(magic[2], radix: 16)) is not supported (only unsigned bytes, 0x08)")
        }
        guard Int(magic[3]) == expectedDimensions else {
            throw DataError(file: reader.path, "has \(magic[3]) dimensions, expected \(expectedDimensions)")
        }
        var sizes = [UInt8](repeating: 0, count: 4 * expectedDimensions)
        try sizes.withUnsafeMutableBytes { try reader.readExactly(into: $0, what: "the IDX dimension sizes") }
        var dimensions: [Int] = []
        for d in 0..<expectedDimensions {
            let value = sizes[4 * d..<4 * d + 4].reduce(0) { $0 << 8 | Int($1) }
            dimensions.append(value)
        }
        // Overflow is implausible too: a wrapped product could pass the size check.
        let total = dimensions.reduce(Int?(1)) { product, d in
            product.flatMap { let (p, overflow) = $0.multipliedReportingOverflow(by: d); return overflow ? nil : p }
        }
        guard dimensions.allSatisfy({ $0 > 0 }), let total, total < 1 << 34 else {
            throw DataError(file: reader.path, "implausible dimensions \(dimensions)")
        }
        return Header(dimensions: dimensions)
    }

    static func expectEnd(_ reader: CompressedFileReader) throws {
        let offset = reader.bytesRead
        guard try reader.atEnd() else {
            throw DataError(file: reader.path, "mis-sized: unexpected bytes after the \(offset) the header declares")
        }
    }
}
