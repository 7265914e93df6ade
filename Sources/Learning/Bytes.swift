import CKernels

/// zlib's CRC-32 of `bytes`: the trailer of model files and node checkpoints, and zip entries' check.
public func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 { ck_crc32(0, bytes.baseAddress, bytes.count) }

/// `crc32` of an array.
public func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { crc32($0) } }

/// The little-endian UInt32 at `offset` of `bytes` (the caller has checked that four bytes are there).
@inline(__always) public func littleEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

/// Little-endian byte building for the file formats.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    /// - Parameter capacity: bytes to reserve, so a large file is built without regrowing.
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    public mutating func floats(_ v: [Float]) {
        #if _endian(little)
        v.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for x in v { u32(x.bitPattern) }
        #endif
    }
}

/// Bounds-checked little-endian reading; every failure is a `DataError` naming `source`.
public struct ByteReader {
    let bytes: [UInt8]
    let source: String
    public private(set) var offset = 0

    public init(_ bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func take(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw DataError(file: source, "truncated: \(what) needs \(count) bytes at offset \(offset), \(remaining) remain")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func u8(_ what: String) throws -> UInt8 { try take(1, what).first ?? 0 }
    public mutating func u16(_ what: String) throws -> UInt16 { UInt16(truncatingIfNeeded: try uint(2, what)) }
    public mutating func u32(_ what: String) throws -> UInt32 { UInt32(truncatingIfNeeded: try uint(4, what)) }
    public mutating func u64(_ what: String) throws -> UInt64 { try uint(8, what) }

    public mutating func floats(_ count: Int, _ what: String) throws -> [Float] {
        guard count <= remaining / 4 else {
            throw DataError(file: source, "truncated: \(what) needs \(count) floats at offset \(offset), \(remaining) bytes remain")
        }
        let slice = try take(4 * count, what)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            slice.withUnsafeBytes { raw in
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
            initialized = count
        }
    }

    private mutating func uint(_ size: Int, _ what: String) throws -> UInt64 {
        try take(size, what).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
