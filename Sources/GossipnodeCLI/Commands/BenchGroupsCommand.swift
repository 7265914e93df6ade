import Crypto
import Foundation
import Learning
import Node

/// `gossipnode bench-groups`: what deciding each round's groups costs with the mixing schedule,
/// against computing one random grouping per round (what nodes did before it), in the same run.
enum BenchGroupsCommand {
    static let command = Command(
        name: "bench-groups",
        abstract: "Measure the group schedule for N peers over R rounds; print one JSON line.",
        discussion: """
        Decides rounds 1...--rounds of the group schedule (SPEC.md §6: each round's first candidate
        grouping with which the last M rounds mix) for --peers generated keys in groups of
        --group-size, as a node that starts or catches up at that round does, and computes one
        random grouping per round for the same rounds (the reference: candidate 0 only, no mixing
        check). Reports both times, their ratio, the mixing margin M, candidates tried per round
        and windows left unmixed. Ends with one JSON line.
        """,
        options: [
            .value("peers", "n", help: "Peers in the network.", default: "8"),
            .value("group-size", "k", help: "Target group size.", default: "4"),
            .value("rounds", "r", help: "Rounds to decide.", default: "100000"),
        ],
        run: { args, console in
            let peers = try args.int("peers", in: 3...100_000) ?? 8
            let groupSize = try args.int("group-size", in: 3...peers) ?? 4
            let rounds = UInt64(try args.int("rounds", in: 1...10_000_000) ?? 100_000)
            var random = DeterministicRandom(seed: 1)
            let keys = (0..<peers).map { _ in KeyPair.generate(using: &random).publicKey }
            let networkID = [UInt8](repeating: 7, count: 32)
            let margin = GroupSchedule.mixingMargin(peers: peers, groupSize: groupSize)
            let schedule = GroupSchedule(networkID: networkID, publicKeys: keys, groupSize: groupSize, mixingMargin: margin)
            let scheduled = seconds { _ = schedule.assignment(round: rounds) }
            let plain = seconds {
                for round in 1...rounds {
                    _ = GroupAssignment(round: round, attempt: 0, networkID: networkID, publicKeys: keys, groupSize: groupSize)
                }
            }
            let checked = rounds >= UInt64(margin) ? rounds - UInt64(margin) + 1 : 0
            let candidates = checked == 0 ? 0 : (UInt64(margin)...rounds).reduce(0) { $0 + Int(schedule.attempt(round: $1)) + 1 }
            console.out("{\"bench\":\"groups\",\"peers\":\(peers),\"group_size\":\(groupSize),\"margin\":\(margin),\"rounds\":\(rounds),"
                + "\"schedule_s\":\(String(format: "%.4f", scheduled)),\"random_groupings_s\":\(String(format: "%.4f", plain)),"
                + "\"ratio\":\(String(format: "%.2f", scheduled / plain)),"
                + "\"candidates_per_round\":\(checked == 0 ? "null" : String(format: "%.4f", Double(candidates) / Double(checked))),"
                + "\"unmixed_windows\":\(schedule.unmixedWindows)}")
            return ExitCode.success
        })

    private static func seconds(_ body: () -> Void) -> Double {
        let start = ProcessClock.wallSeconds()
        body()
        return ProcessClock.wallSeconds() - start
    }
}
