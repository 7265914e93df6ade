import Crypto
import Transport

/// Feeds fuzz inputs to node 0's transport as a sequence of datagrams: each record is
/// `u8 mode || u16 length || bytes`. Even modes hand the bytes over as a raw datagram (from peer
/// 1, no peer or peer 2); odd modes treat them as the frames of a data datagram that peer 1 seals
/// with its real key (or, with bit 1, a hello), so they get past authentication into reassembly
/// and acknowledgement handling. Bits 2 and 3 pick an old receiver session, a newer sender
/// session or, both set, a replayed counter; the high nibble advances the clock.
/// Shared by the in-suite fuzz test (Tests/TransportTests/FuzzTests.swift) and the libFuzzer target
/// (Fuzz/), so the committed corpus fits both.
public struct DatagramFuzzFixture: @unchecked Sendable {
    static let configuration: TransportConfiguration = {
        var configuration = TransportConfiguration()
        configuration.maxMessageSize = 64 << 10
        configuration.reassemblyBytesPerPeer = 128 << 10
        configuration.reassemblyBytesTotal = 256 << 10
        configuration.messageTimeout = .seconds(5)
        configuration.reassemblyTimeout = .seconds(10)
        return configuration
    }()

    let network: NetworkID
    let sender: DatagramCipher
    /// Node 0 after one genuine hello from peer 1, so the link and its keys already exist.
    let prototype: MessageTransport
    static let receiverSession: UInt64 = 5, senderSession: UInt64 = 7

    public init() throws {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 3, seed: 21)
        network = peers.networkID
        sender = try DatagramCipher(identity: identities[1], remote: identities[0].publicKey, network: network)
        var receiver = try MessageTransport(peers: peers, localIndex: 0, identity: identities[0],
                                            session: Self.receiverSession, configuration: Self.configuration)
        receiver.receiveDatagram(Self.seal([], kind: .hello, counter: 1, senderSession: Self.senderSession,
                                           receiverSession: 0, cipher: sender, network: network), from: 1, now: .zero)
        _ = receiver.takeActions()
        prototype = receiver
    }

    static func seal(_ payload: [UInt8], kind: DatagramHeader.Kind, counter: UInt64, senderSession: UInt64,
                     receiverSession: UInt64, cipher: DatagramCipher, network: NetworkID) -> [UInt8] {
        let header = DatagramHeader(kind: kind, networkTag: network.tag, sender: 1, receiver: 0, senderSession: senderSession,
                                    receiverSession: receiverSession, counter: counter)
        var datagram = [UInt8](repeating: 0, count: DatagramHeader.byteCount + payload.count + AEADOverhead.tag)
        datagram.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            header.write(into: &writer)
            payload.withUnsafeBytes { writer.copy($0) }
            try? cipher.seal(raw, header: header, payloadLength: payload.count, network: network)
        }
        return datagram
    }

    /// Splits an input into (mode, bytes) records; a short last record takes what is left.
    static func records(_ input: [UInt8]) -> [(mode: UInt8, bytes: [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        var at = 0
        while at < input.count, out.count < 64 {
            let mode = input[at]
            let length = at + 2 < input.count ? Int(input[at + 1]) | Int(input[at + 2]) << 8 : 0
            let start = min(at + 3, input.count), end = min(start + length, input.count)
            out.append((mode, Array(input[start..<end])))
            at = end
        }
        return out
    }

    /// Runs one input through a fresh copy of node 0: the broken property if any, and how many
    /// messages it delivered.
    public func run(_ input: [UInt8]) -> (problem: String?, delivered: Int) {
        var receiver = prototype
        var now = Duration.seconds(1), counter: UInt64 = 1
        let records = Self.records(input)
        for (index, (mode, bytes)) in records.enumerated() {
            if mode & 1 == 0 {
                receiver.receiveDatagram(bytes, from: [1, nil, 2][Int(mode >> 1) % 3], now: now)
            } else {
                let replay = mode & 0x0C == 0x0C
                if !replay { counter += 1 }
                let hello = mode & 2 != 0
                let datagram = Self.seal(hello ? [] : bytes, kind: hello ? .hello : .data, counter: counter,
                                         senderSession: mode & 0x0C == 0x08 ? Self.senderSession + 1 : Self.senderSession,
                                         receiverSession: mode & 0x0C == 0x04 ? 0 : Self.receiverSession,
                                         cipher: sender, network: network)
                receiver.receiveDatagram(datagram, from: 1, now: now)
            }
            if mode >> 4 != 0 {
                now += .milliseconds(25 * Int(mode >> 4))
                receiver.tick(now: now)
            }
            if let problem = Self.check(&receiver, received: index + 1) { return (problem, 0) }
        }
        // Without further progress every partial message is freed after the reassembly timeout.
        now += Self.configuration.reassemblyTimeout + .seconds(1)
        receiver.tick(now: now)
        receiver.tick(now: now + Self.configuration.reassemblyTimeout)
        if let problem = Self.check(&receiver, received: records.count) { return (problem, 0) }
        let leaked = receiver.reassemblyBytes == 0 ? nil : "\(receiver.reassemblyBytes) reassembly bytes never freed"
        return (leaked, receiver.metrics.messagesDelivered)
    }

    static func check(_ receiver: inout MessageTransport, received: Int) -> String? {
        guard receiver.metrics.datagramsReceived == received + 1 else { return "datagram count \(receiver.metrics.datagramsReceived)" }
        guard receiver.reassemblyBytes <= configuration.reassemblyBytesTotal,
              receiver.reassemblyBytes(from: 1) <= configuration.reassemblyBytesPerPeer else {
            return "reassembly memory \(receiver.reassemblyBytes) over budget"
        }
        for action in receiver.takeActions() {
            switch action {
            case let .transmit(datagram, to):
                guard to == 1 || to == 2, datagram.count <= configuration.mtu else { return "transmit of \(datagram.count) bytes to \(to)" }
            case let .deliver(message, from):
                guard from == 1, message.count <= configuration.maxMessageSize else { return "delivery of \(message.count) bytes from \(from)" }
            case .acknowledged, .sendFailed:
                return "node 0 never sent a message, yet got \(action)"
            }
        }
        return nil
    }

    /// Records of genuine traffic: a one-chunk message, both chunks of a two-chunk one, an
    /// acknowledgement, ack-now, a hello, a replay, a raw sealed datagram and raw garbage.
    public static var seeds: [[UInt8]] {
        func record(_ mode: UInt8, _ bytes: [UInt8]) -> [UInt8] { [mode, UInt8(bytes.count & 0xff), UInt8(bytes.count >> 8)] + bytes }
        func chunk(id: UInt64, length: Int, index: Int, size: Int) -> [UInt8] {
            let data = ChunkFrame.dataLength(messageLength: length, chunkSize: size, index: index)
            var bytes = [UInt8](repeating: 0x5A, count: ChunkFrame.headerByteCount + data)
            bytes.withUnsafeMutableBytes { raw in
                var writer = ByteWriter(raw)
                ChunkFrame.writeHeader(into: &writer, messageID: id, messageLength: length, index: index, chunkSize: size)
            }
            return bytes
        }
        var ack = [UInt8](repeating: 0, count: 32)
        let frame = AckFrame(ranges: [5...9, 1...2], ackDelayMicros: 300)
        ack.withUnsafeMutableBytes { raw in var writer = ByteWriter(raw); frame.write(into: &writer) }
        ack = Array(ack.prefix(frame.encodedLength))
        let ackNow = [FrameType.ackNow.rawValue]
        return [
            record(1, chunk(id: 1, length: 40, index: 0, size: 1000) + ackNow),
            record(1, chunk(id: 2, length: 1500, index: 0, size: 1000)) + record(0x21, chunk(id: 2, length: 1500, index: 1, size: 1000)),
            record(1, chunk(id: 3, length: 3000, index: 1, size: 1000)) + record(0xF1, ack),
            record(3, []) + record(5, chunk(id: 4, length: 10, index: 0, size: 10)) + record(9, ackNow),
            record(1, chunk(id: 5, length: 8, index: 0, size: 8)) + record(13, chunk(id: 5, length: 8, index: 0, size: 8)),
            record(0, [1, 2] + [UInt8](repeating: 0xEE, count: 60)) + record(2, [1, 2, 3]) + record(4, []),
        ]
    }
}
