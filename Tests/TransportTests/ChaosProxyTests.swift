import Crypto
import Foundation
@testable import Transport
import Testing
import TestKit

/// Real UDP drivers talking through the chaos proxy on loopback.
@Suite(.serialized) struct ChaosProxyTests {
    /// Three nodes on free ports, a proxy for them, and a driver per node using the proxied file.
    struct Rig {
        let proxy: ChaosProxy
        let nodes: [UDPTransport]

        init(plan: FaultPlan, seed: UInt64 = 5) throws {
            // Free ports: the first three for the nodes, the next three for their stand-ins.
            let ports = try freeUDPPorts(6)
            var random = seededRandom(31)
            let identities = (0..<3).map { _ in KeyPair.generate(using: &random) }
            let real = try PeersFile.parse(identities.enumerated().map { i, identity in
                "node\(i) 127.0.0.1:\(ports[i]) \(identity.publicKey.base64)"
            }.joined(separator: "\n"), file: "real-peers")
            let proxy = try ChaosProxy(realPeers: real, standIns: (3..<6).map { Endpoint(host: .ipv4("127.0.0.1"), port: ports[$0]) },
                                       faults: FaultInjector(plan: plan, seed: seed))
            self.proxy = proxy
            nodes = try (0..<3).map { i in
                try UDPTransport(peers: proxy.proxiedPeers, localIndex: i, identity: identities[i],
                                 addresses: PeerAddresses(peers: proxy.proxiedPeers, listen: real.peers[i].endpoint))
            }
        }

        /// Polls the nodes and the proxy until `done` or a wall-clock limit; returns every node's events.
        func pump(limit: Duration = .seconds(20), until done: ([[TransportEvent]]) -> Bool) throws -> [[TransportEvent]] {
            var events = [[TransportEvent]](repeating: [], count: nodes.count)
            let start = monotonicNow()
            while monotonicNow() - start < limit, !done(events) {
                for (i, node) in nodes.enumerated() { events[i] += try node.poll(timeout: .zero) }
                try proxy.pump(timeout: .milliseconds(1))
            }
            return events
        }
    }

    static func delivered(_ events: [TransportEvent], from sender: Int) -> [[UInt8]] {
        events.compactMap { if case let .delivered(m, from) = $0, from == sender { return m } else { return nil } }
    }

    @Test func trafficThroughTheProxyArrivesFromTheSendersStandIn() throws {
        let rig = try Rig(plan: FaultPlan(FaultSettings(drop: 0.2, duplicate: 0.05, reorder: 0.05)))
        let messages = (0..<3).map { pattern(60_000, seed: UInt64($0)) }
        for i in 0..<3 { try rig.nodes[i].send(messages[i], to: (i + 1) % 3) }
        let events = try rig.pump { events in (0..<3).allSatisfy { !Self.delivered(events[$0], from: ($0 + 2) % 3).isEmpty } }
        for i in 0..<3 {
            let got = Self.delivered(events[i], from: (i + 2) % 3)
            #expect(got.count == 1 && got.first == messages[(i + 2) % 3], "node \(i)")
            // Every datagram came from the address the proxied file gives its sender.
            #expect(rig.nodes[i].metrics[.wrongSource] == 0)
        }
        let faults = rig.proxy.faultCounts
        #expect(faults.dropped > 0 && faults.duplicated > 0 && faults.reordered > 0)
        #expect(rig.proxy.counters.unknownSource == 0)
        let counters = rig.proxy.counters
        #expect(counters.forwarded + counters.sendErrors + rig.proxy.heldBack == counters.received - faults.dropped + faults.duplicated)
        #expect(rig.nodes.reduce(0) { $0 + $1.metrics.chunksRetransmitted } > 0, "losses were repaired by retransmission")
    }

    @Test func aPartitionSeparatesSidesUntilItIsLifted() throws {
        let rig = try Rig(plan: FaultPlan(FaultSettings(partition: [[0], [1, 2]])))
        try rig.nodes[0].send([1, 2, 3], to: 1)
        try rig.nodes[1].send([4, 5, 6], to: 2)
        var events = try rig.pump(limit: .seconds(1)) { _ in false }
        #expect(Self.delivered(events[1], from: 0).isEmpty, "nothing crosses the partition")
        #expect(Self.delivered(events[2], from: 1) == [[4, 5, 6]], "one side still talks among itself")
        #expect(rig.proxy.faultCounts.partitioned > 0)
        rig.proxy.plan = FaultPlan()
        events = try rig.pump { events in !Self.delivered(events[1], from: 0).isEmpty }
        #expect(Self.delivered(events[1], from: 0) == [[1, 2, 3]], "the retransmission crosses once healed")
    }

    @Test func datagramsFromStrangersAreCountedAndNotRelayed() throws {
        let rig = try Rig(plan: FaultPlan())
        let stranger = try UDPSocket(binding: try SocketAddress.resolve(Endpoint(parsing: "127.0.0.1:9"), for: AF_INET).withPort(0),
                                     bufferBytes: 1 << 16)
        let target = try SocketAddress.resolve(rig.proxy.proxiedPeers.peers[1].endpoint, for: AF_INET)
        _ = try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try stranger.send($0, to: target) }
        _ = try rig.pump(limit: .milliseconds(300)) { _ in false }
        #expect(rig.proxy.counters.unknownSource == 1)
        #expect(rig.proxy.counters.forwarded == 0)
        #expect(rig.nodes[1].metrics.datagramsReceived == 0)
    }
}
