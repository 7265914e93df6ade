import Testing
import TestKit
@testable import Node

/// Bounded mutation fuzzing of the Node message decoders (libFuzzer side: Fuzz/, scripts/fuzz.sh).
/// Accepted messages must re-encode to the same bytes and are fed to the state machine they are
/// meant for, which must only ever address peers that exist.
@Suite struct NodeFuzzTests {
    @Test func livenessDecoderAndMachineSurviveHostileMessages() {
        let peerCounts = [1, 4, 300]
        var machines = peerCounts.map { Liveness(me: 0, peerCount: $0, now: .zero, seed: 7) }
        var now = Duration.zero
        var turn = 0
        let report = fuzz("liveness-message", dictionary: FuzzDictionary.binary, maxLength: 64) { bytes in
            turn += 1
            now += .milliseconds(97)
            let which = turn % peerCounts.count, peerCount = peerCounts[which]
            // Counts no machine here uses, up to the wire format's 16-bit limit: decode only.
            for count in [0, 65_535, 65_536] {
                if let message = Liveness.Message(bytes: bytes, peerCount: count), message.bytes != bytes {
                    return .violation("\(message) re-encodes differently")
                }
            }
            guard let message = Liveness.Message(bytes: bytes, peerCount: peerCount) else { return .rejected }
            guard message.bytes == bytes else { return .violation("\(message) re-encodes differently") }
            let sender = Int(bytes[bytes.count - 1]) % peerCount
            var directives = machines[which].receive(message, from: sender, now: now)
            if turn % 5 == 0 { directives += machines[which].tick(now: now) }
            for directive in directives {
                switch directive {
                case let .send(to, _) where !(0..<peerCount).contains(to) || to == 0:
                    return .violation("\(message) from \(sender) made the machine send to \(to)")
                case let .statusChanged(peer, _) where !(1..<peerCount).contains(peer):
                    return .violation("\(message) from \(sender) changed the status of \(peer)")
                default: continue
                }
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    @Test func convergenceAnnotationDecoderAndRuleSurviveHostileNews() {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 4, maxRounds: 1000))
        var round: UInt64 = 0
        let report = fuzz("convergence-annotation", dictionary: FuzzDictionary.binary, maxLength: 128) { bytes in
            guard let annotation = ConvergenceRule.Annotation(bytes: bytes) else { return .rejected }
            guard annotation.bytes == bytes else { return .violation("\(annotation) re-encodes differently") }
            round += 1
            let before = rule.stopRound
            rule.record(round: round, relativeChange: round % 3 == 0 ? 0.5 : 0.001, validationLoss: 1,
                        heard: [annotation, rule.annotation])
            guard rule.stopRound >= before, rule.stopRound >= annotation.stopRound else {
                return .violation("stop round moved earlier after \(annotation)")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}
