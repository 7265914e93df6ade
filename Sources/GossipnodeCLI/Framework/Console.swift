import Foundation

/// Where a command writes: standard output for results, standard error for diagnostics.
/// Commands never touch `print` directly, so tests can capture both streams.
public struct Console: Sendable {
    public let writeOut: @Sendable (String) -> Void
    public let writeErr: @Sendable (String) -> Void

    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        writeOut = out
        writeErr = err
    }

    /// Writes a line to standard output.
    public func out(_ line: String) { writeOut(line + "\n") }
    /// Writes a line to standard error.
    public func err(_ line: String) { writeErr(line + "\n") }

    /// The process's own streams, unbuffered so per-round lines appear as they happen. A stream
    /// that cannot be written (closed pipe, full disk) is dropped from then on: output is a
    /// report, not the work (see `StandardStreams`).
    public static let standard: Console = {
        let out = StreamWriter(fd: STDOUT_FILENO), err = StreamWriter(fd: STDERR_FILENO)
        return Console(out: { out.write($0) }, err: { err.write($0) })
    }()
}

/// Collects everything a command writes (tests and in-process callers).
public final class CapturedConsole: @unchecked Sendable {
    private let lock = NSLock()
    private var outText = ""
    private var errText = ""

    public init() {}

    public var stdout: String { lock.withLock { outText } }
    public var stderr: String { lock.withLock { errText } }

    public var console: Console {
        Console(out: { [self] s in lock.withLock { outText += s } },
                err: { [self] s in lock.withLock { errText += s } })
    }
}
