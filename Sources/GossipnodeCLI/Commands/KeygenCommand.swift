import CKernels
import Crypto
import Transport

/// `gossipnode keygen`: creates a node's static secret key and prints its public key.
enum KeygenCommand {
    static let command = Command(
        name: "keygen",
        abstract: "Create a new secret key and print its public key.",
        discussion: """
        Writes a fresh X25519 secret key to --out with file mode 0600 and prints the public key
        (base64) on standard output, ready to paste into the peers file. Refuses to replace an
        existing file unless --force is given, and never replaces anything but a regular file: a
        directory, device, FIFO, socket or symbolic link (even a dangling one) at --out is refused.
        """,
        options: [
            .value("out", "file", help: "Where to write the secret key.", required: true),
            .flag("force", help: "Replace an existing key file (the old key is lost)."),
        ],
        run: { args, console in
            let path = try args.required("out")
            _ = ck_forbid_core_dumps()  // the key is in memory from here
            var rng = SystemRandom()
            let pair = try KeyFile.create(at: path, overwrite: args.flag("force"), using: &rng)
            console.err("wrote secret key to \(path) (mode 0600)")
            console.out(pair.publicKey.base64)
            return ExitCode.success
        })
}

/// `gossipnode pubkey`: prints the public key that belongs to a secret key file.
enum PubkeyCommand {
    static let command = Command(
        name: "pubkey",
        abstract: "Print the public key of a secret key file.",
        options: [
            .value("key", "file", help: "The secret key file.", required: true),
        ],
        run: { args, console in
            _ = ck_forbid_core_dumps()  // the key is in memory from here
            let pair = try KeyFile.load(path: try args.required("key"), warnings: { console.err($0) })
            console.out(pair.publicKey.base64)
            return ExitCode.success
        })
}
