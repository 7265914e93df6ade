#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open file descriptors (`ulimit -n`). A node holds its socket, a wake-up
/// pipe, Dispatch's event descriptors (signals, timers) and, while it checkpoints, two files; below
/// about ten libdispatch cannot create its event descriptor and aborts the process.
enum OpenFileLimit {
    /// Raises the soft limit to `minimum` when the hard limit allows, else explains what to change.
    static func ensure(atLeast minimum: rlim_t) throws(ConfigurationError) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < minimum else { return }
        if limit.rlim_max >= minimum {
            var raised = limit
            raised.rlim_cur = minimum
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return }
        }
        throw ConfigurationError("the open-file limit (ulimit -n) is \(limit.rlim_cur), hard limit \(limit.rlim_max); "
            + "a node needs at least \(minimum) descriptors")
    }
}
