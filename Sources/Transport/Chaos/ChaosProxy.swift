import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A UDP proxy that stands between real nodes and applies a `FaultPlan` to their traffic, for
/// fault tests against real processes (`gossipnode chaos`).
///
/// For every peer p of the real peers file the proxy opens one socket, its *stand-in* for p, on
/// p's host at p's port plus `portOffset`, and `proxiedPeers` lists those stand-ins in place of
/// the real addresses. Nodes run with the proxied file (and `--listen` on their real address),
/// so every datagram from node a to node b goes to b's stand-in. The proxy knows a by the
/// datagram's source address (a's real address), and forwards it to b's real address **from a's
/// stand-in**: the transport accepts a datagram only from the address its peers file gives the
/// claimed sender (SPEC §4), and in b's proxied file a lives at a's stand-in. One socket per
/// peer therefore both receives what is sent to that peer and sends what that peer sends.
///
/// The proxy never reads or changes the datagrams' contents except when the plan corrupts them.
/// Times in the plan count from the proxy's start. Single-threaded: the owner calls `pump`.
public final class ChaosProxy {
    public let realPeers: PeersFile
    /// The same peers at their stand-in addresses: the file to give the nodes.
    public let proxiedPeers: PeersFile
    public let startTime: Duration
    public private(set) var counters = ChaosCounters()

    private var faults: FaultInjector
    private let sockets: [UDPSocket]
    private let realAddresses: [SocketAddress]
    private var peerOfRealAddress: [SocketAddress.Key: Int] = [:]
    private var delayed = EventQueue<(datagram: [UInt8], from: Int, to: Int)>()
    private var buffer: [UInt8]

    /// Binds one stand-in socket per peer, at `standIns[i]` for peer i; fails, naming the
    /// peer, if an address is taken or unusable.
    public init(realPeers: PeersFile, standIns: [Endpoint], faults: FaultInjector,
                socketBufferBytes: Int = 8 << 20, now: Duration = monotonicNow()) throws {
        guard standIns.count == realPeers.peers.count else {
            throw ChaosProxyError("\(standIns.count) stand-in addresses for \(realPeers.peers.count) peers")
        }
        self.realPeers = realPeers
        self.faults = faults
        startTime = now
        var proxied: [Peer] = [], sockets: [UDPSocket] = [], real: [SocketAddress] = []
        for (index, (peer, standIn)) in zip(realPeers.peers, standIns).enumerated() {
            let family = SocketAddress.family(binding: standIn)
            do {
                // Resolved from the stand-in's socket, so a real peer it cannot send to (an IPv4
                // peer behind an IPv6 stand-in bound to ::1) is refused now, not relayed into nothing.
                let local = try SocketAddress.resolve(standIn, for: family)
                let realAddress = try SocketAddress.resolve(peer.endpoint, for: family, from: local)
                sockets.append(try UDPSocket(binding: local, bufferBytes: socketBufferBytes))
                real.append(realAddress)
                peerOfRealAddress[realAddress.key] = index
            } catch {
                throw ChaosProxyError("\(peer.name): cannot stand in at \(standIn) for \(peer.endpoint): \(error)")
            }
            proxied.append(Peer(name: peer.name, endpoint: standIn, publicKey: peer.publicKey))
        }
        proxiedPeers = PeersFile(peers: proxied)
        self.sockets = sockets
        realAddresses = real
        buffer = [UInt8](repeating: 0, count: 65_536)
    }

    /// Stand-ins at each peer's real port + `portOffset`, on `bindHost` if given, else on the
    /// peer's own host. None may be a peer's real address: the proxy would take that peer's port
    /// (its node then fails to bind) or relay to itself.
    public static func standIns(for peers: PeersFile, portOffset: Int, bindHost: Endpoint.Host? = nil) throws -> [Endpoint] {
        let real = Dictionary(peers.peers.map { ($0.endpoint, $0.name) }, uniquingKeysWith: { first, _ in first })
        return try peers.peers.map { peer in
            let port = Int(peer.endpoint.port) + portOffset
            guard (1...65_535).contains(port) else {
                throw ChaosProxyError("\(peer.name): stand-in port \(peer.endpoint.port) + \(portOffset) is outside 1...65535")
            }
            let standIn = Endpoint(host: bindHost ?? peer.endpoint.host, port: UInt16(port))
            if let owner = real[standIn] {
                throw ChaosProxyError("\(peer.name): stand-in \(standIn) (port offset \(portOffset)) is the real address of '\(owner)'; "
                    + "choose a --port-offset that moves every stand-in clear of the peers' ports")
            }
            return standIn
        }
    }

    /// The plan in force; replace it to change faults while running (times still count from start).
    public var plan: FaultPlan {
        get { faults.plan }
        set { faults.plan = newValue }
    }

    public var faultCounts: FaultCounts { faults.counts }
    /// Copies waiting for their delay to pass.
    public var heldBack: Int { delayed.count }

    /// Time since the proxy started: the clock of the fault plan.
    public func elapsed(now: Duration = monotonicNow()) -> Duration { now - startTime }

    /// Waits up to `timeout` for datagrams, relays what arrived and sends what is due.
    public func pump(timeout: Duration) throws(SystemCallError) {
        let now = monotonicNow()
        var wait = timeout
        if let next = delayed.nextTime { wait = min(wait, max(.zero, next - now)) }
        var fds = sockets.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
        let (seconds, attoseconds) = wait.components
        let milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        _ = try syscall("poll") { Glibc.poll(&fds, nfds_t(fds.count), milliseconds) }
        for (to, descriptor) in fds.enumerated() where descriptor.revents != 0 { receive(on: to) }
        let later = monotonicNow()
        while let next = delayed.nextTime, next <= later, let (_, item) = delayed.pop() {
            send(item.datagram, from: item.from, to: item.to)
        }
    }

    /// Reads everything waiting on the stand-in for peer `to` (at most a bounded batch).
    private func receive(on to: Int) {
        for _ in 0..<256 {
            let result: IOResult<(length: Int, source: SocketAddress)>
            do {
                result = try buffer.withUnsafeMutableBytes { bytes throws(SystemCallError) in try sockets[to].receive(into: bytes) }
            } catch {
                // ICMP "port unreachable" from a stopped node surfaces here; it concerns one datagram.
                counters.receiveErrors += 1
                continue
            }
            guard case let .done((length, source)) = result else { return }
            counters.received += 1
            counters.bytesReceived += length
            guard let from = peerOfRealAddress[source.key], from != to else {
                counters.unknownSource += 1
                continue
            }
            let datagram = Array(buffer[0..<min(length, buffer.count)])
            let now = monotonicNow()
            for copy in faults.apply(datagram, from: from, to: to, now: now - startTime) {
                if copy.delay <= .zero {
                    send(copy.datagram, from: from, to: to)
                } else {
                    counters.delayed += 1
                    delayed.schedule((copy.datagram, from, to), at: now + copy.delay)
                }
            }
        }
    }

    /// Sends from the stand-in of `from` to the real address of `to`.
    private func send(_ datagram: [UInt8], from: Int, to: Int) {
        let result = try? datagram.withUnsafeBytes { bytes throws(SystemCallError) in
            try sockets[from].send(bytes, to: realAddresses[to])
        }
        switch result {
        case .done?:
            counters.forwarded += 1
            counters.bytesForwarded += datagram.count
        case .wouldBlock?, nil:
            counters.sendErrors += 1
        }
    }
}

/// What the proxy did with the datagrams it saw (the faults themselves are in `FaultCounts`).
public struct ChaosCounters: Sendable, Equatable {
    public var received = 0
    public var bytesReceived = 0
    /// Copies handed to the kernel (a duplicated datagram counts twice).
    public var forwarded = 0
    public var bytesForwarded = 0
    /// Copies held back by a delay, jitter or reordering before they were sent.
    public var delayed = 0
    /// Datagrams from an address that is no peer's real address (or a peer to itself).
    public var unknownSource = 0
    public var receiveErrors = 0
    /// Copies the kernel refused (buffer full, unreachable); like a loss on the wire.
    public var sendErrors = 0

    public init() {}
}

public struct ChaosProxyError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
