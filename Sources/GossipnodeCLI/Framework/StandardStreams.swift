import Foundation
#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// The process's standard streams, made safe to lose. A node's peers and its checkpoints must not
/// depend on whoever reads its output: `gossipnode run ... | head -1` used to kill the node with
/// SIGPIPE at its next line (its groups then waited out their timeouts for it), and a stream
/// closed at start (`>&-`) let the UDP socket or a checkpoint's temporary file take descriptor 1,
/// so the next line went to the socket and crashed the process.
public enum StandardStreams {
    /// Call once at process start, before anything opens a file: gives a closed descriptor 0, 1
    /// or 2 `/dev/null`, and ignores SIGPIPE so that writing to a pipe nobody reads fails with
    /// EPIPE (and the output is dropped) instead of ending the process.
    public static func prepare() {
        for fd in Int32(0)...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", O_RDWR)
            if opened >= 0 && opened != fd {
                dup2(opened, fd)
                close(opened)
            }
        }
        signal(SIGPIPE, SIG_IGN)
    }
}

/// Writes whole lines to one descriptor; after the first failure (a closed pipe, a full disk) it
/// drops everything else rather than retry, so a command runs on and exits as its work decides.
///
/// A reader that stops reading without closing (a paused `| less`, a hung supervisor) would
/// otherwise block the writer once the pipe is full, and a node's run loop, which writes its
/// round lines, would stop answering its peers. So each write first waits at most
/// `stallMilliseconds` for room; a line that gets none is dropped, later lines are dropped at once
/// while the reader stays stalled, and a note says how many were lost when it reads again.
final class StreamWriter: @unchecked Sendable {
    static let stallMilliseconds: Int32 = 1_000
    /// Writes of at most PIPE_BUF bytes to a pipe with room for them never block (POSIX).
    static let chunkBytes = 4_096

    private let fd: Int32
    private let lock = NSLock()
    private var failed = false
    private var droppedLines = 0

    init(fd: Int32) { self.fd = fd }

    func write(_ text: String) {
        lock.withLock {
            guard !failed else { return }
            if droppedLines > 0 {
                guard hasRoom(waiting: 0) else { droppedLines += 1; return }
                let note = "[gossipnode: \(droppedLines) lines of output dropped while nobody read them]\n"
                droppedLines = 0
                guard writeAll(Array(note.utf8)) else { return }
            }
            _ = writeAll(Array(text.utf8))
        }
    }

    /// Writes `bytes` in chunks, each once the descriptor has room; false if dropped or failed.
    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            guard hasRoom(waiting: Self.stallMilliseconds) else {
                droppedLines += 1
                return false
            }
            let end = min(bytes.count, offset + Self.chunkBytes)
            let written = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, end - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                failed = true
                return false
            }
            offset += written
        }
        return true
    }

    /// Whether a write would not block (or would fail at once, which `write` then reports).
    /// Regular files and terminals always have room.
    private func hasRoom(waiting milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready != 0
        }
    }
}
