#if canImport(Glibc)
import Glibc
#endif

/// Linux UDP segmentation offload: one `sendmsg` carries many equal-sized datagrams (GSO,
/// `UDP_SEGMENT`) and one `recvmsg` returns many that arrived back to back (GRO, `UDP_GRO`).
/// The datagrams on the wire are exactly the same; only the per-datagram system call cost
/// goes away. Where the kernel refuses, the driver falls back to one call per datagram.
enum UDPSegmentation {
    static let solUDP: Int32 = 17        // SOL_UDP / IPPROTO_UDP
    static let segmentOption: Int32 = 103 // UDP_SEGMENT
    static let groOption: Int32 = 104     // UDP_GRO
    /// Most segments one send may carry (the kernel's limit is 64) and the largest such send.
    static let maxSegments = 64
    static let maxBytes = 65_000
}

extension UDPSocket {
    /// Asks the kernel to hand over coalesced datagrams; false if it cannot.
    func enableReceiveCoalescing() -> Bool {
        var on: Int32 = 1
        return setsockopt(descriptor, UDPSegmentation.solUDP, UDPSegmentation.groOption, &on,
                          socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// Sends `bytes` as consecutive datagrams of `segmentSize` bytes (the last may be shorter).
    func send(segments bytes: UnsafeRawBufferPointer, segmentSize: Int,
              to address: SocketAddress) throws(SystemCallError) -> IOResult<Int> {
        var storage = address.storage
        var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        // One control message: cmsghdr (16 bytes on 64-bit Linux) + a UInt16, padded to 8.
        var control = (UInt64(0), UInt64(0), UInt64(0))
        return try withUnsafeMutableBytes(of: &control) { controlBytes throws(SystemCallError) in
            controlBytes.storeBytes(of: 16 + 2, toByteOffset: 0, as: Int.self)          // cmsg_len
            controlBytes.storeBytes(of: UDPSegmentation.solUDP, toByteOffset: 8, as: Int32.self)
            controlBytes.storeBytes(of: UDPSegmentation.segmentOption, toByteOffset: 12, as: Int32.self)
            controlBytes.storeBytes(of: UInt16(segmentSize), toByteOffset: 16, as: UInt16.self)
            return try withUnsafeMutablePointer(to: &storage) { name throws(SystemCallError) in
                try withUnsafeMutablePointer(to: &iov) { iovPointer throws(SystemCallError) in
                    var message = msghdr()
                    message.msg_name = UnsafeMutableRawPointer(name)
                    message.msg_namelen = address.length
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = 24
                    return try syscall("sendmsg") { sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL)) }
                }
            }
        }
    }

    /// Receives into `buffer`; besides length and source, returns the segment size when the
    /// kernel coalesced several datagrams (each `segmentSize` bytes, the last maybe shorter).
    func receiveCoalesced(into buffer: UnsafeMutableRawBufferPointer)
        throws(SystemCallError) -> IOResult<(length: Int, source: SocketAddress, segmentSize: Int?)> {
        var storage = sockaddr_storage()
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var control = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var message = msghdr()
        let result: IOResult<Int> = try withUnsafeMutablePointer(to: &storage) { name throws(SystemCallError) in
            try withUnsafeMutablePointer(to: &iov) { iovPointer throws(SystemCallError) in
                try withUnsafeMutableBytes(of: &control) { controlBytes throws(SystemCallError) in
                    message.msg_name = UnsafeMutableRawPointer(name)
                    message.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    let result = try syscall("recvmsg") { recvmsg(descriptor, &message, Int32(MSG_TRUNC)) }
                    message.msg_name = nil
                    message.msg_iov = nil
                    message.msg_control = nil
                    return result
                }
            }
        }
        guard case let .done(length) = result else { return .wouldBlock }
        var segmentSize: Int? = nil
        withUnsafeBytes(of: control) { raw in
            // Walk the control messages: cmsghdr is (len: Int, level: Int32, type: Int32), 8-aligned.
            var offset = 0
            while offset + 16 <= min(Int(message.msg_controllen), raw.count) {
                let length = raw.loadUnaligned(fromByteOffset: offset, as: Int.self)
                let level = raw.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self)
                let type = raw.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self)
                guard length >= 16 else { break }
                if level == UDPSegmentation.solUDP, type == UDPSegmentation.groOption, offset + 20 <= raw.count {
                    let size = Int(raw.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self))
                    if size > 0 { segmentSize = size }
                }
                offset += (length + 7) & ~7
            }
        }
        return .done((length, SocketAddress(storage: storage, length: message.msg_namelen), segmentSize))
    }
}
