import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One process at a time per state directory: an exclusive `flock` on `DIR/lock`, held while a
/// node runs or `privacy --record` writes (the kernel releases it however the process ends,
/// SIGKILL included, so a killed node never leaves a stale lock).
///
/// Why: two nodes started on one `--state` (a second terminal, a supervisor restarting a node that
/// still runs) would overwrite each other's checkpoints, and `privacy --record` during a run could
/// lose the run's ledger updates (each writes the ledger it read, atomically, so the last rename
/// wins): spent privacy understated. The holder's PID is written in the file for the message.
final class StateLock {
    private var fd: Int32
    private let file: String
    /// Whether this lock made its file (the directory had none): a start that fails afterwards
    /// removes it again, since exit code 2 promises nothing was left behind.
    private let createdFile: Bool

    static func path(_ stateDirectory: String) -> String { stateDirectory + "/lock" }

    /// Takes the lock until `release` (or the process ends), or throws a configuration error
    /// naming the process that holds it.
    init(_ stateDirectory: String) throws {
        file = Self.path(stateDirectory)
        createdFile = access(file, F_OK) != 0
        fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError("--state \(stateDirectory): cannot open \(file): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.heldBy(fd)
            close(fd)
            throw Self.inUse(stateDirectory, holder: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Releases the lock (closing its descriptor); the file stays for the next holder.
    func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    /// For a start that fails before the node runs: removes the lock file if this lock made it
    /// (while still holding it), then releases.
    func releaseUndoingCreation() {
        if createdFile && fd >= 0 { unlink(file) }
        release()
    }

    deinit { release() }

    /// For a dry run: throws as `init` would if another process holds the lock; creates nothing.
    static func checkFree(_ stateDirectory: String) throws {
        let fd = open(path(stateDirectory), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return } // no lock file: nobody ever ran here
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw inUse(stateDirectory, holder: heldBy(fd)) }
        // Closing the descriptor (deferred) releases the probe's lock.
    }

    private static func heldBy(_ fd: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = count > 0 ? String(decoding: bytes.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return Int32(text).map { "process \($0)" } ?? "another process"
    }

    private static func inUse(_ stateDirectory: String, holder: String) -> ConfigurationError {
        ConfigurationError("--state \(stateDirectory): in use by \(holder) (it holds \(path(stateDirectory))); "
            + "two processes on one state directory would overwrite each other's checkpoints and privacy ledger")
    }
}
