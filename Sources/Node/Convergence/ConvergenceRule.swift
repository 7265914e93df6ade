import Foundation

/// The coordinator-free stopping rule (SPEC.md §10), as a value every node updates once a round.
///
/// Each node decides locally whether a round left it converged. What is gossiped (inside the
/// secure-aggregation annotations) is, for each of the last 64 rounds, one bit: "every node whose
/// news has reached me was converged in that round", AND-combined. After `mixingMargin` rounds the
/// news of a round has reached every node, so when the bits of `patience` consecutive rounds that
/// old are all set, the whole network has been converged for `patience` rounds and the node
/// proposes a stop round. Proposals are max-combined and only move later (a node still improving
/// pushes them), so every node settles on the same stop round.
public struct ConvergenceRule: Sendable, Equatable, Codable {
    public struct Settings: Sendable, Equatable, Codable {
        /// Relative change below which a round counts as converged.
        public var tolerance: Double
        /// Consecutive network-wide converged rounds needed before proposing to stop.
        public var patience: Int
        /// Rounds for news to reach every node; also the delay between a proposal and the stop.
        public var mixingMargin: Int
        /// The stop round when no earlier convergence happens (`--rounds`).
        public var maxRounds: UInt64

        public init(tolerance: Double, patience: Int, mixingMargin: Int, maxRounds: UInt64) {
            precondition(patience >= 1 && mixingMargin >= 1 && patience + mixingMargin <= 64,
                         "patience + mixing margin must fit the 64-round window")
            self.tolerance = tolerance
            self.patience = patience
            self.mixingMargin = mixingMargin
            self.maxRounds = maxRounds
        }

        /// What `init` requires, for settings decoded from a checkpoint instead of built by it.
        var isValid: Bool {
            (1...63).contains(patience) && (1...63).contains(mixingMargin) && patience + mixingMargin <= 64
        }
    }

    /// What a node gossips: the last round it describes, the AND-combined converged bits of the
    /// 64 rounds ending there, and the proposed stop round (0: none). 25 bytes on the wire.
    public struct Annotation: Sendable, Equatable, Codable {
        public var round: UInt64
        public var convergedBits: UInt64
        public var stopRound: UInt64

        public init(round: UInt64, convergedBits: UInt64, stopRound: UInt64) {
            self.round = round
            self.convergedBits = convergedBits
            self.stopRound = stopRound
        }

        public static let byteCount = 25

        public var bytes: [UInt8] {
            var out: [UInt8] = [1]
            for value in [round, convergedBits, stopRound] {
                withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
            }
            return out
        }

        /// Decodes an annotation; nil for anything malformed (it then counts as no news).
        public init?(bytes: [UInt8]) {
            guard bytes.count == Self.byteCount, bytes[0] == 1 else { return nil }
            func word(_ at: Int) -> UInt64 {
                (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
            }
            round = word(1)
            convergedBits = word(9)
            stopRound = word(17)
        }
    }

    public let settings: Settings
    /// The last round recorded.
    public private(set) var round: UInt64 = 0
    /// Bit j: every node heard from was converged in round `round - j`.
    public private(set) var convergedBits: UInt64 = 0
    /// The agreed stop round so far (0: none proposed).
    public private(set) var stopRound: UInt64 = 0
    /// Whether this node's own last round was converged.
    public private(set) var locallyConverged = false
    private var bestLoss = Double.infinity

    public init(settings: Settings) { self.settings = settings }

    /// Rounds count up from 1 and never get near this; a larger value in a checkpoint means the
    /// file is corrupt (and round arithmetic would overflow).
    static let maximumRound: UInt64 = 1 << 62

    /// Whether a decoded rule is one this type could have produced (see `NodeCheckpoint`).
    var isPlausible: Bool { settings.isValid && round <= Self.maximumRound && stopRound <= Self.maximumRound }

    /// What this node advertises in its next round.
    public var annotation: Annotation {
        Annotation(round: round, convergedBits: convergedBits, stopRound: stopRound)
    }

    /// Folds in one finished round: the relative model change, the validation loss, and the
    /// annotations heard from the group in that round. A round whose aggregation failed
    /// (`aggregated` false) says nothing about convergence: the model did not mix, so it neither
    /// counts as converged (a partitioned side would otherwise "converge" on failed rounds and
    /// stop alone), nor proposes a stop (the news the proposal rests on did not finish spreading),
    /// nor pushes a proposed stop later (a node left alone would never stop).
    public mutating func record(round newRound: UInt64, relativeChange: Double, validationLoss: Double,
                                heard: [Annotation], aggregated: Bool = true) {
        let improved = validationLoss < bestLoss * (1 - settings.tolerance)
        if aggregated, validationLoss < bestLoss { bestLoss = validationLoss }
        // Either signal suffices: a model that barely moves, or a validation loss that stopped
        // improving (DP noise keeps moving a model whose loss has long plateaued).
        locallyConverged = aggregated && ((relativeChange.isFinite && relativeChange < settings.tolerance) || !improved)
        // Age the window to the new round, then set this round's bit from the local decision.
        let age = newRound > round ? newRound - round : 0
        convergedBits = age >= 64 ? 0 : convergedBits << age
        round = max(round, newRound)
        convergedBits = (convergedBits & ~1) | (locallyConverged ? 1 : 0)
        for news in heard {
            stopRound = max(stopRound, news.stopRound)
            guard news.round <= round else { continue } // from the future: ignore its bits
            let shift = round - news.round
            guard shift < 64 else { continue }
            // Rounds newer than the news are not covered by it: leave their bits alone.
            let uncovered: UInt64 = shift == 0 ? 0 : (UInt64.max >> (64 - shift))
            convergedBits &= (news.convergedBits << shift) | uncovered
        }
        let margin = UInt64(settings.mixingMargin)
        // Not in a failed round either: the bits of round `newRound - margin` are complete only
        // once this round has carried the last of their news, which a failed round did not. With
        // one group (margin 1) a node cut off as a round began proposed from its own round before,
        // while the member it lost, not converged then, never did: the cut-off side stopped on its
        // own in rounds it failed, the other ran on to --rounds.
        if stopRound == 0 && aggregated && newRound >= margin + UInt64(settings.patience) {
            let window = ((UInt64(1) << UInt64(settings.patience)) - 1) << margin
            if convergedBits & window == window { stopRound = round + 2 * margin }
        }
        if stopRound > 0 && aggregated && !locallyConverged && round + margin <= stopRound {
            // Still improving while a stop is proposed, and early enough for the news to reach every
            // node before the stop: push it later, never earlier. In the last `margin` rounds the
            // stop round is final, so nobody stops on a round the others have already extended.
            stopRound = max(stopRound, round + 2 * margin)
        }
    }

    /// Proposes stopping (privacy budget spent, or an operator's request) two mixing margins out,
    /// unless a stop is already agreed (this node then keeps aggregating until it).
    public mutating func proposeStop(after round: UInt64) {
        if stopRound == 0 { stopRound = round + 2 * UInt64(settings.mixingMargin) }
    }

    /// Whether the node should stop after completing `round`, and why.
    public func shouldStop(after round: UInt64) -> StopReason? {
        if stopRound > 0 && round >= stopRound { return .converged(stopRound: stopRound) }
        if round >= settings.maxRounds { return .roundLimit }
        return nil
    }
}

public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    case converged(stopRound: UInt64)
    case roundLimit
    case privacyBudget
    case signal
    case failure(String)

    public var isConverged: Bool {
        if case .converged = self { return true }
        return false
    }

    /// A node that reached its round limit or agreed to stop without aggregating a single round
    /// learned nothing from the network: that is a failure, not a finished run (`run` and
    /// `simulate` alike; rounds failed for the reasons on the round lines).
    public func unlessNoRoundAggregated(completed: Int, failed: Int) -> StopReason {
        guard failed > 0, completed == 0, self == .roundLimit || isConverged else { return self }
        return .failure("no round aggregated: all \(failed) failed (see the round lines for why)")
    }

    public var description: String {
        switch self {
        case let .converged(round): return "converged (agreed stop round \(round))"
        case .roundLimit: return "reached --rounds"
        case .privacyBudget: return "privacy budget spent"
        case .signal: return "stopped by signal"
        case let .failure(why): return "failed: \(why)"
        }
    }
}
