import Node

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
