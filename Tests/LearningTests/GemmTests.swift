import CKernels
import Foundation
import Testing
@testable import Learning

/// The blocked GEMM of every instruction-set variant this CPU runs, against a naive triple loop.
@Suite struct GemmTests {
    static func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int,
                      c: [Float], ldc: Int, accumulate: Bool, bias: [Float]?, relu: Bool) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = accumulate ? Double(c[i * ldc + j]) : 0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(x) * Double(y)
                }
                if let bias { sum += Double(bias[j]) }
                if relu { sum = max(sum, 0) }
                out[i * ldc + j] = Float(sum)
            }
        }
        return out
    }

    static let variants: [Int32] = [Int32(CK_ISA_BASELINE), Int32(CK_ISA_AVX2), Int32(CK_ISA_AVX512)]

    @Test func matchesNaiveOnOddShapes() {
        var rng = SeededGenerator(seed: 1)
        let shapes = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (50, 70, 300), (97, 45, 513), (8, 64, 0), (130, 2100, 3), (40, 16, 300), (33, 10, 513)]
        var checked = 0, ran: [Int32] = []
        let best = ck_active_isa()
        for isa in Self.variants where ck_set_isa(isa) == 1 {
            defer { ck_set_isa(Int32(CK_ISA_AUTO)) }
            ran.append(isa)
            for (m, n, k) in shapes {
                for transA in [false, true] {
                    for transB in [false, true] {
                        let accumulate = (m + n) % 2 == 0, relu = k % 2 == 1
                        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2
                        let a = (0..<(max(transA ? k : m, 1) * lda)).map { _ in Float(rng.nextGaussian()) }
                        let b = (0..<(max(transB ? n : k, 1) * ldb)).map { _ in Float(rng.nextGaussian()) }
                        let c0 = (0..<(m * ldc)).map { _ in Float(rng.nextGaussian()) }
                        let bias: [Float]? = m % 2 == 1 ? (0..<n).map { _ in Float(rng.nextGaussian()) } : nil
                        let expected = Self.naive(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                                   c: c0, ldc: ldc, accumulate: accumulate, bias: bias, relu: relu)
                        var c = c0
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                c.withUnsafeMutableBufferPointer { cp in
                                    (bias ?? []).withUnsafeBufferPointer { biasp in
                                        Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                                     a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                                                     c: cp.baseAddress!, ldc: ldc, accumulate: accumulate,
                                                     bias: bias == nil ? nil : biasp.baseAddress, relu: relu)
                                    }
                                }
                            }
                        }
                        let worst = zip(c, expected).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
                        #expect(worst < 1e-4, "isa \(isa) m\(m) n\(n) k\(k) tA \(transA) tB \(transB): error \(worst)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked >= shapes.count * 4, "at least the baseline variant ran")
        // The variant training uses here (with the narrow AVX-512 one for n <= 16) was among them.
        #expect(ran.contains(best), "variants run: \(ran), best on this CPU: \(best)")
    }

    /// A test forcing a variant must not change the rounding of training on other threads
    /// (meaningful where the CPU has a variant better than the baseline).
    @Test(.enabled(if: ck_active_isa() != Int32(CK_ISA_BASELINE)))
    func forcingAVariantAffectsOnlyTheCallingThread() {
        final class Seen: @unchecked Sendable { var isa: Int32 = -1 }  // written before the signal, read after
        let best = ck_active_isa(), seen = Seen(), done = DispatchSemaphore(value: 0)
        let thread = Thread {
            ck_set_isa(Int32(CK_ISA_BASELINE))
            seen.isa = ck_active_isa()
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(seen.isa == Int32(CK_ISA_BASELINE))
        #expect(ck_active_isa() == best)
    }
}

/// The fork-join helper runs every chunk exactly once, also when forks nest or overlap.
@Suite struct ParallelForTests {
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var hits: [Int: Int] = [:]
        func hit(_ key: Int) { lock.withLock { hits[key, default: 0] += 1 } }
    }

    @Test func everyChunkRunsOnceEvenWhenNested() {
        let counter = Counter()
        for round in 0..<200 {
            Kernels.parallelFor(2) { outer in
                Kernels.parallelFor(2) { inner in counter.hit(round * 4 + outer * 2 + inner) }
            }
        }
        #expect(counter.hits.count == 800 && counter.hits.values.allSatisfy { $0 == 1 })
    }

    #if os(Linux)
    /// The opt-in spinning pool (one worker, kept for the test process's lifetime).
    static let pool = WorkerPool(workers: 1)

    @Test func workerPoolRunsEveryChunkOnceAndDeclinesWhenBusy() async {
        let counter = Counter()
        let nestedRan = Counter()
        for round in 0..<300 {
            let ran = Self.pool.run(2) { i in
                // A nested fork finds the pool busy and declines (the caller then uses Dispatch).
                if i == 0, Self.pool.run(2, { _ in }) { nestedRan.hit(round) }
                counter.hit(round * 2 + i)
            }
            #expect(ran)
        }
        #expect(nestedRan.hits.isEmpty)
        await withTaskGroup(of: Void.self) { group in
            for caller in 1...3 {
                group.addTask {
                    for round in 0..<100 {
                        if !Self.pool.run(2, { i in counter.hit(caller * 10_000 + round * 2 + i) }) {
                            for i in 0..<2 { counter.hit(caller * 10_000 + round * 2 + i) }
                        }
                    }
                }
            }
        }
        #expect(counter.hits.count == 600 + 600 && counter.hits.values.allSatisfy { $0 == 1 })
    }
    #endif

    @Test func concurrentCallersDoNotInterfere() async {
        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<4 {
                group.addTask {
                    for round in 0..<100 { Kernels.parallelFor(2) { i in counter.hit(caller * 1000 + round * 2 + i) } }
                }
            }
        }
        #expect(counter.hits.count == 800 && counter.hits.values.allSatisfy { $0 == 1 })
    }
}
