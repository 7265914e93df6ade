#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: its name and `errno`, printed with the system's message.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public var description: String { "\(call) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

/// What a non-blocking call did: finished with a value, or would have had to wait.
enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// The one place every socket call goes through (as in swift-nio): retries EINTR, turns
/// EAGAIN/EWOULDBLOCK into `.wouldBlock`, and every other failure into a `SystemCallError`.
@inline(__always)
func syscall<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemCallError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let code = errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default: throw SystemCallError(call: name, code: code)
        }
    }
}

/// The same for calls that must not block or fail at all (setup): any failure is an error.
@inline(__always)
func syscallRequired<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemCallError) -> T {
    switch try syscall(name, body) {
    case let .done(value): return value
    case .wouldBlock: throw SystemCallError(call: name, code: EAGAIN)
    }
}

/// The monotonic clock as a `Duration` since an arbitrary epoch: the `now` of the transport.
public func monotonicNow() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
}

/// Wall-clock nanoseconds: a session number that grows across restarts of a process as long as
/// the clock does not step back past the previous start (`run` also keeps the last session in its
/// state directory and starts above it).
public func wallClockSession() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return max(1, UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
}
