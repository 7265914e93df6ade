import Crypto
@testable import Node
import Testing
import TestKit
@testable import Transport

/// The same five nodes, attacked below the message layer: a network attacker replays, flips,
/// redirects and forges datagrams, and an insider seals floods of partial messages with its own
/// key. Nothing forged reaches a node machine, every refusal is counted under its reason, and
/// reassembly memory stays within its budgets.
@Suite struct AdversarialDatagramTests {
    /// Header fields (SPEC §4, little-endian): network tag at 2, sender at 6, receiver at 8.
    static func rewritten(_ datagram: [UInt8], sender: Int? = nil, receiver: Int? = nil, flipTag: Bool = false) -> [UInt8] {
        var out = datagram
        if let sender { out[6] = UInt8(sender); out[7] = 0 }
        if let receiver { out[8] = UInt8(receiver); out[9] = 0 }
        if flipTag { out[2] ^= 1 }
        return out
    }

    @Test func forgedReplayedAndRedirectedDatagramsNeverReachAMachine() throws {
        final class State { var seen = 0; var random = seededRandom(8) }
        let state = State()
        let hooks = Adversary()
        let adversary = 4, n = 5
        hooks.onWire = { datagram, from, to, _ in
            state.seen += 1
            guard state.seen % 3 == 0, datagram.count > DatagramHeader.byteCount + 16 else { return [] }
            var flipped = datagram
            let bit = Int(state.random.nextUInt64() % UInt64((datagram.count - DatagramHeader.byteCount) * 8))
            flipped[DatagramHeader.byteCount + bit / 8] ^= 1 << UInt8(bit % 8)
            var out: [(datagram: [UInt8], source: Int?, to: Int)] = [
                (datagram, from, to),                                                // replayed
                (flipped, from, to),                                                 // forged body
                (Self.rewritten(datagram, flipTag: true), from, to),                 // another network
                (Self.rewritten(datagram, receiver: (to + 1) % n == from ? (to + 2) % n : (to + 1) % n), from, to),
                ([UInt8](repeating: 0xEE, count: AttackNetwork.transportConfiguration.mtu + 1), from, to),  // oversized
                (state.random.bytes(20), nil, to),                                   // garbage from a stranger
            ]
            if from == adversary {
                // Its own datagram, claiming an honest sender: from its own address, and spoofed.
                let victim = (to + 1) % adversary
                out.append((Self.rewritten(datagram, sender: victim), adversary, to))
                out.append((Self.rewritten(datagram, sender: victim), victim, to))
            } else {
                out.append((datagram, adversary, to))                               // relayed by the attacker
                out.append((Self.rewritten(datagram, sender: adversary), adversary, to))
            }
            return out
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        AdversarialPeerTests.expectUnharmed(net, adversaryContributes: true)
        #expect(net.honest.allSatisfy { net.machines[$0].metrics.rejectedMessages == 0 }, "nothing forged became a message")
        for reason in [DropReason.replayed, .authenticationFailed, .wrongNetwork, .unknownPeer, .wrongSource, .oversized, .malformed] {
            let count = net.honest.reduce(0) { $0 + net.transports[$1].metrics[reason] }
            #expect(count > 0, "\(reason) counted")
        }
    }

    /// The insider opens many large messages by sealing only their first chunk with its own key:
    /// each honest node holds at most its per-peer reassembly budget for it, refuses the rest
    /// (counted), and the honest members finish every round without the flooder.
    @Test func aFloodOfPartialMessagesStaysWithinTheReassemblyBudget() throws {
        final class Forger {
            var counter: UInt64 = 1 << 32
            var messages: UInt64 = 1 << 40
            var sent = 0
            var ciphers: [Int: DatagramCipher] = [:]
        }
        let forger = Forger()
        let (peers, identities) = VirtualNetwork.generatePeers(count: 5, seed: 11)
        let configuration = AttackNetwork.transportConfiguration
        let hooks = Adversary()
        hooks.onWire = { _, from, to, now in
            guard from == 4, now > .milliseconds(300), forger.sent < 600 else { return [] }
            let cipher = try! forger.ciphers[to] ?? DatagramCipher(identity: identities[4], remote: peers.peers[to].publicKey,
                                                                 network: peers.networkID)
            forger.ciphers[to] = cipher
            var out: [(datagram: [UInt8], source: Int?, to: Int)] = []
            for _ in 0..<4 {
                forger.sent += 1
                forger.counter += 1
                forger.messages += 1
                let length = configuration.maxMessageSize
                let chunk = configuration.chunkSize
                let payloadLength = ChunkFrame.headerByteCount + ChunkFrame.dataLength(messageLength: length, chunkSize: chunk, index: 0)
                let header = DatagramHeader(kind: .data, networkTag: peers.networkID.tag, sender: 4, receiver: UInt16(to),
                                            senderSession: 1, receiverSession: 1, counter: forger.counter)
                var datagram = [UInt8](repeating: 0x5A, count: DatagramHeader.byteCount + payloadLength + AEADOverhead.tag)
                datagram.withUnsafeMutableBytes { raw in
                    var writer = ByteWriter(raw)
                    header.write(into: &writer)
                    ChunkFrame.writeHeader(into: &writer, messageID: forger.messages, messageLength: length, index: 0, chunkSize: chunk)
                    try? cipher.seal(raw, header: header, payloadLength: payloadLength, network: peers.networkID)
                }
                out.append((datagram, 4, to))
            }
            return out
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        // The forged counters pushed the flooder's replay window past its genuine traffic: it drops
        // out, and the honest members finish without it.
        AdversarialPeerTests.expectUnharmed(net, adversaryContributes: false)
        #expect(forger.sent == 600)
        #expect(net.peakReassemblyFromAdversary > configuration.peerReassemblyLimit / 2, "the flood filled the budget")
        #expect(net.honest.reduce(0) { $0 + net.transports[$1].metrics[.reassemblyFull] } > 0)
    }
}
