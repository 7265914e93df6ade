/// Bounds-checked little-endian reading of untrusted bytes: every read returns nil instead of
/// running past the end, so a hostile datagram can never make the parser trap.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    mutating func u8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() -> UInt16? { fixed(UInt16.self) }
    mutating func u32() -> UInt32? { fixed(UInt32.self) }
    mutating func u64() -> UInt64? { fixed(UInt64.self) }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        defer { offset += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A QUIC variable-length integer (RFC 9000 §16): the top two bits of the first byte give
    /// the length (1, 2, 4 or 8 bytes), the rest is the value in network byte order.
    mutating func varint() -> UInt64? {
        guard let first = u8() else { return nil }
        let length = 1 << Int(first >> 6)
        guard remaining >= length - 1 else { return nil }
        var value = UInt64(first & 0x3F)
        for _ in 1..<length {
            value = (value << 8) | UInt64(bytes[offset])
            offset += 1
        }
        return value
    }

    /// The next `count` bytes as a view into the same buffer (no copy), or nil if too few remain.
    mutating func slice(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }
}

/// Little-endian writing into a buffer the caller sized; writers check capacity with `remaining`
/// before writing, so an overflow here is a programming error, not an input error.
package struct ByteWriter {
    let bytes: UnsafeMutableRawBufferPointer
    private(set) var offset: Int

    package init(_ bytes: UnsafeMutableRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8(_ value: UInt8) {
        bytes[offset] = value
        offset += 1
    }

    mutating func u16(_ value: UInt16) { fixed(value) }
    mutating func u32(_ value: UInt32) { fixed(value) }
    mutating func u64(_ value: UInt64) { fixed(value) }

    private mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        precondition(remaining >= MemoryLayout<T>.size, "ByteWriter overflow")
        bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    /// Writes `value` (< 2^62) in the shortest QUIC varint form.
    mutating func varint(_ value: UInt64) {
        let length = Varint.length(of: value)
        precondition(remaining >= length, "ByteWriter overflow")
        let prefix: UInt64 = length == 1 ? 0 : length == 2 ? 1 : length == 4 ? 2 : 3
        let encoded = value | (prefix << UInt64(length * 8 - 2))
        for i in 0..<length {
            bytes[offset + i] = UInt8(truncatingIfNeeded: encoded >> UInt64((length - 1 - i) * 8))
        }
        offset += length
    }

    package mutating func copy(_ source: UnsafeRawBufferPointer) {
        precondition(remaining >= source.count, "ByteWriter overflow")
        if source.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<offset + source.count]).copyMemory(from: source)
        }
        offset += source.count
    }
}

enum Varint {
    /// Largest value a varint can carry.
    static let max: UInt64 = (1 << 62) - 1

    static func length(of value: UInt64) -> Int {
        precondition(value <= max, "varint value out of range")
        if value < 1 << 6 { return 1 }
        if value < 1 << 14 { return 2 }
        if value < 1 << 30 { return 4 }
        return 8
    }
}
