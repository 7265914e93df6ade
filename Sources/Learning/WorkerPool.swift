#if os(Linux)
import CKernels
import Dispatch
import Foundation
import Synchronization

/// Persistent worker threads for the kernels' fork-join sections. A training step forks several
/// times within a millisecond; Dispatch's pool puts its threads to sleep between forks, and waking
/// them costs tens of microseconds. These workers spin for a short while after each job before
/// sleeping on a semaphore, so back-to-back forks start at once. Chunks are claimed, not assigned:
/// when a worker is descheduled (a busy machine), the caller runs its chunks itself. The caller
/// claims from the first chunk up and workers from the last down, so with every thread active a
/// chunk index runs on the same thread fork after fork and its data stay in that core's cache.
final class WorkerPool: @unchecked Sendable {
    /// One worker per core besides the caller's; GOSSIPNODE_KERNEL_POOL=0 disables the pool, and
    /// Dispatch runs every fork. Created on the first fork, so single-threaded runs have no workers.
    /// Measured with scripts/bench-train.sh (which runs both): on this 2-core VM a Dispatch fork
    /// costs ~100 µs, more than a whole SGD update, and the pool is what makes 2 threads pay.
    static let shared = WorkerPool(workers: ProcessInfo.processInfo.environment["GOSSIPNODE_KERNEL_POOL"] == "0"
                                   ? 0 : max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    let workers: Int
    /// (fork number << 48) | bit mask of claimed chunks. Tagging claims with the fork number means
    /// a late worker can never claim a chunk of a later fork by mistake.
    private let claims = Atomic<UInt64>(0)
    private static let maskBits: UInt64 = 48
    private let completed = Atomic<Int>(0)
    private let busy = Mutex<Void>(())  // one fork at a time; others (nested or concurrent) use Dispatch
    private let wakeups: [DispatchSemaphore]
    // Written by the caller before a fork is published in `claims`, read only by claimants.
    private nonisolated(unsafe) var job: ((Int) -> Void)?
    private nonisolated(unsafe) var jobCount = 0
    private var forks = 0  // guarded by `busy`
    private static let spinIterations = 20_000

    init(workers: Int) {
        self.workers = workers
        wakeups = (0..<workers).map { _ in DispatchSemaphore(value: 0) }
        for index in 0..<workers {
            let thread = Thread { [unowned self] in self.workerLoop(index) }
            thread.name = "gossipnode-kernels-\(index + 1)"
            thread.start()
        }
    }

    /// Runs body(0..<count), the caller taking part; false (nothing run) if there are no workers,
    /// too many chunks, or another fork holds the pool.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard workers > 0, count > 1, count <= Int(Self.maskBits) else { return false }
        return withoutActuallyEscaping(body) { body in
            let ran: Bool? = busy.withLockIfAvailable { _ -> Bool in
                forks = (forks + 1) & 0xFFFF
                job = body
                jobCount = count
                completed.store(0, ordering: .sequentiallyConsistent)
                claims.store(UInt64(forks) << Self.maskBits, ordering: .sequentiallyConsistent)
                for semaphore in wakeups.prefix(count - 1) { semaphore.signal() }
                work(fork: forks, fromLast: false)
                // A worker still running a chunk: spin, but give the core away now and then in
                // case it was preempted (more threads than cores, as with several nodes per host).
                var spins = 0
                while completed.load(ordering: .sequentiallyConsistent) < count {
                    spins += 1
                    if spins % 4096 == 0 { sched_yield() }
                }
                job = nil
                return true
            }
            return ran ?? false
        }
    }

    /// Claims and runs chunks of `fork` until none is left, lowest or highest free chunk first.
    private func work(fork: Int, fromLast: Bool) {
        while true {
            let current = claims.load(ordering: .sequentiallyConsistent)
            guard current >> Self.maskBits == UInt64(fork) else { return }
            let free = ~current & ((1 << UInt64(jobCount)) - 1)
            guard free != 0 else { return }
            let chunk = fromLast ? 63 - free.leadingZeroBitCount : free.trailingZeroBitCount
            let (exchanged, _) = claims.compareExchange(expected: current, desired: current | 1 << UInt64(chunk),
                                                        ordering: .sequentiallyConsistent)
            guard exchanged else { continue }
            runChunk(chunk)
            completed.add(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Calls the job; its reference to the closure ends here, before the chunk is reported done
    /// (the caller's `withoutActuallyEscaping` checks that nothing still holds it).
    @inline(never) private func runChunk(_ chunk: Int) {
        job?(chunk)
    }

    private func workerLoop(_ index: Int) {
        ck_enable_flush_to_zero()
        var seenFork = 0  // before any fork, whenever this thread starts
        while true {
            var spins = 0
            while Int(claims.load(ordering: .sequentiallyConsistent) >> Self.maskBits) == seenFork && spins < Self.spinIterations {
                spins += 1
            }
            let fork = Int(claims.load(ordering: .sequentiallyConsistent) >> Self.maskBits)
            if fork == seenFork {
                wakeups[index].wait()  // extra signals only cause another spin round
                continue
            }
            seenFork = fork
            work(fork: fork, fromLast: true)
        }
    }
}
#endif
