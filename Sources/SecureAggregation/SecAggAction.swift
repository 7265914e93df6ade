/// What a session asks its driver to do after an event.
public enum SecAggAction: Sendable {
    /// Deliver `bytes` to group member `to` over the authenticated, encrypted channel.
    case send(to: Int, bytes: [UInt8])
    /// The round's exact sum; happens at most once per session.
    case completed(SecAggResult)
    /// The round failed for this member: no sum; keep the local model. At most once per session.
    case failed(SecAggFailure)
}

/// The outcome of a successful round as one member sees it.
public struct SecAggResult: Sendable, Equatable {
    /// Σ of the contributors' input vectors, word by word mod 2^32.
    public let sum: [UInt32]
    /// Members whose inputs are in `sum`, ascending (this member included).
    public let contributors: [Int]
    /// Annotations of every member whose advertisement arrived (this member included).
    public let annotations: [Int: [UInt8]]
}

/// The phases of SPEC §7.1, plus the terminal states.
public enum SecAggPhase: String, Sendable, Comparable {
    case idle, advertising, sharing, masking, unmasking, completed, failed, closed

    private var order: Int {
        switch self {
        case .idle: return 0
        case .advertising: return 1
        case .sharing: return 2
        case .masking: return 3
        case .unmasking: return 4
        case .completed: return 5
        case .failed: return 6
        case .closed: return 7
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }

    var isTerminal: Bool { self >= .completed }
}

/// Why a round ended without a sum. No secret of any member is revealed by a failure.
public enum SecAggFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// A phase ended with fewer than `threshold` members (this one included) still taking part.
    /// `absent`: the members that did not, so a log names whom the group lacked (a partition's
    /// other side, a dead peer), not only how many.
    case tooFewMembers(phase: SecAggPhase, present: Int, threshold: Int, absent: [Int])
    /// The unmask phase ended before `threshold` shares of these members' secrets arrived.
    /// `survivors`, `dropped`: this member's view; `votes`: how many members' requests (its own
    /// included) voted for that view, `voters`: how many voted at all; a view needs `threshold`.
    case unmaskTimedOut(missing: [Int], survivors: [Int], dropped: [Int], votes: Int, voters: Int)
    /// So many members refused the unmask request (they saw a different dropout set) that
    /// `threshold` answers can no longer arrive. `dropped`: the members this one's view dropped.
    case viewsDiffer(declined: Int, dropped: [Int])
    /// Shares reconstructed a secret that does not match what its owner advertised.
    case reconstructionFailed(member: Int)

    /// The members this one counted out (group positions): those absent when too few took part,
    /// this member's view when views differed; empty otherwise.
    public var countedOut: [Int] {
        switch self {
        case let .tooFewMembers(_, _, _, absent): return absent
        case let .viewsDiffer(_, dropped): return dropped
        case .unmaskTimedOut, .reconstructionFailed: return []
        }
    }

    /// The description without the members of `countedOut`, for a caller that names them itself
    /// (the node reports them by peer name) instead of by group position.
    public var summary: String {
        switch self {
        case let .tooFewMembers(phase, present, threshold, _):
            return "only \(present) \(present == 1 ? "member" : "members") took part in the \(phase) phase; \(threshold) needed"
        case let .viewsDiffer(declined, _):
            return "\(declined) members saw different dropouts and refused to help unmask"
        case .unmaskTimedOut, .reconstructionFailed:
            return description
        }
    }

    public var description: String {
        switch self {
        case let .tooFewMembers(_, _, _, absent):
            return summary + " (absent: members \(absent))"
        case let .unmaskTimedOut(missing, survivors, dropped, votes, voters):
            return "unmask phase timed out without enough shares for members \(missing) "
                + "(view: survivors \(survivors), dropped \(dropped); \(votes) of \(voters) votes for it)"
        case let .viewsDiffer(_, dropped):
            return summary + " (this member dropped \(dropped))"
        case let .reconstructionFailed(member):
            return "the shares of member \(member) reconstructed a secret that does not match its advertisement"
        }
    }
}

/// Why a received message was ignored. The session's state is unchanged by a rejected message.
public enum SecAggRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// Wrong length, unknown type, bad bitmap: the message's own bytes are inconsistent.
    case malformed(String)
    case unsupportedVersion(UInt8)
    /// Another network, round, group, member list, threshold or vector length.
    case wrongContext
    /// The sender field differs from the channel the message came over.
    case wrongSender(claimed: Int, actual: Int)
    /// The channel's member index is outside the group or is this member.
    case notAPeer(Int)
    /// A second message of a kind each member sends once.
    case duplicate(SecAggMessageKind)
    /// A message this member cannot use in its current phase (too early or too late).
    case unexpected(SecAggMessageKind, phase: SecAggPhase)
    /// An advertised mask key is a low-order point.
    case weakMaskKey
    /// A masked input whose set of mask partners contradicts inputs already summed.
    case inconsistentMaskSet(member: Int)
    /// A masked input from a member whose advertisement (mask key, annotation) never arrived.
    case missingAdvertisement(member: Int)
    /// A request this member will not answer (fewer than t survivors, overlapping sets, ...).
    case invalidRequest(String)
    /// Shares or a masked input made with a mask key of `member` other than the one whose
    /// advertisement this member holds (a member restarted mid-round with a new key).
    case otherMaskKey(member: Int)

    public var description: String {
        switch self {
        case let .malformed(why): return "malformed secure-aggregation message: \(why)"
        case let .unsupportedVersion(v): return "unsupported secure-aggregation message version \(v)"
        case .wrongContext: return "message belongs to another network, round, group or configuration"
        case let .wrongSender(claimed, actual): return "message claims sender \(claimed) but came from \(actual)"
        case let .notAPeer(index): return "member index \(index) is not another member of the group"
        case let .duplicate(kind): return "duplicate \(kind) message"
        case let .unexpected(kind, phase): return "\(kind) message not expected in phase \(phase)"
        case .weakMaskKey: return "advertised mask key is a low-order point"
        case let .inconsistentMaskSet(member): return "masked input of member \(member) conflicts with inputs already summed"
        case let .missingAdvertisement(member): return "masked input of member \(member) arrived without its advertisement"
        case let .invalidRequest(why): return "unmask request refused: \(why)"
        case let .otherMaskKey(member): return "made with a mask key of member \(member) other than the one it advertised here (restarted mid-round?)"
        }
    }
}

/// Misuse of a session by its driver (not caused by any peer).
public enum SecAggUsageError: Error, Equatable, Sendable, CustomStringConvertible {
    case alreadyStarted
    case wrongInputLength(expected: Int, actual: Int)
    case annotationTooLong(Int)

    public var description: String {
        switch self {
        case .alreadyStarted: return "secure-aggregation session already started"
        case let .wrongInputLength(expected, actual): return "input has \(actual) words, session expects \(expected)"
        case let .annotationTooLong(n): return "annotation of \(n) bytes exceeds \(SecAggConfiguration.maximumAnnotationByteCount)"
        }
    }
}
