@testable import Transport
import Testing
import TestKit

@Suite struct DeliveryTests {
    @Test func smallLargeAndEmptyMessagesArriveIntactExactlyOnce() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 1)
        var net = try VirtualNetwork(peers: peers, identities: identities)
        let messages = [pattern(0, seed: 1), pattern(100, seed: 2), pattern(1163, seed: 3), pattern(1164, seed: 4),
                        pattern(3_000_000, seed: 5)]
        var ids: [MessageID] = []
        for message in messages { ids.append(try net.send(message, from: 0, to: 1)) }
        let outcome = net.drain()
        #expect(outcome.delivered.count == messages.count)
        // Round-robin interleaving may finish small messages first: compare as multisets.
        let equal = same(outcome.delivered.map(\.message).sorted { $0.count < $1.count }, messages)
        #expect(equal)
        #expect(outcome.delivered.allSatisfy { $0.from == 0 && $0.to == 1 })
        #expect(Set(outcome.acknowledged) == Set(ids))
        #expect(outcome.failed.isEmpty)
        let metrics = try #require(net.metrics(of: 1))
        #expect(metrics.datagramsDropped == 0)
        #expect(net.metrics(of: 0)?.chunksRetransmitted == 0)
    }

    @Test func bothDirectionsAtOnceShareDatagrams() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 2)
        var net = try VirtualNetwork(peers: peers, identities: identities)
        let toB = (0..<20).map { pattern(50 + $0, seed: 10) }, toA = (0..<20).map { pattern(70 + $0, seed: 11) }
        for (x, y) in zip(toB, toA) {
            try net.send(x, from: 0, to: 1)
            try net.send(y, from: 1, to: 0)
        }
        let outcome = net.drain()
        let equal = same(outcome.delivered.filter { $0.to == 1 }.map(\.message), toB)
        #expect(equal)
        let equalA = same(outcome.delivered.filter { $0.to == 0 }.map(\.message), toA)
        #expect(equalA)
        #expect(outcome.acknowledged.count == 40)
    }

    @Test func sendingToAnUnknownPeerOrSelfOrTooMuchIsAnError() throws {
        var pair = try Pair()
        #expect(throws: TransportError.unknownPeer(7)) { try pair.a.send([1], to: 7, now: .zero) }
        #expect(throws: TransportError.cannotSendToSelf) { try pair.a.send([1], to: 0, now: .zero) }
        var small = TransportConfiguration()
        small.maxMessageSize = 10
        small.reassemblyBytesPerPeer = 10
        var limited = try Pair(configuration: small)
        #expect(throws: TransportError.messageTooLarge(size: 11, limit: 10)) {
            try limited.a.send([UInt8](repeating: 0, count: 11), to: 1, now: .zero)
        }
    }

    @Test func wrongIdentityOrBadConfigurationIsRefusedAtSetup() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 3)
        #expect(throws: TransportError.self) {
            try MessageTransport(peers: peers, localIndex: 0, identity: identities[1], session: 1)
        }
        var bad = TransportConfiguration()
        bad.reassemblyTimeout = .seconds(1)
        bad.messageTimeout = .seconds(2)
        #expect(throws: TransportError.self) {
            try MessageTransport(peers: peers, localIndex: 0, identity: identities[0], session: 1, configuration: bad)
        }
    }

    @Test func unreachablePeerMakesTheSendFailAfterTheTimeout() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 4)
        var net = try VirtualNetwork(peers: peers, identities: identities)
        net.crash(1)
        let id = try net.send(pattern(5000, seed: 1), from: 0, to: 1)
        let outcome = net.drain()
        #expect(outcome.failed == [id])
        #expect(outcome.delivered.isEmpty)
        #expect(net.now >= TransportConfiguration().messageTimeout)
        #expect(net.transport(of: 0)?.nextDeadline == nil, "nothing left to do after failing")
    }

    @Test func aThousandNodesInOneProcessEachSendToTheirNeighbour() throws {
        let count = 1000
        let (peers, identities) = VirtualNetwork.generatePeers(count: count, seed: 5)
        var net = try VirtualNetwork(peers: peers, identities: identities, link: LinkModel(latency: .milliseconds(20)))
        for node in 0..<count { try net.send(pattern(3000, seed: UInt64(node)), from: node, to: (node + 1) % count) }
        let outcome = net.drain()
        #expect(outcome.delivered.count == count)
        #expect(outcome.delivered.allSatisfy { $0.message == pattern(3000, seed: UInt64($0.from)) && $0.to == ($0.from + 1) % count })
        #expect(outcome.acknowledged.count == count)
    }
}
