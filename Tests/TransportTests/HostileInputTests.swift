import Crypto
@testable import Transport
import Testing
import TestKit

/// Every kind of bad datagram is dropped, counted under its reason, and never delivered.
@Suite struct HostileInputTests {
    /// A pair that has finished its hello exchange, plus one genuine data datagram from a to b
    /// that b has not seen yet.
    static func establishedPair() throws -> (Pair, [UInt8]) {
        var pair = try Pair()
        try pair.a.send([9], to: 1, now: .zero)
        _ = pair.exchange()
        try pair.a.send(pattern(500, seed: 1), to: 1, now: pair.now)
        let datagrams = pair.datagramsFromA()
        #expect(datagrams.count == 1)
        return (pair, datagrams[0])
    }

    @Test func genuineDatagramIsAcceptedOnceThenCountedAsReplay() throws {
        var (pair, datagram) = try Self.establishedPair()
        pair.b.receiveDatagram(datagram, from: 0, now: pair.now)
        let equal = same(Pair.deliveries(pair.b.takeActions()), [pattern(500, seed: 1)])
        #expect(equal)
        for _ in 0..<3 { pair.b.receiveDatagram(datagram, from: 0, now: pair.now) }
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
        #expect(pair.b.metrics[.replayed] == 3)
    }

    @Test func everyFlippedBitIsCaught() throws {
        var (pair, datagram) = try Self.establishedPair()
        let before = pair.b.metrics
        for bit in 0..<(datagram.count * 8) {
            var forged = datagram
            forged[bit / 8] ^= 1 << UInt8(bit % 8)
            pair.b.receiveDatagram(forged, from: 0, now: pair.now)
        }
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
        let after = pair.b.metrics
        let attempts = datagram.count * 8
        #expect(after.datagramsDropped - before.datagramsDropped == attempts)
        #expect(after[.authenticationFailed] > 0)
        // The genuine datagram still works afterwards: forgeries did not advance the replay window.
        pair.b.receiveDatagram(datagram, from: 0, now: pair.now)
        let equal = same(Pair.deliveries(pair.b.takeActions()), [pattern(500, seed: 1)])
        #expect(equal)
    }

    @Test func truncatedDatagramsAreDropped() throws {
        var (pair, datagram) = try Self.establishedPair()
        for length in [0, 1, 10, DatagramHeader.byteCount, DatagramHeader.byteCount + 15, datagram.count - 1] {
            pair.b.receiveDatagram(Array(datagram.prefix(length)), from: 0, now: pair.now)
        }
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
        #expect(pair.b.metrics[.malformed] == 5)
        #expect(pair.b.metrics[.authenticationFailed] == 1)
    }

    @Test func oversizedDatagramIsDroppedWithoutDecrypting() throws {
        var (pair, datagram) = try Self.establishedPair()
        pair.b.receiveDatagram(datagram + [UInt8](repeating: 0, count: 2000), from: 0, now: pair.now)
        pair.b.receiveDatagram([UInt8](repeating: 0xFF, count: 65_000), from: 0, now: pair.now)
        #expect(pair.b.metrics[.oversized] == 2)
        #expect(pair.b.metrics[.authenticationFailed] == 0)
    }

    @Test func datagramFromAnotherNetworkIsNamedAsSuch() throws {
        var (pair, _) = try Self.establishedPair()
        // Same keys, one more peer in the list: a different network id.
        let (peers, identities) = VirtualNetwork.generatePeers(count: 3, seed: 1)
        let other = PeersFile(peers: peers.peers + [Peer(name: "extra", endpoint: peers.peers[0].endpoint,
                                                          publicKey: try PublicKey(bytes: [UInt8](repeating: 9, count: 32)))])
        var stranger = try MessageTransport(peers: other, localIndex: 0, identity: identities[0], session: 100)
        try stranger.send([1, 2, 3], to: 1, now: .zero)
        for datagram in Pair.transmits(stranger.takeActions()) { pair.b.receiveDatagram(datagram, from: 0, now: pair.now) }
        #expect(pair.b.metrics[.wrongNetwork] == 1)
        #expect(Pair.transmits(pair.b.takeActions()).isEmpty, "no reply to another network")
    }

    @Test func wrongSourceUnknownPeerAndMisaddressedAreDropped() throws {
        var (pair, datagram) = try Self.establishedPair()
        pair.b.receiveDatagram(datagram, from: 2, now: pair.now)      // right bytes, wrong address
        pair.b.receiveDatagram(datagram, from: nil, now: pair.now)    // address of no peer
        var toSelf = datagram
        toSelf[6] = 1; toSelf[7] = 0                                  // sender index = b itself
        pair.b.receiveDatagram(toSelf, from: 1, now: pair.now)
        var outOfRange = datagram
        outOfRange[6] = 0xFF; outOfRange[7] = 0xFF
        pair.b.receiveDatagram(outOfRange, from: 0, now: pair.now)
        var misaddressed = datagram
        misaddressed[8] = 2                                           // receiver index = peer 2
        pair.b.receiveDatagram(misaddressed, from: 0, now: pair.now)
        #expect(pair.b.metrics[.wrongSource] == 2)
        #expect(pair.b.metrics[.unknownPeer] == 3)
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
    }

    @Test func reflectedDatagramIsNotAcceptedBySender() throws {
        var (pair, datagram) = try Self.establishedPair()
        pair.a.receiveDatagram(datagram, from: 1, now: pair.now)
        #expect(pair.a.metrics[.unknownPeer] == 1)
    }

    @Test func randomGarbageNeverCrashesAndIsAlwaysDropped() throws {
        var (pair, _) = try Self.establishedPair()
        var random = seededRandom(42)
        for i in 0..<2000 {
            let length = Int(random.nextUInt64() % 1300)
            var bytes = random.bytes(length)
            if length > 10, i % 2 == 0 {
                // Make some pass the cheap checks so the AEAD path is exercised too.
                bytes[0] = DatagramHeader.version
                bytes[1] = 2
                withUnsafeBytes(of: pair.b.network.tag.littleEndian) { for j in 0..<4 { bytes[2 + j] = $0[j] } }
                bytes[6] = 0; bytes[7] = 0; bytes[8] = 1; bytes[9] = 0
                if length > 34 { bytes[33] &= 0x3F }  // counter below 2^62
            }
            pair.b.receiveDatagram(bytes, from: 0, now: pair.now)
        }
        #expect(pair.b.metrics.datagramsDropped == 2000)
        #expect(pair.b.metrics[.authenticationFailed] > 500)
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
    }
}
