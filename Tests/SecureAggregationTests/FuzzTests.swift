import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Member 0 of a clean five-member round (t = 3, d = 16), captured after every message it
/// received, with the genuine messages themselves (the fuzz seeds) and what member 0 had
/// revealed by then. Built from the same fixture as the libFuzzer target in Fuzz/.
struct MemberZeroTimeline {
    struct Snapshot {
        var session: SecAggSession
        /// Members whose self-mask seed share (resp. mask-key share) member 0 has revealed.
        var revealedSeeds: Set<Int>
        var revealedKeys: Set<Int>
    }

    static let k = 5, d = 16
    var snapshots: [Snapshot] = []
    var received: [[UInt8]] = []
    let input: [UInt32]
    let configurations: [SecAggConfiguration]

    init() {
        let base = Fixture.configuration(k: Self.k, d: Self.d)
        configurations = (0..<Self.k).map { try! base.forMember($0) }
        var sessions = configurations.enumerated().map { m, configuration in
            var rng = seededRandom(40 + UInt64(m))
            return SecAggSession(configuration: configuration, rng: &rng)
        }
        let inputs = Fixture.inputs(k: Self.k, d: Self.d, seed: 41)
        input = inputs[0]
        var queue: [(from: Int, to: Int, bytes: [UInt8])] = []
        var revealedSeeds = Set<Int>(), revealedKeys = Set<Int>()
        func enqueue(_ actions: [SecAggAction], from m: Int) {
            for case let .send(to, bytes) in actions { queue.append((m, to, bytes)) }
        }
        for m in 0..<Self.k { enqueue(try! sessions[m].start(input: inputs[m], now: .zero), from: m) }
        snapshots.append(Snapshot(session: sessions[0], revealedSeeds: [], revealedKeys: []))
        while !queue.isEmpty {
            let (from, to, bytes) = queue.removeFirst()
            if from == 0, let (seeds, keys) = Self.revealed(bytes, to: to, configurations) {
                revealedSeeds.formUnion(seeds)
                revealedKeys.formUnion(keys)
            }
            if let actions = try? sessions[to].receive(from: from, bytes: bytes, now: .zero) { enqueue(actions, from: to) }
            if to == 0 {
                received.append(bytes)
                snapshots.append(Snapshot(session: sessions[0], revealedSeeds: revealedSeeds, revealedKeys: revealedKeys))
            }
        }
    }

    /// The owners whose seed and key shares an unmask response from member 0 to `to` reveals.
    static func revealed(_ bytes: [UInt8], to: Int, _ configurations: [SecAggConfiguration]) -> (Set<Int>, Set<Int>)? {
        guard case let .unmaskResponse(.shares(seed, key))? = try? SecAggWire.decode(bytes, from: 0, configurations[to]) else {
            return nil
        }
        return (Set(seed.keys), Set(key.keys))
    }

    /// Makes the header claim the right version, session and `sender`, so mutations reach the body.
    func repairedHeader(_ bytes: [UInt8], sender: Int) -> [UInt8] {
        guard bytes.count >= SecAggWire.headerByteCount else { return bytes }
        var out = bytes
        out[0] = SecAggWire.version
        out.replaceSubrange(2..<(2 + SecAggWire.contextPrefixByteCount), with: configurations[0].sessionTag)
        out[SecAggWire.headerByteCount - 2] = UInt8(sender)
        out[SecAggWire.headerByteCount - 1] = 0
        return out
    }

    /// Where member 0's input would sit if it ever left in the clear: its first four words.
    var plainInputMarker: [UInt8] { input.prefix(4).flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } } }
}

/// Bounded mutation fuzzing of the secure-aggregation message decoder and session (libFuzzer
/// side: Fuzz/, scripts/fuzz.sh). Every mutated message is handed to member 0 at every point of
/// a round: it must be rejected with a `SecAggRejection` or handled, and whatever member 0 sends
/// in response must never carry its input in the clear nor reveal both shares of one member.
@Suite struct SecureAggregationFuzzTests {
    @Test func sessionSurvivesHostileMessagesInEveryPhase() {
        let timeline = MemberZeroTimeline()
        let marker = timeline.plainInputMarker
        var turn = 0
        let report = fuzz("secagg-message", extraSeeds: timeline.received, dictionary: FuzzDictionary.binary,
                          maxLength: 1024) { input in
            turn += 1
            let snapshot = timeline.snapshots[turn % timeline.snapshots.count]
            var session = snapshot.session
            let claimed = input.count >= SecAggWire.headerByteCount ? Int(input[SecAggWire.headerByteCount - 2]) : 1
            let sender = (1..<MemberZeroTimeline.k).contains(claimed) ? claimed : 1 + turn % (MemberZeroTimeline.k - 1)
            let bytes = turn % 2 == 0 ? timeline.repairedHeader(input, sender: sender) : input
            var actions: [SecAggAction]
            do { actions = try session.receive(from: sender, bytes: bytes, now: .zero) } catch { return .rejected }
            if turn % 7 == 0 { actions += session.tick(now: .seconds(1000)) } // and let every timeout fire
            var seeds = snapshot.revealedSeeds, keys = snapshot.revealedKeys
            for action in actions {
                switch action {
                case let .send(to, out):
                    guard (1..<MemberZeroTimeline.k).contains(to) else { return .violation("send to \(to)") }
                    guard !out.containsSubsequence(marker) else { return .violation("member 0's input left in the clear") }
                    if let (s, k) = MemberZeroTimeline.revealed(out, to: to, timeline.configurations) {
                        seeds.formUnion(s)
                        keys.formUnion(k)
                    }
                case let .completed(result):
                    guard result.sum.count == MemberZeroTimeline.d, result.contributors.contains(0) else {
                        return .violation("malformed result \(result)")
                    }
                case .failed:
                    break
                }
            }
            guard seeds.isDisjoint(with: keys) else {
                return .violation("revealed both shares of members \(seeds.intersection(keys).sorted())")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { start in self[start..<start + needle.count].elementsEqual(needle) }
    }
}
