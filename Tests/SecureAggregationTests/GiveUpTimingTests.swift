import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Members' failure detectors reach their verdicts at different times: one that gives up on a
/// member early must not give up on the others, who may wait out their advertise deadline first.
@Suite struct GiveUpTimingTests {
    struct Group {
        var sessions: [SecAggSession]
        var queue: [SecAggLocalGroup.Envelope] = []
        var results: [Int: SecAggResult] = [:]
        var failures: [Int: SecAggFailure] = [:]

        mutating func perform(_ actions: [SecAggAction], by m: Int) {
            for action in actions {
                switch action {
                case let .send(to, bytes): queue.append(.init(from: m, to: to, bytes: bytes))
                case let .completed(result): results[m] = result
                case let .failed(failure): failures[m] = failure
                }
            }
        }

        mutating func deliver(now: Duration) {
            while !queue.isEmpty {
                let envelope = queue.removeFirst()
                if let actions = try? sessions[envelope.to].receive(from: envelope.from, bytes: envelope.bytes, now: now) {
                    perform(actions, by: envelope.to)
                }
            }
        }

        mutating func tick(now: Duration) {
            for m in sessions.indices { perform(sessions[m].tick(now: now), by: m) }
            deliver(now: now)
        }
    }

    /// Member 4 never starts. Members 0 and 1 give up on it at once and move on to sharing; 2 and
    /// 3 have no verdict and wait for its advertisement until their deadline (5 s). 0 and 1 must
    /// still be waiting for 2's and 3's shares then: a share phase timed from their early start
    /// (1 s) failed them with too few members, while 2 and 3 went on without them.
    @Test func anEarlyVerdictDoesNotCutOffMembersStillWaiting() throws {
        let base = Fixture.configuration(k: 5, d: 16)
        let configuration = try SecAggConfiguration(networkID: base.networkID, round: base.round, group: base.group,
                                                    members: base.members, me: 0, threshold: 3, vectorLength: 16,
                                                    phaseTimeout: .seconds(1), advertiseTimeout: .seconds(5))
        let inputs = Fixture.inputs(k: 5, d: 16, seed: 7)
        var group = Group(sessions: try (0..<5).map { m in
            var rng = seededRandom(40 + UInt64(m))
            return SecAggSession(configuration: try configuration.forMember(m), rng: &rng)
        })
        for m in 0..<4 { group.perform(try group.sessions[m].start(input: inputs[m], now: .zero), by: m) }
        group.deliver(now: .zero)
        for m in 0..<2 { group.perform(group.sessions[m].giveUp(on: 4, now: .milliseconds(100)), by: m) }
        group.deliver(now: .milliseconds(100))
        group.tick(now: .seconds(2))
        #expect(group.failures.isEmpty, "\(group.failures)")
        group.tick(now: .seconds(5))
        for step in 1...20 { group.tick(now: .seconds(5) + .milliseconds(10 * step)) }
        let expected = (0..<4).reduce([UInt32](repeating: 0, count: 16)) { sum, m in zip(sum, inputs[m]).map { $0 &+ $1 } }
        for m in 0..<4 {
            #expect(group.results[m]?.contributors == [0, 1, 2, 3], "member \(m): \(String(describing: group.failures[m]))")
            #expect(group.results[m]?.sum == expected)
        }
    }
}
