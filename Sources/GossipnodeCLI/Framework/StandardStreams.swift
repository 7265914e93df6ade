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
final class StreamWriter: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var failed = false

    init(fd: Int32) { self.fd = fd }

    func write(_ text: String) {
        lock.withLock {
            guard !failed else { return }
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                offset += written
            }
        }
    }
}
