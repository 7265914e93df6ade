import Crypto
import Foundation
@testable import Transport
import Testing
import TestKit

/// Two UDP drivers in one process on the loopback interface.
@Suite struct UDPLoopbackTests {
    static func network(host: String = "127.0.0.1") throws -> (PeersFile, [KeyPair]) {
        let ports = try freeUDPPorts(2, host: host)
        var random = seededRandom(77)
        let identities = (0..<2).map { _ in KeyPair.generate(using: &random) }
        let text = identities.enumerated().map { i, identity in
            let address = host.contains(":") ? "[\(host)]:\(ports[i])" : "\(host):\(ports[i])"
            return "node\(i) \(address) \(identity.publicKey.base64)"
        }.joined(separator: "\n")
        return (try PeersFile.parse(text, file: "test-peers"), identities)
    }

    /// Polls both drivers in turn until `done` or a wall-clock limit.
    static func pump(_ a: UDPTransport, _ b: UDPTransport, limit: Duration = .seconds(20),
                     until done: ([TransportEvent], [TransportEvent]) -> Bool) throws -> ([TransportEvent], [TransportEvent]) {
        var fromA: [TransportEvent] = [], fromB: [TransportEvent] = []
        let start = monotonicNow()
        while monotonicNow() - start < limit, !done(fromA, fromB) {
            fromA += try a.poll(timeout: .milliseconds(1))
            fromB += try b.poll(timeout: .milliseconds(1))
        }
        return (fromA, fromB)
    }

    /// Another thread's `interrupt` ends a long `poll` at once (the node's worker hands the run loop
    /// its results this way); an interrupt before the poll ends the next one; then polls wait again.
    @Test func interruptEndsAPollFromAnotherThread() throws {
        let (peers, identities) = try Self.network()
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0])
        let start = monotonicNow()
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { a.interrupt() }
        #expect(try a.poll(timeout: .seconds(20)).isEmpty)
        #expect(monotonicNow() - start < .seconds(10))
        a.interrupt()
        let early = monotonicNow()
        #expect(try a.poll(timeout: .seconds(20)).isEmpty)
        #expect(monotonicNow() - early < .seconds(5))
        let quiet = monotonicNow()
        #expect(try a.poll(timeout: .milliseconds(200)).isEmpty)
        #expect(monotonicNow() - quiet >= .milliseconds(200))
    }

    @Test func messagesCrossLoopbackIntactAndAreAcknowledged() throws {
        let (peers, identities) = try Self.network()
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0])
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1])
        #expect(a.unresolvedPeers.isEmpty && b.unresolvedPeers.isEmpty)
        #expect(b.socketBufferSizes.receive >= 1 << 20, "asked the kernel for large buffers")
        let big = pattern(300_000, seed: 1), small = pattern(10, seed: 2)
        let bigID = try a.send(big, to: 1)
        let smallID = try a.send(small, to: 1)
        let reply = try b.send([7, 7, 7], to: 0)
        let (eventsA, eventsB) = try Self.pump(a, b) { eventsA, eventsB in
            eventsA.filter { if case .acknowledged = $0 { return true } else { return false } }.count == 2
                && eventsB.contains { if case .acknowledged = $0 { return true } else { return false } }
        }
        let deliveredToB = eventsB.compactMap { if case let .delivered(m, 0) = $0 { return m } else { return nil } }
        let deliveredToA = eventsA.compactMap { if case let .delivered(m, 1) = $0 { return m } else { return nil } }
        let equal = same(deliveredToB.sorted { $0.count < $1.count }, [small, big])
        #expect(equal)
        #expect(deliveredToA == [[7, 7, 7]])
        let acknowledgedByB = eventsA.compactMap { if case let .acknowledged(id) = $0 { return id } else { return nil } }
        #expect(Set(acknowledgedByB) == [bigID, smallID])
        #expect(eventsB.contains { if case .acknowledged(reply) = $0 { return true } else { return false } })
        #expect(b.metrics.datagramsDropped == 0)
    }

    /// Segmentation offload must change how many system calls are made, never what arrives.
    @Test(arguments: [true, false])
    func largeMessageWithAndWithoutSegmentationOffload(offload: Bool) throws {
        let (peers, identities) = try Self.network()
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0], segmentationOffload: offload)
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1], segmentationOffload: offload)
        let message = pattern(2_000_000, seed: 9)
        try a.send(message, to: 1)
        let (_, eventsB) = try Self.pump(a, b) { eventsA, _ in
            eventsA.contains { if case .acknowledged = $0 { return true } else { return false } }
        }
        let delivered = eventsB.compactMap { if case let .delivered(m, 0) = $0 { return m } else { return nil } }
        let equal = same(delivered, [message])
        #expect(equal)
        let calls = a.driverCounters.sendCalls, datagrams = a.metrics.datagramsSent
        if offload, a.usesSegmentationOffload {
            #expect(calls * 2 < datagrams, "\(calls) send calls for \(datagrams) datagrams")
        } else {
            #expect(calls == datagrams)
        }
    }

    @Test func lossyLoopbackStillDeliversIntact() throws {
        let (peers, identities) = try Self.network()
        let faults = { (seed: UInt64) in FaultInjector(plan: FaultPlan(FaultSettings(drop: 0.2, duplicate: 0.1)), seed: seed) }
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0], faults: faults(1))
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1], faults: faults(2))
        let message = pattern(300_000, seed: 4)
        try a.send(message, to: 1)
        let (_, eventsB) = try Self.pump(a, b) { eventsA, _ in
            eventsA.contains { if case .acknowledged = $0 { return true } else { return false } }
        }
        let delivered = eventsB.compactMap { if case let .delivered(m, 0) = $0 { return m } else { return nil } }
        let equal = same(delivered, [message])
        #expect(equal)
        #expect((a.faultCounts?.dropped ?? 0) > 10)
        #expect(a.metrics.chunksRetransmitted > 10)
    }

    @Test func datagramsFromStrangersAreCountedNotDelivered() throws {
        let (peers, identities) = try Self.network()
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1])
        let stranger = try UDPSocket(binding: SocketAddress.resolve(try Endpoint(parsing: "127.0.0.1:9"), for: AF_INET).withPort(0),
                                     bufferBytes: 1 << 16)
        let target = try SocketAddress.resolve(peers.peers[1].endpoint, for: AF_INET)
        for length in [0, 5, 100, 1232, 5000] {
            let bytes = [UInt8](repeating: 0x42, count: length)
            _ = try bytes.withUnsafeBytes { try stranger.send($0, to: target) }
        }
        var events: [TransportEvent] = []
        let start = monotonicNow()
        while b.metrics.datagramsReceived < 5, monotonicNow() - start < .seconds(5) { events += try b.poll(timeout: .milliseconds(5)) }
        #expect(events.isEmpty)
        #expect(b.metrics.datagramsReceived == 5)
        #expect(b.metrics.datagramsDropped == 5)
        #expect(b.metrics[.oversized] == 1)
    }

    /// Only a host that cannot bind ::1 skips; peers-file parsing and binding errors after that fail.
    @Test(.enabled(if: (try? freeUDPPorts(1, host: "::1")) != nil, "needs an IPv6 loopback"))
    func ipv6LoopbackWorksWhenAvailable() throws {
        let (peers, identities) = try Self.network(host: "::1")
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0])
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1])
        let message = pattern(20_000, seed: 3)
        try a.send(message, to: 1)
        let (_, eventsB) = try Self.pump(a, b) { _, eventsB in !eventsB.isEmpty }
        let delivered = eventsB.compactMap { if case let .delivered(m, 0) = $0 { return m } else { return nil } }
        let equal = same(delivered, [message])
        #expect(equal)
    }

    /// A peer written as an IPv4-mapped IPv6 address is the IPv4 address it maps: an IPv4 node
    /// reaches it (it used to be "IPv6 but this node listens on IPv4") and each knows the other's datagrams.
    @Test func anIPv4MappedPeerTalksWithAnIPv4Peer() throws {
        let ports = try freeUDPPorts(2)
        var random = seededRandom(78)
        let keys = (0..<2).map { _ in KeyPair.generate(using: &random) }
        let peers = try PeersFile.parse("a 127.0.0.1:\(ports[0]) \(keys[0].publicKey.base64)\n"
                                        + "b [::ffff:127.0.0.1]:\(ports[1]) \(keys[1].publicKey.base64)\n", file: "p")
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: keys[0])
        let b = try UDPTransport(peers: peers, localIndex: 1, identity: keys[1])
        #expect(a.unresolvedPeers.isEmpty && b.unresolvedPeers.isEmpty)
        try a.send([1, 2, 3], to: 1)
        try b.send([4, 5], to: 0)
        let (eventsA, eventsB) = try Self.pump(a, b) { eventsA, eventsB in
            eventsA.contains { if case .delivered = $0 { true } else { false } } && eventsB.contains { if case .delivered = $0 { true } else { false } }
        }
        #expect(eventsA.contains { if case .delivered([4, 5], from: 1) = $0 { true } else { false } })
        #expect(eventsB.contains { if case .delivered([1, 2, 3], from: 0) = $0 { true } else { false } })
    }

    /// A datagram node 1 sent node 0 in a run of session 9 (recorded on the wire, say).
    static func datagramOfAnEarlierRun(_ peers: PeersFile, _ identities: [KeyPair]) throws -> [UInt8]? {
        var earlier = try MessageTransport(peers: peers, localIndex: 1, identity: identities[1], session: 9)
        try earlier.send([9], to: 0, now: .zero)
        guard case let .transmit(datagram, _)? = earlier.takeActions().first else { return nil }
        return datagram
    }

    /// Sends `datagram` to node 0 from a socket of no peer's.
    static func sendFromAStranger(_ datagram: [UInt8], _ peers: PeersFile) throws {
        let local = try SocketAddress.resolve(Endpoint(host: .ipv4("127.0.0.1"), port: 0), for: AF_INET)
        let stranger = try UDPSocket(binding: local, bufferBytes: 1 << 16)
        let target = try SocketAddress.resolve(peers.peers[0].endpoint, for: AF_INET)
        _ = try datagram.withUnsafeBytes { try stranger.send($0, to: target) }
    }

    /// Polls until each side has a message delivered; whether they are `fromB` (at a) and `fromA` (at b).
    static func exchanged(_ a: UDPTransport, _ b: UDPTransport, fromA: [UInt8], fromB: [UInt8]) throws -> Bool {
        func delivered(_ events: [TransportEvent]) -> Bool { events.contains { if case .delivered = $0 { true } else { false } } }
        let (eventsA, eventsB) = try pump(a, b) { delivered($0) && delivered($1) }
        return eventsA.contains { if case .delivered(fromB, from: 1) = $0 { true } else { false } }
            && eventsB.contains { if case .delivered(fromA, from: 0) = $0 { true } else { false } }
    }

    /// A peer whose name did not resolve at start (its DNS entry appeared when it started, after
    /// this node) is located by its first authenticated datagram: then messages flow both ways.
    /// A forged datagram claiming to be it locates nothing, and once located, datagrams claiming
    /// to be it from elsewhere are refused before decryption.
    @Test func anUnresolvedPeerIsLocatedByItsFirstAuthenticatedDatagram() throws {
        let (peers, identities) = try Self.network()
        let addresses = try PeerAddresses(peers: peers, listen: peers.peers[0].endpoint)
            .failing(1, AddressError("cannot resolve node1's name (test)"))
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0], addresses: addresses)
        #expect(a.unresolvedPeers[1] != nil)
        _ = try a.send([1, 2, 3], to: 1)   // nowhere to go yet; the transport keeps retrying
        _ = try a.poll(timeout: .milliseconds(20))
        #expect(a.driverCounters.sendErrors > 0)

        // A stranger's datagram that claims to come from node1 but fails authentication.
        guard var forged = try Self.datagramOfAnEarlierRun(peers, identities) else { Issue.record("no datagram"); return }
        forged[forged.count - 1] ^= 1
        try Self.sendFromAStranger(forged, peers)
        _ = try a.poll(timeout: .milliseconds(50))
        #expect(a.metrics[.authenticationFailed] == 1)
        #expect(a.driverCounters.addressesLearned == 0)

        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1])
        _ = try b.send([4, 5], to: 0)
        #expect(try Self.exchanged(a, b, fromA: [1, 2, 3], fromB: [4, 5]))
        #expect(a.driverCounters.addressesLearned == 1)

        try Self.sendFromAStranger(forged, peers)
        _ = try a.poll(timeout: .milliseconds(50))
        #expect(a.metrics[.wrongSource] == 1 && a.metrics[.authenticationFailed] == 1)
    }

    /// A datagram of an earlier run of the unresolved peer still authenticates (static keys), so
    /// anyone who once saw one could replay it, from anywhere, before the peer's own arrived: it
    /// located the peer at the replayer's address for the whole run, and the peer's datagrams
    /// were dropped as from the wrong source. A datagram of a later session locates it again.
    @Test func aReplayedDatagramOfAnEarlierRunDoesNotLocateAPeerForGood() throws {
        let (peers, identities) = try Self.network()
        let addresses = try PeerAddresses(peers: peers, listen: peers.peers[0].endpoint)
            .failing(1, AddressError("cannot resolve node1's name (test)"))
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0], addresses: addresses)
        _ = try a.send([1, 2, 3], to: 1)

        // Recorded from an earlier run of node1 (session 9), replayed from a stranger's socket.
        guard let recorded = try Self.datagramOfAnEarlierRun(peers, identities) else { Issue.record("no datagram"); return }
        try Self.sendFromAStranger(recorded, peers)
        _ = try a.poll(timeout: .milliseconds(50))
        #expect(a.driverCounters.addressesLearned == 1)  // at the stranger's address, for now

        let b = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1])  // wall-clock session
        _ = try b.send([4, 5], to: 0)
        #expect(try Self.exchanged(a, b, fromA: [1, 2, 3], fromB: [4, 5]))
        #expect(a.driverCounters.addressesLearned == 2)

        // The replay again: refused.
        let wrong = a.metrics[.wrongSource]
        try Self.sendFromAStranger(recorded, peers)
        _ = try a.poll(timeout: .milliseconds(50))
        #expect(a.metrics[.wrongSource] == wrong + 1 && a.driverCounters.addressesLearned == 2)
    }

    @Test func unresolvableHostNameIsReportedNotFatal() throws {
        var random = seededRandom(5)
        let keys = (0..<2).map { _ in KeyPair.generate(using: &random) }
        let port = try freeUDPPorts(1)[0]
        let text = "a 127.0.0.1:\(port) \(keys[0].publicKey.base64)\nb no-such-host.invalid:7000 \(keys[1].publicKey.base64)\n"
        let peers = try PeersFile.parse(text, file: "p")
        let a = try UDPTransport(peers: peers, localIndex: 0, identity: keys[0])
        #expect(a.unresolvedPeers[1] != nil)
    }
}
