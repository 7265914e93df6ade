/// Holds messages for rounds this node has not reached yet, within a byte budget no one sender can
/// crowd the others out of.
///
/// Each sender keeps its two most advanced rounds and at most a quarter of the budget, so one peer
/// flooding far-future rounds evicts only its own messages (SPEC §8, buffering).
struct FutureMessageBuffer: Sendable {
    struct Message: Sendable, Equatable {
        var round: UInt64
        var from: Int
        var payload: [UInt8]
    }

    /// What `insert` did: whether the message was kept, and how many held messages of its sender
    /// it evicted (messages of rounds no longer among the sender's two most advanced).
    struct Insertion: Sendable, Equatable {
        var kept: Bool
        var evicted: Int
    }

    /// The most payload bytes held in all; each sender may hold a quarter of it.
    let maximumBytes: Int
    /// Held messages in arrival order.
    private(set) var messages: [Message] = []
    /// Payload bytes held, in all and per sender.
    private(set) var bytes = 0
    private var bytesFrom: [Int: Int] = [:]

    init(maximumBytes: Int) {
        self.maximumBytes = maximumBytes
    }

    /// Payload bytes held from `sender`.
    func bytes(from sender: Int) -> Int {
        bytesFrom[sender, default: 0]
    }

    /// Keeps `payload` for `round` unless that round is older than the sender's two most advanced
    /// held rounds or the message would take the buffer or its sender past their byte limits. A
    /// newer round evicts the sender's messages of its oldest held round first.
    mutating func insert(round: UInt64, from sender: Int, payload: [UInt8]) -> Insertion {
        var evicted = 0
        let rounds = Set(messages.filter { $0.from == sender }.map(\.round) + [round]).sorted(by: >)
        if rounds.count > 2 {
            let keep = Set(rounds.prefix(2))
            let before = messages.count
            messages.removeAll { $0.from == sender && !keep.contains($0.round) }
            evicted = before - messages.count
            recount()
            guard keep.contains(round) else { return Insertion(kept: false, evicted: evicted) }
        }
        let fromSender = bytes(from: sender)
        guard bytes + payload.count <= maximumBytes, fromSender + payload.count <= maximumBytes / 4 else {
            return Insertion(kept: false, evicted: evicted)
        }
        messages.append(Message(round: round, from: sender, payload: payload))
        bytes += payload.count
        bytesFrom[sender] = fromSender + payload.count
        return Insertion(kept: true, evicted: evicted)
    }

    /// Removes every message of `round` and earlier, and returns those of `round` in arrival
    /// order: the node has reached `round`, so earlier rounds' messages can never be delivered.
    mutating func take(round: UInt64) -> [Message] {
        let ready = messages.filter { $0.round == round }
        messages.removeAll { $0.round <= round }
        recount()
        return ready
    }

    private mutating func recount() {
        bytesFrom = [:]
        for message in messages { bytesFrom[message.from, default: 0] += message.payload.count }
        bytes = bytesFrom.values.reduce(0, +)
    }
}
