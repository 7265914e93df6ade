import CKernels
import Dispatch

/// The numeric kernels the layers use: the C GEMM (run-time ISA dispatch) and the fork-join that
/// splits work over threads. Callers split over rows or columns of an output, never over the summed
/// dimension, so every thread count gives bit-identical results.
public enum Kernels {
    /// The instruction set the GEMM uses on this CPU ("avx512", "avx2" or "baseline").
    public static var instructionSet: String { String(cString: ck_active_isa_name()) }

    /// C = (accumulate ? C : 0) + op(A) op(B) (+ bias per column) (then ReLU), row-major; see `ck_sgemm`.
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false,
        bias: UnsafePointer<Float>? = nil, relu: Bool = false
    ) {
        ck_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0, bias, relu ? 1 : 0)
    }

    /// Runs `body(0..<count)` on the kernel worker pool (`WorkerPool`; Dispatch's threads when the
    /// pool is off or busy), the caller's thread taking part, with flush-to-zero enabled in each.
    /// Runs inline when count is 1.
    public static func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        #if os(Linux)
        if WorkerPool.shared.run(count, body) { return }
        #endif
        // Callers write disjoint parts of shared buffers, which the type system cannot see.
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { i in
                ck_enable_flush_to_zero()
                box.value(i)
            }
        }
    }

    /// Runs `body` on every non-empty range of `bands`, each band (a list of ranges) on one thread.
    public static func forEachRange(in bands: [[Range<Int>]], _ body: (Range<Int>) -> Void) {
        parallelFor(bands.count) { band in
            for range in bands[band] where !range.isEmpty { body(range) }
        }
    }
}

/// Carries a value into Dispatch's `@Sendable` closures where the caller guarantees disjoint access.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
