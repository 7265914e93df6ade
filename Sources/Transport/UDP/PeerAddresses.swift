#if canImport(Glibc)
import Glibc
#endif

/// Where a node's socket listens and where it sends to each peer, resolved once, at start: shared
/// by `UDPTransport` and by `check`, so a configuration is judged by the addresses really used.
public struct PeerAddresses {
    let local: SocketAddress
    /// Per peer (this node's own line too): the address, or why there is none.
    private(set) var resolved: [Result<SocketAddress, AddressError>]

    /// Resolves `listen` (an IPv6 literal binds a dual-stack IPv6 socket, anything else IPv4) and
    /// every peer's endpoint for that socket.
    public init(peers: PeersFile, listen: Endpoint) throws(AddressError) {
        let family = SocketAddress.family(binding: listen)
        let local = try SocketAddress.resolve(listen, for: family)
        self.local = local
        resolved = peers.peers.map { peer in
            Result { () throws(AddressError) in try SocketAddress.resolve(peer.endpoint, for: family, from: local) }
        }
    }

    /// The same addresses with `peer`'s replaced by `failure` (tests: a name that did not resolve).
    func failing(_ peer: Int, _ failure: AddressError) -> PeerAddresses {
        var copy = self
        copy.resolved[peer] = .failure(failure)
        return copy
    }

    /// The peers but `localIndex` whose address did not resolve, with why: reached only once a
    /// datagram from them arrives (DNS may answer later, so this is a warning, not an error).
    public func unresolved(except localIndex: Int) -> [Int: String] {
        var reasons: [Int: String] = [:]
        for (index, result) in resolved.enumerated() where index != localIndex {
            if case let .failure(error) = result { reasons[index] = "\(error)" }
        }
        return reasons
    }

    /// Binds the local address for a moment and releases it: a port in use or not permitted
    /// (below 1024 without the privilege) shows in `--dry-run`, not only when the node starts.
    public func checkBindable() throws(SystemCallError) {
        _ = try UDPSocket(binding: local, bufferBytes: 0)
    }

    /// Refuses what would break every round, naming the peers, addresses and `listen`: a peer
    /// (other than `localIndex`) whose every address is of a family this socket cannot reach,
    /// and two peers at one socket address however spelt (`127.0.0.1`, `localhost`,
    /// `[::ffff:127.0.0.1]`): both nodes cannot bind it, and datagrams from it could not be told
    /// apart. A name that does not resolve is left to `unresolved(except:)`, a warning: DNS may
    /// answer later.
    public func check(peers: PeersFile, localIndex: Int, listen: Endpoint) throws(AddressError) {
        var firstAt: [SocketAddress.Key: Int] = [:]
        for (index, result) in resolved.enumerated() {
            let peer = peers.peers[index]
            switch result {
            case let .success(address):
                if let first = firstAt[address.key] {
                    let other = peers.peers[first]
                    throw AddressError(kind: .duplicate, "peers '\(other.name)' (\(other.endpoint)) and '\(peer.name)' "
                        + "(\(peer.endpoint)) are both at \(address.unmappedToIPv4()): one address, one node")
                }
                firstAt[address.key] = index
            case let .failure(error) where error.kind == .unreachable && index != localIndex:
                throw AddressError(kind: .unreachable, "peer '\(peer.name)' cannot be reached from --listen \(listen): \(error)")
            case .failure:
                continue
            }
        }
    }
}
