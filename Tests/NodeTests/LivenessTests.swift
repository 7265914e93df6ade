import Testing
import TestKit
@testable import Node

/// N liveness machines over a tiny virtual network with a fixed delay.
struct LivenessCluster {
    var nodes: [Liveness]
    var crashed: Set<Int> = []
    /// Links (a, b) that drop everything in both directions.
    var cutLinks: Set<[Int]> = []
    var now: Duration = .zero
    var inFlight: [(at: Duration, from: Int, to: Int, message: Liveness.Message)] = []
    var events: [(observer: Int, peer: Int, status: Liveness.Status, at: Duration)] = []
    let delay: Duration = .milliseconds(20)

    init(n: Int) {
        nodes = (0..<n).map { Liveness(me: $0, peerCount: n, now: .zero, seed: 99) }
    }

    mutating func apply(_ directives: [Liveness.Directive], from node: Int) {
        for directive in directives {
            switch directive {
            case let .send(to, message):
                if crashed.contains(node) || cutLinks.contains([min(node, to), max(node, to)]) { continue }
                inFlight.append((now + delay, node, to, message))
            case let .statusChanged(peer, status):
                events.append((node, peer, status, now))
            }
        }
    }

    mutating func run(until end: Duration) {
        let step: Duration = .milliseconds(10)
        while now < end {
            now += step
            let due = inFlight.filter { $0.at <= now }
            inFlight.removeAll { $0.at <= now }
            for m in due where !crashed.contains(m.to) {
                let directives = nodes[m.to].receive(m.message, from: m.from, now: now)
                apply(directives, from: m.to)
            }
            for i in nodes.indices where !crashed.contains(i) {
                let directives = nodes[i].tick(now: now)
                apply(directives, from: i)
            }
        }
    }
}

@Suite struct LivenessTests {
    @Test func messagesRoundTripAndGarbageIsRejected() {
        let messages: [Liveness.Message] = [.ping(sequence: 7, onBehalfOf: nil), .ping(sequence: 1, onBehalfOf: 4),
                                            .ack(sequence: 0xFFFF_FFFF, target: 3), .pingRequest(sequence: 2, target: 0), .leave]
        for m in messages { #expect(Liveness.Message(bytes: m.bytes, peerCount: 5) == m) }
        #expect(Liveness.Message(bytes: [4, 1, 0, 0, 0, 0, 0], peerCount: 5) == nil)  // a leave carries nothing
        #expect(Liveness.Message(bytes: [], peerCount: 5) == nil)
        #expect(Liveness.Message(bytes: [9, 0, 0, 0, 0, 0, 0], peerCount: 5) == nil)
        #expect(Liveness.Message(bytes: Liveness.Message.ack(sequence: 1, target: 7).bytes, peerCount: 5) == nil)
    }

    /// A peer that says it leaves is left at once (no probe, no suspicion), stays so while silent,
    /// and is alive again when it speaks (restarted).
    @Test func aPeerThatLeavesIsLeftAtOnceUntilItSpeaksAgain() {
        var node = Liveness(me: 0, peerCount: 3, now: .zero, seed: 1)
        #expect(node.receive(.leave, from: 2, now: .milliseconds(10)) == [.statusChanged(peer: 2, .left)])
        #expect(!node.isAlive(2) && node.statuses[2] == .left)
        #expect(node.receive(.leave, from: 2, now: .milliseconds(20)).isEmpty)  // said once
        var changes: [Liveness.Directive] = []
        var now = Duration.milliseconds(20)
        while now < .seconds(20) {
            now += .milliseconds(100)
            changes += node.tick(now: now).filter { if case .statusChanged = $0 { return true } else { return false } }
        }
        #expect(node.statuses[2] == .left, "\(changes)")  // no verdict replaces it
        #expect(node.receive(.ping(sequence: 1, onBehalfOf: nil), from: 2, now: now).contains(.statusChanged(peer: 2, .alive)))
    }

    @Test func aHealthyClusterHasNoFalseAlarms() {
        var cluster = LivenessCluster(n: 6)
        cluster.run(until: .seconds(60))
        #expect(cluster.events.isEmpty, "\(cluster.events)")
    }

    @Test func aCrashedPeerIsDeclaredDeadByEveryoneAndRejoinsWhenItSpeaks() {
        var cluster = LivenessCluster(n: 6)
        cluster.run(until: .seconds(2))
        cluster.crashed = [3]
        cluster.run(until: .seconds(30))
        for observer in [0, 1, 2, 4, 5] {
            #expect(!cluster.nodes[observer].isAlive(3), "node \(observer) still thinks 3 is alive")
            #expect(cluster.events.contains { $0.observer == observer && $0.peer == 3 && $0.status == .dead })
        }
        // Nobody else was declared dead.
        #expect(!cluster.events.contains { $0.peer != 3 && $0.status == .dead })
        // Detection is bounded: one probing pass over 5 peers plus timeouts.
        let latest = cluster.events.filter { $0.status == .dead }.map(\.at).max()!
        #expect(latest <= .seconds(2 + 5 * 1 + 1 + 3 + 2))
        cluster.crashed = []
        cluster.run(until: .seconds(45))
        for observer in [0, 1, 2, 4, 5] { #expect(cluster.nodes[observer].isAlive(3)) }
    }

    /// A node waiting for group members probes the longest-silent of them first: in a cluster of
    /// 12, a dead one of two focused peers is found within two probe periods plus the suspicion
    /// timeout, where a round-robin pass alone may take eleven periods.
    @Test func aFocusedPeerIsFoundDeadWithinTwoPeriodsAndTheSuspicion() {
        var cluster = LivenessCluster(n: 12)
        cluster.run(until: .seconds(2))
        cluster.crashed = [7]
        cluster.nodes[0].focus = [3, 7]
        cluster.run(until: .seconds(2 + 2 + 1 + 3) + .milliseconds(100))
        #expect(!cluster.nodes[0].isAlive(7))
        #expect(cluster.nodes[0].isAlive(3))
        #expect(!cluster.events.contains { $0.peer != 7 && $0.status == .dead })
    }

    @Test func indirectProbesSaveAPeerBehindABrokenLink() {
        var cluster = LivenessCluster(n: 5)
        cluster.cutLinks = [[0, 1]]
        cluster.run(until: .seconds(60))
        #expect(cluster.nodes[0].isAlive(1))
        #expect(cluster.nodes[1].isAlive(0))
        #expect(!cluster.events.contains { $0.status == .dead })
    }
}
