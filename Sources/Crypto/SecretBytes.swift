import CSodium

/// A fixed-size buffer for key material that is wiped with `sodium_memzero` when released.
///
/// The bytes are reachable only inside `withUnsafeBytes`, so copies do not leak into ordinary
/// arrays by accident. Equality is constant-time. Immutable after creation, hence `Sendable`.
public final class SecretBytes: @unchecked Sendable, Equatable {
    private let storage: UnsafeMutableRawBufferPointer

    public var count: Int { _count }

    /// Fresh bytes from `rng`.
    public init(count: Int, using rng: inout some RandomSource) {
        Sodium.ensureInitialised()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        rng.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        storage = buffer
        _count = count
    }

    /// Takes a copy of `bytes`; the caller remains responsible for wiping its own copy.
    public init(copying bytes: some Collection<UInt8>) {
        Sodium.ensureInitialised()
        let n = bytes.count
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        _ = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]).initializeMemory(as: UInt8.self, from: bytes)
        storage = buffer
        _count = n
    }

    /// Builds the contents in place, so the secret never exists in an unwiped temporary.
    public init(count: Int, initializingWith body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialised()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        } catch {
            sodium_memzero(buffer.baseAddress!, buffer.count)
            buffer.deallocate()
            throw error
        }
        storage = buffer
        _count = count
    }

    private let _count: Int

    deinit {
        sodium_memzero(storage.baseAddress!, storage.count)
        storage.deallocate()
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<_count]))
    }

    /// A plain copy, for the few places that must hand bytes to a wire format (for example a
    /// Shamir share sent to a peer under AEAD). Prefer `withUnsafeBytes`.
    public func copyBytes() -> [UInt8] { withUnsafeBytes { Array($0) } }

    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs._count == rhs._count else { return false }
        if lhs._count == 0 { return true }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }
}

/// Wipes an ordinary byte array that briefly held secret material (a key being parsed or
/// written); `sodium_memzero` cannot be optimised away like a plain loop.
public func secureZero(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress, raw.count > 0 { sodium_memzero(base, raw.count) }
    }
}
