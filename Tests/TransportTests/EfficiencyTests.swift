@testable import Transport
import Testing
import TestKit

/// Protocol efficiency on a deterministic lossy network (bytes, not time: time lives in
/// scripts/bench-transport.sh).
@Suite struct EfficiencyTests {
    /// With 10% of datagrams lost in both directions, a large message costs at most 1.3x its
    /// size on the wire, and losses are almost never declared spuriously.
    @Test(arguments: [Duration.microseconds(50), .milliseconds(5)])
    func lossyTransferStaysWithinTheWireBudget(latency: Duration) throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 3)
        let faults = FaultInjector(plan: FaultPlan(FaultSettings(drop: 0.1)), seed: 9)
        var net = try VirtualNetwork(peers: peers, identities: identities,
                                     link: LinkModel(latency: latency, bytesPerSecond: 400_000_000), faults: faults)
        let size = 1 << 20
        try net.send(pattern(size, seed: 1), from: 0, to: 1)
        let outcome = net.drain()
        #expect(outcome.delivered.count == 1)
        let sender = try #require(net.metrics(of: 0)), receiver = try #require(net.metrics(of: 1))
        let ratio = Double(sender.bytesSent + receiver.bytesSent) / Double(size)
        #expect(ratio <= 1.3, "wire bytes / message bytes = \(ratio)")
        #expect(sender.chunksRetransmitted > 50, "the loss was real")
        #expect(sender.spuriousLosses * 20 <= sender.packetsDeclaredLost, "spurious \(sender.spuriousLosses) of \(sender.packetsDeclaredLost)")
    }

    @Test func losslessTransferSendsEachChunkOnce() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 4)
        var net = try VirtualNetwork(peers: peers, identities: identities, link: LinkModel(latency: .milliseconds(2)))
        let size = 1 << 20
        try net.send(pattern(size, seed: 2), from: 0, to: 1)
        _ = net.drain()
        let sender = try #require(net.metrics(of: 0)), receiver = try #require(net.metrics(of: 1))
        let chunks = (size + TransportConfiguration().chunkSize - 1) / TransportConfiguration().chunkSize
        #expect(sender.chunksRetransmitted == 0)
        #expect(sender.datagramsSent == chunks + 1, "every chunk once, plus the hello")
        #expect(Double(sender.bytesSent + receiver.bytesSent) / Double(size) < 1.1)
    }

    /// The window's upper bound holds in bytes whatever the datagram size (the receive buffer holds
    /// bytes), never below the initial window; a 4 MiB message at the loopback size still arrives
    /// whole over a lossy link within the wire budget.
    @Test func largeDatagramsKeepTheWindowBoundInBytes() throws {
        var loopback = TransportConfiguration()
        loopback.mtu = TransportConfiguration.loopbackMTU
        #expect(CongestionController(configuration: TransportConfiguration()).maxWindow == 2048 * 1232)
        var controller = CongestionController(configuration: loopback)
        #expect(controller.maxWindow == loopback.maxWindowBytes && controller.window == 16 * loopback.mtu)
        for _ in 0..<1000 { controller.onAcknowledged(bytes: loopback.mtu, sentAt: .zero) }
        #expect(controller.window == loopback.maxWindowBytes)
        var tiny = loopback
        tiny.maxWindowBytes = 1000
        #expect(CongestionController(configuration: tiny).maxWindow == 16 * loopback.mtu)

        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 5)
        let faults = FaultInjector(plan: FaultPlan(FaultSettings(drop: 0.1)), seed: 9)
        var net = try VirtualNetwork(peers: peers, identities: identities, configuration: loopback,
                                     link: LinkModel(latency: .microseconds(50), bytesPerSecond: 400_000_000), faults: faults)
        let message = pattern(4 << 20, seed: 3)
        try net.send(message, from: 0, to: 1)
        #expect(net.drain().delivered.map(\.message) == [message])
        let sender = try #require(net.metrics(of: 0)), receiver = try #require(net.metrics(of: 1))
        #expect(Double(sender.bytesSent + receiver.bytesSent) / Double(message.count) < 1.3)
    }
}
