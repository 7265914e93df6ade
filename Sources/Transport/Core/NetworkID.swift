import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// The 32-byte identity of one network: a hash of its exact peer list.
///
/// Every datagram is bound to it (keys are derived from it and it is part of the associated
/// data), so two nodes with different peers files cannot exchange a single message, and the
/// 4-byte tag in each header lets a receiver say "different peers file" instead of "forged".
public struct NetworkID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidLength(what: "network id", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    /// BLAKE2b-256 of "gossipnode/network/v1" and every peer's name, address and public key,
    /// in file order: the order gives each peer its index, so it is part of the identity.
    public init(peers: PeersFile) {
        var input = Array("gossipnode/network/v1".utf8)
        append(UInt32(peers.peers.count), to: &input)
        for peer in peers.peers {
            let name = Array(peer.name.utf8), address = Array(Self.canonicalAddress(peer.endpoint).utf8)
            append(UInt32(name.count), to: &input)
            input += name
            append(UInt32(address.count), to: &input)
            input += address
            input += peer.publicKey.bytes
        }
        bytes = KDF.hash(input, outputLength: Self.byteCount)
    }

    /// The first four bytes, little-endian: the header's network tag.
    package var tag: UInt32 {
        UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }

    /// First 8 bytes in hex, enough to compare networks in logs.
    public var description: String { bytes.prefix(8).map { String($0, radix: 16).leftPadded(to: 2) }.joined() }

    /// One spelling per address, so `[::1]` and `[0:0::1]` give the same network.
    static func canonicalAddress(_ endpoint: Endpoint) -> String {
        guard case let .ipv6(text) = endpoint.host else { return endpoint.description }
        var address = in6_addr()
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_pton(AF_INET6, text, &address) == 1, inet_ntop(AF_INET6, &address, &out, socklen_t(out.count)) != nil else {
            return endpoint.description
        }
        return "[\(String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))]:\(endpoint.port)"
    }
}

private func append(_ value: UInt32, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
}

extension PeersFile {
    /// The network this peer list defines (see `NetworkID`).
    public var networkID: NetworkID { NetworkID(peers: self) }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
