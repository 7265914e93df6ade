@testable import Transport
import Testing
import TestKit

@Suite struct WireFormatTests {
    @Test func varintsRoundTripAtEveryLengthBoundary() {
        let values: [UInt64] = [0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, Varint.max]
        for value in values {
            var buffer = [UInt8](repeating: 0, count: 8)
            let written = buffer.withUnsafeMutableBytes { raw -> Int in
                var writer = ByteWriter(raw)
                writer.varint(value)
                return writer.offset
            }
            #expect(written == Varint.length(of: value))
            let read = buffer.withUnsafeBytes { raw -> UInt64? in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[0..<written]))
                return reader.varint()
            }
            #expect(read == value)
        }
    }

    @Test func truncatedVarintIsRejected() {
        let bytes: [UInt8] = [0xC0, 1, 2]  // claims 8 bytes, has 3
        let read = bytes.withUnsafeBytes { raw -> UInt64? in
            var reader = ByteReader(raw)
            return reader.varint()
        }
        #expect(read == nil)
    }

    @Test func ackFrameRoundTripsWithGaps() throws {
        let frame = AckFrame(ranges: [1000...1010, 990...997, 5...5, 0...2], ackDelayMicros: 1234)
        var buffer = [UInt8](repeating: 0, count: frame.encodedLength)
        buffer.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            frame.write(into: &writer)
            #expect(writer.offset == frame.encodedLength)
        }
        let parsed = buffer.withUnsafeBytes { raw -> AckFrame? in
            var reader = ByteReader(raw, offset: 1)
            return AckFrame.parse(&reader)
        }
        #expect(parsed == frame)
    }

    @Test func ackFrameThatUnderflowsIsRejected() {
        // largest 3, first range 2 (1...3), then a gap of 5: would go below zero.
        let bytes: [UInt8] = [3, 0, 1, 2, 5, 0]
        let parsed = bytes.withUnsafeBytes { raw -> AckFrame? in
            var reader = ByteReader(raw)
            return AckFrame.parse(&reader)
        }
        #expect(parsed == nil)
    }

    @Test func chunkFrameCannotClaimMoreDataThanItCarries() {
        var bytes = [UInt8](repeating: 0, count: ChunkFrame.headerByteCount - 1 + 10)
        bytes.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            writer.u64(7)        // message id
            writer.u32(5000)     // message length
            writer.u32(0)        // index
            writer.u16(1000)     // chunk size: chunk 0 must carry 1000 bytes, only 10 follow
        }
        let parsed = bytes.withUnsafeBytes { raw -> ChunkFrame? in
            var reader = ByteReader(raw)
            return ChunkFrame.parse(&reader)
        }
        #expect(parsed == nil)
    }

    @Test func chunkIndexBeyondTheMessageIsRejected() {
        var bytes = [UInt8](repeating: 0, count: 200)
        bytes.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            writer.u64(7); writer.u32(100); writer.u32(1); writer.u16(100)  // one chunk only: index 1 is invalid
        }
        let parsed = bytes.withUnsafeBytes { raw -> ChunkFrame? in
            var reader = ByteReader(raw)
            return ChunkFrame.parse(&reader)
        }
        #expect(parsed == nil)
    }

    @Test func replayWindowAcceptsEachCounterOnceAndRefusesTooOld() {
        var window = ReplayWindow()
        for counter: UInt64 in [5, 3, 4, 10, 9] {
            #expect(window.mayAccept(counter))
            window.record(counter)
            #expect(!window.mayAccept(counter))
        }
        #expect(window.mayAccept(6))
        window.record(5000)
        #expect(!window.mayAccept(6), "far below the window")
        #expect(window.mayAccept(5000 - 1000))
        window.record(5000 - 1000)
        #expect(!window.mayAccept(5000 - 1000))
        // Jumping far ahead clears stale bits: a counter that maps to a reused word is new.
        window.record(5000 + 64 * 40)
        #expect(window.mayAccept(5000 + 64 * 40 - 1))
        #expect(!window.mayAccept(5000))
    }

    /// The window's edge: counters up to 1,983 below the highest (32 words of 64 bits, less the
    /// word being reused) are tracked one by one, 1,984 below is refused unseen.
    @Test func replayWindowEdgeIsExact() {
        var window = ReplayWindow()
        let highest: UInt64 = 10_000
        window.record(highest)
        #expect(ReplayWindow.usableBits == 1_984)
        #expect(window.mayAccept(highest - 1_983))
        #expect(!window.mayAccept(highest - 1_984))
        window.record(highest - 1_983)
        #expect(!window.mayAccept(highest - 1_983), "tracked at the edge: a replay is refused")
        #expect(window.mayAccept(highest - 1_982))
    }

    @Test func ackTrackerKeepsDescendingMergedRanges() {
        var tracker = AckTracker()
        let configuration = TransportConfiguration()
        for counter: UInt64 in [1, 2, 3, 5, 6, 9, 4, 8, 20] {
            tracker.record(counter, ackEliciting: true, now: .zero, configuration: configuration)
        }
        #expect(tracker.ranges == [20...20, 8...9, 1...6])
        #expect(tracker.isUrgent)
    }

    @Test func ackTrackerForgetsTheOldestRangesBeyondTheLimit() {
        var tracker = AckTracker()
        for i in 0..<UInt64(AckFrame.maxRanges + 5) {
            tracker.record(i * 3, ackEliciting: false, now: .zero, configuration: TransportConfiguration())
        }
        #expect(tracker.ranges.count == AckFrame.maxRanges)
        #expect(tracker.ranges.first == UInt64(AckFrame.maxRanges + 4) * 3...UInt64(AckFrame.maxRanges + 4) * 3)
    }

    @Test func networkIDDependsOnEveryPeerAndTheirOrder() throws {
        let (peers, _) = VirtualNetwork.generatePeers(count: 4, seed: 9)
        let same = PeersFile(peers: peers.peers)
        #expect(NetworkID(peers: peers) == NetworkID(peers: same))
        let reordered = PeersFile(peers: [peers.peers[1], peers.peers[0]] + peers.peers[2...])
        #expect(NetworkID(peers: peers) != NetworkID(peers: reordered))
        let fewer = PeersFile(peers: Array(peers.peers.dropLast()))
        #expect(NetworkID(peers: peers) != NetworkID(peers: fewer))
        let text = peers.render()
        let parsed = try PeersFile.parse(text, file: "peers")
        #expect(NetworkID(peers: parsed) == NetworkID(peers: peers))
    }

    @Test func ipv6SpellingsGiveTheSameNetwork() throws {
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="
        let a = try PeersFile.parse("n1 [::1]:7000 \(key)\n", file: "a")
        let b = try PeersFile.parse("n1 [0:0:0:0:0:0:0:1]:7000 \(key)\n", file: "b")
        #expect(a.networkID == b.networkID)
    }
}
