import Crypto

/// All k sessions of one group in one process, exchanging messages through a FIFO queue on a
/// virtual clock: a rehearsal of a round for tests, benchmarks and simulations, with hooks to crash
/// members, drop single messages and watch the traffic. Deterministic for a given seed.
public struct SecAggLocalGroup {
    /// One message in flight.
    public struct Envelope: Sendable, CustomStringConvertible {
        public let from: Int
        public let to: Int
        public let bytes: [UInt8]
        /// How long the network holds the message before delivering it.
        public var delay: Duration

        public init(from: Int, to: Int, bytes: [UInt8], delay: Duration = .zero) {
            self.from = from
            self.to = to
            self.bytes = bytes
            self.delay = delay
        }
        /// The type byte of the message, when it names a known type.
        public var kind: SecAggMessageKind? { bytes.count > 1 ? SecAggMessageKind(rawValue: bytes[1]) : nil }

        public var description: String { "\(kind.map { "\($0)" } ?? "?") \(from)→\(to) (\(bytes.count) bytes)" }
    }

    public enum Outcome: Sendable {
        case completed(SecAggResult)
        case failed(SecAggFailure)

        public var result: SecAggResult? {
            if case let .completed(result) = self { return result }
            return nil
        }
    }

    public private(set) var sessions: [SecAggSession]
    /// Member m crashes just before sending its first message of kind `crashBefore[m]`: that
    /// message and everything after it is never sent, and the member is no longer driven.
    public var crashBefore: [Int: SecAggMessageKind] = [:]
    /// What the network makes of one sent message: `[]` loses it, several entries duplicate or
    /// add to it (replays, forgeries over the sender's channel), a `delay` holds it back.
    /// Default: delivered at once, as sent.
    public var transit: (Envelope) -> [Envelope] = { [$0] }
    /// Sees every message that reaches its recipient.
    public var observe: (Envelope) -> Void = { _ in }
    /// When each member calls `start` (default: all at time zero).
    public var startTimes: [Duration]

    public private(set) var outcomes: [Int: Outcome] = [:]
    public private(set) var crashed = MemberSet()
    /// Messages a session refused, with the reason.
    public private(set) var rejections: [(envelope: Envelope, reason: SecAggRejection)] = []
    public private(set) var now: Duration = .zero

    /// Sessions for every member of `configuration`'s group, member m drawing its secrets from
    /// `DeterministicRandom` seeded with (seed, m).
    public init(configuration: SecAggConfiguration, seed: UInt64) throws(SecAggConfigurationError) {
        var sessions: [SecAggSession] = []
        for m in 0..<configuration.groupSize {
            var rng = DeterministicRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(m))
            sessions.append(SecAggSession(configuration: try configuration.forMember(m), rng: &rng))
        }
        self.init(sessions: sessions)
    }

    public init(sessions: [SecAggSession]) {
        self.sessions = sessions
        startTimes = Array(repeating: .zero, count: sessions.count)
    }

    /// Runs the round to the end (every live session closed) and returns each member's outcome
    /// (nil for members that crashed or never finished).
    @discardableResult
    public mutating func run(inputs: [[UInt32]], annotations: [[UInt8]]? = nil) -> [Outcome?] {
        let k = sessions.count
        precondition(inputs.count == k, "one input per member")
        var queue: [Envelope] = []
        var head = 0
        var delayed: [(due: Duration, envelope: Envelope)] = []
        var started = MemberSet()

        func alive(_ m: Int) -> Bool { !crashed.contains(m) }

        func perform(_ actions: [SecAggAction], by m: Int) {
            for action in actions {
                switch action {
                case let .send(to, bytes):
                    let envelope = Envelope(from: m, to: to, bytes: bytes)
                    if let limit = crashBefore[m], let kind = envelope.kind, kind >= limit { crashed.insert(m) }
                    guard alive(m) else { return }
                    for out in transit(envelope) {
                        if out.delay > .zero { delayed.append((now + out.delay, out)) } else { queue.append(out) }
                    }
                case let .completed(result):
                    outcomes[m] = .completed(result)
                case let .failed(failure):
                    outcomes[m] = .failed(failure)
                }
            }
        }

        while true {
            if head < queue.count {
                let envelope = queue[head]
                head += 1
                if head > 1024 { queue.removeFirst(head); head = 0 }
                guard alive(envelope.to) else { continue }
                observe(envelope)
                do {
                    let actions = try sessions[envelope.to].receive(from: envelope.from, bytes: envelope.bytes, now: now)
                    perform(actions, by: envelope.to)
                } catch {
                    rejections.append((envelope, error))
                }
                continue
            }
            // Nothing in flight: jump to the next start time, deadline or delayed delivery.
            var next: Duration? = delayed.map(\.due).min()
            for m in 0..<k where alive(m) {
                let due = started.contains(m) ? sessions[m].nextDeadline : startTimes[m]
                if let due { next = min(next ?? due, due) }
            }
            guard let next else { break }
            now = max(now, next)
            // Delayed messages due now go first, in the order they were sent.
            queue += delayed.filter { $0.due <= now }.map(\.envelope)
            delayed.removeAll { $0.due <= now }
            for m in 0..<k where alive(m) {
                if !started.contains(m), startTimes[m] <= now {
                    started.insert(m)
                    let annotation = annotations?[m] ?? []
                    do {
                        perform(try sessions[m].start(input: inputs[m], annotation: annotation, now: now), by: m)
                    } catch {
                        preconditionFailure("rehearsal inputs must fit the configuration: \(error)")
                    }
                } else if started.contains(m) {
                    perform(sessions[m].tick(now: now), by: m)
                }
            }
        }
        return (0..<k).map { crashed.contains($0) ? nil : outcomes[$0] }
    }
}
