@testable import Transport
import Testing
import TestKit

/// The largest message `send` accepts must also be one a receiver can admit.
@Suite struct MaximumMessageTests {
    /// With the reassembly budget equal to the message limit (which `validate` accepts), a message
    /// of exactly that size cost a little more than the budget (its chunk bitmap and record): every
    /// chunk was refused as `reassemblyFull` and the send timed out.
    @Test func aMessageOfTheMaximumSizeArrives() throws {
        var configuration = TransportConfiguration()
        configuration.maxMessageSize = 200_000
        configuration.reassemblyBytesPerPeer = 200_000
        configuration.reassemblyBytesTotal = 200_000
        try configuration.validate()
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 4)
        var net = try VirtualNetwork(peers: peers, identities: identities, configuration: configuration)
        let message = pattern(200_000, seed: 9)
        try net.send(message, from: 0, to: 1)
        let outcome = net.drain(limit: .seconds(60))
        #expect(outcome.failed.isEmpty)
        #expect(outcome.delivered.count == 1 && outcome.delivered.first?.message == message)
        #expect(net.metrics(of: 1)?[.reassemblyFull] == 0)
        // The bound is the budget plus one message's bookkeeping, no more.
        #expect(configuration.peerReassemblyLimit - configuration.reassemblyBytesPerPeer < 1_000)
    }
}
