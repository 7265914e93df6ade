#if os(Linux)
import CKernels
import Dispatch
import Foundation
import Synchronization

/// Persistent worker threads for the kernels' fork-join sections. A training step forks several
/// times within a millisecond; Dispatch's pool puts its threads to sleep between forks, and waking
/// them costs tens of microseconds. These workers spin for a short while after each job before
/// sleeping on a semaphore, so back-to-back forks start at once. (scripts/bench-train.sh measures it.)
final class WorkerPool: @unchecked Sendable {
    /// One worker per core besides the caller's.
    static let shared = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    let workers: Int
    /// (fork number << 16) | chunk count of that fork: one atomic, so a worker always sees a
    /// consistent pair and never mistakes whether the current fork includes it.
    private let published = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Mutex<Void>(())  // one fork at a time; others (nested or concurrent) use Dispatch
    private let wakeups: [DispatchSemaphore]
    // Written by the caller before publishing a generation, read by workers after seeing it.
    private nonisolated(unsafe) var job: ((Int) -> Void)?
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

    /// Runs body(0..<count) with the caller taking chunk 0; false (nothing run) if there are not
    /// enough workers or another fork holds the pool.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard count - 1 <= workers, count > 1, count < 1 << 16 else { return false }
        return withoutActuallyEscaping(body) { body in
            let ran: Bool? = busy.withLockIfAvailable { _ -> Bool in
                job = body
                forks &+= 1
                pending.store(count - 1, ordering: .sequentiallyConsistent)
                published.store((forks & 0xFFFF_FFFF) << 16 | count, ordering: .sequentiallyConsistent)
                for i in 0..<(count - 1) { wakeups[i].signal() }
                body(0)
                while pending.load(ordering: .sequentiallyConsistent) > 0 { spinPause() }
                job = nil
                return true
            }
            return ran ?? false
        }
    }

    private func workerLoop(_ index: Int) {
        ck_enable_flush_to_zero()
        var seen = 0  // the value before any fork, whenever this thread starts
        while true {
            var spins = 0
            while published.load(ordering: .sequentiallyConsistent) == seen && spins < Self.spinIterations {
                spinPause()
                spins += 1
            }
            let now = published.load(ordering: .sequentiallyConsistent)
            if now == seen {
                wakeups[index].wait()  // extra signals only cause another spin round
                continue
            }
            seen = now
            // A participant's fork cannot end (nor `job` change) before it decrements `pending`.
            if index + 1 < now & 0xFFFF, let job {
                job(index + 1)
                pending.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    @inline(__always) private func spinPause() {
        #if arch(x86_64) || arch(i386)
        _ = 0  // a plain load loop; the atomic load already prevents hoisting
        #endif
    }
}
#endif
