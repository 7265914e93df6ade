/// One message being sent to one peer: its bytes cut into fixed-size chunks, what the peer has
/// acknowledged of them, and which were lost and must go again.
struct OutgoingMessage {
    enum ChunkState: UInt8 {
        /// Never sent, or declared lost and listed in `lost`.
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
    private(set) var nextUnsent = 0
    private(set) var acknowledgedCount = 0
    private(set) var inFlightCount = 0
    private(set) var states: [ChunkState]
    /// The counter of the latest packet that carried each chunk: only its loss requeues the chunk.
    private(set) var lastPacket: [UInt64]
    /// Chunks declared lost, oldest first, from `lostHead` on (entries no longer waiting are stale).
    private var lost: [Int] = []
    private var lostHead = 0

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

    /// A multi-chunk message the receiver has not yet shown it admitted (no chunk acknowledged).
    /// Such a message sends one chunk at a time, so a receiver that is out of reassembly memory
    /// costs the sender one probe per message, not a window full of refused chunks.
    var needsProbe: Bool { chunkCount > 1 && acknowledgedCount == 0 }

    /// The next chunk to send, lost ones first; nil if everything is in flight or acknowledged.
    var nextChunk: (index: Int, isRetransmission: Bool)? {
        var i = lostHead
        while i < lost.count {
            if states[lost[i]] == .waiting { return (lost[i], true) }
            i += 1
        }
        return nextUnsent < chunkCount ? (nextUnsent, false) : nil
    }

    func dataLength(of index: Int) -> Int {
        ChunkFrame.dataLength(messageLength: bytes.count, chunkSize: chunkSize, index: index)
    }

    mutating func markSent(_ index: Int, counter: UInt64) {
        if index == nextUnsent { nextUnsent += 1 }
        if states[index] != .inFlight { inFlightCount += 1 }
        states[index] = .inFlight
        lastPacket[index] = counter
        while lostHead < lost.count, states[lost[lostHead]] != .waiting { lostHead += 1 }
        if lostHead == lost.count { lost.removeAll(keepingCapacity: true); lostHead = 0 }
    }

    /// Marks a chunk acknowledged; returns whether that was news.
    mutating func acknowledge(_ index: Int) -> Bool {
        guard states[index] != .acknowledged else { return false }
        if states[index] == .inFlight { inFlightCount -= 1 }
        states[index] = .acknowledged
        acknowledgedCount += 1
        return true
    }

    /// The packet with `counter` was lost: requeue the chunk if that packet was its latest carrier.
    mutating func packetLost(_ index: Int, counter: UInt64) {
        guard states[index] == .inFlight, lastPacket[index] == counter else { return }
        states[index] = .waiting
        inFlightCount -= 1
        lost.append(index)
    }

    /// Forgets every acknowledgement: the peer restarted and lost what it had.
    mutating func restart() {
        nextUnsent = 0
        acknowledgedCount = 0
        inFlightCount = 0
        lost = []
        lostHead = 0
        for i in states.indices { states[i] = .waiting; lastPacket[i] = 0 }
    }
}

/// A reference to one chunk of one outgoing message.
struct ChunkRef: Equatable {
    var message: UInt64
    var index: Int
}

/// The chunks one packet carried: almost always one, and then nothing is allocated or
/// reference-counted when packets are recorded and dropped.
enum ChunkList {
    case one(ChunkRef)
    case many([ChunkRef])

    init(_ refs: [ChunkRef]) { self = refs.count == 1 ? .one(refs[0]) : .many(refs) }

    func forEach(_ body: (ChunkRef) -> Void) {
        switch self {
        case let .one(ref): body(ref)
        case let .many(refs): for ref in refs { body(ref) }
        }
    }
}

/// A sent packet that carries chunks and so must be acknowledged.
struct SentPacket {
    let counter: UInt64
    let sentAt: Duration
    let size: Int
    let chunks: ChunkList
    /// Acknowledged or declared lost: no longer in flight, dropped from the log lazily.
    var isSettled = false
}
