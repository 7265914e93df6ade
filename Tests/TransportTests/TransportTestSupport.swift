import Crypto
@testable import Transport
import TestKit

/// Deterministic message contents, different for every (seed, length).
func pattern(_ length: Int, seed: UInt64) -> [UInt8] {
    var random = seededRandom(seed &+ UInt64(length) &* 7919)
    return random.bytes(length)
}

/// Runs a virtual network until it is quiet or `limit` of virtual time passed, collecting
/// what the layer above would see.
struct Outcome {
    var delivered: [(message: [UInt8], from: Int, to: Int)] = []
    var acknowledged: [MessageID] = []
    var failed: [MessageID] = []
}

extension VirtualNetwork {
    mutating func drain(limit: Duration = .seconds(120)) -> Outcome {
        var outcome = Outcome()
        for (_, event) in run(until: now + limit) {
            switch event {
            case let .delivered(message, from, to): outcome.delivered.append((message, from, to))
            case let .acknowledged(id, _): outcome.acknowledged.append(id)
            case let .sendFailed(id, _, _): outcome.failed.append(id)
            case .wakeup: break
            }
        }
        return outcome
    }
}

/// Two sans-IO transports wired by hand, for tests that look at single datagrams.
struct Pair {
    let peers: PeersFile
    let identities: [KeyPair]
    var a: MessageTransport
    var b: MessageTransport
    var now: Duration = .zero

    init(configuration: TransportConfiguration = .init(), seed: UInt64 = 1) throws {
        (peers, identities) = VirtualNetwork.generatePeers(count: 3, seed: seed)
        a = try MessageTransport(peers: peers, localIndex: 0, identity: identities[0], session: 100, configuration: configuration)
        b = try MessageTransport(peers: peers, localIndex: 1, identity: identities[1], session: 200, configuration: configuration)
    }

    /// Datagrams `a` wants to send, as they stand.
    mutating func datagramsFromA() -> [[UInt8]] { Self.transmits(a.takeActions()) }
    mutating func datagramsFromB() -> [[UInt8]] { Self.transmits(b.takeActions()) }

    static func transmits(_ actions: [TransportAction]) -> [[UInt8]] {
        actions.compactMap { if case let .transmit(d, _) = $0 { return d } else { return nil } }
    }

    static func deliveries(_ actions: [TransportAction]) -> [[UInt8]] {
        actions.compactMap { if case let .deliver(m, _) = $0 { return m } else { return nil } }
    }

    /// Exchanges datagrams until neither side has anything to say; returns what `b` delivered.
    mutating func exchange(rounds: Int = 1000) -> [[UInt8]] {
        var delivered: [[UInt8]] = []
        for _ in 0..<rounds {
            now += .microseconds(100)
            a.tick(now: now)
            b.tick(now: now)
            let fromA = datagramsFromA()
            var actionsB: [TransportAction] = []
            for d in fromA { b.receiveDatagram(d, from: 0, now: now) }
            actionsB = b.takeActions()
            delivered += Self.deliveries(actionsB)
            let fromB = Self.transmits(actionsB)
            for d in fromB { a.receiveDatagram(d, from: 1, now: now) }
            if fromA.isEmpty, fromB.isEmpty, a.nextDeadline == nil, b.nextDeadline == nil { break }
        }
        return delivered
    }
}

/// Equality of byte arrays without printing megabytes when it fails.
func same(_ a: [[UInt8]], _ b: [[UInt8]]) -> Bool { a == b }
func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }
