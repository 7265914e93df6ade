import Crypto
import Dispatch
import Foundation
import Learning
import Transport

/// Runs one node for real: the `NodeMachine` on the monotonic clock, its messages over
/// `UDPTransport`, training and evaluation on a worker thread (so the node keeps answering its
/// peers while it trains), checkpoints after every round, and a clean stop on SIGINT/SIGTERM/SIGHUP.
public final class NodeRunner: @unchecked Sendable {
    public enum LogLevel: Int, Comparable, Sendable {
        case error, warning, info, debug
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

        public init?(name: String) {
            switch name {
            case "error": self = .error
            case "warning": self = .warning
            case "info": self = .info
            case "debug": self = .debug
            default: return nil
            }
        }
    }

    public struct Output: Sendable {
        public var json: Bool
        public var logLevel: LogLevel
        public var line: @Sendable (String) -> Void
        public var log: @Sendable (String) -> Void

        public init(json: Bool, logLevel: LogLevel, line: @escaping @Sendable (String) -> Void,
                    log: @escaping @Sendable (String) -> Void) {
            self.json = json
            self.logLevel = logLevel
            self.line = line
            self.log = log
        }
    }

    /// How a run ended, for the summary line and the exit code.
    public struct Summary: Sendable {
        public var reason: StopReason
        public var rounds: UInt64
        public var testAccuracy: Double?
        public var epsilon: Double?
        public var bytesSent: Int
        public var bytesReceived: Int
        public var seconds: Double
        /// CPU seconds the process used since the runner started (every thread).
        public var cpuSeconds: Double
        public var transport: TransportMetrics
    }

    private var machine: NodeMachine
    private let transport: UDPTransport
    private let names: [String]
    private let output: Output
    private let worker = DispatchQueue(label: "gossipnode.worker")
    private let box: HostBox
    private let mailbox: Mailbox<WorkResult>
    private let startTime = monotonicNow()
    private let startCPU = ProcessClock.cpuSeconds()
    private var roundStartedAt: [UInt64: Duration] = [:]
    /// When the last local training ended, and when each round's aggregate arrived.
    private var trainedAt: Duration?
    private var aggregatedAt: [UInt64: Duration] = [:]
    private var stopRequested = false
    private var signalSources: [DispatchSourceSignal] = []
    /// The last round whose checkpoint is on disk: what a restart resumes after.
    private var savedRound: UInt64

    /// Where `Action.joining` is recorded; nil records nothing.
    private let joinedRounds: JoinedRoundStore?

    public init(machine: NodeMachine, host: NodeHost, transport: UDPTransport, names: [String], output: Output,
                joinedRounds: JoinedRoundStore? = nil) {
        self.machine = machine
        self.joinedRounds = joinedRounds
        savedRound = machine.lastCompletedRound
        self.transport = transport
        self.names = names
        self.output = output
        box = HostBox(host)
        // The worker's results and stop signals interrupt the run loop's poll: waiting for the next
        // datagram or the 50 ms poll cap cost each round ~30 ms per hand-over, twice.
        mailbox = Mailbox { [transport] in transport.interrupt() }
    }

    /// Runs until the machine stops; returns how it ended.
    public func run() throws -> Summary {
        installSignalHandlers()
        defer { signalSources.forEach { $0.cancel() } }
        let resumedAfter = machine.lastCompletedRound
        handle(machine.start(now: monotonicNow()))
        while !isStopped {
            let now = monotonicNow()
            let wait = min(max(machine.nextDeadline - now, .zero), .milliseconds(50))
            let events = try transport.poll(timeout: wait)
            for event in events {
                switch event {
                case let .delivered(bytes, from): handle(machine.receive(from: from, bytes: bytes, now: monotonicNow()))
                case let .acknowledged(id), let .sendFailed(id, _): unconfirmed.remove(id)
                }
            }
            for result in mailbox.take() { deliver(result) }
            if mailbox.signalled(), !stopRequested {
                stopRequested = true
                log(.info, "stopping on signal after the work in progress")
                worker.sync {} // let training or evaluation finish so the checkpoint is consistent
                for result in mailbox.take() { deliver(result) }
                handle(machine.stop())
            }
            handle(machine.tick(now: monotonicNow()))
        }
        worker.sync {}
        try flushLastAnswers()
        let metrics = transport.metrics
        var reason = stopReason ?? .signal
        // A fresh run in which not one round aggregated learned nothing from the network: say so
        // and exit non-zero, rather than report "reached --rounds" as if all went well. (A node
        // resumed near the end may legitimately fail its few remaining rounds.)
        if resumedAfter == 0 {
            reason = reason.unlessNoRoundAggregated(completed: machine.metrics.roundsCompleted, failed: machine.metrics.roundsFailed)
        }
        return Summary(reason: reason, rounds: savedRound,
                       testAccuracy: box.withHost { $0.finalTestAccuracy() }, epsilon: box.withHost { $0.learner.epsilon },
                       bytesSent: metrics.bytesSent, bytesReceived: metrics.bytesReceived,
                       seconds: (monotonicNow() - startTime).seconds, cpuSeconds: ProcessClock.cpuSeconds() - startCPU,
                       transport: metrics)
    }

    /// Secure-aggregation messages and leaves handed to the transport and not yet acknowledged or given up.
    private var unconfirmed = Set<MessageID>()

    /// A stopping node's last unmask answers and its leaves are only queued in the transport:
    /// exiting at once loses any datagram the network drops (no retransmission), and the member
    /// waiting for it fails its round (or waits for a verdict on a node that said goodbye). Keep
    /// the transport running until they are confirmed, for at most one phase timeout and 3 s
    /// (peers that already stopped never confirm).
    private func flushLastAnswers() throws {
        let deadline = monotonicNow() + min(machine.settings.phaseTimeout, .seconds(3))
        while !unconfirmed.isEmpty, monotonicNow() < deadline {
            for event in try transport.poll(timeout: .milliseconds(20)) {
                if case let .acknowledged(id) = event { unconfirmed.remove(id) }
                if case let .sendFailed(id, _) = event { unconfirmed.remove(id) }
            }
        }
    }

    private var stopReason: StopReason?
    private var isStopped: Bool { stopReason != nil }

    fileprivate enum WorkResult: Sendable {
        case trained(NodeMachine.TrainedModel)
        case trainingFailed(String)
        case applied(round: UInt64, change: Double, loss: Double, report: RoundReport)
    }

    private func deliver(_ result: WorkResult) {
        let now = monotonicNow()
        switch result {
        case let .trained(model):
            trainedAt = now
            handle(machine.trained(model, now: now))
        case let .trainingFailed(error):
            log(.error, "training failed: \(error)")
            stopReason = .failure("training failed: \(error)")
        case let .applied(round, change, loss, report):
            var report = report
            let metrics = transport.metrics
            report.bytesSent = metrics.bytesSent
            report.bytesReceived = metrics.bytesReceived
            let started = roundStartedAt[round] ?? now, trained = max(trainedAt ?? started, started)
            report.seconds = (now - started).seconds
            report.trainingSeconds = (trained - started).seconds
            report.aggregationSeconds = ((aggregatedAt.removeValue(forKey: round) ?? trained) - trained).seconds
            report.elapsed = (now - startTime).seconds
            report.cpuSeconds = ProcessClock.cpuSeconds() - startCPU
            report.time = Date().timeIntervalSince1970
            // Report the round once its checkpoint is on disk: a node killed in between redoes the
            // round after restarting, and its log must not claim a round it did not keep.
            handle(machine.finishRound(round, relativeChange: change, validationLoss: loss, now: now))
            guard savedRound == round else { return }
            output.line(output.json ? report.json : report.text)
        }
    }

    private func handle(_ actions: [NodeMachine.Action]) {
        for action in actions {
            switch action {
            case let .send(to, bytes):
                do {
                    let id = try transport.send(bytes, to: to)
                    if NodeEnvelope.isSecureAggregation(bytes) || NodeEnvelope.isLeave(bytes) { unconfirmed.insert(id) }
                } catch { log(.warning, "cannot send to \(names[to]): \(error)") }
            case let .train(round):
                roundStartedAt[round] = monotonicNow()
                let box = self.box, mailbox = self.mailbox
                worker.async {
                    var rng = DeterministicRandom.keyedBySystem()
                    do { mailbox.post(WorkResult.trained(try box.withHost { try $0.train(rng: &rng) })) } catch {
                        mailbox.post(WorkResult.trainingFailed("\(error)"))
                    }
                }
            case let .aggregated(aggregation):
                aggregatedAt[aggregation.round] = monotonicNow()
                // The failure counts members by group position; the names of those it counted out
                // (a partition's other side, a dead peer) are what an operator can act on.
                if let failure = aggregation.failure {
                    let without = aggregation.dropouts.isEmpty ? "" : " (without \(aggregation.dropouts.map { self.names[$0] }.joined(separator: ", ")))"
                    log(.warning, "round \(aggregation.round) failed: \(failure)\(without)")
                }
                let box = self.box, mailbox = self.mailbox, names = self.names
                worker.async {
                    let (change, loss, report) = box.withHost { $0.apply(aggregation, names: names) }
                    mailbox.post(WorkResult.applied(round: aggregation.round, change: change, loss: loss, report: report))
                }
            case let .checkpoint(round):
                let convergence = machine.convergence
                do {
                    try worker.sync { try box.withHost { try $0.checkpoint(round: round, convergence: convergence) } }
                    savedRound = round
                    try worker.sync { try box.withHost { try $0.keepRoundModel(round: round) } }
                } catch {
                    log(.error, "cannot save the round's state: \(error)")
                    // The failure is the outcome: the machine's next actions (training the next
                    // round, or its stop reason, such as "reached --rounds", with exit code 0)
                    // would hide it. A round is reported only if its checkpoint was saved.
                    stopReason = .failure("cannot save the round's state: \(error)")
                    return
                }
            case let .joining(round):
                // Before the advertisement that follows leaves. A state directory that cannot be
                // written (a full disk) fails the node at the round's checkpoint, naming that file;
                // until then a restart into this round is still kept apart by the mask-key names.
                do { try joinedRounds?.save(round, network: machine.settings.networkID) } catch {
                    log(.warning, "cannot record joining round \(round): \(error)")
                }
            case let .stop(reason):
                // A failure already found (training, a checkpoint) stays the outcome: a stop signal
                // handled in the same pass would otherwise turn it into "stopped by signal", exit 0.
                stopReason = stopReason ?? reason
            case let .peerStatus(peer, status):
                switch status {
                case .alive: log(.info, "peer \(names[peer]) is alive")
                case .suspect: log(.debug, "peer \(names[peer]) is suspected")
                case .dead: log(.info, "peer \(names[peer]) failed")
                case .left: log(.info, "peer \(names[peer]) left")
                }
            case let .log(text):
                log(.debug, text)
            }
        }
    }

    private func log(_ level: LogLevel, _ text: String) {
        guard level <= output.logLevel else { return }
        output.log("[\(level)] \(text)")
    }

    /// SIGHUP too: a node started from a terminal that closes (an ssh session ending) should
    /// checkpoint and leave its groups cleanly, not die mid-round as it did by default.
    private func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            let mailbox = self.mailbox
            source.setEventHandler { mailbox.signal() }
            source.resume()
            signalSources.append(source)
        }
    }
}

/// The host, touched by the worker thread while it trains and by the run loop otherwise; the
/// machine's phases keep the two from overlapping, the lock makes that safe regardless.
final class HostBox: @unchecked Sendable {
    private let lock = NSLock()
    private var host: NodeHost
    init(_ host: NodeHost) { self.host = host }
    func withHost<T>(_ body: (inout NodeHost) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&host)
    }
}

/// Results from the worker, and whether a stop signal arrived.
final class Mailbox<Item: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Item] = []
    private var signalReceived = false
    /// Tells the reader that something arrived.
    private let notify: @Sendable () -> Void
    init(notify: @escaping @Sendable () -> Void) { self.notify = notify }
    func post(_ item: Item) {
        lock.withLock { items.append(item) }
        notify()
    }
    func take() -> [Item] { lock.withLock { defer { items.removeAll() }; return items } }
    func signal() {
        lock.withLock { signalReceived = true }
        notify()
    }
    func signalled() -> Bool { lock.withLock { signalReceived } }
}

extension Duration {
    /// This duration in seconds, as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
