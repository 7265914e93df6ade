#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address. Comparison treats an IPv4-mapped IPv6 address as the IPv4
/// address it maps, so a dual-stack socket recognises IPv4 peers.
struct SocketAddress: Hashable, CustomStringConvertible {
    /// Family-independent identity: 16 address bytes (IPv4 as mapped IPv6) and the port.
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64
        var port: UInt16
    }

    private(set) var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        guard Int(length) <= MemoryLayout<sockaddr_storage>.size else { return nil }
        withUnsafeMutableBytes(of: &storage) { out in
            out.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
        self.length = length
    }

    var family: Int32 { Int32(storage.ss_family) }

    var key: Key {
        withUnsafeBytes(of: storage) { raw -> Key in
            var bytes = [UInt8](repeating: 0, count: 16)
            var port: UInt16 = 0
            if family == AF_INET {
                let sin = raw.load(as: sockaddr_in.self)
                bytes[10] = 0xFF; bytes[11] = 0xFF
                withUnsafeBytes(of: sin.sin_addr) { for i in 0..<4 { bytes[12 + i] = $0[i] } }
                port = UInt16(bigEndian: sin.sin_port)
            } else if family == AF_INET6 {
                let sin6 = raw.load(as: sockaddr_in6.self)
                withUnsafeBytes(of: sin6.sin6_addr) { for i in 0..<16 { bytes[i] = $0[i] } }
                port = UInt16(bigEndian: sin6.sin6_port)
            }
            let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return Key(high: high, low: low, port: port)
        }
    }

    static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.key == b.key }
    func hash(into hasher: inout Hasher) { hasher.combine(key) }

    var port: UInt16 { key.port }

    /// The same address with another port (the port field sits at the same offset in both families).
    func withPort(_ port: UInt16) -> SocketAddress {
        var storage = self.storage
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self) }
        return SocketAddress(storage: storage, length: length)
    }

    /// This IPv4 address as an IPv4-mapped IPv6 address (for a dual-stack IPv6 socket).
    func mappedToIPv6() -> SocketAddress {
        guard family == AF_INET else { return self }
        let sin = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = sin.sin_port
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { out in
            out[10] = 0xFF; out[11] = 0xFF
            withUnsafeBytes(of: sin.sin_addr) { for i in 0..<4 { out[12 + i] = $0[i] } }
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { out in withUnsafeBytes(of: sin6) { out.copyMemory(from: $0) } }
        return SocketAddress(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
    }

    var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = storage
        let ok: Bool = withUnsafeMutableBytes(of: &copy) { raw in
            if family == AF_INET {
                return inet_ntop(AF_INET, raw.baseAddress! + MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!, &text, socklen_t(text.count)) != nil
            }
            return inet_ntop(AF_INET6, raw.baseAddress! + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!, &text, socklen_t(text.count)) != nil
        }
        let host = ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Whether this is IPv4: an IPv4 address or an IPv4-mapped IPv6 one.
    var isIPv4: Bool { family == AF_INET || (family == AF_INET6 && key.high == 0 && key.low >> 32 == 0xFFFF) }

    /// Whether a socket bound here can send to `peer` (of its own family, as `resolve` gives).
    /// Linux refuses a send across families except from a dual-stack socket bound to `[::]`: one
    /// bound to a specific IPv6 address cannot reach IPv4 (mapped) peers, one bound to an IPv4(-mapped)
    /// address cannot reach IPv6 peers.
    func canReach(_ peer: SocketAddress) -> Bool {
        if family == AF_INET6, key.high == 0, key.low == 0 { return true }
        return isIPv4 == peer.isIPv4
    }

    /// The family of a socket bound at `endpoint`: IPv6 (dual-stack) for an `[IPv6]` literal,
    /// IPv4 for anything else, a host name included.
    static func family(binding endpoint: Endpoint) -> Int32 {
        if case .ipv6 = endpoint.host { return AF_INET6 }
        return AF_INET
    }

    /// Resolves an endpoint with getaddrinfo for a socket of `family` (AF_INET or AF_INET6), in
    /// that family: IPv4 results become IPv4-mapped addresses for an IPv6 socket, IPv4-mapped
    /// literals plain IPv4 for an IPv4 socket. Among several results, the first the socket bound
    /// at `local` can reach (preferring the socket's own family); with none reachable, a
    /// `.unreachable` error.
    static func resolve(_ endpoint: Endpoint, for family: Int32, from local: SocketAddress? = nil) throws(AddressError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        switch endpoint.host {
        case .ipv4: hints.ai_family = AF_INET; hints.ai_flags |= AI_NUMERICHOST
        case .ipv6: hints.ai_family = AF_INET6; hints.ai_flags |= AI_NUMERICHOST
        case .name: hints.ai_family = AF_UNSPEC
        }
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(endpoint.hostString, String(endpoint.port), &hints, &result)
        guard rc == 0, let first = result else {
            let reason = String(cString: gai_strerror(rc))
            throw AddressError("cannot resolve \(endpoint): \(reason)")
        }
        defer { freeaddrinfo(result) }
        var candidates: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let address = current.pointee.ai_addr.flatMap({ SocketAddress($0, length: current.pointee.ai_addrlen) }),
               address.family == AF_INET || address.family == AF_INET6 {
                candidates.append(family == AF_INET6 ? address.mappedToIPv6() : address.unmappedToIPv4())
            }
            node = current.pointee.ai_next
        }
        let usable = candidates.filter { $0.family == family && (local?.canReach($0) ?? true) }
        // An IPv6 socket prefers a true IPv6 address, as before: IPv4 only when there is none.
        guard let chosen = usable.first(where: { !$0.isIPv4 || family == AF_INET }) ?? usable.first else {
            guard let some = candidates.first else { throw AddressError("\(endpoint) has no usable address") }
            let listening = local.map { " (\($0))" } ?? ""
            throw AddressError(kind: .unreachable, "\(endpoint) is \(some.isIPv4 ? "IPv4" : "IPv6") but this node listens on "
                + "\(some.isIPv4 ? "IPv6" : "IPv4")\(listening); listen on [::]:PORT to reach both")
        }
        return chosen
    }

    /// This IPv4-mapped IPv6 address as the IPv4 address it maps (anything else unchanged).
    func unmappedToIPv4() -> SocketAddress {
        guard family == AF_INET6, isIPv4 else { return self }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: key.low).bigEndian
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { out in withUnsafeBytes(of: sin) { out.copyMemory(from: $0) } }
        return SocketAddress(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
    }
}

public struct AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `.unreachable`: the address resolved, but only to a family the socket cannot send to,
    /// which is a configuration error, not a name that may resolve later.
    public enum Kind: Sendable { case unresolved, unreachable, duplicate }
    public let kind: Kind
    public let message: String
    init(kind: Kind = .unresolved, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}
