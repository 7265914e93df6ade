/// Tracks the highest round each peer has shown this node, and the highest round at least two
/// peers have shown.
///
/// One peer alone, honest or not, cannot drag a node ahead: `highest` moves only when a second
/// peer shows a round (SPEC §8, catching up). Shown rounds only grow, so the two largest shown
/// rounds of distinct peers are kept incrementally.
struct RoundsShown: Sendable {
    /// The highest round each peer has shown, by peer index (0 until it shows one).
    private var byPeer: [UInt64]
    /// The peer that showed the highest round, and that round.
    private var leader: (peer: Int, round: UInt64) = (-1, 0)
    /// The highest round at least two peers have shown, or the node's own last completed round
    /// (`reached`) if that is higher.
    private(set) var highest: UInt64

    /// - Parameter reached: the last round this node completed (0 on a first start).
    init(peerCount: Int, reached: UInt64) {
        byPeer = Array(repeating: 0, count: peerCount)
        highest = reached
    }

    /// The highest round `peer` has shown.
    subscript(peer: Int) -> UInt64 { byPeer[peer] }

    /// `peer` named `round`: raises its shown round and, with a second peer's, `highest`.
    mutating func note(_ round: UInt64, shownBy peer: Int) {
        guard round > byPeer[peer] else { return }
        byPeer[peer] = round
        if peer == leader.peer {
            leader.round = round
        } else if round > leader.round {
            highest = max(highest, leader.round)
            leader = (peer, round)
        } else {
            highest = max(highest, round)
        }
    }

    /// This node completed `round`: `highest` is at least that.
    mutating func reached(_ round: UInt64) {
        highest = max(highest, round)
    }
}
