import Crypto

/// The two datagram keys of one peer pair and the sealing of datagrams with them.
///
/// `crypto_kx` over the static keys gives one key per direction; each is derived once more with
/// the network id as context, so the same key pair in two networks never shares a key.
package struct DatagramCipher {
    static let label = "gossipnode/datagram/v1"
    let sendKey: SecretBytes
    let receiveKey: SecretBytes

    package init(identity: KeyPair, remote: PublicKey, network: NetworkID) throws {
        let channel = try ChannelKeys(local: identity, remote: remote)
        sendKey = KDF.derive(from: channel.transmit, label: Self.label, context: network.bytes)
        receiveKey = KDF.derive(from: channel.receive, label: Self.label, context: network.bytes)
    }

    /// Encrypts in place: `datagram` holds the header, then `payloadLength` plaintext bytes, then
    /// room for the tag. The associated data is the network id followed by the header.
    package func seal(_ datagram: UnsafeMutableRawBufferPointer, header: DatagramHeader, payloadLength: Int, network: NetworkID) throws {
        let start = DatagramHeader.byteCount
        let payload = UnsafeRawBufferPointer(rebasing: datagram[start..<start + payloadLength])
        let output = UnsafeMutableRawBufferPointer(rebasing: datagram[start..<start + payloadLength + AEADOverhead.tag])
        try withAssociatedData(UnsafeRawBufferPointer(rebasing: datagram[0..<start]), network: network) { ad in
            try header.nonce().withUnsafeBytes { nonce in
                try AEAD.seal(payload, associatedData: ad, nonce: nonce, key: sendKey, into: output)
            }
        }
    }

    /// Verifies and decrypts the payload of `datagram` into `plaintext` (exactly the payload size).
    func open(_ datagram: UnsafeRawBufferPointer, header: DatagramHeader, network: NetworkID,
              into plaintext: UnsafeMutableRawBufferPointer) throws {
        let start = DatagramHeader.byteCount
        try withAssociatedData(UnsafeRawBufferPointer(rebasing: datagram[0..<start]), network: network) { ad in
            try header.nonce().withUnsafeBytes { nonce in
                try AEAD.open(UnsafeRawBufferPointer(rebasing: datagram[start...]), associatedData: ad,
                              nonce: nonce, key: receiveKey, into: plaintext)
            }
        }
    }

    private func withAssociatedData<R>(_ header: UnsafeRawBufferPointer, network: NetworkID,
                                       _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withUnsafeTemporaryAllocation(byteCount: NetworkID.byteCount + header.count, alignment: 8) { ad in
            network.bytes.withUnsafeBytes { ad.copyMemory(from: $0) }
            UnsafeMutableRawBufferPointer(rebasing: ad[NetworkID.byteCount...]).copyMemory(from: header)
            return try body(UnsafeRawBufferPointer(ad))
        }
    }
}
