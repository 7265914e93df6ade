/// Which packet counters of one peer session were already accepted (RFC 6479, as in WireGuard).
///
/// A bitmap of 2048 bits rotates with the highest counter seen: a counter above it is new, one
/// inside the window is new unless its bit is set, one below the window is refused as too old.
/// Checking and recording are separate so a datagram is recorded only after it authenticates.
struct ReplayWindow {
    static let wordCount = 32
    static let bitCount = wordCount * 64
    /// Counters this far below the highest are refused: the word holding them may be reused.
    static let usableBits = UInt64(bitCount - 64)

    private var words = [UInt64](repeating: 0, count: wordCount)
    private(set) var highest: UInt64 = 0
    private var isEmpty = true

    func mayAccept(_ counter: UInt64) -> Bool {
        if isEmpty || counter > highest { return true }
        if highest - counter >= Self.usableBits { return false }
        let (word, bit) = Self.position(counter)
        return words[word] & (1 << bit) == 0
    }

    /// Records `counter`; call only after `mayAccept` said yes and the datagram authenticated.
    mutating func record(_ counter: UInt64) {
        if isEmpty || counter > highest {
            let newWord = counter / 64
            let oldWord = isEmpty ? newWord &- UInt64(Self.wordCount) : highest / 64
            let toClear = min(newWord &- oldWord, UInt64(Self.wordCount))
            var i: UInt64 = 1
            while i <= toClear {
                words[Int((oldWord &+ i) % UInt64(Self.wordCount))] = 0
                i += 1
            }
            highest = counter
            isEmpty = false
        }
        let (word, bit) = Self.position(counter)
        words[word] |= 1 << bit
    }

    private static func position(_ counter: UInt64) -> (Int, UInt64) {
        (Int((counter / 64) % UInt64(wordCount)), counter % 64)
    }
}
