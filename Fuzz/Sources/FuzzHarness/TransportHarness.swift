import Crypto
import Foundation
import Transport

/// The Transport configuration parsers: accepted inputs must survive a render/parse round trip.
public enum TransportHarness {
    public static func peersFile(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self),
              let peers = try? PeersFile.parse(text, file: "fuzz") else { return }
        Fuzz.require((try? PeersFile.parse(peers.render(), file: "rendered")) == peers, "render() does not parse back")
    }

    public static func endpoint(_ bytes: [UInt8]) {
        guard let endpoint = try? Endpoint(parsing: String(decoding: bytes, as: UTF8.self)) else { return }
        Fuzz.require((try? Endpoint(parsing: endpoint.description)) == endpoint, "'\(endpoint)' does not parse back")
    }

    public static func keyFile(_ bytes: [UInt8]) {
        guard let pair = try? KeyFile.parse(Data(bytes), file: "fuzz.key") else { return }
        let rewritten = KeyFile.header + "\n" + Base64.encode(pair.secretKey.copyBytes()) + "\n"
        Fuzz.require((try? KeyFile.parse(Data(rewritten.utf8), file: "rewritten"))?.publicKey == pair.publicKey,
                     "accepted key does not survive a rewrite")
    }
}
