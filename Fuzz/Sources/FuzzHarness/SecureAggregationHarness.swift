import Crypto
@testable import SecureAggregation

/// The secure-aggregation decoder and session: each input is handed to member 0 at every point of
/// a clean five-member round, once as is and once with a header naming the right session, so
/// mutations reach every message body in every phase. Same fixture as
/// Tests/SecureAggregationTests/FuzzTests.swift, so the committed corpus fits both.
public enum SecureAggregationHarness {
    static let k = 5, d = 16

    struct Snapshot {
        var session: SecAggSession
        var revealedSeeds: Set<Int>
        var revealedKeys: Set<Int>
    }

    static let configurations: [SecAggConfiguration] = {
        var rng = DeterministicRandom(seed: 1)
        let members = (0..<k).map { _ in KeyPair.generate(using: &rng).publicKey }
        return (0..<k).map { m in
            try! SecAggConfiguration(networkID: [UInt8](repeating: 7, count: 32), round: 5, group: 2, members: members,
                                     me: m, threshold: 3, vectorLength: d, phaseTimeout: .seconds(10))
        }
    }()

    static let inputs: [[UInt32]] = {
        var rng = DeterministicRandom(seed: 41)
        return (0..<k).map { _ in (0..<d).map { _ in UInt32(truncatingIfNeeded: rng.nextUInt64()) } }
    }()

    /// Member 0 after every message it received in a clean round, with what it had revealed by then.
    static let snapshots: [Snapshot] = {
        var sessions = configurations.enumerated().map { m, configuration in
            var rng = DeterministicRandom(seed: 40 + UInt64(m))
            return SecAggSession(configuration: configuration, rng: &rng)
        }
        var queue: [(from: Int, to: Int, bytes: [UInt8])] = []
        var out: [Snapshot] = []
        var seeds = Set<Int>(), keys = Set<Int>()
        func enqueue(_ actions: [SecAggAction], from m: Int) {
            for case let .send(to, bytes) in actions { queue.append((m, to, bytes)) }
        }
        for m in 0..<k { enqueue(try! sessions[m].start(input: inputs[m], now: .zero), from: m) }
        out.append(Snapshot(session: sessions[0], revealedSeeds: [], revealedKeys: []))
        while !queue.isEmpty {
            let (from, to, bytes) = queue.removeFirst()
            if from == 0, let (s, k) = revealed(bytes, to: to) { seeds.formUnion(s); keys.formUnion(k) }
            if let actions = try? sessions[to].receive(from: from, bytes: bytes, now: .zero) { enqueue(actions, from: to) }
            if to == 0 { out.append(Snapshot(session: sessions[0], revealedSeeds: seeds, revealedKeys: keys)) }
        }
        return out
    }()

    static let plainInputMarker: [UInt8] = inputs[0].prefix(4).flatMap { word in
        (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
    }

    static func revealed(_ bytes: [UInt8], to: Int) -> (Set<Int>, Set<Int>)? {
        guard case let .unmaskResponse(.shares(seed, key))? = try? SecAggWire.decode(bytes, from: 0, configurations[to]) else {
            return nil
        }
        return (Set(seed.keys), Set(key.keys))
    }

    public static func message(_ input: [UInt8]) {
        let header = SecAggWire.headerByteCount
        let claimed = input.count >= header ? Int(input[header - 2]) : 1
        let sender = (1..<k).contains(claimed) ? claimed : 1
        var repaired = input
        if repaired.count >= header {
            repaired[0] = SecAggWire.version
            repaired.replaceSubrange(2..<(2 + SecAggWire.contextPrefixByteCount), with: configurations[0].sessionTag)
            repaired[header - 2] = UInt8(sender)
            repaired[header - 1] = 0
        }
        deliver(input, from: sender, to: snapshots[0], tick: false)
        for (index, snapshot) in snapshots.enumerated() { deliver(repaired, from: sender, to: snapshot, tick: index % 3 == 0) }
    }

    static func deliver(_ bytes: [UInt8], from sender: Int, to snapshot: Snapshot, tick: Bool) {
        var session = snapshot.session
        guard var actions = try? session.receive(from: sender, bytes: bytes, now: .zero) else { return }
        if tick { actions += session.tick(now: .seconds(1000)) }
        var seeds = snapshot.revealedSeeds, keys = snapshot.revealedKeys
        for action in actions {
            switch action {
            case let .send(to, out):
                Fuzz.require((1..<k).contains(to), "send to \(to)")
                Fuzz.require(!contains(out, plainInputMarker), "member 0's input left in the clear")
                if let (s, k) = revealed(out, to: to) { seeds.formUnion(s); keys.formUnion(k) }
            case let .completed(result):
                Fuzz.require(result.sum.count == d && result.contributors.contains(0), "malformed result")
            case .failed:
                break
            }
        }
        Fuzz.require(seeds.isDisjoint(with: keys), "revealed both shares of one member")
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
