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
/// state and a pipe wakes the poller. Peers' host names are resolved once, at start; a peer whose
/// name did not resolve is located by the source address of its first authenticated datagram.
public final class UDPTransport: @unchecked Sendable {
    /// Peers whose address could not be resolved at start, with the reason: messages to them fail
    /// until a datagram from one of them arrives (see `addressesLearned`).
    public let unresolvedPeers: [Int: String]
    public let localIndex: Int

    private let lock = NSLock()
    private var core: MessageTransport
    private let socket: UDPSocket
    private var addresses: [SocketAddress?]
    private var peerOfAddress: [SocketAddress.Key: Int] = [:]
    private var faults: FaultInjector?
    private var delayed = EventQueue<(datagram: [UInt8], peer: Int)>()
    /// Datagrams waiting for the kernel, oldest first: gathered during one pump so runs of
    /// equal-sized datagrams to one peer leave in a single segmented send.
    private var unsent: [(datagram: [UInt8], peer: Int)] = []
    private var segmentedSends: Bool
    private let coalescedReceives: Bool
    private var sendScratch: [UInt8] = []
    private var events: [TransportEvent] = []
    /// Set by `interrupt`: the current or next `poll` returns at once.
    private var interrupted = false
    private var receiveBuffer: [UInt8]
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var counters = DriverCounters()

    /// Datagrams the driver could not hand to the kernel, and the like.
    public struct DriverCounters: Sendable, Equatable {
        public var sendErrors = 0
        public var receiveErrors = 0
        public var sendBufferFull = 0
        /// Times `poll` waited for the socket or a timer, and how many of those were short
        /// pacing pauses slept off without the socket.
        public var waits = 0
        public var pacingSleeps = 0
        /// System calls that sent or received datagrams.
        public var sendCalls = 0
        public var receiveCalls = 0
        /// Unresolved peers located by their first authenticated datagram.
        public var addressesLearned = 0
    }

    /// Opens the socket at `addresses` (resolved from `peers`; default: resolved now, listening on
    /// this node's address in the peers file). A caller that checked a configuration passes the
    /// addresses it checked, so names are resolved once and the check judged what is used.
    /// `faults` applies a fault plan to outgoing datagrams (for tests and benchmarks).
    public init(peers: PeersFile, localIndex: Int, identity: KeyPair, addresses: PeerAddresses? = nil,
                configuration: TransportConfiguration = .init(), faults: FaultInjector? = nil,
                session: UInt64 = wallClockSession(), socketBufferBytes: Int = 8 << 20,
                segmentationOffload: Bool = true) throws {
        guard peers.peers.indices.contains(localIndex) else { throw TransportError.unknownPeer(localIndex) }
        core = try MessageTransport(peers: peers, localIndex: localIndex, identity: identity, session: session,
                                    configuration: configuration)
        self.localIndex = localIndex
        self.faults = faults
        let resolved = try addresses ?? PeerAddresses(peers: peers, listen: peers.peers[localIndex].endpoint)
        socket = try UDPSocket(binding: resolved.local, bufferBytes: socketBufferBytes)
        var addresses = [SocketAddress?](repeating: nil, count: peers.peers.count)
        for index in peers.peers.indices where index != localIndex {
            if case let .success(address) = resolved.resolved[index] {
                addresses[index] = address
                peerOfAddress[address.key] = index
            }
        }
        self.addresses = addresses
        let unresolved = resolved.unresolved(except: localIndex)
        unresolvedPeers = unresolved
        core.locateByDatagrams(unresolved.keys)
        coalescedReceives = segmentationOffload && socket.enableReceiveCoalescing()
        segmentedSends = segmentationOffload
        receiveBuffer = [UInt8](repeating: 0, count: coalescedReceives ? 65_536 : configuration.mtu + 1)
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
    /// Whether runs of datagrams still leave in segmented sends (false after the kernel refused).
    public var usesSegmentationOffload: Bool { lock.withLock { segmentedSends } }

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
        flushUnsent()
        return id
    }

    /// Does I/O until there is something to report or `timeout` (nil: no limit) has passed;
    /// returns the events in order (empty on timeout).
    public func poll(timeout: Duration?) throws(SystemCallError) -> [TransportEvent] {
        let deadline = timeout.map { monotonicNow() + $0 }
        while true {
            lock.lock()
            pump()
            if !events.isEmpty || interrupted {
                defer { events.removeAll(); interrupted = false; lock.unlock() }
                return events
            }
            let now = monotonicNow()
            var wakeAt = deadline
            for candidate in [core.nextDeadline, delayed.nextTime] {
                if let candidate, wakeAt == nil || candidate < wakeAt! { wakeAt = candidate }
            }
            let wantWrite = !unsent.isEmpty
            lock.unlock()
            if let deadline, now >= deadline { return [] }
            try wait(until: wakeAt, now: now, wantWrite: wantWrite)
        }
    }

    /// Receives what is waiting, runs due timers, sends what is due. Call with the lock held.
    private func pump() {
        var now = monotonicNow()
        var sinceFlush = 0
        // At most 256 receive calls per pump, so timers and sends are never starved.
        receiving: for _ in 0..<256 {
            let result: IOResult<(length: Int, source: SocketAddress, segmentSize: Int?)>
            do {
                result = try receiveBuffer.withUnsafeMutableBytes { buffer throws(SystemCallError) in
                    try socket.receiveCoalesced(into: buffer)
                }
            } catch {
                // ICMP errors surface here (ECONNREFUSED ...); they concern one datagram only.
                counters.receiveErrors += 1
                continue
            }
            guard case let .done((length, source, segmentSize)) = result else { break receiving }
            counters.receiveCalls += 1
            let usable = min(length, receiveBuffer.count)
            let step = segmentSize ?? max(usable, 1)
            var peer = peerOfAddress[source.key]
            receiveBuffer.withUnsafeBytes { buffer in
                var offset = 0
                repeat {
                    let end = min(offset + step, usable)
                    if let located = core.receiveDatagram(UnsafeRawBufferPointer(rebasing: buffer[offset..<end]), from: peer, now: now) {
                        // Located again (a later session than a replay that located it first):
                        // the old address is no longer the peer's.
                        if let old = addresses[located] { peerOfAddress[old.key] = nil }
                        addresses[located] = source
                        peerOfAddress[source.key] = located
                        counters.addressesLearned += 1
                        peer = located
                    }
                    offset = end
                    sinceFlush += 1
                } while offset < usable
            }
            // Acknowledgements and other replies go out as the batch is worked through.
            if sinceFlush >= 16 {
                carryOutActions(now: now)
                flushUnsent()
                now = monotonicNow()
                sinceFlush = 0
            }
        }
        now = monotonicNow()
        if let due = core.nextDeadline, due <= now { core.tick(now: now) }
        carryOutActions(now: now)
        while let next = delayed.nextTime, next <= now, let (_, item) = delayed.pop() {
            sendNow(item.datagram, to: item.peer)
        }
        flushUnsent()
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

    /// Queues a datagram for the kernel; `flushUnsent` hands the queue over.
    private func sendNow(_ datagram: [UInt8], to peer: Int) {
        guard addresses[peer] != nil else {
            counters.sendErrors += 1
            return
        }
        if unsent.count < 65_536 { unsent.append((datagram, peer)) } else { counters.sendBufferFull += 1 }
    }

    /// Sends queued datagrams in order until done or the kernel's buffer is full. A run of
    /// datagrams of one size to one peer (and at most one shorter at its end) goes in one
    /// segmented send when the kernel supports it.
    private func flushUnsent() {
        var i = 0
        defer { unsent.removeFirst(i) }
        while i < unsent.count {
            let peer = unsent[i].peer, size = unsent[i].datagram.count
            guard let address = addresses[peer] else { i += 1; continue }
            var j = i + 1
            if segmentedSends {
                var total = size
                while j < unsent.count, j - i < UDPSegmentation.maxSegments, unsent[j].peer == peer,
                      unsent[j].datagram.count <= size, total + unsent[j].datagram.count <= UDPSegmentation.maxBytes {
                    total += unsent[j].datagram.count
                    j += 1
                    if unsent[j - 1].datagram.count < size { break }
                }
            }
            let attempt: Result<IOResult<Int>, SystemCallError>
            if j - i == 1 {
                attempt = unsent[i].datagram.withUnsafeBytes { bytes in
                    Result { () throws(SystemCallError) in try socket.send(bytes, to: address) }
                }
            } else {
                sendScratch.removeAll(keepingCapacity: true)
                for k in i..<j { sendScratch.append(contentsOf: unsent[k].datagram) }
                attempt = sendScratch.withUnsafeBytes { bytes in
                    Result { () throws(SystemCallError) in try socket.send(segments: bytes, segmentSize: size, to: address) }
                }
            }
            var result: IOResult<Int>? = nil
            switch attempt {
            case let .success(value):
                result = value
            case let .failure(error):
                if j - i > 1, [EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP].contains(error.code) {
                    segmentedSends = false   // this kernel or path cannot segment: one datagram per call
                    continue
                }
                // ENOBUFS, EHOSTUNREACH, ...: the datagrams are lost; reliability resends them.
                counters.sendErrors += j - i
            }
            if case .wouldBlock? = result {
                counters.sendBufferFull += 1
                return
            }
            counters.sendCalls += 1
            i = j
        }
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
        lock.withLock { counters.waits += 1 }
        let ready = try syscall("poll") { Glibc.poll(&fds, nfds_t(fds.count), milliseconds) }
        if case .done(0) = ready, milliseconds == 0, let rest = remaining, rest > .zero {
            lock.withLock { counters.pacingSleeps += 1 }
            var pause = timespec(tv_sec: 0, tv_nsec: Int(rest.components.attoseconds / 1_000_000_000))
            nanosleep(&pause, nil)
        }
        if fds[1].revents & Int16(POLLIN) != 0 {
            var sink = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &sink, sink.count) > 0 {}
        }
    }

    /// Makes a `poll` in progress (or the next one) return at once, with whatever events there are.
    /// For a driver whose other threads hand the polling thread work: without it, that work waited
    /// for the next datagram or the poll's timeout. Safe from any thread.
    public func interrupt() {
        lock.withLock { interrupted = true }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}
