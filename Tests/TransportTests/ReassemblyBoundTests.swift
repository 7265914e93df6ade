import Crypto
@testable import Transport
import Testing
import TestKit

/// An authenticated but misbehaving peer: seals whatever chunk frames the test asks for.
struct Forger {
    let cipher: DatagramCipher
    let network: NetworkID
    let sender: Int, receiver: Int
    let senderSession: UInt64, receiverSession: UInt64
    var counter: UInt64 = 1_000_000

    init(pair: Pair) throws {
        cipher = try DatagramCipher(identity: pair.identities[0], remote: pair.identities[1].publicKey, network: pair.a.network)
        network = pair.a.network
        sender = 0
        receiver = 1
        senderSession = pair.a.session
        receiverSession = pair.b.session
    }

    mutating func chunk(message: UInt64, length: Int, index: Int, chunkSize: Int) -> [UInt8] {
        let dataLength = ChunkFrame.dataLength(messageLength: length, chunkSize: chunkSize, index: index)
        let payloadLength = ChunkFrame.headerByteCount + dataLength
        counter += 1
        let header = DatagramHeader(kind: .data, networkTag: network.tag, sender: UInt16(sender), receiver: UInt16(receiver),
                                    senderSession: senderSession, receiverSession: receiverSession, counter: counter)
        var datagram = [UInt8](repeating: 0xAB, count: DatagramHeader.byteCount + payloadLength + AEADOverhead.tag)
        datagram.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            header.write(into: &writer)
            ChunkFrame.writeHeader(into: &writer, messageID: message, messageLength: length, index: index, chunkSize: chunkSize)
            try? cipher.seal(raw, header: header, payloadLength: payloadLength, network: network)
        }
        return datagram
    }
}

@Suite struct ReassemblyBoundTests {
    static var small: TransportConfiguration {
        var configuration = TransportConfiguration()
        configuration.maxMessageSize = 1 << 20
        configuration.reassemblyBytesPerPeer = 2 << 20
        configuration.reassemblyBytesTotal = 4 << 20
        configuration.messageTimeout = .seconds(5)
        configuration.reassemblyTimeout = .seconds(10)
        return configuration
    }

    static func establishedPair() throws -> Pair {
        var pair = try Pair(configuration: small)
        try pair.a.send([1], to: 1, now: .zero)
        _ = pair.exchange()
        return pair
    }

    @Test func floodOfPartialMessagesStaysWithinTheBudgetAndTimesOut() throws {
        var pair = try Self.establishedPair()
        var forger = try Forger(pair: pair)
        let budget = Self.small.reassemblyBytesPerPeer
        for message in UInt64(10)..<UInt64(210) {
            pair.b.receiveDatagram(forger.chunk(message: message, length: 1 << 20, index: 0, chunkSize: 1000), from: 0, now: pair.now)
            #expect(pair.b.reassemblyBytes(from: 0) <= budget)
        }
        #expect(pair.b.reassemblyBytes(from: 0) > 0)
        #expect(pair.b.metrics[.reassemblyFull] == 199, "only one 1 MiB message fits in 2 MiB with its bookkeeping")
        // Messages far ahead move the window: older partial messages are given up, memory stays bounded.
        for message in UInt64(5000)..<UInt64(5010) {
            pair.b.receiveDatagram(forger.chunk(message: message, length: 1 << 20, index: 3, chunkSize: 1000), from: 0, now: pair.now)
            #expect(pair.b.reassemblyBytes(from: 0) <= budget)
        }
        #expect(pair.b.metrics.reassembliesAbandoned >= 1)
        // Without progress, everything is freed after the reassembly timeout.
        pair.b.tick(now: pair.now + Self.small.reassemblyTimeout)
        #expect(pair.b.reassemblyBytes == 0)
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
    }

    @Test func refusedChunksAreNotAcknowledged() throws {
        var pair = try Self.establishedPair()
        var forger = try Forger(pair: pair)
        pair.b.receiveDatagram(forger.chunk(message: 10, length: 1 << 20, index: 0, chunkSize: 1000), from: 0, now: pair.now)
        pair.b.receiveDatagram(forger.chunk(message: 11, length: 1 << 20, index: 0, chunkSize: 1000), from: 0, now: pair.now)
        pair.b.tick(now: pair.now + .seconds(1))
        // b owes an acknowledgement for the first (stored) packet only.
        var acknowledged: [ClosedRange<UInt64>] = []
        for datagram in pair.datagramsFromB() {
            let header = try #require(datagram.withUnsafeBytes { try? DatagramHeader.parse($0).get() })
            let cipher = try DatagramCipher(identity: pair.identities[0], remote: pair.identities[1].publicKey, network: pair.a.network)
            var plain = [UInt8](repeating: 0, count: datagram.count - DatagramHeader.byteCount - AEADOverhead.tag)
            try datagram.withUnsafeBytes { d in try plain.withUnsafeMutableBytes { try cipher.open(d, header: header, network: pair.a.network, into: $0) } }
            try plain.withUnsafeBytes { raw in
                var parser = FrameParser(raw)
                while let frame = try parser.next() { if case let .ack(ack) = frame { acknowledged += ack.ranges } }
            }
        }
        #expect(acknowledged.contains { $0.contains(forger.counter - 1) })
        #expect(!acknowledged.contains { $0.contains(forger.counter) })
    }

    @Test func inconsistentOrOversizedClaimsAreMalformed() throws {
        var pair = try Self.establishedPair()
        var forger = try Forger(pair: pair)
        pair.b.receiveDatagram(forger.chunk(message: 10, length: 5000, index: 0, chunkSize: 1000), from: 0, now: pair.now)
        pair.b.receiveDatagram(forger.chunk(message: 10, length: 6000, index: 1, chunkSize: 1000), from: 0, now: pair.now)
        pair.b.receiveDatagram(forger.chunk(message: 10, length: 5000, index: 1, chunkSize: 500), from: 0, now: pair.now)
        pair.b.receiveDatagram(forger.chunk(message: 11, length: (1 << 20) + 1, index: 0, chunkSize: 1000), from: 0, now: pair.now)
        #expect(pair.b.metrics[.malformed] == 3)
        #expect(pair.b.reassemblyBytes(from: 0) == InboundMessage.cost(length: 5000, chunkSize: 1000))
    }

    @Test func extremeCountersAndMessageNumbersAreRefusedNotTrapped() throws {
        var pair = try Self.establishedPair()
        var forger = try Forger(pair: pair)
        forger.counter = UInt64.max - 1
        pair.b.receiveDatagram(forger.chunk(message: 1, length: 10, index: 0, chunkSize: 10), from: 0, now: pair.now)
        forger.counter = 5_000_000
        pair.b.receiveDatagram(forger.chunk(message: UInt64.max, length: 10, index: 0, chunkSize: 10), from: 0, now: pair.now)
        pair.b.receiveDatagram(forger.chunk(message: (1 << 62) - 2, length: 10, index: 0, chunkSize: 10), from: 0, now: pair.now)
        #expect(pair.b.metrics[.malformed] == 2)
        #expect(Pair.deliveries(pair.b.takeActions()).count == 1, "the largest allowed number still works")
    }

    @Test func unauthenticatedClaimsAllocateNothing() throws {
        var pair = try Self.establishedPair()
        var forger = try Forger(pair: pair)
        var datagram = forger.chunk(message: 10, length: 1 << 20, index: 0, chunkSize: 1000)
        datagram[datagram.count - 1] ^= 1
        pair.b.receiveDatagram(datagram, from: 0, now: pair.now)
        #expect(pair.b.metrics[.authenticationFailed] == 1)
        #expect(pair.b.reassemblyBytes == 0)
    }

    /// Honest senders with more large messages than the receiver may hold at once: admission
    /// control refuses the excess, retransmission brings it later, memory never exceeds the budget.
    @Test func honestBurstLargerThanTheBudgetCompletesWithinIt() throws {
        var configuration = Self.small
        configuration.maxMessageSize = 300_000
        configuration.reassemblyBytesPerPeer = 700_000
        configuration.reassemblyBytesTotal = 1_000_000
        configuration.messageTimeout = .seconds(60)
        configuration.reassemblyTimeout = .seconds(60)
        let (peers, identities) = VirtualNetwork.generatePeers(count: 3, seed: 12)
        var net = try VirtualNetwork(peers: peers, identities: identities, configuration: configuration,
                                     link: LinkModel(latency: .milliseconds(2)))
        var expected: [[UInt8]] = []
        for k in 0..<8 {
            for from in [0, 2] {
                let message = pattern(250_000, seed: UInt64(k * 10 + from))
                try net.send(message, from: from, to: 1)
                expected.append(message)
            }
        }
        var delivered: [[UInt8]] = []
        var peak = 0
        while net.now < .seconds(60), delivered.count < expected.count {
            for (_, event) in net.run(until: net.now + .milliseconds(1)) {
                if case let .delivered(message, _, _) = event { delivered.append(message) }
            }
            peak = max(peak, net.transport(of: 1)!.reassemblyBytes)
            #expect(net.transport(of: 1)!.reassemblyBytes(from: 0) <= configuration.reassemblyBytesPerPeer)
        }
        #expect(peak <= configuration.reassemblyBytesTotal)
        #expect(peak > configuration.reassemblyBytesPerPeer, "both peers had messages admitted at once")
        #expect(net.metrics(of: 1)![.reassemblyFull] > 0, "the budget was actually exercised")
        let equal = same(delivered.sorted { $0.lexicographicallyPrecedes($1) }, expected.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(equal)
    }
}
