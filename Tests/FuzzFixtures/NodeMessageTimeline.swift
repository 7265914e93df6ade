import Crypto
import Node

/// Node 0 of six nodes (groups of 3) through two clean rounds, captured after every message it
/// received, with the genuine messages themselves as fuzz seeds. Machines only, no transport:
/// the fuzz input is what an authenticated but hostile peer could send. Shared by the in-suite
/// fuzz test (Tests/NodeTests/FuzzTests.swift) and the libFuzzer target (Fuzz/), so the committed
/// corpus fits both.
public struct NodeMessageTimeline: Sendable {
    public static let n = 6
    public var snapshots: [NodeMachine] = []
    public var received: [[UInt8]] = []

    public static func settings(_ me: Int) -> NodeMachine.Settings {
        var rng = DeterministicRandom(seed: 5)
        let keys = (0..<n).map { _ in KeyPair.generate(using: &rng).publicKey }
        return NodeMachine.Settings(networkID: [UInt8](repeating: 3, count: 32), peers: keys, me: me, groupSize: 3,
                                    minimumThreshold: 3, phaseTimeout: .seconds(2), joinTimeout: .seconds(5), clipRange: 8,
                                    weightCap: 1000, convergence: .init(tolerance: 0.02, patience: 2, mixingMargin: 2, maxRounds: 40),
                                    maximumBufferedBytes: 4096)
    }

    public init() {
        var machines = (0..<Self.n).map { NodeMachine(settings: Self.settings($0), seed: [UInt8($0)], now: .zero) }
        var queue: [(from: Int, to: Int, bytes: [UInt8])] = []
        var pending: [(node: Int, actions: [NodeMachine.Action])] = []
        func handle(_ actions: [NodeMachine.Action], node: Int) { pending.append((node, actions)) }
        func settle() {
            while !pending.isEmpty {
                let (node, actions) = pending.removeFirst()
                for action in actions {
                    switch action {
                    case let .send(to, bytes): queue.append((node, to, bytes))
                    case let .train(round) where round <= 2:
                        let model = NodeMachine.TrainedModel(parameters: (0..<6).map { Float(node + $0) / 10 }, sampleCount: 100)
                        handle(machines[node].trained(model, now: .zero), node: node)
                    case let .aggregated(aggregation):
                        handle(machines[node].finishRound(aggregation.round, relativeChange: 0.5, validationLoss: 1, now: .zero), node: node)
                    default: break
                    }
                }
            }
        }
        for i in 0..<Self.n { handle(machines[i].start(now: .zero), node: i) }
        snapshots.append(machines[0])
        settle()
        snapshots.append(machines[0])
        var liveness = false
        while !queue.isEmpty || !liveness {
            if queue.isEmpty {
                // Let the failure detectors run once, so liveness traffic is among the seeds.
                liveness = true
                for i in 0..<Self.n { handle(machines[i].tick(now: .milliseconds(1500)), node: i) }
                settle()
                continue
            }
            let (from, to, bytes) = queue.removeFirst()
            handle(machines[to].receive(from: from, bytes: bytes, now: .zero), node: to)
            settle()
            if to == 0 {
                received.append(bytes)
                snapshots.append(machines[0])
            }
        }
    }
}
