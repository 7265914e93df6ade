import Crypto
import Foundation
import Transport

/// `gossipnode run`: one node of the network, identified by its line in the peers file.
enum RunCommand {
    static let command = Command(
        name: "run",
        abstract: "Run one node: train locally, aggregate securely with each round's group.",
        discussion: """
        Reads the peers file, finds this node's line by --id, checks that --key holds the secret
        key matching that line's public key, and joins the network. Every round the node trains
        on its own data shard, then runs secure aggregation with the group that every peer
        computes identically from the round number and the peer list.
        """,
        options: [
            .value("peers", "file", help: "The peers file: one 'NAME HOST:PORT PUBLIC_KEY' per line.",
                   default: "peers/list.txt"),
            .value("id", "name", help: "This node's name in the peers file.", required: true),
            .value("key", "file", help: "This node's secret key file.", derivedDefault: "keys/<id>.key"),
            .value("listen", "addr:port", help: "Local UDP address to bind.",
                   derivedDefault: "this node's address in the peers file"),
            .value("state", "dir", help: "Directory for checkpoints and the privacy ledger.",
                   derivedDefault: "state/<id>"),
            .value("rounds", "n", help: "Stop after this many rounds.", default: "50"),
            .value("group-size", "k", help: "Peers per secure-aggregation group.", default: "5"),
            .value("threshold", "t", help: "Shamir threshold: members needed to finish a round.",
                   derivedDefault: "a majority of the group, k/2+1"),
            .flag("json", help: "Write one JSON object per line instead of text."),
            .value("log-level", "level", help: "One of error, warning, info, debug.", default: "info"),
        ],
        run: { args, console in
            let config = try RunConfiguration(args, warn: { console.err($0) })
            console.out(config.summary)
            return ExitCode.success
        })
}

/// The validated settings of `run`; building one checks everything before anything starts.
struct RunConfiguration {
    let peers: PeersFile
    let peersPath: String
    let me: Peer
    let identity: KeyPair
    let listen: Endpoint
    let stateDirectory: String
    let rounds: Int
    let groupSize: Int
    let threshold: Int

    init(_ args: ParsedArguments, warn: (String) -> Void) throws {
        let id = try args.required("id")
        peersPath = try args.required("peers")
        peers = try PeersFile.load(path: peersPath)
        guard let me = peers.peer(named: id) else {
            throw ConfigurationError("\(peersPath): no peer named '\(id)' (known: \(peers.peers.map(\.name).joined(separator: ", ")))")
        }
        self.me = me
        let keyPath = args.string("key") ?? "keys/\(id).key"
        guard FileManager.default.fileExists(atPath: keyPath) else {
            throw ConfigurationError("\(keyPath): no such key file; create it with 'gossipnode keygen --out \(keyPath)' "
                + "and put the printed public key on the line of '\(id)' in \(peersPath)")
        }
        identity = try KeyFile.load(path: keyPath, warnings: warn)
        guard identity.publicKey == me.publicKey else {
            throw ConfigurationError("\(keyPath): key does not match the public key of '\(id)' in \(peersPath)")
        }
        if let listenText = args.string("listen") {
            do { listen = try Endpoint(parsing: listenText) } catch {
                throw args.invalid("listen", listenText, error.message)
            }
        } else {
            listen = me.endpoint
        }
        stateDirectory = args.string("state") ?? "state/\(id)"
        rounds = try args.int("rounds", in: 1...Int.max)!
        groupSize = try args.int("group-size", in: 2...255)!
        threshold = try args.int("threshold", in: 2...255) ?? (groupSize / 2 + 1)
        guard threshold <= groupSize else {
            throw args.invalid("threshold", String(threshold), "must not exceed --group-size \(groupSize)")
        }
        guard ["error", "warning", "info", "debug"].contains(args.string("log-level")!) else {
            throw args.invalid("log-level", args.string("log-level")!, "expected error, warning, info or debug")
        }
    }

    var summary: String {
        let k = min(groupSize, peers.peers.count)
        return """
        node \(me.name) (\(identity.publicKey.base64)) would listen on \(listen) with \(peers.peers.count) peers from \(peersPath);
        \(rounds) rounds in groups of \(k) (threshold \(min(threshold, k))), state in \(stateDirectory)
        """
    }
}
