/// A set of group-member indices (0..<256), iterated in ascending order.
///
/// Views of the group (who advertised, who masked with whom, who survived) are compared,
/// combined and put on the wire as bitmaps, so a fixed-size bitset keeps that cheap and
/// deterministic (a `Set<Int>` iterates in random order).
public struct MemberSet: Hashable, Sendable, Sequence, CustomStringConvertible {
    public static let capacity = 256
    private var words = SIMD4<UInt64>(repeating: 0)

    public init() {}

    private init(words: SIMD4<UInt64>) { self.words = words }

    public init(_ members: some Sequence<Int>) {
        for member in members { insert(member) }
    }

    /// Members 0..<count.
    public static func all(_ count: Int) -> MemberSet { MemberSet(0..<count) }

    public func contains(_ member: Int) -> Bool {
        guard (0..<Self.capacity).contains(member) else { return false }
        return words[member / 64] & (1 << UInt64(member % 64)) != 0
    }

    public mutating func insert(_ member: Int) {
        precondition((0..<Self.capacity).contains(member), "member index \(member) out of range")
        words[member / 64] |= 1 << UInt64(member % 64)
    }

    public mutating func remove(_ member: Int) {
        guard (0..<Self.capacity).contains(member) else { return }
        words[member / 64] &= ~(1 << UInt64(member % 64))
    }

    public var count: Int { (0..<4).reduce(0) { $0 + words[$1].nonzeroBitCount } }
    public var isEmpty: Bool { words == .zero }

    public func union(_ other: MemberSet) -> MemberSet { MemberSet(words: words | other.words) }
    public func intersection(_ other: MemberSet) -> MemberSet { MemberSet(words: words & other.words) }
    public func subtracting(_ other: MemberSet) -> MemberSet { MemberSet(words: words & ~other.words) }
    public func isDisjoint(with other: MemberSet) -> Bool { intersection(other).isEmpty }
    public func isSubset(of other: MemberSet) -> Bool { subtracting(other).isEmpty }

    public func makeIterator() -> some IteratorProtocol<Int> {
        var next = 0
        let set = self
        return AnyIterator {
            while next < Self.capacity {
                defer { next += 1 }
                if set.contains(next) { return next }
            }
            return nil
        }
    }

    public var description: String { "{" + map(String.init).joined(separator: ",") + "}" }

    // MARK: Wire form

    /// Bytes in the bitmap of a group of `groupSize` members.
    static func bitmapByteCount(groupSize: Int) -> Int { (groupSize + 7) / 8 }

    /// Member i is bit (i mod 8) of byte i/8.
    func bitmap(groupSize: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.bitmapByteCount(groupSize: groupSize))
        for member in self where member < groupSize { bytes[member / 8] |= 1 << UInt8(member % 8) }
        return bytes
    }

    /// Parses a bitmap, or returns nil when a bit at or beyond `groupSize` is set.
    init?(bitmap bytes: some Collection<UInt8>, groupSize: Int) {
        guard bytes.count == Self.bitmapByteCount(groupSize: groupSize) else { return nil }
        self.init()
        for (byteIndex, byte) in bytes.enumerated() {
            for bit in 0..<8 where byte & (1 << UInt8(bit)) != 0 {
                let member = byteIndex * 8 + bit
                guard member < groupSize else { return nil }
                insert(member)
            }
        }
    }
}
