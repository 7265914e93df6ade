import CSodium
import Crypto
import Foundation
import Learning
import SecureAggregation

/// `gossipnode bench-secagg`: secure-aggregation speed and memory against libsodium's bare
/// ChaCha20 keystream, measured in the same run; ends with one JSON line (scripts/bench-secagg.sh).
enum BenchSecAggCommand {
    static let command = Command(
        name: "bench-secagg",
        abstract: "Measure secure aggregation against the raw keystream; print one JSON line.",
        discussion: """
        1. One member's masking of a --mask-length vector in a group of --members, against libsodium
           generating the same number of ChaCha20 keystream bytes (the floor of this design).
        2. A whole group round (all members in this process, all phases) on a --round-length vector:
           CPU time without dropouts, with two members lost after their masked input, and with two
           lost after sharing (their pairwise masks must then be rebuilt and removed).
        3. Memory: bytes per vector word one member holds after masking (running sum + its
           outgoing message), and the process's peak resident set.
        Every sum is checked to be exact. Times are process CPU seconds (so other load on the
        machine does not count); each figure is the fastest of --repeats runs.
        """,
        options: [
            .value("mask-length", "d", help: "Vector length for the masking benchmark.", default: "1000000"),
            .value("round-length", "d", help: "Vector length for the whole-round benchmark.", default: "100000"),
            .value("members", "k", help: "Group size (at least 5: the dropout rounds lose two members and must still reach the threshold).", default: "8"),
            .value("repeats", "n", help: "Runs of each measurement; the fastest counts.", default: "5"),
        ],
        run: { args, console in
            let maskLength = try args.int("mask-length", in: 1...SecAggConfiguration.maximumVectorLength) ?? 1_000_000
            let roundLength = try args.int("round-length", in: 1...SecAggConfiguration.maximumVectorLength) ?? 100_000
            // The dropout rounds lose two members and still need the threshold (a strict majority,
            // at least 3) to finish: k - 2 >= threshold holds from k = 5.
            let k = try args.int("members", in: 5...SecAggConfiguration.maximumGroupSize) ?? 8
            let repeats = try args.int("repeats", in: 1...1_000) ?? 5
            let report = try SecAggBenchmark(members: k, repeats: repeats).run(maskLength: maskLength, roundLength: roundLength,
                                                                              log: { console.err($0) })
            console.out(report)
            return ExitCode.success
        })
}

/// The measurements behind `bench-secagg`.
struct SecAggBenchmark {
    let members: Int
    let repeats: Int
    var threshold: Int { members / 2 + 1 < 3 ? 3 : members / 2 + 1 }



    func run(maskLength: Int, roundLength: Int, log: (String) -> Void) throws -> String {
        let k = members
        // 1. Masking: k streams (k-1 pairwise + the self mask) of d words each.
        var maskBest = Double.infinity, bytesPerWord = 0.0
        for r in 0..<repeats {
            let (seconds, heldBytes) = try maskOnce(d: maskLength, seed: UInt64(r))
            maskBest = min(maskBest, seconds)
            bytesPerWord = Double(heldBytes) / Double(maskLength)
        }
        let keystreamBest = (0..<repeats).map { _ in keystreamSeconds(words: maskLength, streams: k) }.min() ?? 0
        let bulkBest = (0..<repeats).map { _ in keystreamSeconds(words: maskLength, streams: k, inL1: false) }.min() ?? 0
        log(String(format: "masking d=%d k=%d: %.4f s; keystream for the same bytes: %.4f s in L1 (ratio %.2f), %.4f s written out",
                   maskLength, k, maskBest, keystreamBest, maskBest / keystreamBest, bulkBest))

        // 2. Whole rounds. Streams expanded: every member masks with k streams and unmasks k-1 self masks.
        let clean = try bestRound(d: roundLength, crashes: [:])
        let afterInput = try bestRound(d: roundLength, crashes: [k - 1: .unmaskRequest, k - 2: .unmaskRequest])
        let afterShare = try bestRound(d: roundLength, crashes: [k - 1: .maskedInput, k - 2: .maskedInput])
        let floor = (0..<repeats).map { _ in keystreamSeconds(words: roundLength, streams: k * (2 * k - 1)) }.min() ?? 0
        log(String(format: "round d=%d k=%d: %.4f s CPU (keystream floor %.4f s); 2 lost after masked input: %.4f s; 2 lost after sharing: %.4f s",
                   roundLength, k, clean, floor, afterInput, afterShare))

        let maxRSSMiB = ProcessMemory.peakResidentMegabytes()
        let fields: [(String, String)] = [
            ("bench", "\"secagg\""), ("k", "\(k)"), ("t", "\(threshold)"),
            ("mask_d", "\(maskLength)"), ("mask_s", fmt(maskBest)), ("keystream_s", fmt(keystreamBest)),
            ("keystream_written_out_s", fmt(bulkBest)),
            ("mask_ratio", fmt(maskBest / keystreamBest, 3)), ("mask_ratio_limit", "2"),
            ("round_d", "\(roundLength)"), ("round_cpu_s", fmt(clean)), ("round_limit_s", "0.15"),
            ("round_keystream_floor_s", fmt(floor)), ("round_floor_ratio", fmt(clean / floor, 3)),
            ("round_2_lost_after_input_cpu_s", fmt(afterInput)), ("after_input_ratio", fmt(afterInput / clean, 3)),
            ("round_2_lost_after_share_cpu_s", fmt(afterShare)), ("after_share_ratio", fmt(afterShare / clean, 3)),
            ("dropout_ratio_limit", "2"),
            ("member_bytes_per_word", fmt(bytesPerWord, 3)), ("max_rss_mib", fmt(maxRSSMiB, 4)),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    func configuration(d: Int, me: Int = 0, seed: UInt64 = 0) throws -> SecAggConfiguration {
        var rng = DeterministicRandom(seed: 1_000 + seed)
        let keys = (0..<members).map { _ in KeyPair.generate(using: &rng).publicKey }
        return try SecAggConfiguration(networkID: rng.bytes(32), round: seed, group: 0, members: keys, me: me,
                                       threshold: threshold, vectorLength: d, phaseTimeout: .seconds(10))
    }

    /// Brings member 0 to the point where one share is missing, then times the `receive` that
    /// completes its shares: that call masks the input and builds the outgoing message.
    func maskOnce(d: Int, seed: UInt64) throws -> (seconds: Double, heldBytes: Int) {
        let base = try configuration(d: d, seed: seed)
        var sessions = try (0..<members).map { m in
            var rng = DeterministicRandom(seed: seed &* 31 &+ UInt64(m))
            return SecAggSession(configuration: try base.forMember(m), rng: &rng)
        }
        var input = [UInt32](repeating: 0, count: d)
        var rng = DeterministicRandom(seed: seed)
        input.withUnsafeMutableBytes { rng.fill($0) }
        var adverts: [(from: Int, to: Int, bytes: [UInt8])] = []
        for m in 0..<members {
            for case let .send(to, bytes) in try sessions[m].start(input: m == 0 ? input : [UInt32](repeating: 0, count: d), now: .zero) {
                adverts.append((m, to, bytes))
            }
        }
        var sharesForZero: [(from: Int, bytes: [UInt8])] = []
        for advert in adverts {
            for case let .send(to, bytes) in try sessions[advert.to].receive(from: advert.from, bytes: advert.bytes, now: .zero) where to == 0 {
                sharesForZero.append((advert.to, bytes))
            }
        }
        guard let last = sharesForZero.popLast() else { throw RuntimeFailure(description: "no shares were sent") }
        for share in sharesForZero { _ = try sessions[0].receive(from: share.from, bytes: share.bytes, now: .zero) }
        let start = ProcessClock.cpuSeconds()
        let actions = try sessions[0].receive(from: last.from, bytes: last.bytes, now: .zero)
        let seconds = ProcessClock.cpuSeconds() - start
        guard sessions[0].phase == .masking, case let .send(_, message)? = actions.first else {
            throw RuntimeFailure(description: "member 0 did not mask (phase \(sessions[0].phase))")
        }
        return (seconds, sessions[0].retainedVectorBytes + message.count)
    }

    /// libsodium's own ChaCha20 producing `streams` keystreams of `words` 32-bit words. With
    /// `inL1` the bytes are produced 16 KiB at a time into one buffer that stays in L1 (pure
    /// keystream compute: the floor for masking); otherwise each stream is written out whole.
    func keystreamSeconds(words: Int, streams: Int, inL1: Bool = true) -> Double {
        let total = 4 * words
        let chunk = inL1 ? min(16_384, total) : total
        var buffer = [UInt8](repeating: 0, count: chunk)
        var nonce = [UInt8](repeating: 0, count: Int(crypto_stream_chacha20_NONCEBYTES))
        let key = [UInt8](repeating: 7, count: Int(crypto_stream_chacha20_KEYBYTES))
        let start = ProcessClock.cpuSeconds()
        for s in 0..<streams {
            nonce[0] = UInt8(truncatingIfNeeded: s)
            var done = 0
            while done < total {
                let n = min(chunk, total - done)
                nonce[1] = UInt8(truncatingIfNeeded: done >> 14)
                _ = crypto_stream_chacha20(&buffer, UInt64(n), nonce, key)
                done += n
            }
        }
        let seconds = ProcessClock.cpuSeconds() - start
        blackHole(buffer[buffer.count / 2])
        return seconds
    }

    /// CPU seconds of a whole round (sessions created, every phase, every member), the fastest of
    /// `repeats`; checks every live member's sum.
    func bestRound(d: Int, crashes: [Int: SecAggMessageKind]) throws -> Double {
        var best = Double.infinity
        for r in 0..<repeats {
            var rng = DeterministicRandom(seed: 50 + UInt64(r))
            let inputs = (0..<members).map { _ in
                var v = [UInt32](repeating: 0, count: d)
                v.withUnsafeMutableBytes { rng.fill($0) }
                return v
            }
            let base = try configuration(d: d, seed: UInt64(r))
            let start = ProcessClock.cpuSeconds()
            var group = try SecAggLocalGroup(configuration: base, seed: UInt64(r))
            group.crashBefore = crashes
            let outcomes = group.run(inputs: inputs)
            best = min(best, ProcessClock.cpuSeconds() - start)

            let counted = (0..<members).filter { crashes[$0].map { $0 > .maskedInput } ?? true }
            var expected = [UInt32](repeating: 0, count: d)
            for m in counted { for i in 0..<d { expected[i] &+= inputs[m][i] } }
            for m in 0..<members where crashes[m] == nil {
                guard outcomes[m]?.result?.sum == expected, outcomes[m]?.result?.contributors == counted else {
                    throw RuntimeFailure(description: "member \(m) did not get the exact sum: "
                        + (outcomes[m].map { if case let .failed(why) = $0 { "\(why)" } else { "a wrong sum" } } ?? "no outcome"))
                }
            }
        }
        return best
    }
}

private func fmt(_ value: Double, _ digits: Int = 4) -> String {
    value.isFinite ? String(format: "%.\(digits)g", value) : "null"
}

@inline(never)
private func blackHole(_ value: UInt8) {
    if value == 0x5a && Int.random(in: 0..<1_000_000) == -1 { print(value) }
}
