/// The cleartext, authenticated header at the front of every datagram (SPEC: transport §2).
///
/// Everything a receiver needs to reject a datagram cheaply (wrong version, wrong network,
/// unknown peer, stale session, replayed counter) is here, before any decryption.
package struct DatagramHeader: Equatable {
    package static let byteCount = 34
    static let version: UInt8 = 1

    package enum Kind: UInt8 {
        /// Empty payload: "this is my session; tell me yours". Starts and repairs a session.
        case hello = 1
        /// A sequence of frames (acknowledgements, message chunks).
        case data = 2
    }

    var kind: Kind
    var networkTag: UInt32
    var sender: UInt16
    var receiver: UInt16
    var senderSession: UInt64
    /// The receiver's session as the sender believes it; 0 when it does not know it yet.
    var receiverSession: UInt64
    var counter: UInt64

    package init(kind: Kind, networkTag: UInt32, sender: UInt16, receiver: UInt16, senderSession: UInt64,
                 receiverSession: UInt64, counter: UInt64) {
        self.kind = kind
        self.networkTag = networkTag
        self.sender = sender
        self.receiver = receiver
        self.senderSession = senderSession
        self.receiverSession = receiverSession
        self.counter = counter
    }

    package func write(into writer: inout ByteWriter) {
        writer.u8(Self.version)
        writer.u8(kind.rawValue)
        writer.u32(networkTag)
        writer.u16(sender)
        writer.u16(receiver)
        writer.u64(senderSession)
        writer.u64(receiverSession)
        writer.u64(counter)
    }

    enum ParseFailure: Error { case truncated, badVersion, badKind }

    /// Reads the header; the caller has already checked the datagram is long enough to hold it.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<DatagramHeader, ParseFailure> {
        var reader = ByteReader(bytes)
        guard let version = reader.u8(), let kindByte = reader.u8(), let tag = reader.u32(),
              let sender = reader.u16(), let receiver = reader.u16(), let senderSession = reader.u64(),
              let receiverSession = reader.u64(), let counter = reader.u64() else { return .failure(.truncated) }
        guard version == Self.version else { return .failure(.badVersion) }
        guard let kind = Kind(rawValue: kindByte) else { return .failure(.badKind) }
        return .success(DatagramHeader(kind: kind, networkTag: tag, sender: sender, receiver: receiver,
                                       senderSession: senderSession, receiverSession: receiverSession,
                                       counter: counter))
    }

    /// The 24-byte XChaCha20 nonce: sender session, counter, eight zero bytes. Unique per key
    /// because sessions never repeat and counters never repeat within a session.
    func nonce() -> Nonce {
        var nonce = Nonce()
        withUnsafeMutableBytes(of: &nonce.storage) { raw in
            raw.storeBytes(of: senderSession.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: counter.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        return nonce
    }
}

/// A nonce on the stack: no allocation per datagram.
struct Nonce {
    var storage: (UInt64, UInt64, UInt64) = (0, 0, 0)

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }
}
