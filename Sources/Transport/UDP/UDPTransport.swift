import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the UDP driver hands to the layer above.
public enum TransportEvent: Sendable {
    case delivered([UInt8], from: Int)
    case acknowledged(MessageID)
    case sendFailed(MessageID, SendFailure)
}

/// The production driver: one `MessageTransport` over one non-blocking UDP socket.
///
/// `poll` does the I/O on the calling thread: it receives datagrams, runs timers, transmits,
/// and waits (in `ppoll`) until a message is delivered or acknowledged, a send fails, or the
/// timeout passes. `send` may be called from any other thread meanwhile; a lock guards the
/// state and a pipe wakes the poller. Peers' host names are resolved once, at start.
public final class UDPTransport: @unchecked Sendable {
    /// Peers whose address could not be resolved, with the reason; messages to them fail.
    public let unresolvedPeers: [Int: String]
    public let localIndex: Int

    private let lock = NSLock()
    private var core: MessageTransport
    private let socket: UDPSocket
    private var addresses: [SocketAddress?]
    private var peerOfAddress: [SocketAddress.Key: Int] = [:]
    private var faults: FaultInjector?
    private var delayed = EventQueue<(datagram: [UInt8], peer: Int)>()
    private var blocked: [(datagram: [UInt8], peer: Int)] = []
    private var events: [TransportEvent] = []
    private var receiveBuffer: [UInt8]
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var counters = DriverCounters()

    /// Datagrams the driver could not hand to the kernel, and the like.
    public struct DriverCounters: Sendable, Equatable {
        public var sendErrors = 0
        public var receiveErrors = 0
        public var sendBufferFull = 0
    }

    /// Opens the socket on `listen` (default: this node's address in the peers file).
    /// `faults` applies a fault plan to outgoing datagrams (for tests and benchmarks).
    public init(peers: PeersFile, localIndex: Int, identity: KeyPair, listen: Endpoint? = nil,
                configuration: TransportConfiguration = .init(), faults: FaultInjector? = nil,
                session: UInt64 = wallClockSession(), socketBufferBytes: Int = 8 << 20) throws {
        guard peers.peers.indices.contains(localIndex) else { throw TransportError.unknownPeer(localIndex) }
        core = try MessageTransport(peers: peers, localIndex: localIndex, identity: identity, session: session,
                                    configuration: configuration)
        self.localIndex = localIndex
        self.faults = faults
        let bindEndpoint = listen ?? peers.peers[localIndex].endpoint
        let family: Int32
        if case .ipv6 = bindEndpoint.host { family = AF_INET6 } else { family = AF_INET }
        let bindAddress = try SocketAddress.resolve(bindEndpoint, for: family)
        socket = try UDPSocket(binding: bindAddress, bufferBytes: socketBufferBytes)
        var addresses = [SocketAddress?](repeating: nil, count: peers.peers.count)
        var unresolved: [Int: String] = [:]
        for (index, peer) in peers.peers.enumerated() where index != localIndex {
            do {
                let address = try SocketAddress.resolve(peer.endpoint, for: socket.family)
                addresses[index] = address
                peerOfAddress[address.key] = index
            } catch {
                unresolved[index] = "\(peer.name): \(error)"
            }
        }
        self.addresses = addresses
        unresolvedPeers = unresolved
        receiveBuffer = [UInt8](repeating: 0, count: configuration.mtu + 1)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemCallError(call: "pipe", code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// The port the socket is bound to (useful when listening on port 0 is not possible: tests).
    public var localPort: UInt16 { socket.localAddress?.port ?? 0 }
    /// Socket buffer sizes the kernel granted (receive, send).
    public var socketBufferSizes: (receive: Int, send: Int) { socket.bufferSizes }
    public var metrics: TransportMetrics { lock.withLock { core.metrics } }
    public var driverCounters: DriverCounters { lock.withLock { counters } }
    public var faultCounts: FaultCounts? { lock.withLock { faults?.counts } }

    /// Queues a message for `peer` and starts sending it. Safe from any thread.
    @discardableResult
    public func send(_ message: [UInt8], to peer: Int) throws(TransportError) -> MessageID {
        lock.lock()
        defer {
            lock.unlock()
            wake()
        }
        let id = try core.send(message, to: peer, now: monotonicNow())
        carryOutActions(now: monotonicNow())
        return id
    }

    /// Does I/O until there is something to report or `timeout` (nil: no limit) has passed;
    /// returns the events in order (empty on timeout).
    public func poll(timeout: Duration?) throws(SystemCallError) -> [TransportEvent] {
        let deadline = timeout.map { monotonicNow() + $0 }
        while true {
            lock.lock()
            do { try pump() } catch { lock.unlock(); throw error }
            if !events.isEmpty {
                defer { events.removeAll(); lock.unlock() }
                return events
            }
            let now = monotonicNow()
            var wakeAt = deadline
            for candidate in [core.nextDeadline, delayed.nextTime] {
                if let candidate, wakeAt == nil || candidate < wakeAt! { wakeAt = candidate }
            }
            let wantWrite = !blocked.isEmpty
            lock.unlock()
            if let deadline, now >= deadline { return [] }
            try wait(until: wakeAt, now: now, wantWrite: wantWrite)
        }
    }

    /// Receives what is waiting, runs due timers, sends what is due. Call with the lock held.
    private func pump() throws(SystemCallError) {
        var now = monotonicNow()
        var received = 0
        receiving: while received < 1024 {
            let result: IOResult<(length: Int, source: SocketAddress)>
            do {
                result = try receiveBuffer.withUnsafeMutableBytes { buffer throws(SystemCallError) in
                    try socket.receive(into: buffer)
                }
            } catch {
                // ICMP errors surface here (ECONNREFUSED ...); they concern one datagram only.
                counters.receiveErrors += 1
                continue
            }
            switch result {
            case .wouldBlock:
                break receiving
            case let .done((length, source)):
                received += 1
                let usable = min(length, receiveBuffer.count)
                let peer = peerOfAddress[source.key]
                receiveBuffer.withUnsafeBytes { buffer in
                    core.receiveDatagram(UnsafeRawBufferPointer(rebasing: buffer[0..<usable]), from: peer, now: now)
                }
                if received % 16 == 0 {
                    carryOutActions(now: now)
                    now = monotonicNow()
                }
            }
        }
        now = monotonicNow()
        if let due = core.nextDeadline, due <= now { core.tick(now: now) }
        carryOutActions(now: now)
        while let next = delayed.nextTime, next <= now, let (_, item) = delayed.pop() {
            sendNow(item.datagram, to: item.peer)
        }
        flushBlocked()
    }

    private func carryOutActions(now: Duration) {
        for action in core.takeActions() {
            switch action {
            case let .transmit(datagram, peer):
                transmit(datagram, to: peer, now: now)
            case let .deliver(message, from):
                events.append(.delivered(message, from: from))
            case let .acknowledged(id):
                events.append(.acknowledged(id))
            case let .sendFailed(id, reason):
                events.append(.sendFailed(id, reason))
            }
        }
    }

    private func transmit(_ datagram: [UInt8], to peer: Int, now: Duration) {
        guard faults != nil else { return sendNow(datagram, to: peer) }
        for copy in faults!.apply(datagram, from: localIndex, to: peer, now: now) {
            if copy.delay <= .zero {
                sendNow(copy.datagram, to: peer)
            } else {
                delayed.schedule((copy.datagram, peer), at: now + copy.delay)
            }
        }
    }

    /// Hands a datagram to the kernel, or keeps it (in order) while the send buffer is full.
    private func sendNow(_ datagram: [UInt8], to peer: Int) {
        guard let address = addresses[peer] else {
            counters.sendErrors += 1
            return
        }
        guard blocked.isEmpty else {
            enqueueBlocked(datagram, peer)
            return
        }
        do {
            let result = try datagram.withUnsafeBytes { bytes throws(SystemCallError) in try socket.send(bytes, to: address) }
            if case .wouldBlock = result { enqueueBlocked(datagram, peer) }
        } catch {
            // ENOBUFS, EHOSTUNREACH, ...: the datagram is lost; reliability resends it.
            counters.sendErrors += 1
        }
    }

    private func enqueueBlocked(_ datagram: [UInt8], _ peer: Int) {
        counters.sendBufferFull += 1
        if blocked.count < 65_536 { blocked.append((datagram, peer)) }
    }

    private func flushBlocked() {
        var sent = 0
        while sent < blocked.count, let address = addresses[blocked[sent].peer] {
            let result = try? blocked[sent].datagram.withUnsafeBytes { bytes throws(SystemCallError) in
                try socket.send(bytes, to: address)
            }
            if case .wouldBlock? = result { break }
            sent += 1
        }
        if sent > 0 { blocked.removeFirst(sent) }
    }

    private func wait(until wakeAt: Duration?, now: Duration, wantWrite: Bool) throws(SystemCallError) {
        var fds = [
            pollfd(fd: socket.descriptor, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        // poll(2) counts in milliseconds: wait whole milliseconds in poll, and sleep off a
        // shorter remainder (pacing gaps are microseconds; the socket buffers what arrives).
        let remaining: Duration? = wakeAt.map { max($0 - now, .zero) }
        let milliseconds = remaining.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        let ready = try syscall("poll") { Glibc.poll(&fds, nfds_t(fds.count), milliseconds) }
        if case .done(0) = ready, milliseconds == 0, let rest = remaining, rest > .zero {
            var pause = timespec(tv_sec: 0, tv_nsec: Int(rest.components.attoseconds / 1_000_000_000))
            nanosleep(&pause, nil)
        }
        if fds[1].revents & Int16(POLLIN) != 0 {
            var sink = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &sink, sink.count) > 0 {}
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}
