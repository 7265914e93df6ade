import Crypto
import FuzzFixtures
@testable import Node

/// Node messages: accepted bytes must re-encode identically, and the state machine they feed must
/// only address peers that exist. Each input gets fresh machines so every crash replays.
public enum NodeHarness {
    public static func livenessMessage(_ bytes: [UInt8]) {
        for peerCount in [0, 1, 4, 65_535, 65_536] {
            if let message = Liveness.Message(bytes: bytes, peerCount: peerCount) {
                Fuzz.require(message.bytes == bytes, "\(message) re-encodes differently")
            }
        }
        let peerCount = 4
        guard let message = Liveness.Message(bytes: bytes, peerCount: peerCount) else { return }
        var machine = Liveness(me: 0, peerCount: peerCount, now: .zero, seed: 1)
        var directives = machine.tick(now: .seconds(1)) // a probe is now outstanding
        let sender = Int(bytes[bytes.count - 1]) % peerCount
        directives += machine.receive(message, from: sender, now: .milliseconds(1100))
        directives += machine.tick(now: .seconds(2))
        for directive in directives {
            switch directive {
            case let .send(to, _): Fuzz.require((1..<peerCount).contains(to), "send to \(to)")
            case let .statusChanged(peer, _): Fuzz.require((1..<peerCount).contains(peer), "status of \(peer)")
            }
        }
    }

    public static func convergenceAnnotation(_ bytes: [UInt8]) {
        guard let annotation = ConvergenceRule.Annotation(bytes: bytes) else { return }
        Fuzz.require(annotation.bytes == bytes, "\(annotation) re-encodes differently")
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 4, maxRounds: 1000))
        for round in UInt64(1)...8 {
            let before = rule.stopRound
            rule.record(round: round, relativeChange: 0.001, validationLoss: 1, heard: [annotation])
            Fuzz.require(rule.stopRound >= max(before, annotation.stopRound), "stop round moved earlier")
        }
    }
}

extension NodeHarness {
    /// The node checkpoint file, as is and with a valid checksum trailer (CRC-32, or BLAKE2b before
    /// version 3): a refused file names itself; an accepted one must let the resumed node record
    /// rounds and save it again.
    public static func checkpoint(_ bytes: [UInt8]) {
        for input in [bytes, NodeCheckpoint.withRepairedTrailer(bytes)] {
            guard var checkpoint = try? NodeCheckpoint(bytes: input, source: "fuzz") else { continue }
            var machine = NodeMachine(settings: machineSettings(convergence: checkpoint.convergence.settings),
                                      resumeAfter: checkpoint.round, convergence: checkpoint.convergence, seed: [1], now: .zero)
            _ = machine.start(now: .zero)
            for round in checkpoint.round + 1...checkpoint.round + 3 {
                checkpoint.convergence.record(round: round, relativeChange: 0.001, validationLoss: 1, heard: [])
                _ = checkpoint.convergence.shouldStop(after: round)
            }
            let again = try? checkpoint.serialized()
            Fuzz.require(again.flatMap { try? NodeCheckpoint(bytes: $0, source: "again") } == checkpoint, "save and load changed it")
        }
    }

    static func machineSettings(convergence: ConvergenceRule.Settings) -> NodeMachine.Settings {
        NodeMachine.Settings(networkID: [UInt8](repeating: 3, count: 32), peers: peers, me: 0, groupSize: 3,
                             minimumThreshold: 3, phaseTimeout: .seconds(2), joinTimeout: .seconds(5), clipRange: 8,
                             weightCap: 1000, convergence: convergence)
    }

    static let peers: [PublicKey] = {
        var rng = DeterministicRandom(seed: 5)
        return (0..<6).map { _ in KeyPair.generate(using: &rng).publicKey }
    }()
}

extension NodeHarness {
    static let timeline = NodeMessageTimeline()

    /// A message from each peer to node 0 at every captured point of two rounds: refusals must be
    /// counted, sends must go to real peers in valid envelopes.
    public static func message(_ bytes: [UInt8]) {
        let n = NodeMessageTimeline.n
        for (index, snapshot) in timeline.snapshots.enumerated() {
            var machine = snapshot
            let sender = 1 + index % (n - 1)
            let before = machine.metrics
            var actions = machine.receive(from: sender, bytes: bytes, now: .milliseconds(10))
            if index % 5 == 0 { actions += machine.tick(now: .seconds(30)) }
            for case let .send(to, out) in actions {
                Fuzz.require((1..<n).contains(to) && NodeEnvelope(bytes: out) != nil, "sent \(out.count) bytes to \(to)")
            }
            let refused = machine.metrics.rejectedMessages - before.rejectedMessages
            switch NodeEnvelope(bytes: bytes) {
            case nil:
                Fuzz.require(refused == 1, "a message without a valid envelope was not counted")
            case let .liveness(round, payload)? where Liveness.Message(bytes: payload, peerCount: n) == nil
                || round > machine.settings.convergence.maxRounds:
                Fuzz.require(refused == 1, "an undecodable liveness message was not counted")
            default:
                break
            }
        }
    }
}
