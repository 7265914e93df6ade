import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct NoFreePort: Error, CustomStringConvertible {
    public let description: String
}

/// `count` distinct UDP ports on the loopback of `host`'s family ("127.0.0.1" or "::1") that the
/// kernel considers free right now: each bound to port 0, read back, all released together. Tests
/// that start nodes in parallel take their ports from here rather than guessing (guessed ports
/// collided with other tests' and failed a start with "address in use", exit 2).
public func freeUDPPorts(_ count: Int, host: String = "127.0.0.1") throws -> [UInt16] {
    let ipv6 = host.contains(":")
    var sockets: [Int32] = []
    defer { sockets.forEach { close($0) } }
    var ports: [UInt16] = []
    for _ in 0..<count {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NoFreePort(description: "socket: \(String(cString: strerror(errno)))") }
        sockets.append(fd)
        var storage = sockaddr_storage()
        var length: socklen_t
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw NoFreePort(description: "bad host \(host)") }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw NoFreePort(description: "bad host \(host)") }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in.self) }
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw NoFreePort(description: "bind \(host): \(String(cString: strerror(errno)))") }
        let read = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard read == 0 else { throw NoFreePort(description: "getsockname: \(String(cString: strerror(errno)))") }
        let port = withUnsafeBytes(of: &storage) { bytes in
            ipv6 ? bytes.load(as: sockaddr_in6.self).sin6_port : bytes.load(as: sockaddr_in.self).sin_port
        }
        ports.append(UInt16(bigEndian: port))
    }
    return ports
}
