import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A peer's UDP address as written in the peers file: an IPv4 or IPv6 literal or a host name, and a port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public enum Host: Hashable, Sendable {
        case ipv4(String)
        case ipv6(String)
        case name(String)
    }

    public let host: Host
    public let port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT` or `NAME:PORT`; the error text says what is wrong.
    public init(parsing text: String) throws(EndpointError) {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .init("missing ']' in IPv6 address \(ErrorText.quoted(text))") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .init("missing ':PORT' after ']' in \(ErrorText.quoted(text))") }
            portPart = rest.dropFirst()
            guard Self.isIPv6(String(hostPart)) else { throw .init("\(ErrorText.quoted(hostPart)) is not an IPv6 address") }
            host = .ipv6(String(hostPart))
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .init("missing ':PORT' in \(ErrorText.quoted(text))") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") {
                throw .init("IPv6 address must be written in brackets, as \(ErrorText.quoted("[\(hostPart)]:\(portPart)"))")
            }
            guard !hostPart.isEmpty else { throw .init("missing host in \(ErrorText.quoted(text))") }
            if Self.isIPv4(String(hostPart)) {
                host = .ipv4(String(hostPart))
            } else if hostPart.allSatisfy({ $0.isNumber || $0 == "." }) {
                throw .init("\(ErrorText.quoted(hostPart)) is not a valid IPv4 address")
            } else if Self.isHostName(String(hostPart)) {
                host = .name(String(hostPart).lowercased())
            } else {
                throw .init("\(ErrorText.quoted(hostPart)) is not a valid host name")
            }
        }
        guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(portPart), (1...65535).contains(value) else {
            throw .init("bad port \(ErrorText.quoted(portPart)): expected a number from 1 to 65535")
        }
        port = UInt16(value)
    }

    public var hostString: String {
        switch host {
        case let .ipv4(s), let .ipv6(s), let .name(s): return s
        }
    }

    /// Whether the address is this host's loopback interface as written (127.0.0.0/8, ::1 or
    /// localhost): no datagram to it crosses a link, so it needs no internet-safe size.
    public var isLoopback: Bool {
        switch host {
        case let .ipv4(s): return s.hasPrefix("127.")
        case let .ipv6(s):
            var addr = in6_addr()
            var loopback = in6_addr()
            guard inet_pton(AF_INET6, s, &addr) == 1, inet_pton(AF_INET6, "::1", &loopback) == 1 else { return false }
            return withUnsafeBytes(of: &addr) { a in withUnsafeBytes(of: &loopback) { b in a.elementsEqual(b) } }
        case let .name(s): return s.lowercased() == "localhost"
        }
    }

    public var description: String {
        if case let .ipv6(s) = host { return "[\(s)]:\(port)" }
        return "\(hostString):\(port)"
    }

    static func isIPv4(_ s: String) -> Bool {
        var addr = in_addr()
        return inet_pton(AF_INET, s, &addr) == 1
    }

    static func isIPv6(_ s: String) -> Bool {
        var addr = in6_addr()
        return inet_pton(AF_INET6, s, &addr) == 1
    }

    /// RFC 1123 host names: dot-separated labels of letters, digits and hyphens, 1-63 characters,
    /// not starting or ending with a hyphen, at most 253 characters in all.
    static func isHostName(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}

public struct EndpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
