import Testing
import TestKit
@testable import Transport

@Suite struct EventQueueTests {
    /// Interleaved schedules and pops, against a plain list sorted by (time, insertion order).
    @Test(arguments: [1, 2, 3])
    func popsInTimeOrderWithTiesInInsertionOrder(seed: UInt64) {
        var rng = seededRandom(seed)
        var queue = EventQueue<[UInt8]>()
        var reference: [(time: Int64, order: Int, payload: [UInt8])] = []
        var order = 0
        var now: Int64 = 0
        for _ in 0..<2_000 {
            if rng.nextUInt64() % 3 != 0 || reference.isEmpty {
                // Few distinct times, so ties are common; never in the past, as the simulator does.
                let time = now + Int64(rng.nextUInt64() % 8)
                let payload = [UInt8(truncatingIfNeeded: order), UInt8(truncatingIfNeeded: order >> 8)]
                queue.schedule(payload, at: .milliseconds(time))
                reference.append((time, order, payload))
                order += 1
            } else {
                let expected = reference.enumerated().min { a, b in (a.element.time, a.element.order) < (b.element.time, b.element.order) }!
                reference.remove(at: expected.offset)
                let popped = queue.pop()
                #expect(popped?.time == .milliseconds(expected.element.time))
                #expect(popped?.event == expected.element.payload)
                now = expected.element.time
                #expect(queue.count == reference.count)
            }
        }
        while let popped = queue.pop() {
            let expected = reference.enumerated().min { a, b in (a.element.time, a.element.order) < (b.element.time, b.element.order) }!
            reference.remove(at: expected.offset)
            #expect(popped.event == expected.element.payload)
        }
        #expect(reference.isEmpty && queue.isEmpty && queue.nextTime == nil)
    }
}
