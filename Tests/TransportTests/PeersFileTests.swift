import Crypto
import Testing
import TestKit
@testable import Transport

/// Shared sample keys for peers-file tests.
enum SampleKeys {
    static let keys: [PublicKey] = {
        var rng = seededRandom(42)
        return (0..<8).map { _ in KeyPair.generate(using: &rng).publicKey }
    }()
    static func key(_ i: Int) -> String { keys[i].base64 }
}

@Suite struct PeersFileTests {
    let k0 = SampleKeys.key(0), k1 = SampleKeys.key(1), k2 = SampleKeys.key(2), k3 = SampleKeys.key(3)

    @Test func parsesCommentsBlankLinesTabsCRLFAndAllAddressKinds() throws {
        let text = """
        # a comment line

        alice 127.0.0.1:7000 \(k0)   # trailing comment
        \tbob\t[::1]:7001\t\(k1)\r
        carol  node-3.example.org:65535  \(k2)
        dave [fe80::1:2]:1 \(k3)
        """
        let file = try PeersFile.parse(text, file: "p.txt")
        #expect(file.peers.map(\.name) == ["alice", "bob", "carol", "dave"])
        #expect(file.peers[0].endpoint == Endpoint(host: .ipv4("127.0.0.1"), port: 7000))
        #expect(file.peers[1].endpoint == Endpoint(host: .ipv6("::1"), port: 7001))
        #expect(file.peers[2].endpoint == Endpoint(host: .name("node-3.example.org"), port: 65535))
        #expect(file.peers[3].endpoint.description == "[fe80::1:2]:1")
        #expect(file.peers[1].publicKey == SampleKeys.keys[1])
        #expect(file.index(of: "carol") == 2)
        #expect(file.peer(named: "zed") == nil)
    }

    /// Loopback decides the default datagram size; only addresses that are loopback as written count.
    @Test func loopbackEndpoints() throws {
        for text in ["127.0.0.1:1", "127.9.8.7:2", "[::1]:3", "[0:0:0:0:0:0:0:1]:4", "localhost:5", "LocalHost:6"] {
            #expect(try Endpoint(parsing: text).isLoopback, "\(text)")
        }
        for text in ["10.0.0.1:1", "128.0.0.1:2", "[::2]:3", "[fe80::1]:4", "node.example.org:5", "localhost.example:6"] {
            #expect(try !Endpoint(parsing: text).isLoopback, "\(text)")
        }
    }

    @Test func renderThenParseGivesTheSameList() throws {
        let text = "a 10.0.0.1:1 \(k0)\nb [2001:db8::7]:2 \(k1)\nc host:3 \(k2)\n"
        let file = try PeersFile.parse(text, file: "x")
        #expect(try PeersFile.parse(file.render(), file: "y") == file)
    }

    /// Each malformed line, the line number it must be reported at, and words the message must contain.
    static let badFiles: [(String, Int?, String)] = [
        ("alice 127.0.0.1:7000", 1, "found 2 fields"),
        ("alice 127.0.0.1:7000 \(SampleKeys.key(0)) extra", 1, "found 4 fields"),
        ("# ok\nal!ce 127.0.0.1:7000 \(SampleKeys.key(0))", 2, "bad name 'al!ce'"),
        ("alice 127.0.0.1 \(SampleKeys.key(0))", 1, "missing ':PORT'"),
        ("alice 127.0.0.1:0 \(SampleKeys.key(0))", 1, "bad port '0'"),
        ("alice 127.0.0.1:70000 \(SampleKeys.key(0))", 1, "bad port '70000'"),
        ("alice 127.0.0.1:70a \(SampleKeys.key(0))", 1, "bad port '70a'"),
        ("alice 127.0.0.1: \(SampleKeys.key(0))", 1, "bad port ''"),
        ("alice 300.1.1.1:7000 \(SampleKeys.key(0))", 1, "not a valid IPv4 address"),
        ("alice ::1:7000 \(SampleKeys.key(0))", 1, "must be written in brackets"),
        ("alice [::g]:7000 \(SampleKeys.key(0))", 1, "not an IPv6 address"),
        ("alice [::1:7000 \(SampleKeys.key(0))", 1, "missing ']'"),
        ("alice [::1]7000 \(SampleKeys.key(0))", 1, "missing ':PORT' after ']'"),
        ("alice -bad-.host:7000 \(SampleKeys.key(0))", 1, "not a valid host name"),
        (":7000 wrong", 1, "found 2 fields"),
        ("alice :7000 \(SampleKeys.key(0))", 1, "missing host"),
        ("alice 127.0.0.1:7000 notbase64!", 1, "bad public key"),
        ("alice 127.0.0.1:7000 \(Base64.encode([UInt8](repeating: 1, count: 31)))", 1, "bad public key"),
        ("a 127.0.0.1:1 \(SampleKeys.key(0))\n\nb 127.0.0.1:2 \(SampleKeys.key(1))\na 127.0.0.1:3 \(SampleKeys.key(2))", 4,
         "duplicate name 'a' (first on line 1)"),
        ("a 127.0.0.1:1 \(SampleKeys.key(0))\nb 127.0.0.1:1 \(SampleKeys.key(1))", 2, "duplicate address 127.0.0.1:1"),
        ("a h.example:1 \(SampleKeys.key(0))\nb H.EXAMPLE:1 \(SampleKeys.key(1))", 2, "duplicate address"),
        ("a 127.0.0.1:1 \(SampleKeys.key(0))\nb 127.0.0.1:2 \(SampleKeys.key(0))", 2, "duplicate public key (first on line 1)"),
        // Low-order points (zero, one, p - 1): accepted, they failed only at every send.
        ("a 127.0.0.1:1 \(SampleKeys.key(0))\nb 127.0.0.1:2 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 2, "low-order point"),
        ("a 127.0.0.1:1 AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1, "low-order point"),
        ("a 127.0.0.1:1 7P///////////////////////////////////////38=", 1, "low-order point"),
        ("# only comments\n\n", nil, "no peers listed"),
        ("", nil, "no peers listed"),
    ]

    @Test(arguments: 0..<badFiles.count)
    func malformedFilesNameTheLineAndProblem(_ index: Int) {
        let (text, line, words) = Self.badFiles[index]
        do {
            _ = try PeersFile.parse(text, file: "peers/bad.txt")
            Issue.record("accepted a malformed peers file: \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.file == "peers/bad.txt")
            #expect(error.description.contains(words), "\(error.description) lacks '\(words)'")
            if let line { #expect(error.description.hasPrefix("peers/bad.txt:\(line): ")) }
        }
    }

    @Test func missingAndNonUTF8FilesAreReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        #expect(throws: PeersFileError.self) { try PeersFile.load(path: dir.file("absent.txt")) }
        let path = dir.file("binary.txt")
        try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: URL(fileURLWithPath: path))
        do { _ = try PeersFile.load(path: path); Issue.record("accepted binary") } catch {
            #expect(error.description == "\(path):1: not valid UTF-8 text")
        }
        // The bad byte's line is named, even in a comment and after good lines.
        let late = dir.file("late.txt")
        try Data("a 127.0.0.1:1 \(k0)\r\n\n# caf".utf8 + [0xE9] + Data("\nb 127.0.0.1:2 \(k1)\n".utf8)).write(to: URL(fileURLWithPath: late))
        do { _ = try PeersFile.load(path: late); Issue.record("accepted Latin-1") } catch {
            #expect(error.description == "\(late):3: not valid UTF-8 text")
        }
    }

    /// Foundation says only "error 256" for a directory.
    @Test func aDirectoryIsNamedAsOne() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        do { _ = try PeersFile.load(path: dir.path); Issue.record("loaded a directory") } catch {
            #expect(error.description == "\(dir.path): is a directory, not a regular file")
        }
    }

    /// Echoed input is cut short and escaped: a 100 KB name prints as one short line, a NUL or
    /// an escape sequence never reaches the terminal raw.
    @Test func echoedInputIsCutAndEscaped() throws {
        let long = String(repeating: "x", count: 100_000) + "!"
        for (text, shown) in [
            ("\(long) 127.0.0.1:1 \(k0)", "bad name '\(String(repeating: "x", count: 64))...' (100001 bytes)"),
            ("a\u{0}b 127.0.0.1:1 \(k0)", #"bad name 'a\0b'"#),
            ("a 127.0.0.1:\u{1B}[31m \(k0)", #"bad address: bad port '\u{1B}[31m'"#),
            ("a 127.0.0.1:1 \u{200B}\(k0)", #"bad public key '\u{200B}"#),
        ] {
            do { _ = try PeersFile.parse(text, file: "p"); Issue.record("accepted \(text.prefix(50))") } catch {
                #expect(error.description.hasPrefix("p:1: " + shown), "\(error.description.prefix(200))")
                #expect(error.description.count < 200)
                #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value > 0x7E })
            }
        }
    }
}

import Foundation
