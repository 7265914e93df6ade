@testable import Transport
import Testing
import TestKit

@Suite struct FaultToleranceTests {
    /// 20% loss, 20% duplication, 20% reordering with jitter, in both directions among four
    /// nodes: every message arrives exactly once and intact, and every sender hears so.
    @Test func everyMessageArrivesExactlyOnceUnderLossDuplicationAndReordering() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 4, seed: 7)
        let faults = FaultInjector(plan: FaultPlan(FaultSettings(drop: 0.2, duplicate: 0.2, reorder: 0.2,
                                                                 reorderDelay: .milliseconds(15), jitter: .milliseconds(5))),
                                   seed: 99)
        var net = try VirtualNetwork(peers: peers, identities: identities, link: LinkModel(latency: .milliseconds(10)),
                                     faults: faults)
        var expected: [[Int]: [[UInt8]]] = [:]
        var sent = 0
        for from in 0..<4 {
            for to in 0..<4 where to != from {
                for k in 0..<6 {
                    let size = [1, 700, 5000, 40_000, 150_000, 3][k]
                    let message = pattern(size, seed: UInt64(from * 100 + to * 10 + k))
                    try net.send(message, from: from, to: to)
                    expected[[from, to], default: []].append(message)
                    sent += 1
                }
            }
        }
        let outcome = net.drain(limit: .seconds(600))
        #expect(outcome.failed.isEmpty)
        #expect(outcome.acknowledged.count == sent)
        #expect(outcome.delivered.count == sent, "exactly once")
        for (pair, messages) in expected {
            let got = outcome.delivered.filter { $0.from == pair[0] && $0.to == pair[1] }.map(\.message)
            let equal = same(got.sorted { $0.count < $1.count }, messages.sorted { $0.count < $1.count })
            #expect(equal, "\(pair)")
        }
        let counts = try #require(net.faults?.counts)
        #expect(counts.dropped > 100 && counts.duplicated > 100 && counts.reordered > 100)
        let duplicates = (0..<4).compactMap { net.metrics(of: $0) }.reduce(0) { $0 + $1[.replayed] }
        #expect(duplicates > 0, "duplicated datagrams were seen and refused")
    }

    @Test func corruptedDatagramsAreRejectedAndRepairedByRetransmission() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 8)
        let faults = FaultInjector(plan: FaultPlan(FaultSettings(corrupt: 0.1)), seed: 3)
        var net = try VirtualNetwork(peers: peers, identities: identities, faults: faults)
        let message = pattern(200_000, seed: 8)
        try net.send(message, from: 0, to: 1)
        let outcome = net.drain()
        let equal = same(outcome.delivered.map(\.message), [message])
        #expect(equal)
        let rejected = (net.metrics(of: 0)?.datagramsDropped ?? 0) + (net.metrics(of: 1)?.datagramsDropped ?? 0)
        #expect(rejected == net.faults?.counts.corrupted)
        #expect(rejected > 0)
    }

    @Test func aPartitionDelaysDeliveryAndHealingCompletesIt() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 3, seed: 9)
        let plan = FaultPlan(.none, phases: [.init(from: .zero, until: .seconds(5), settings: FaultSettings(partition: [[0], [1, 2]]))])
        var net = try VirtualNetwork(peers: peers, identities: identities, faults: FaultInjector(plan: plan, seed: 1))
        try net.send(pattern(10_000, seed: 1), from: 0, to: 1)
        try net.send(pattern(10_000, seed: 2), from: 2, to: 1)
        var arrivals: [Int: Duration] = [:]
        for (time, event) in net.run(until: .seconds(60)) {
            if case let .delivered(_, from, _) = event { arrivals[from] = time }
        }
        #expect(arrivals[2, default: .seconds(99)] < .seconds(1), "same side of the partition")
        #expect(arrivals[0, default: .zero] >= .seconds(5), "only after healing")
        #expect(arrivals[0, default: .seconds(99)] < .seconds(10))
    }

    /// A long partition: the probe timeout backs off to `maxRTO` and stays there (no storm of
    /// probes, no timer stuck in the past), and the transfer completes once the path heals.
    @Test func longPartitionBacksOffAndRecovers() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 11)
        var configuration = TransportConfiguration()
        configuration.messageTimeout = .seconds(60)
        let partition = FaultPlan(.none, phases: [.init(from: .milliseconds(30), until: .seconds(25),
                                                         settings: FaultSettings(partition: [[0], [1]]))])
        var net = try VirtualNetwork(peers: peers, identities: identities, configuration: configuration,
                                     link: LinkModel(latency: .milliseconds(5), bytesPerSecond: 2_000_000),
                                     faults: FaultInjector(plan: partition, seed: 2))
        let message = pattern(400_000, seed: 11)
        try net.send(message, from: 0, to: 1)
        _ = net.run(until: .seconds(24), maxEvents: 200_000)
        #expect(net.now == .seconds(24), "virtual time advanced: no timer stuck in the past")
        let duringPartition = try #require(net.metrics(of: 0)).datagramsSent
        let events = net.run(until: .seconds(60), maxEvents: 200_000)
        let delivered = events.compactMap { if case let .delivered(m, _, _) = $0.event { return m } else { return nil } }
        let equal = same(delivered, [message])
        #expect(equal)
        let timeouts = try #require(net.metrics(of: 0)).retransmissionTimeouts
        #expect(timeouts >= 10 && timeouts <= 30, "\(timeouts) timeouts: backed off to about one per maxRTO")
        #expect(duringPartition < 400, "\(duringPartition) datagrams sent before healing")
    }

    /// A node that restarts loses what it had; its peers notice its new session, resend what
    /// was unfinished, and nothing is silently lost: every message is delivered or reported failed.
    @Test func restartedPeerGetsEverythingUnfinishedAgain() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 10)
        var net = try VirtualNetwork(peers: peers, identities: identities, link: LinkModel(latency: .milliseconds(5)))
        try net.send(pattern(1000, seed: 0), from: 0, to: 1)
        _ = net.drain(limit: .seconds(1))
        let big = pattern(500_000, seed: 1)
        let id = try net.send(big, from: 0, to: 1)
        _ = net.run(until: net.now + .milliseconds(12))   // part of it is across
        #expect(net.transport(of: 1)!.reassemblyBytes > 0)
        net.crash(1)
        _ = net.run(until: net.now + .milliseconds(50))
        try net.restart(1)
        // The restarted node speaks first (as it would on startup), so its peer learns the new session.
        try net.send([42], from: 1, to: 0)
        let outcome = net.drain()
        let equal = same(outcome.delivered.filter { $0.to == 1 }.map(\.message), [big])
        #expect(equal)
        #expect(outcome.delivered.filter { $0.to == 0 }.map(\.message) == [[42]])
        #expect(outcome.acknowledged.contains(id))
        #expect(outcome.failed.isEmpty)
    }

    @Test func datagramsOfAnOlderSessionAreRefused() throws {
        var pair = try Pair()
        try pair.a.send([1], to: 1, now: .zero)
        _ = pair.exchange()
        try pair.a.send([2], to: 1, now: pair.now)
        let old = pair.datagramsFromA()
        #expect(old.count == 1, "one datagram of the old session to replay")
        // a restarts with a larger session and talks to b again.
        let restarted = try MessageTransport(peers: pair.peers, localIndex: 0, identity: pair.identities[0], session: 101)
        pair.a = restarted
        try pair.a.send([3], to: 1, now: pair.now)
        let delivered = pair.exchange()
        #expect(delivered == [[3]])
        for datagram in old { pair.b.receiveDatagram(datagram, from: 0, now: pair.now) }
        #expect(pair.b.metrics[.staleSession] == old.count)
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
        _ = restarted
    }

    /// The other side of a restart: datagrams sealed for the receiver's previous run reach its
    /// new run, whose replay window is empty. They authenticate (same static keys) but name the
    /// old receiver session, so they are refused as stale and deliver nothing (SPEC §4).
    @Test func datagramsForTheReceiversPreviousRunAreRefused() throws {
        var pair = try Pair()
        try pair.a.send([1], to: 1, now: .zero)
        #expect(pair.exchange() == [[1]])
        try pair.a.send([2], to: 1, now: pair.now)
        let recorded = pair.datagramsFromA()
        #expect(recorded.count == 1)
        pair.b = try MessageTransport(peers: pair.peers, localIndex: 1, identity: pair.identities[1], session: 201)
        for datagram in recorded { pair.b.receiveDatagram(datagram, from: 0, now: pair.now) }
        #expect(pair.b.metrics[.staleSession] == recorded.count)
        #expect(Pair.deliveries(pair.b.takeActions()).isEmpty)
    }
}
