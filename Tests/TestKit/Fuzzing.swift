import Foundation

/// What one fuzz input did to the decoder under test.
public enum FuzzOutcome: Sendable, Equatable {
    /// Decoded, and every property checked on the result held.
    case accepted
    /// Refused the way hostile input must be: a thrown error or nil.
    case rejected
    /// Decoded, but a property failed (for instance re-encoding did not give the input back).
    case violation(String)
}

/// The tally of one bounded fuzz run. A trap would have ended the test process, so reaching
/// the report already means "no crash"; `violations` keeps the first few broken properties with
/// their inputs in base64 so a failure can be replayed.
public struct FuzzReport: Sendable, CustomStringConvertible {
    public struct Violation: Sendable {
        public let problem: String
        public let inputBase64: String
    }

    public let target: String
    public internal(set) var inputs = 0
    public internal(set) var accepted = 0
    public internal(set) var rejected = 0
    public internal(set) var violations: [Violation] = []
    public internal(set) var violationCount = 0
    public internal(set) var seconds = 0.0

    public var isClean: Bool { violationCount == 0 }

    public var description: String {
        var text = "\(target): \(inputs) inputs (\(accepted) accepted, \(rejected) rejected, "
            + "\(violationCount) violations) in \(String(format: "%.2f", seconds)) s"
        for v in violations { text += "\n  \(v.problem): input \(v.inputBase64)" }
        return text
    }
}

/// Inputs per decoder in `swift test`; `GOSSIPNODE_FUZZ_INPUTS` raises (or lowers) it for long runs.
public let defaultFuzzInputs: Int = {
    if let text = ProcessInfo.processInfo.environment["GOSSIPNODE_FUZZ_INPUTS"], let n = Int(text), n > 0 { return n }
    return 200_000
}()

/// The committed seed corpus of a fuzz target (`Fuzz/Corpus/<target>/*`), in file-name order,
/// shared with the libFuzzer binaries of `scripts/fuzz.sh`.
public func fuzzCorpus(_ target: String) -> [[UInt8]] {
    let directory = ProcessRunner.packageRoot.appendingPathComponent("Fuzz/Corpus/\(target)")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.sorted().compactMap { name in
        (try? Data(contentsOf: directory.appendingPathComponent(name))).map { Array($0) }
    }
}

/// One committed corpus file, for regression tests that replay an input fuzzing found.
public func fuzzCorpus(_ target: String, named name: String) -> [UInt8] {
    let url = ProcessRunner.packageRoot.appendingPathComponent("Fuzz/Corpus/\(target)/\(name)")
    return (try? Data(contentsOf: url)).map { Array($0) } ?? []
}

/// Runs `body` on `inputs` inputs made by a seeded `MutationFuzzer` from the target's corpus
/// (plus `extraSeeds`), feeding accepted inputs back as new seeds. Same seed, same inputs.
public func fuzz(_ target: String, extraSeeds: [[UInt8]] = [], dictionary: [[UInt8]] = FuzzDictionary.text,
                 inputs: Int = defaultFuzzInputs, seed: UInt64 = 1, maxLength: Int = 1 << 14,
                 _ body: ([UInt8]) -> FuzzOutcome) -> FuzzReport {
    if ProcessInfo.processInfo.environment["GOSSIPNODE_FUZZ_SAVE_SEEDS"] != nil { saveSeeds(extraSeeds, target: target) }
    var fuzzer = MutationFuzzer(seeds: fuzzCorpus(target) + extraSeeds, dictionary: dictionary,
                                seed: seed, maxLength: maxLength)
    var report = FuzzReport(target: target)
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<inputs {
        let input = fuzzer.next()
        report.inputs += 1
        switch body(input) {
        case .accepted:
            report.accepted += 1
            fuzzer.keep(input)
        case .rejected:
            report.rejected += 1
        case let .violation(problem):
            report.violationCount += 1
            if report.violations.count < 5 {
                report.violations.append(.init(problem: problem, inputBase64: Data(input).base64EncodedString()))
            }
        }
    }
    report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print("fuzz \(report)")
    return report
}

/// Writes seeds a test builds in code (genuine protocol messages, files from the real writers)
/// into the committed corpus, so the libFuzzer binaries start from them too. Run with
/// `GOSSIPNODE_FUZZ_SAVE_SEEDS=1 swift test --filter FuzzTests` after a format changes.
func saveSeeds(_ seeds: [[UInt8]], target: String) {
    let directory = ProcessRunner.packageRoot.appendingPathComponent("Fuzz/Corpus/\(target)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for (index, seed) in seeds.enumerated() {
        try? Data(seed).write(to: directory.appendingPathComponent("generated-\(index)"))
    }
}

/// One temporary file that decoders reading from a path are fed through, rewritten per input;
/// in /dev/shm when there is one, since a disk-backed /tmp makes each rewrite wait for the disk.
public final class FuzzScratchFile {
    public let path: String
    private let directory: URL

    public init(_ name: String) throws {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm")
            : FileManager.default.temporaryDirectory
        directory = base.appendingPathComponent("gossipnode-fuzz-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(name).path
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Replaces the file's contents with `bytes`.
    public func write(_ bytes: [UInt8]) {
        try? Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// Tokens the mutator splices into inputs to reach parser branches random bytes rarely hit.
public enum FuzzDictionary {
    public static let text: [[UInt8]] = [
        " ", "\t", "\n", "\r\n", "#", ":", "[", "]", ".", "-", "_", "=", "/", "+", "\"", ",", "{", "}",
        "0", "1", "65535", "65536", "-1", "4294967296", "99999999999999999999999", "1e308", "-0", "NaN",
        "::1", "127.0.0.1", "[::1]:7000", "localhost", "é", "\u{0}", "\u{FEFF}", "\u{85}", "\u{2028}",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ].map { Array($0.utf8) }

    /// Length and count fields of binary formats set to boundary and huge values.
    public static let binary: [[UInt8]] = [
        [0x00, 0x00, 0x00, 0x00], [0xff, 0xff, 0xff, 0xff], [0x7f, 0xff, 0xff, 0xff], [0x80, 0x00, 0x00, 0x00],
        [0x00, 0x00, 0x08, 0x03], [0x00, 0x00, 0x08, 0x01], [0x1f, 0x8b, 0x08, 0x00],
    ]
}

/// A deterministic, coverage-blind mutation fuzzer in the spirit of AFL's "havoc" stage: each
/// input is a seed with one to eight stacked mutations (bit flips, byte sets, boundary integers
/// written over possible length fields, inserts, deletes, truncation, duplication, splices with
/// other seeds, dictionary tokens), and now and then plain random bytes.
public struct MutationFuzzer {
    private var rng: SplitMix64
    private var pool: [[UInt8]]
    private let seedCount: Int
    private let dictionary: [[UInt8]]
    private let maxLength: Int
    /// Accepted inputs longer than this are not kept, so the pool cannot drift toward ever longer
    /// (slower) inputs; one mutation step can still grow any input up to `maxLength`.
    private let keepLength: Int
    private static let poolLimit = 512

    public init(seeds: [[UInt8]], dictionary: [[UInt8]] = [], seed: UInt64, maxLength: Int = 1 << 14) {
        rng = SplitMix64(seed: seed)
        pool = seeds.isEmpty ? [[]] : seeds
        seedCount = pool.count
        self.dictionary = dictionary
        self.maxLength = maxLength
        keepLength = min(maxLength, max(64, 2 * (pool.map(\.count).max() ?? 0)))
    }

    /// Offers an accepted input as a seed for later mutations (keeps the pool bounded).
    public mutating func keep(_ input: [UInt8]) {
        guard input.count <= keepLength, rng.below(8) == 0 else { return }
        if pool.count < Self.poolLimit { pool.append(input) } else { pool[seedCount + rng.below(Self.poolLimit - seedCount)] = input }
    }

    public mutating func next() -> [UInt8] {
        if rng.below(64) == 0 { return (0..<rng.below(257)).map { _ in rng.byte() } }
        var input = pool[rng.below(pool.count)]
        for _ in 0..<(1 << rng.below(4)) { mutate(&input) }
        if input.count > maxLength { input.removeLast(input.count - maxLength) }
        return input
    }

    private static let interestingBytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x30, 0x39, 0x41]
    private static let interestingWords: [UInt64] = [
        0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
        0x1_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, UInt64.max, UInt64.max - 1,
    ]

    private mutating func mutate(_ input: inout [UInt8]) {
        let position = input.isEmpty ? 0 : rng.below(input.count)
        switch rng.below(12) {
        case 0 where !input.isEmpty: // flip a bit
            input[position] ^= 1 << UInt8(rng.below(8))
        case 1 where !input.isEmpty: // random or boundary byte
            input[position] = rng.below(2) == 0 ? rng.byte() : Self.interestingBytes[rng.below(Self.interestingBytes.count)]
        case 2 where !input.isEmpty: // small arithmetic on a byte
            input[position] = input[position] &+ UInt8(truncatingIfNeeded: rng.below(35) - 17)
        case 3: // a boundary integer over a possible length or count field, either byte order
            let width = [1, 2, 4, 8][rng.below(4)]
            var value = Self.interestingWords[rng.below(Self.interestingWords.count)]
            if rng.below(2) == 0 { value = value.byteSwapped >> UInt64(64 - 8 * width) }
            let bytes = (0..<width).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
            overwrite(&input, at: position, with: bytes)
        case 4: // insert random bytes or a run of one byte
            let count = 1 + rng.below(rng.below(8) == 0 ? 512 : 16)
            let byte = rng.byte()
            let bytes = rng.below(2) == 0 ? [UInt8](repeating: byte, count: count) : (0..<count).map { _ in rng.byte() }
            input.insert(contentsOf: bytes, at: rng.below(input.count + 1))
        case 5 where !input.isEmpty: // delete a range
            let count = 1 + rng.below(min(input.count - position, 32))
            input.removeSubrange(position..<position + count)
        case 6 where !input.isEmpty: // truncate
            input.removeLast(1 + rng.below(input.count))
        case 7 where !input.isEmpty: // duplicate a range somewhere
            let count = 1 + rng.below(min(input.count - position, 64))
            let range = Array(input[position..<position + count])
            input.insert(contentsOf: range, at: rng.below(input.count + 1))
        case 8: // splice: our head with another seed's tail
            let other = pool[rng.below(pool.count)]
            let cut = other.isEmpty ? 0 : rng.below(other.count)
            input = Array(input[..<rng.below(input.count + 1)]) + other[cut...]
        case 9 where !dictionary.isEmpty: // insert a token
            input.insert(contentsOf: dictionary[rng.below(dictionary.count)], at: rng.below(input.count + 1))
        case 10 where !dictionary.isEmpty: // overwrite with a token
            overwrite(&input, at: position, with: dictionary[rng.below(dictionary.count)])
        case 11 where input.count > 1: // swap two bytes
            input.swapAt(position, rng.below(input.count))
        default:
            input.append(rng.byte())
        }
    }

    private func overwrite(_ input: inout [UInt8], at position: Int, with bytes: [UInt8]) {
        let end = min(input.count, position + bytes.count)
        input.replaceSubrange(position..<end, with: bytes)
    }
}

/// SplitMix64: a tiny fast generator for choosing mutations. Not cryptographic, and only used
/// to make test inputs; protocol randomness comes from `RandomSource`.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform enough in 0..<bound for choosing mutations (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}
