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
        /// Messages a session refused, with its reason.
        var rejections: [(envelope: SecAggLocalGroup.Envelope, reason: SecAggRejection)] = []

        mutating func perform(_ actions: [SecAggAction], by m: Int) {
            for action in actions {
                switch action {
                case let .send(to, bytes): queue.append(.init(from: m, to: to, bytes: bytes))
                case let .completed(result): results[m] = result
                case let .failed(failure): failures[m] = failure
                }
            }
        }

        /// Delivers until nothing is in flight; messages `lost` selects are dropped, also those sent
        /// in reply along the way.
        mutating func deliver(now: Duration, lost: (SecAggLocalGroup.Envelope) -> Bool = { _ in false }) {
            while !queue.isEmpty {
                let envelope = queue.removeFirst()
                if lost(envelope) { continue }
                do {
                    perform(try sessions[envelope.to].receive(from: envelope.from, bytes: envelope.bytes, now: now), by: envelope.to)
                } catch {
                    rejections.append((envelope, error))
                    // Only a member that never started may refuse the group's genuine messages.
                    if error != .unexpected(envelope.kind ?? .advertise, phase: .idle) { Issue.record("\(envelope): \(error)") }
                }
            }
        }

        mutating func tick(now: Duration) {
            for m in sessions.indices { perform(sessions[m].tick(now: now), by: m) }
            deliver(now: now)
        }
    }

    /// k sessions (threshold 3, 16 words) whose phases last 1 s and whose advertise phase lasts
    /// 5 s, as a node's do with a join timeout longer than its phase timeout.
    static func longAdvertise(k: Int, seed: UInt64) throws -> Group {
        let base = Fixture.configuration(k: k, d: 16)
        let configuration = try SecAggConfiguration(networkID: base.networkID, round: base.round, group: base.group,
                                                    members: base.members, me: 0, threshold: 3, vectorLength: 16,
                                                    phaseTimeout: .seconds(1), advertiseTimeout: .seconds(5))
        return Group(sessions: try (0..<k).map { m in
            var rng = seededRandom(seed + UInt64(m))
            return SecAggSession(configuration: try configuration.forMember(m), rng: &rng)
        })
    }

    /// Member 4 never starts. Members 0 and 1 give up on it at once and move on to sharing; 2 and
    /// 3 have no verdict and wait for its advertisement until their deadline (5 s). 0 and 1 must
    /// still be waiting for 2's and 3's shares then: a share phase timed from their early start
    /// (1 s) failed them with too few members, while 2 and 3 went on without them.
    @Test func anEarlyVerdictDoesNotCutOffMembersStillWaiting() throws {
        let inputs = Fixture.inputs(k: 5, d: 16, seed: 7)
        var group = try Self.longAdvertise(k: 5, seed: 40)
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

    /// Member 0 comes back from a restart: 1 and 3 hear from it, 2 has given up on it and never
    /// does (nothing from 0 reaches 2), so 2 neither shares with 0 nor masks with it. 0 then stalls before sending
    /// its masked input. 2 needs no input from 0 and unmasks at once; 1 and 3 wait for 0's input
    /// until their masked-input deadline (1 s) and only then vote for the same view. 2 must still
    /// be listening: an unmask phase timed from its early entry ended at that same instant, and 2
    /// failed while 1 and 3 completed with its answers (the fault test's kill scenario).
    @Test func anEarlyUnmaskerWaitsForMembersStillWaitingForAnInput() throws {
        let configuration = Fixture.configuration(k: 4, d: 16, timeout: .seconds(1))
        let inputs = Fixture.inputs(k: 4, d: 16, seed: 9)
        var group = Group(sessions: try (0..<4).map { m in
            var rng = seededRandom(60 + UInt64(m))
            return SecAggSession(configuration: try configuration.forMember(m), rng: &rng)
        })
        group.perform(group.sessions[2].giveUp(on: 0, now: .zero), by: 2)
        for m in 0..<4 { group.perform(try group.sessions[m].start(input: inputs[m], now: .zero), by: m) }
        group.deliver(now: .zero) { $0.from == 0 && $0.to == 2 }
        #expect(group.sessions[2].phase == .unmasking && group.sessions[1].phase == .masking && group.sessions[3].phase == .masking)
        // Member 0 is stalled from here on: never ticked, nothing more from it.
        let live = [1, 2, 3]
        for step in 0...20 {
            let now = Duration.seconds(1) + .milliseconds(10 * step)
            for m in live { group.perform(group.sessions[m].tick(now: now), by: m) }
            group.queue.removeAll { $0.from == 0 }
            group.deliver(now: now)
        }
        let expected = live.reduce([UInt32](repeating: 0, count: 16)) { sum, m in zip(sum, inputs[m]).map { $0 &+ $1 } }
        for m in live {
            #expect(group.results[m]?.contributors == live, "member \(m): \(String(describing: group.failures[m]))")
            #expect(group.results[m]?.sum == expected)
        }
    }

    /// Member 0 has just restarted. Member 3 still holds the failure detector's verdict on it and
    /// closes its roster without it (0's advertisement reaches 3 only later, its shares in time); 1
    /// and 2 include it. So 3 neither shares with 0 nor masks with it, and 0 cannot mask with 3. When
    /// inputs went to mask partners only, 0's input never reached 3 nor 3's reached 0: 3 dropped
    /// 0, 0 dropped 3, 1 and 2 dropped nobody, no view had t = 3 votes and the round failed for
    /// everyone. With inputs sent to the whole roster, 3 holds 0's shares, waits for 0's input and
    /// sums it: 1, 2 and 3 agree and complete with all four inputs; 0, whose view lacks 3, alone fails.
    @Test func aLateRosterStillSumsTheInputOfAMemberItLeftOut() throws {
        // Member 0's share phase, waiting for 3's shares that never come, ends at 0.8 s: before 1's
        // and 2's masked-input deadline (1 s), so its input is in time for them.
        let configuration = Fixture.configuration(k: 4, d: 16, timeout: .seconds(1))
        let restarted = Fixture.configuration(k: 4, d: 16, timeout: .milliseconds(800))
        let inputs = Fixture.inputs(k: 4, d: 16, seed: 11)
        var group = Group(sessions: try (0..<4).map { m in
            var rng = seededRandom(70 + UInt64(m))
            return SecAggSession(configuration: try (m == 0 ? restarted : configuration).forMember(m), rng: &rng)
        })
        group.perform(group.sessions[3].giveUp(on: 0, now: .zero), by: 3)
        for m in 0..<4 { group.perform(try group.sessions[m].start(input: inputs[m], now: .zero), by: m) }
        // 0's advertisement reaches 3 late; its shares come in time.
        var held: [SecAggLocalGroup.Envelope] = []
        group.deliver(now: .zero) { envelope in
            guard envelope.from == 0 && envelope.to == 3 && held.isEmpty else { return false }
            held.append(envelope)
            return true
        }
        #expect(group.sessions[3].phase == .masking && group.sessions[1].phase == .masking && group.sessions[0].phase == .sharing)
        group.queue = held
        group.deliver(now: .milliseconds(500))
        for step in 0...40 {
            let now = Duration.milliseconds(800) + .milliseconds(50 * step)
            for m in 0..<4 { group.perform(group.sessions[m].tick(now: now), by: m) }
            group.deliver(now: now)
        }
        let all = [0, 1, 2, 3]
        let expected = all.reduce([UInt32](repeating: 0, count: 16)) { sum, m in zip(sum, inputs[m]).map { $0 &+ $1 } }
        for m in [1, 2, 3] {
            #expect(group.results[m]?.contributors == all, "member \(m): \(String(describing: group.failures[m]))")
            #expect(group.results[m]?.sum == expected)
        }
        #expect(group.results[0] == nil && group.failures[0] != nil)
    }

    /// Member 1 froze while sending its advertisement: 2 and 3 got it, 0 did not, and no failure
    /// detector has a verdict yet. 2 and 3 close their rosters with 1 in them and share at once;
    /// 0 keeps waiting for 1's advertisement, up to its advertise timeout (5 s). 2 and 3 wait for
    /// 0's shares for one phase timeout (1 s): when 0 waited out its advertise timeout, they began
    /// masking with each other only, too few, and the round failed for all three live members.
    /// Shares that reach 0 while it advertises now end its advertise phase within half a phase
    /// timeout, so its shares arrive in time and the three complete.
    @Test func sharesEndAnAdvertisePhaseWaitingForAFrozenMember() throws {
        let inputs = Fixture.inputs(k: 4, d: 16, seed: 13)
        var group = try Self.longAdvertise(k: 4, seed: 80)
        for m in 0..<4 { group.perform(try group.sessions[m].start(input: inputs[m], now: .zero), by: m) }
        // Member 1 is frozen from here on: its advertisement to 0 is lost, it gets nothing (and is
        // never ticked, so nothing else leaves it).
        let frozen: (SecAggLocalGroup.Envelope) -> Bool = { $0.to == 1 || ($0.from == 1 && $0.to == 0) }
        group.deliver(now: .zero, lost: frozen)
        #expect(group.sessions[0].phase == .advertising && group.sessions[2].phase == .sharing)
        let live = [0, 2, 3]
        for step in 1...30 {
            let now = Duration.milliseconds(100 * step)
            for m in live { group.perform(group.sessions[m].tick(now: now), by: m) }
            group.deliver(now: now, lost: frozen)
        }
        let expected = live.reduce([UInt32](repeating: 0, count: 16)) { sum, m in zip(sum, inputs[m]).map { $0 &+ $1 } }
        for m in live {
            #expect(group.results[m]?.contributors == live, "member \(m): \(String(describing: group.failures[m]))")
            #expect(group.results[m]?.sum == expected)
        }
    }
}
