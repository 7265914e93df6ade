#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking UDP socket with large buffers. All calls go through `syscall`.
final class UDPSocket {
    let descriptor: Int32
    let family: Int32

    /// Binds to `address`; an IPv6 socket also accepts IPv4 (dual stack).
    init(binding address: SocketAddress, bufferBytes: Int) throws(SystemCallError) {
        family = address.family
        descriptor = try syscallRequired("socket") { socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do throws(SystemCallError) {
            if family == AF_INET6 { try setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            // Ask for large buffers; the kernel caps them at net.core.{r,w}mem_max, which is fine.
            try? setOption(SOL_SOCKET, SO_RCVBUF, Int32(clamping: bufferBytes))
            try? setOption(SOL_SOCKET, SO_SNDBUF, Int32(clamping: bufferBytes))
            var storage = address.storage
            _ = try withUnsafePointer(to: &storage) { pointer throws(SystemCallError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemCallError) in
                    try syscallRequired("bind") { bind(descriptor, raw, address.length) }
                }
            }
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws(SystemCallError) {
        var value = value
        _ = try syscallRequired("setsockopt") { setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// The buffer sizes the kernel actually granted (receive, send).
    var bufferSizes: (receive: Int, send: Int) {
        func get(_ name: Int32) -> Int {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(descriptor, SOL_SOCKET, name, &value, &length) == 0 ? Int(value) : 0
        }
        return (get(SO_RCVBUF), get(SO_SNDBUF))
    }

    var localAddress: SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: length) : nil
    }

    /// Sends one datagram; `.wouldBlock` when the send buffer is full.
    func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) throws(SystemCallError) -> IOResult<Int> {
        var storage = address.storage
        return try withUnsafePointer(to: &storage) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemCallError) in
                try syscall("sendto") { sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), raw, address.length) }
            }
        }
    }

    /// Receives one datagram into `buffer`; returns its full length (which may exceed the
    /// buffer: the rest was cut off) and its source, or `.wouldBlock` when none is waiting.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<(length: Int, source: SocketAddress)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemCallError) in
                try syscall("recvfrom") { recvfrom(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), raw, &length) }
            }
        }
        switch result {
        case let .done(count): return .done((count, SocketAddress(storage: storage, length: length)))
        case .wouldBlock: return .wouldBlock
        }
    }
}
