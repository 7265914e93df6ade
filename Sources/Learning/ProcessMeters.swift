import Dispatch
import Glibc

/// This process's clocks, for reports and benchmarks: one place that reads them.
public enum ProcessClock {
    /// CPU seconds (user and system, all threads) this process has used: what work costs on a
    /// shared host, where wall time depends on the neighbours.
    public static func cpuSeconds() -> Double {
        var time = timespec()
        guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else { return 0 }
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Monotonic wall seconds from an arbitrary origin: only differences mean anything.
    public static func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

/// This process's memory, for reports and benchmarks.
public enum ProcessMemory {
    /// Resident set size now, in MiB (nil where /proc is missing).
    public static func residentMegabytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    /// The peak resident set size so far, in MiB.
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    }
}
