import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// A failure detector's verdict lets a round go on without waiting for the phase deadline.
@Suite struct GiveUpTests {
    func expectedSum(_ harness: Harness, of members: [Int]) -> [UInt32] {
        members.reduce([UInt32](repeating: 0, count: harness.inputs[0].count)) { sum, m in zip(sum, harness.inputs[m]).map { $0 &+ $1 } }
    }

    @Test func aMemberThatNeverStartsIsNotWaitedForOnceGivenUp() {
        var harness = Harness(k: 5)
        for m in 0..<4 { harness.perform(try! harness.sessions[m].start(input: harness.inputs[m], now: .zero), by: m) }
        harness.pump()
        #expect(harness.results.isEmpty) // everyone is waiting for member 4's advertisement
        for m in 0..<4 { harness.perform(harness.sessions[m].giveUp(on: 4, now: .zero), by: m) }
        harness.pump()
        for m in 0..<4 {
            #expect(harness.results[m]?.contributors == [0, 1, 2, 3])
            #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2, 3]))
        }
    }

    /// Members enter a round at different times after a failure. Members 0 and 1 have given up on
    /// the dead member 3; member 2 starts late, without that verdict. The shares it receives name
    /// the senders' rosters, {0, 1, 2}: member 2 stops waiting for 3 at once, instead of at its own
    /// advertise deadline, by which time the others' share deadlines would have passed. The round
    /// completes without any deadline (the harness has no clock).
    @Test func aLateMemberStopsWaitingForWhomTheOthersRostersLack() {
        var harness = Harness(k: 4)
        #expect(harness.configuration.threshold == 3)
        for m in 0..<2 {
            harness.perform(try! harness.sessions[m].start(input: harness.inputs[m], now: .zero), by: m)
            harness.perform(harness.sessions[m].giveUp(on: 3, now: .zero), by: m)
        }
        harness.pump()
        #expect(harness.results.isEmpty) // 0 and 1 wait for member 2
        harness.perform(try! harness.sessions[2].start(input: harness.inputs[2], now: .zero), by: 2)
        harness.pump()
        for m in 0..<3 {
            #expect(harness.results[m]?.contributors == [0, 1, 2], "member \(m)")
            #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2]))
        }
    }

    @Test func aMemberLostAfterSharingIsUnmaskedAwayOnceGivenUp() {
        var harness = Harness(k: 5)
        harness.startAll()
        // Member 4 vanishes after its shares: its masked input never leaves it.
        harness.pump(hold: { $0.from == 4 && $0.kind == .maskedInput })
        #expect(harness.results.count <= 1)
        for m in 0..<4 { harness.perform(harness.sessions[m].giveUp(on: 4, now: .zero), by: m) }
        harness.pump(hold: { $0.from == 4 })
        for m in 0..<4 {
            #expect(harness.results[m]?.contributors == [0, 1, 2, 3])
            #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2, 3]))
        }
    }

    @Test func givingUpOnTooManyFailsCleanly() {
        var harness = Harness(k: 5)
        for m in 0..<2 { harness.perform(try! harness.sessions[m].start(input: harness.inputs[m], now: .zero), by: m) }
        harness.pump()
        for m in 0..<2 { for gone in 2..<5 { harness.perform(harness.sessions[m].giveUp(on: gone, now: .zero), by: m) } }
        harness.pump()
        #expect(harness.results.isEmpty)
        for m in 0..<2 {
            guard case .tooFewMembers(phase: .advertising, present: 2, threshold: _) = harness.failures[m] else {
                Issue.record("member \(m): \(String(describing: harness.failures[m]))")
                continue
            }
        }
    }

    /// Too few members at the advertise deadline: a session waits one more timeout (late members
    /// of a skewed group arrive then) before failing.
    @Test func tooFewAtTheAdvertiseDeadlineWaitsOnceMore() {
        var harness = Harness(k: 5)
        let timeout = harness.configuration.advertiseTimeout
        for m in 0..<2 { harness.perform(try! harness.sessions[m].start(input: harness.inputs[m], now: .zero), by: m) }
        harness.pump()
        for m in 0..<2 { harness.perform(harness.sessions[m].tick(now: timeout), by: m) }
        #expect(harness.failures.isEmpty)
        // A third member arrives late: the round completes among the three.
        harness.perform(try! harness.sessions[2].start(input: harness.inputs[2], now: timeout), by: 2)
        harness.pump()
        for m in 0..<3 { harness.perform(harness.sessions[m].tick(now: timeout * 3), by: m) }
        harness.pump()
        for m in 0..<3 { harness.perform(harness.sessions[m].tick(now: timeout * 5), by: m) }
        harness.pump()
        for m in 0..<3 {
            #expect(harness.results[m]?.contributors == [0, 1, 2])
            #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2]))
        }
    }
}
