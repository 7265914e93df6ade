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
}
