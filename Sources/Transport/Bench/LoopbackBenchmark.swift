import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Measures the transport on the loopback interface against plain UDP in the same process
/// (scripts/bench-transport.sh). Two threads: one sends, one receives, as two nodes would.
public enum LoopbackBenchmark {
    /// A measurement that went wrong at run time (not a bad flag): the command exits 1.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public struct RawRun: Sendable {
        public let seconds: Double
        public let bytesReceived: Int
        /// CPU time of the sending and the receiving thread.
        public let cpuSeconds: Double
        public var bytesPerSecond: Double { Double(bytesReceived) / seconds }
    }

    public struct TransportRun: Sendable {
        /// From `send` until the receiver delivered the message.
        public let seconds: Double
        /// Every datagram byte both endpoints handed to the network, including ones the fault
        /// layer then dropped, until the sender saw the acknowledgement.
        public let wireBytes: Int
        public let datagrams: Int
        public let chunksRetransmitted: Int
        public let intact: Bool
        /// CPU time the sending thread used from `send` to the acknowledgement.
        public let senderCPUSeconds: Double
        /// CPU time the receiving thread used until it delivered the message.
        public let receiverCPUSeconds: Double
        public let senderMetrics: TransportMetrics
        public let senderDriver: UDPTransport.DriverCounters
        public let receiverDriver: UDPTransport.DriverCounters
    }

    /// Plain, unencrypted UDP: `totalBytes` in datagrams of `datagramSize` bytes, blasted by
    /// one thread and counted by another. Lost datagrams are simply not counted.
    public static func raw(totalBytes: Int, datagramSize: Int, socketBufferBytes: Int = 8 << 20) throws -> RawRun {
        let loopback = try SocketAddress.resolve(Endpoint(parsing: "127.0.0.1:9"), for: AF_INET)
        let receiver = try UDPSocket(binding: loopback.withPort(0), bufferBytes: socketBufferBytes)
        let sender = try UDPSocket(binding: loopback.withPort(0), bufferBytes: socketBufferBytes)
        guard let target = receiver.localAddress else { throw SystemCallError(call: "getsockname", code: errno) }
        let count = (totalBytes + datagramSize - 1) / datagramSize
        let box = ResultBox<(Duration, Int, Duration)>()
        let receiving = UncheckedBox(receiver)
        let thread = Thread {
            let cpuStart = threadCPUTime()
            var buffer = [UInt8](repeating: 0, count: datagramSize + 1)
            var received = 0, last = monotonicNow()
            var idleSince = monotonicNow()
            while received < count * datagramSize, monotonicNow() - idleSince < .milliseconds(200) {
                let result = try? buffer.withUnsafeMutableBytes { try receiving.value.receive(into: $0) }
                if case let .done((length, _))? = result {
                    received += length
                    last = monotonicNow()
                    idleSince = last
                } else {
                    var fd = pollfd(fd: receiving.value.descriptor, events: Int16(POLLIN), revents: 0)
                    _ = Glibc.poll(&fd, 1, 20)
                }
            }
            box.set((last, received, threadCPUTime() - cpuStart))
        }
        thread.start()
        usleep(20_000)
        let payload = [UInt8](repeating: 0x5A, count: datagramSize)
        let start = monotonicNow()
        let cpuStart = threadCPUTime()
        for _ in 0..<count {
            while true {
                let result = try payload.withUnsafeBytes { try sender.send($0, to: target) }
                if case .done = result { break }
                var fd = pollfd(fd: sender.descriptor, events: Int16(POLLOUT), revents: 0)
                _ = Glibc.poll(&fd, 1, 10)
            }
        }
        let senderCPU = threadCPUTime() - cpuStart
        let (end, received, receiverCPU) = box.wait()
        return RawRun(seconds: seconds(end - start), bytesReceived: received, cpuSeconds: seconds(senderCPU + receiverCPU))
    }

    /// One message of `messageBytes` from node 0 to node 1 over two `UDPTransport`s on loopback,
    /// each with its own thread; `loss` drops that share of datagrams in both directions.
    public static func transport(messageBytes: Int, configuration: TransportConfiguration = .init(),
                                 loss: Double = 0, seed: UInt64 = 1) throws -> TransportRun {
        var keys = DeterministicRandom(seed: seed)
        let identities = (0..<2).map { _ in KeyPair.generate(using: &keys) }
        let ports = try freeLoopbackPorts(2)
        let peers = PeersFile(peers: (0..<2).map { i in
            Peer(name: "bench\(i)", endpoint: Endpoint(host: .ipv4("127.0.0.1"), port: ports[i]), publicKey: identities[i].publicKey)
        })
        func faults(_ index: Int) -> FaultInjector? {
            loss > 0 ? FaultInjector(plan: FaultPlan(FaultSettings(drop: loss)), seed: seed &* 31 &+ UInt64(index)) : nil
        }
        let sender = try UDPTransport(peers: peers, localIndex: 0, identity: identities[0], configuration: configuration, faults: faults(0))
        let receiver = try UDPTransport(peers: peers, localIndex: 1, identity: identities[1], configuration: configuration, faults: faults(1))
        var random = DeterministicRandom(seed: seed &+ 1)
        let message = random.bytes(messageBytes)
        let delivered = ResultBox<(Duration, Bool, Duration)>()
        let measuring = ResultBox<Bool>()
        let stop = ResultBox<Bool>()
        let thread = Thread {
            var reported = false
            var cpuStart: Duration? = nil
            while !stop.isSet {
                guard let events = try? receiver.poll(timeout: .milliseconds(5)) else { break }
                if cpuStart == nil, measuring.isSet { cpuStart = threadCPUTime() }
                for case let .delivered(bytes, _) in events where bytes.count == message.count && !reported {
                    reported = true
                    let (time, cpu) = (monotonicNow(), threadCPUTime() - (cpuStart ?? .zero))
                    delivered.set((time, bytes == message, cpu))
                }
            }
        }
        thread.start()
        // A small message first sets up the session (the hello exchange), as between nodes that
        // have talked before; then the clock starts. Its length differs from the measured one's,
        // which the receiver picks out by length.
        try sender.send(message.count == 1 ? [0, 0] : [0], to: 1)
        let warmLimit = monotonicNow() + .seconds(10)
        var warm = false
        while !warm, monotonicNow() < warmLimit {
            for case .acknowledged in try sender.poll(timeout: .milliseconds(50)) { warm = true }
        }
        measuring.set(true)
        let start = monotonicNow()
        let cpuStart = threadCPUTime()
        try sender.send(message, to: 1)
        var acknowledged = false
        let limit = start + .seconds(120)
        while !acknowledged, monotonicNow() < limit {
            for event in try sender.poll(timeout: .milliseconds(50)) {
                if case .acknowledged = event { acknowledged = true }
                if case .sendFailed = event { throw LoopbackBenchmark.Failure(description: "benchmark message failed to send") }
            }
        }
        let outcome = delivered.wait(seconds: 5)
        stop.set(true)
        while !thread.isFinished { usleep(1000) }
        let senderCPU = threadCPUTime() - cpuStart
        guard let (end, intact, receiverCPU) = outcome else {
            throw LoopbackBenchmark.Failure(description: "benchmark message was not delivered within the time limit")
        }
        let a = sender.metrics, b = receiver.metrics
        return TransportRun(seconds: seconds(end - start), wireBytes: a.bytesSent + b.bytesSent,
                            datagrams: a.datagramsSent + b.datagramsSent, chunksRetransmitted: a.chunksRetransmitted,
                            intact: intact && acknowledged, senderCPUSeconds: seconds(senderCPU), receiverCPUSeconds: seconds(receiverCPU), senderMetrics: a, senderDriver: sender.driverCounters,
                            receiverDriver: receiver.driverCounters)
    }

    /// The sans-IO cost alone: two `MessageTransport`s in one thread, datagrams handed over in
    /// memory. Returns seconds until the message was delivered.
    public static func core(messageBytes: Int, configuration: TransportConfiguration = .init()) throws -> Double {
        let (peers, identities) = VirtualNetwork.generatePeers(count: 2, seed: 5)
        var a = try MessageTransport(peers: peers, localIndex: 0, identity: identities[0], session: 1, configuration: configuration)
        var b = try MessageTransport(peers: peers, localIndex: 1, identity: identities[1], session: 1, configuration: configuration)
        let message = [UInt8](repeating: 7, count: messageBytes)
        let start = monotonicNow()
        try a.send(message, to: 1, now: monotonicNow())
        while true {
            let now = monotonicNow()
            a.tick(now: now)
            for case let .transmit(datagram, _) in a.takeActions() { b.receiveDatagram(datagram, from: 0, now: now) }
            b.tick(now: now)
            for action in b.takeActions() {
                switch action {
                case let .transmit(datagram, _): a.receiveDatagram(datagram, from: 1, now: now)
                case .deliver: return seconds(monotonicNow() - start)
                default: break
                }
            }
            if now - start > .seconds(60) { throw LoopbackBenchmark.Failure(description: "core benchmark did not finish") }
        }
    }

    /// Ports that were free a moment ago (bound to port 0 and released).
    public static func freeLoopbackPorts(_ count: Int) throws -> [UInt16] {
        let loopback = try SocketAddress.resolve(Endpoint(parsing: "127.0.0.1:9"), for: AF_INET).withPort(0)
        let sockets = try (0..<count).map { _ in try UDPSocket(binding: loopback, bufferBytes: 1 << 16) }
        return sockets.map { $0.localAddress?.port ?? 0 }
    }

    static func threadCPUTime() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// A value one thread sets and another waits for.
final class ResultBox<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    var isSet: Bool { condition.withLock { value != nil } }

    func set(_ newValue: Value) {
        condition.withLock {
            value = newValue
            condition.broadcast()
        }
    }

    func wait() -> Value {
        condition.withLock {
            while value == nil { condition.wait() }
            return value!
        }
    }

    /// The value, or nil if none was set within `seconds`.
    func wait(seconds: Double) -> Value? {
        let limit = Date(timeIntervalSinceNow: seconds)
        return condition.withLock {
            while value == nil, condition.wait(until: limit) {}
            return value
        }
    }
}

/// Hands a non-Sendable object to exactly one other thread.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
