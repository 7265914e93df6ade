#if canImport(Glibc)
import Glibc
#endif

/// A message being reassembled from its chunks. The buffer for the whole message is taken at
/// admission (within the reassembly budget), so an admitted message can always complete.
struct InboundMessage {
    let number: UInt64
    let length: Int
    let chunkSize: Int
    let chunkCount: Int
    private(set) var buffer: [UInt8]
    private var present: [UInt64]
    private(set) var receivedCount = 0
    private(set) var lastProgress: Duration

    /// Bytes of memory this reassembly holds, counted against the budgets.
    static func cost(length: Int, chunkSize: Int) -> Int {
        length + (ChunkFrame.chunkCount(messageLength: length, chunkSize: chunkSize) + 63) / 64 * 8 + 128
    }

    var cost: Int { Self.cost(length: length, chunkSize: chunkSize) }
    var isComplete: Bool { receivedCount == chunkCount }

    init(number: UInt64, length: Int, chunkSize: Int, now: Duration) {
        self.number = number
        self.length = length
        self.chunkSize = chunkSize
        chunkCount = ChunkFrame.chunkCount(messageLength: length, chunkSize: chunkSize)
        // Every byte is written by a chunk before the buffer is handed out, so skip zeroing it.
        buffer = [UInt8](unsafeUninitializedCapacity: length) { storage, count in
            adviseHugePages(UnsafeMutableRawBufferPointer(storage))
            count = length
        }
        present = [UInt64](repeating: 0, count: (chunkCount + 63) / 64)
        lastProgress = now
    }

    /// Stores a chunk; false if it was already present.
    mutating func store(_ chunk: ChunkFrame, now: Duration) -> Bool {
        let word = chunk.index / 64, bit = UInt64(1) << UInt64(chunk.index % 64)
        guard present[word] & bit == 0 else { return false }
        present[word] |= bit
        receivedCount += 1
        lastProgress = now
        if chunk.data.count > 0 {
            let offset = chunk.index * chunkSize
            buffer.withUnsafeMutableBytes { out in
                UnsafeMutableRawBufferPointer(rebasing: out[offset..<offset + chunk.data.count]).copyMemory(from: chunk.data)
            }
        }
        return true
    }

    /// Hands the finished message over without copying it.
    mutating func takeBuffer() -> [UInt8] {
        var out: [UInt8] = []
        swap(&out, &buffer)
        return out
    }
}

/// Asks Linux to back a large buffer with 2 MiB pages where it can: a multi-megabyte message
/// then costs a few page faults instead of one per 4 KiB (measured in scripts/bench-transport.sh).
private func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if os(Linux)
    let huge = 2 << 20
    guard buffer.count >= 2 * huge, let base = buffer.baseAddress else { return }
    let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
    let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, 14)  // MADV_HUGEPAGE
    #endif
}

/// Which message numbers of the peer's session were delivered: everything below `floor`, plus
/// a set above it. Senders keep at most `window` messages open, so a number at or beyond
/// `floor + window` proves everything below `number - window + 1` is finished at the sender.
struct DeliveryLedger {
    static let window: UInt64 = 256

    private(set) var floor: UInt64 = 0
    private var above: Set<UInt64> = []

    func wasDelivered(_ number: UInt64) -> Bool { number < floor || above.contains(number) }

    mutating func markDelivered(_ number: UInt64) {
        above.insert(number)
        while above.remove(floor) != nil { floor += 1 }
    }

    /// Moves the floor up so `number` fits in the window; returns the new floor.
    mutating func makeRoom(for number: UInt64) -> UInt64 {
        guard number >= floor + Self.window else { return floor }
        floor = number - Self.window + 1
        above = above.filter { $0 >= floor }
        while above.remove(floor) != nil { floor += 1 }
        return floor
    }
}
