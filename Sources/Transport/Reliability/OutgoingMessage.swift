/// One message being sent to one peer: its bytes cut into fixed-size chunks and what the peer
/// has acknowledged of them.
struct OutgoingMessage {
    enum ChunkState: UInt8 {
        /// Never sent, or declared lost and waiting in the retransmission queue.
        case waiting
        case inFlight
        case acknowledged
    }

    let number: UInt64
    let bytes: [UInt8]
    let chunkSize: Int
    let chunkCount: Int
    let deadline: Duration
    /// Chunks below this index went out at least once.
    var nextUnsent = 0
    private(set) var acknowledgedCount = 0
    var states: [ChunkState]
    /// The counter of the latest packet that carried each chunk: only its loss requeues the chunk.
    var lastPacket: [UInt64]

    init(number: UInt64, bytes: [UInt8], chunkSize: Int, deadline: Duration) {
        self.number = number
        self.bytes = bytes
        self.chunkSize = chunkSize
        self.deadline = deadline
        chunkCount = ChunkFrame.chunkCount(messageLength: bytes.count, chunkSize: chunkSize)
        states = [ChunkState](repeating: .waiting, count: chunkCount)
        lastPacket = [UInt64](repeating: 0, count: chunkCount)
    }

    var isComplete: Bool { acknowledgedCount == chunkCount }
    var hasUnsent: Bool { nextUnsent < chunkCount }

    func dataLength(of index: Int) -> Int {
        ChunkFrame.dataLength(messageLength: bytes.count, chunkSize: chunkSize, index: index)
    }

    /// Marks a chunk acknowledged; returns whether that was news.
    mutating func acknowledge(_ index: Int) -> Bool {
        guard states[index] != .acknowledged else { return false }
        states[index] = .acknowledged
        acknowledgedCount += 1
        return true
    }

    /// Forgets every acknowledgement: the peer restarted and lost what it had.
    mutating func restart() {
        nextUnsent = 0
        acknowledgedCount = 0
        for i in states.indices { states[i] = .waiting; lastPacket[i] = 0 }
    }
}

/// A reference to one chunk of one outgoing message.
struct ChunkRef: Equatable {
    var message: UInt64
    var index: Int
}

/// A sent packet that carries chunks and so must be acknowledged.
struct SentPacket {
    let counter: UInt64
    let sentAt: Duration
    let size: Int
    let chunks: [ChunkRef]
}
