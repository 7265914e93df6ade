import Testing
@testable import Node

@Suite struct FutureMessageBufferTests {
    func payload(_ count: Int, _ byte: UInt8 = 0) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    /// A buffer with room for everything, holding a message of `size` bytes (each byte the round)
    /// per (round, sender, size), inserted in that order.
    func buffer(holding messages: [(round: UInt64, from: Int, size: Int)]) -> FutureMessageBuffer {
        var buffer = FutureMessageBuffer(maximumBytes: 10_000)
        for m in messages { _ = buffer.insert(round: m.round, from: m.from, payload: payload(m.size, UInt8(m.round))) }
        return buffer
    }

    @Test func keepsMessagesAndCountsTheirBytesInAllAndPerSender() {
        var buffer = FutureMessageBuffer(maximumBytes: 1000)
        #expect(buffer.insert(round: 5, from: 1, payload: payload(100)) == .init(kept: true, evicted: 0))
        #expect(buffer.insert(round: 5, from: 2, payload: payload(30)) == .init(kept: true, evicted: 0))
        #expect(buffer.insert(round: 6, from: 1, payload: payload(50)) == .init(kept: true, evicted: 0))
        #expect(buffer.bytes == 180)
        #expect(buffer.bytes(from: 1) == 150 && buffer.bytes(from: 2) == 30 && buffer.bytes(from: 3) == 0)
        #expect(buffer.messages.map(\.from) == [1, 2, 1])
    }

    /// One sender may hold a quarter of the budget: its next message is refused, another sender's is not.
    @Test func aSenderHoldsAtMostAQuarterOfTheBudget() {
        var buffer = FutureMessageBuffer(maximumBytes: 400)
        #expect(buffer.insert(round: 3, from: 1, payload: payload(60)).kept)
        #expect(buffer.insert(round: 3, from: 1, payload: payload(40)).kept)  // exactly 100 = 400 / 4
        #expect(buffer.insert(round: 3, from: 1, payload: payload(1)) == .init(kept: false, evicted: 0))
        #expect(buffer.insert(round: 3, from: 2, payload: payload(100)).kept)
        #expect(buffer.bytes(from: 1) == 100 && buffer.bytes == 200)
    }

    @Test func theWholeBufferHoldsAtMostTheBudget() {
        var buffer = FutureMessageBuffer(maximumBytes: 400)
        for sender in 0..<4 { #expect(buffer.insert(round: 2, from: sender, payload: payload(100)).kept) }
        #expect(buffer.bytes == 400)
        #expect(buffer.insert(round: 2, from: 4, payload: payload(1)) == .init(kept: false, evicted: 0))
        #expect(buffer.insert(round: 2, from: 4, payload: []).kept)  // nothing is always within budget
        #expect(buffer.bytes == 400 && buffer.messages.count == 5)
    }

    /// A sender's third round evicts its oldest held round (all of that round's messages), never
    /// another sender's messages.
    @Test func aNewerRoundEvictsOnlyTheSendersOldestRound() {
        var buffer = self.buffer(holding: [(4, 1, 10), (4, 1, 11), (4, 2, 12), (5, 1, 13)])
        #expect(buffer.insert(round: 9, from: 1, payload: payload(14, 9)) == .init(kept: true, evicted: 2))
        #expect(buffer.messages.map { [Int($0.round), $0.from] } == [[4, 2], [5, 1], [9, 1]])
        #expect(buffer.bytes(from: 1) == 27 && buffer.bytes(from: 2) == 12 && buffer.bytes == 39)
    }

    /// A message older than the sender's two most advanced held rounds is refused and evicts nothing.
    @Test func aRoundOlderThanTheSendersTwoNewestIsRefused() {
        var buffer = self.buffer(holding: [(7, 3, 5), (8, 3, 5)])
        #expect(buffer.insert(round: 6, from: 3, payload: payload(5)) == .init(kept: false, evicted: 0))
        #expect(buffer.insert(round: 7, from: 3, payload: payload(5)).kept)  // a held round still takes more
        #expect(Set(buffer.messages.map(\.round)) == [7, 8] && buffer.bytes == 15)
    }

    /// Eviction frees the evicted bytes before the byte limit is checked: a flood of ever later
    /// rounds from one sender keeps its share bounded, and the last two rounds are what is left.
    @Test func aFloodOfLaterRoundsStaysWithinTheSendersShare() {
        var buffer = FutureMessageBuffer(maximumBytes: 400)
        _ = buffer.insert(round: 3, from: 0, payload: payload(90))
        var evicted = 0
        for round in UInt64(3)...50 { evicted += buffer.insert(round: round, from: 1, payload: payload(40)).evicted }
        #expect(buffer.bytes(from: 1) == 80 && buffer.bytes(from: 0) == 90)
        #expect(buffer.messages.filter { $0.from == 1 }.map(\.round) == [49, 50])
        #expect(evicted == 46)
    }

    @Test func takingARoundReturnsItsMessagesInOrderAndDropsEarlierRounds() {
        var buffer = self.buffer(holding: [(3, 1, 1), (4, 2, 2), (5, 1, 3), (4, 3, 4)])
        let ready = buffer.take(round: 4)
        #expect(ready == [.init(round: 4, from: 2, payload: payload(2, 4)), .init(round: 4, from: 3, payload: payload(4, 4))])
        #expect(buffer.messages == [.init(round: 5, from: 1, payload: payload(3, 5))])
        #expect(buffer.bytes == 3 && buffer.bytes(from: 1) == 3 && buffer.bytes(from: 2) == 0)
        #expect(buffer.take(round: 4).isEmpty)
        // Taking frees the senders' shares for later rounds.
        #expect(buffer.insert(round: 6, from: 2, payload: payload(2_500)).kept)
    }
}
