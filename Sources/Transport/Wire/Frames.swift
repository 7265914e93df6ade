/// The frames inside a data datagram's encrypted payload (SPEC: transport §3).
package enum FrameType: UInt8 {
    case ack = 0x01
    case chunk = 0x02
    /// No body: "acknowledge this packet at once". Marks the last packet of a flight and
    /// timeout probes, so the sender never waits out the receiver's ack delay.
    case ackNow = 0x03
}

/// "I have received these packet counters of yours": the largest, then descending ranges,
/// encoded like QUIC's ACK frame so a few bytes describe hundreds of packets.
package struct AckFrame: Equatable {
    /// At most this many ranges are sent or accepted; older ones are forgotten by the receiver.
    static let maxRanges = 16

    /// Descending, disjoint, non-adjacent ranges; `ranges[0].upperBound` is the largest counter.
    var ranges: [ClosedRange<UInt64>]
    /// How long the receiver held the largest packet before acknowledging it, in microseconds.
    var ackDelayMicros: UInt64

    package init(ranges: [ClosedRange<UInt64>], ackDelayMicros: UInt64) {
        self.ranges = ranges
        self.ackDelayMicros = ackDelayMicros
    }

    var largest: UInt64 { ranges[0].upperBound }

    package var encodedLength: Int {
        var n = 1 + Varint.length(of: largest) + Varint.length(of: ackDelayMicros)
            + Varint.length(of: UInt64(ranges.count - 1)) + Varint.length(of: largest - ranges[0].lowerBound)
        for i in 1..<ranges.count {
            let gap = ranges[i - 1].lowerBound - ranges[i].upperBound - 2
            n += Varint.length(of: gap) + Varint.length(of: ranges[i].upperBound - ranges[i].lowerBound)
        }
        return n
    }

    package func write(into writer: inout ByteWriter) {
        writer.u8(FrameType.ack.rawValue)
        writer.varint(largest)
        writer.varint(ackDelayMicros)
        writer.varint(UInt64(ranges.count - 1))
        writer.varint(largest - ranges[0].lowerBound)
        for i in 1..<ranges.count {
            writer.varint(ranges[i - 1].lowerBound - ranges[i].upperBound - 2)
            writer.varint(ranges[i].upperBound - ranges[i].lowerBound)
        }
    }

    /// Reads the body after the type byte; nil on any inconsistency (underflow, too many ranges).
    static func parse(_ reader: inout ByteReader) -> AckFrame? {
        guard let largest = reader.varint(), let delay = reader.varint(), let extra = reader.varint(),
              extra < UInt64(maxRanges), let firstLength = reader.varint(), firstLength <= largest else { return nil }
        var ranges = [ClosedRange<UInt64>]()
        ranges.reserveCapacity(Int(extra) + 1)
        var low = largest - firstLength
        ranges.append(low...largest)
        for _ in 0..<extra {
            guard let gap = reader.varint(), let length = reader.varint(), low >= gap + 2 else { return nil }
            let high = low - gap - 2
            guard length <= high else { return nil }
            low = high - length
            ranges.append(low...high)
        }
        return AckFrame(ranges: ranges, ackDelayMicros: delay)
    }
}

/// One piece of a message: fixed-width header, then the bytes. The length is implied by the
/// message length, chunk size and index, so a chunk cannot claim more bytes than it carries.
package struct ChunkFrame {
    package static let headerByteCount = 1 + 8 + 4 + 4 + 2

    var messageID: UInt64
    var messageLength: Int
    var index: Int
    var chunkSize: Int
    var data: UnsafeRawBufferPointer

    static func chunkCount(messageLength: Int, chunkSize: Int) -> Int {
        max(1, (messageLength + chunkSize - 1) / chunkSize)
    }

    package static func dataLength(messageLength: Int, chunkSize: Int, index: Int) -> Int {
        max(0, min(chunkSize, messageLength - index * chunkSize))
    }

    package static func writeHeader(into writer: inout ByteWriter, messageID: UInt64, messageLength: Int, index: Int, chunkSize: Int) {
        writer.u8(FrameType.chunk.rawValue)
        writer.u64(messageID)
        writer.u32(UInt32(messageLength))
        writer.u32(UInt32(index))
        writer.u16(UInt16(chunkSize))
    }

    /// Reads the body after the type byte; nil if the header is inconsistent or the data is cut short.
    static func parse(_ reader: inout ByteReader) -> ChunkFrame? {
        guard let id = reader.u64(), let length32 = reader.u32(), let index32 = reader.u32(),
              let size16 = reader.u16(), size16 > 0 else { return nil }
        let length = Int(length32), index = Int(index32), size = Int(size16)
        guard index < chunkCount(messageLength: length, chunkSize: size),
              let data = reader.slice(dataLength(messageLength: length, chunkSize: size, index: index)) else { return nil }
        return ChunkFrame(messageID: id, messageLength: length, index: index, chunkSize: size, data: data)
    }
}

enum Frame {
    case ack(AckFrame)
    case chunk(ChunkFrame)
    case ackNow
}

/// Walks the frames of a decrypted payload one at a time, so nothing is allocated for frames
/// that come after a malformed one.
struct FrameParser {
    var reader: ByteReader

    init(_ payload: UnsafeRawBufferPointer) { reader = ByteReader(payload) }

    /// The next frame, nil at the end; throws `Malformed` on any unknown or inconsistent frame.
    mutating func next() throws(Malformed) -> Frame? {
        guard let typeByte = reader.u8() else { return nil }
        switch FrameType(rawValue: typeByte) {
        case .ack:
            guard let frame = AckFrame.parse(&reader) else { throw Malformed() }
            return .ack(frame)
        case .chunk:
            guard let frame = ChunkFrame.parse(&reader) else { throw Malformed() }
            return .chunk(frame)
        case .ackNow:
            return .ackNow
        case nil:
            throw Malformed()
        }
    }

    struct Malformed: Error {}
}
