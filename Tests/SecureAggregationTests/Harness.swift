import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Drives a group's sessions message by message (no clock), so a test can stop a member in a
/// chosen phase and hand it crafted bytes.
struct Harness {
    typealias Envelope = SecAggLocalGroup.Envelope
    var sessions: [SecAggSession]
    var queue: [Envelope] = []
    /// Messages the test chose to keep back.
    var held: [Envelope] = []
    var results: [Int: SecAggResult] = [:]
    var failures: [Int: SecAggFailure] = [:]
    /// Messages a session refused, with its reason. A member that never started refuses
    /// everything; any other refusal fails the test unless `refusalExpected` selects it.
    var rejections: [(envelope: Envelope, reason: SecAggRejection)] = []
    var refusalExpected: (Envelope, SecAggRejection) -> Bool = { _, _ in false }
    let inputs: [[UInt32]]

    init(k: Int, d: Int = 24, seed: UInt64 = 3) {
        let configuration = Fixture.configuration(k: k, d: d)
        sessions = (0..<k).map { m in
            var rng = seededRandom(seed &+ UInt64(m))
            return SecAggSession(configuration: try! configuration.forMember(m), rng: &rng)
        }
        inputs = Fixture.inputs(k: k, d: d, seed: seed &+ 100)
    }

    var configuration: SecAggConfiguration { sessions[0].configuration }

    mutating func perform(_ actions: [SecAggAction], by m: Int) {
        for action in actions {
            switch action {
            case let .send(to, bytes): queue.append(Envelope(from: m, to: to, bytes: bytes))
            case let .completed(result): results[m] = result
            case let .failed(failure): failures[m] = failure
            }
        }
    }

    mutating func startAll() {
        for m in sessions.indices { perform(try! sessions[m].start(input: inputs[m], now: .zero), by: m) }
    }

    /// Delivers queued messages until none is left, keeping back those `hold` selects.
    mutating func pump(hold: (Envelope) -> Bool = { _ in false }) {
        while !queue.isEmpty {
            let envelope = queue.removeFirst()
            if hold(envelope) { held.append(envelope); continue }
            do {
                perform(try sessions[envelope.to].receive(from: envelope.from, bytes: envelope.bytes, now: .zero), by: envelope.to)
            } catch {
                rejections.append((envelope, error))
                // Only a member that never started may refuse the group's genuine messages.
                if error != .unexpected(envelope.kind ?? .advertise, phase: .idle), !refusalExpected(envelope, error) {
                    Issue.record("\(envelope): \(error)")
                }
            }
        }
    }

    /// Delivers the messages kept back, then everything they cause.
    mutating func releaseHeld() {
        queue = held
        held = []
        pump()
    }

    /// Expects every member to have completed with every input and their exact (wrapping) sum.
    func expectEveryoneHasTheWholeSum(sourceLocation: SourceLocation = #_sourceLocation) {
        let all = inputs.reduce([UInt32](repeating: 0, count: inputs[0].count)) { zip($0, $1).map { $0 &+ $1 } }
        for m in sessions.indices {
            #expect(failures[m] == nil, "member \(m): \(String(describing: failures[m]))", sourceLocation: sourceLocation)
            #expect(results[m]?.contributors == Array(sessions.indices), "member \(m)", sourceLocation: sourceLocation)
            #expect(results[m]?.sum == all, "member \(m)", sourceLocation: sourceLocation)
        }
    }

    /// The first message of `kind` that went from `from` to `to`, as recorded by `pump(record:)`.
    static func capture(k: Int, d: Int = 24) -> [SecAggMessageKind: Envelope] {
        var harness = Harness(k: k, d: d)
        var captured: [SecAggMessageKind: Envelope] = [:]
        harness.startAll()
        harness.pump(hold: { envelope in
            if envelope.from == 1, envelope.to == 0, let kind = envelope.kind, captured[kind] == nil { captured[kind] = envelope }
            return false
        })
        return captured
    }
}
