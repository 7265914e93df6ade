import Testing
import TestKit
@testable import Node

@Suite struct RoundsShownTests {
    @Test func onePeerAloneCannotRaiseTheHighestRound() {
        var shown = RoundsShown(peerCount: 4, reached: 0)
        shown.note(100, shownBy: 1)
        shown.note(200, shownBy: 1)
        #expect(shown.highest == 0)
        #expect(shown[1] == 200 && shown[2] == 0)
    }

    /// The highest round is the second peer's when it is lower than the first's, and the first
    /// peer's once a second peer shows a round above it.
    @Test func aSecondPeerRaisesItToTheLowerOfTheTwo() {
        var shown = RoundsShown(peerCount: 4, reached: 0)
        shown.note(100, shownBy: 1)
        shown.note(7, shownBy: 2)
        #expect(shown.highest == 7)
        shown.note(150, shownBy: 3)
        #expect(shown.highest == 100)
        shown.note(180, shownBy: 3)  // the leader alone raising its own round changes nothing
        #expect(shown.highest == 100)
        shown.note(120, shownBy: 1)
        #expect(shown.highest == 120)
    }

    @Test func shownRoundsNeverGoDown() {
        var shown = RoundsShown(peerCount: 3, reached: 0)
        shown.note(9, shownBy: 0)
        shown.note(9, shownBy: 1)
        shown.note(3, shownBy: 0)
        shown.note(2, shownBy: 1)
        #expect(shown[0] == 9 && shown[1] == 9 && shown.highest == 9)
    }

    /// The node's own completed rounds count too: `highest` starts at the round it resumed after
    /// and rises with the rounds it completes, whatever its peers have shown.
    @Test func theNodesOwnRoundsAreAFloor() {
        var shown = RoundsShown(peerCount: 3, reached: 12)
        shown.note(5, shownBy: 0)
        shown.note(6, shownBy: 1)
        #expect(shown.highest == 12)
        shown.reached(13)
        #expect(shown.highest == 13)
        shown.reached(4)
        #expect(shown.highest == 13)
        shown.note(20, shownBy: 2)
        #expect(shown.highest == 13)  // peer 1 at 6 is the second highest
        shown.note(17, shownBy: 0)
        #expect(shown.highest == 17)
    }

    /// Against the definition, over random histories: the second largest of the peers' highest
    /// shown rounds (distinct peers), or the node's own round if higher.
    @Test func agreesWithTheSecondLargestShownRoundOverRandomHistories() {
        var rng = seededRandom(11)
        for _ in 0..<200 {
            let peers = Int.random(in: 1...6, using: &rng)
            let floor = UInt64.random(in: 0...5, using: &rng)
            var shown = RoundsShown(peerCount: peers, reached: floor)
            var best = [UInt64](repeating: 0, count: peers)
            for _ in 0..<40 {
                let peer = Int.random(in: 0..<peers, using: &rng), round = UInt64.random(in: 0...30, using: &rng)
                shown.note(round, shownBy: peer)
                best[peer] = max(best[peer], round)
                let second = best.sorted(by: >).dropFirst().first ?? 0
                #expect(shown.highest == max(floor, second))
                #expect(shown[peer] == best[peer])
            }
        }
    }
}
