import Crypto
import Foundation
import FuzzFixtures
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

    // MARK: Node checkpoint file

    /// Checkpoints from the real writer: early, with a proposed stop, and with an empty model.
    static var checkpointSeeds: [[UInt8]] {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        rule.record(round: 1, relativeChange: 0.5, validationLoss: 2, heard: [])
        var converged = rule
        for round in UInt64(2)...9 { converged.record(round: round, relativeChange: 0.001, validationLoss: 1, heard: []) }
        return [
            try! NodeCheckpoint(round: 1, convergence: rule, model: (0..<64).map { UInt8($0) }).serialized(),
            try! NodeCheckpoint(round: 9, convergence: converged, model: [1, 2, 3]).serialized(),
            try! NodeCheckpoint(round: 0, convergence: rule, model: []).serialized(),
            try! NodeCheckpoint(round: 4, convergence: rule, model: [9, 8], slowMomentum: [0.25, -3, .nan]).serialized(),
        ]
    }

    @Test func checkpointDecoderRefusesDamagedFilesAndResumesFromGoodOnes() {
        var turn = 0
        let tokens = ["-1", "-", "0", "63", "64", "99", "4611686018427387905", "18446744073709551615", "\"patience\":"]
        let report = fuzz("node-checkpoint", extraSeeds: Self.checkpointSeeds,
                          dictionary: FuzzDictionary.text + tokens.map { Array($0.utf8) }) { input in
            turn += 1
            let bytes = turn % 2 == 0 ? NodeCheckpoint.withRepairedTrailer(input) : input
            var checkpoint: NodeCheckpoint
            do throws(CheckpointError) { checkpoint = try NodeCheckpoint(bytes: bytes, source: "fuzz") } catch {
                return error.path == "fuzz" ? .rejected : .violation("error names \(error.path)")
            }
            // What a resumed node does with it: keep recording rounds, then save it again.
            for round in checkpoint.round + 1...checkpoint.round + 3 {
                checkpoint.convergence.record(round: round, relativeChange: 0.001, validationLoss: 1, heard: [])
                _ = checkpoint.convergence.shouldStop(after: round)
            }
            guard let again = try? checkpoint.serialized(), (try? NodeCheckpoint(bytes: again, source: "again")) == checkpoint else {
                return .violation("accepted checkpoint does not survive a save and load")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    /// Checkpoints with a valid hash but impossible metadata were accepted, then crashed the
    /// resumed node: a negative mixing margin at its first round (UInt64 conversion), patience
    /// 99 once the window check ran (shift past 64 bits, then 0 - 1), round 2^64-1 at start (+1).
    @Test(arguments: ["regression-negative-mixing-margin", "regression-patience-99", "regression-round-max"])
    func checkpointWithImpossibleMetadataIsRefused(file: String) {
        let bytes = fuzzCorpus("node-checkpoint", named: file)
        #expect(!bytes.isEmpty)
        #expect { try NodeCheckpoint(bytes: bytes, source: file) } throws: { ($0 as? CheckpointError)?.problem.hasPrefix("implausible") == true }
    }
}

@Suite struct NodeMessageFuzzTests {
    /// Every message a hostile peer can send is decoded, routed (liveness, the current session, a
    /// buffer for later rounds, a lingering session) or refused and counted; node 0 only ever
    /// addresses real peers and keeps working.
    @Test func nodeMachineCountsWhatItRefusesAndKeepsWorking() {
        let timeline = NodeMessageTimeline()
        let n = NodeMessageTimeline.n
        var turn = 0
        let report = fuzz("node-message", extraSeeds: timeline.received, dictionary: FuzzDictionary.binary, maxLength: 1024) { bytes in
            turn += 1
            var machine = timeline.snapshots[turn % timeline.snapshots.count]
            let sender = 1 + (turn / timeline.snapshots.count) % (n - 1)
            let before = machine.metrics
            var actions = machine.receive(from: sender, bytes: bytes, now: .milliseconds(10))
            if turn % 5 == 0 { actions += machine.tick(now: .seconds(30)) }
            for case let .send(to, out) in actions {
                guard (1..<n).contains(to), NodeEnvelope(bytes: out) != nil else { return .violation("sent \(out.count) bytes to \(to)") }
            }
            let refused = machine.metrics.rejectedMessages - before.rejectedMessages
            switch NodeEnvelope(bytes: bytes) {
            case nil:
                return refused == 1 ? .rejected : .violation("a message without a valid envelope was not counted")
            case let .liveness(round, payload)? where Liveness.Message(bytes: payload, peerCount: n) == nil
                || round > machine.settings.convergence.maxRounds:
                return refused == 1 ? .rejected : .violation("an undecodable liveness message (or impossible round) was not counted")
            default:
                return refused + machine.metrics.staleMessages - before.staleMessages > 0 ? .rejected : .accepted
            }
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}

