import Crypto
import Foundation

/// One member of the network: its unique name, UDP address and static X25519 public key.
public struct Peer: Hashable, Sendable {
    public let name: String
    public let endpoint: Endpoint
    public let publicKey: PublicKey

    public init(name: String, endpoint: Endpoint, publicKey: PublicKey) {
        self.name = name
        self.endpoint = endpoint
        self.publicKey = publicKey
    }
}

/// The static membership list, WireGuard style: one `NAME HOST:PORT PUBLIC_KEY` per line,
/// `#` starts a comment, blank lines are ignored. Order matters: a node's default data shard is
/// its position in the file.
public struct PeersFile: Sendable, Equatable {
    public let peers: [Peer]

    /// Names are identifiers in logs, file names and group computations: keep them plain.
    public static let maxNameLength = 64
    public static let maxPeers = 65_536

    public init(peers: [Peer]) { self.peers = peers }

    public func peer(named name: String) -> Peer? { peers.first { $0.name == name } }
    public func index(of name: String) -> Int? { peers.firstIndex { $0.name == name } }

    /// Reads and validates a peers file; every error names the file and line.
    public static func load(path: String) throws(PeersFileError) -> PeersFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            // Foundation reports a directory only as "error 256"; say what it is.
            let kind = FileKind.of(path, followingSymlink: true).flatMap(FileKind.notRegular)
            throw PeersFileError(file: path, line: nil, problem: kind ?? "cannot read file (\(Self.reason(error)))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            let line = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .firstIndex { String(data: Data($0), encoding: .utf8) == nil }.map { $0 + 1 }
            throw PeersFileError(file: path, line: line, problem: "not valid UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Parses the text of a peers file; `file` is used only in error messages.
    public static func parse(_ text: String, file: String) throws(PeersFileError) -> PeersFile {
        var peers: [Peer] = []
        var lineOfName: [String: Int] = [:]
        var lineOfEndpoint: [Endpoint: Int] = [:]
        var lineOfKey: [PublicKey: Int] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }) {
            lineNumber += 1
            func fail(_ problem: String) -> PeersFileError { PeersFileError(file: file, line: lineNumber, problem: problem) }
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 3 else {
                throw fail("expected 'NAME HOST:PORT PUBLIC_KEY', found \(fields.count) field\(fields.count == 1 ? "" : "s")")
            }
            let name = String(fields[0])
            guard isValidName(name) else {
                throw fail("bad name \(ErrorText.quoted(name)): use 1-\(maxNameLength) letters, digits, '.', '_' or '-'")
            }
            let endpoint: Endpoint
            do { endpoint = try Endpoint(parsing: String(fields[1])) } catch { throw fail("bad address: \(error.message)") }
            let key: PublicKey
            do {
                key = try PublicKey(base64: String(fields[2]))
            } catch {
                throw fail("bad public key \(ErrorText.quoted(fields[2])): expected 44 characters of base64 encoding 32 bytes")
            }
            // Caught here, not at the first send: no node can hold such a key.
            guard !key.isLowOrder else {
                throw fail("bad public key \(ErrorText.quoted(fields[2])): a low-order point, which no key pair has (no secure channel is possible with it)")
            }
            if let first = lineOfName[name] { throw fail("duplicate name '\(name)' (first on line \(first))") }
            if let first = lineOfEndpoint[endpoint] { throw fail("duplicate address \(endpoint) (first on line \(first))") }
            if let first = lineOfKey[key] { throw fail("duplicate public key (first on line \(first))") }
            guard peers.count < maxPeers else { throw fail("too many peers (at most \(maxPeers))") }
            lineOfName[name] = lineNumber
            lineOfEndpoint[endpoint] = lineNumber
            lineOfKey[key] = lineNumber
            peers.append(Peer(name: name, endpoint: endpoint, publicKey: key))
        }
        guard !peers.isEmpty else { throw PeersFileError(file: file, line: nil, problem: "no peers listed") }
        return PeersFile(peers: peers)
    }

    /// The file text for these peers; `parse(render())` gives the same list back.
    public func render() -> String {
        let width = peers.map(\.name.count).max() ?? 0
        let addressWidth = peers.map { $0.endpoint.description.count }.max() ?? 0
        var out = "# gossipnode peers: NAME HOST:PORT PUBLIC_KEY\n"
        for peer in peers {
            let name = peer.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let address = peer.endpoint.description.padding(toLength: addressWidth, withPad: " ", startingAt: 0)
            out += "\(name) \(address) \(peer.publicKey.base64)\n"
        }
        return out
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxNameLength
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileReadNoSuchFileError { return "no such file" }
        return ns.localizedDescription
    }
}

/// A peers-file problem with its location, printed as `FILE:LINE: problem`.
public struct PeersFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let problem: String

    public var description: String {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
}
