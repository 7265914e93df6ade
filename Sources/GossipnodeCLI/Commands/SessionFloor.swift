import Foundation
import Learning
import Privacy
import Transport

/// The transport session number of one start of `run` (SPEC §3.3), kept above every earlier
/// start's by a record in the state directory.
///
/// Why: the session is the first half of every XChaCha20 nonce and must grow across restarts.
/// Wall-clock nanoseconds alone grow only while the clock does: a node restarted after its clock
/// stepped back (an NTP correction, a VM restored, a hand-set date) took a session below its last
/// one, and every peer that had heard the last one dropped all its datagrams as `stale_session`
/// until the clock caught up (it could not take part in any round), and a session equal to an
/// earlier one would have repeated nonces under the same key. The state directory is locked by
/// one process at a time (`StateLock`), so this file sees every start of the node.
enum SessionFloor {
    static let fileName = "session"

    static func path(stateDirectory: String) -> String {
        URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName).path
    }

    /// This start's session: the wall clock, or one above the session recorded by the previous
    /// start if the clock is behind it. An unreadable record is an error naming the file.
    static func next(stateDirectory: String, wallClock: UInt64 = wallClockSession()) throws -> UInt64 {
        let path = path(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return max(1, wallClock) }
        // A record is one number; a huge file (sparse, or filled by mistake) is refused unread.
        let text: String
        do { text = String(decoding: try FileAccess.contents(of: path, atMost: 4096), as: UTF8.self) } catch {
            throw ConfigurationError("\(path): unreadable (\(error.problem)); delete it if no node runs with this state directory")
        }
        guard let previous = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), previous < UInt64.max else {
            throw ConfigurationError("\(path): not a session number written by gossipnode run; "
                                     + "delete it if no node runs with this state directory")
        }
        return max(1, wallClock, previous + 1)
    }

    /// Records `session` durably; called before the first datagram of the session leaves.
    static func record(_ session: UInt64, stateDirectory: String) throws {
        try AtomicFile.write(Data("\(session)\n".utf8), to: path(stateDirectory: stateDirectory), permissions: 0o600)
    }
}
