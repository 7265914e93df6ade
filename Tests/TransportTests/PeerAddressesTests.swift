import Crypto
@testable import Transport
import Testing
import TestKit

/// `PeerAddresses.check`: what `run` refuses at start because it would fail every round.
@Suite struct PeerAddressesTests {
    static func peers(_ addresses: [String]) throws -> PeersFile {
        var random = seededRandom(11)
        let text = addresses.enumerated().map { i, address in
            "p\(i) \(address) \(KeyPair.generate(using: &random).publicKey.base64)"
        }.joined(separator: "\n")
        return try PeersFile.parse(text, file: "p")
    }

    static func check(_ addresses: [String], listen: String, me: Int = 0) throws(AddressError) {
        let peers = try! Self.peers(addresses)
        let endpoint = try! Endpoint(parsing: listen)
        try PeerAddresses(peers: peers, listen: endpoint).check(peers: peers, localIndex: me, listen: endpoint)
    }

    /// Spellings of one socket address name one node: both would bind it, and its datagrams
    /// could not be told apart. The error names both peers and the address.
    @Test func twoSpellingsOfOneAddressAreRefused() throws {
        let cases = [("127.0.0.1:47101", "127.0.0.1:47101", "localhost:47101", "127.0.0.1:47101"),
                     ("127.0.0.1:47101", "127.0.0.1:47101", "[::ffff:127.0.0.1]:47101", "127.0.0.1:47101"),
                     ("[::]:47101", "127.0.0.1:47101", "[::ffff:127.0.0.1]:47101", "127.0.0.1:47101"),
                     ("[::]:47101", "[::1]:47102", "[0:0::1]:47102", "[::1]:47102")]
        for (listen, first, same, shown) in cases {
            let error = #expect(throws: AddressError.self, "\(listen) \(same)") {
                try Self.check(["10.1.2.3:9", first, same], listen: listen)
            }
            #expect(error?.kind == .duplicate)
            #expect(error?.message == "peers 'p1' (\(first)) and 'p2' (\(same)) are both at \(shown): one address, one node",
                    "\(String(describing: error))")
        }
        try Self.check(["127.0.0.1:47101", "localhost:47102", "[::ffff:127.0.0.1]:47103"], listen: "127.0.0.1:47101")
        try Self.check(["127.0.0.1:47101", "127.0.0.2:47101"], listen: "127.0.0.1:47101")
    }

    /// A peer only of a family the socket cannot send to is refused, naming the peer, its address
    /// and --listen; a dual-stack socket on [::] reaches both families and passes.
    @Test func aPeerTheSocketCannotReachIsRefused() throws {
        let cases: [([String], String)] = [
            (["127.0.0.1:1", "[::1]:2"], "127.0.0.1:1"),          // IPv4 socket, IPv6 peer
            (["[::1]:1", "127.0.0.1:2"], "[::1]:1"),              // specific IPv6 socket, IPv4 peer
            (["[::ffff:127.0.0.1]:1", "[::1]:2"], "[::ffff:127.0.0.1]:1"), // IPv4-mapped socket, IPv6 peer
        ]
        for (addresses, listen) in cases {
            let error = #expect(throws: AddressError.self, "\(addresses)") { try Self.check(addresses, listen: listen) }
            #expect(error?.kind == .unreachable)
            #expect(error?.message.hasPrefix("peer 'p1' cannot be reached from --listen \(listen): \(addresses[1]) is ") == true,
                    "\(String(describing: error))")
        }
        try Self.check(["127.0.0.1:1", "[::1]:2", "[::ffff:10.0.0.1]:3"], listen: "[::]:1")
        try Self.check(["127.0.0.1:1", "[::ffff:10.0.0.1]:3"], listen: "127.0.0.1:1")
        // Only the node's own line may differ from --listen: nothing is sent to it.
        try Self.check(["[::1]:1", "127.0.0.1:2", "127.0.0.1:3"], listen: "127.0.0.1:1")
        // A name that does not resolve now is not refused: DNS may answer later (a warning at run).
        try Self.check(["127.0.0.1:1", "no-such-host.invalid:2"], listen: "127.0.0.1:1")
    }
}
