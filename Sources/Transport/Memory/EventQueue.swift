/// A min-heap of events ordered by time, ties broken by insertion order, so a simulation that
/// schedules the same events in the same order replays identically.
///
/// The heap holds only trivial keys (time, sequence, slot) and the events wait in slots beside
/// it: sifting moves no payloads, so no reference counting happens while the heap is reordered
/// (a simulation of 1,000 nodes pops millions of events carrying datagrams).
public struct EventQueue<Event> {
    private struct Key {
        let time: Duration
        let sequence: UInt64
        let slot: Int

        func precedes(_ other: Key) -> Bool {
            time < other.time || (time == other.time && sequence < other.sequence)
        }
    }

    private var heap: [Key] = []
    private var slots: [Event?] = []
    private var freeSlots: [Int] = []
    private var sequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    public var nextTime: Duration? { heap.first?.time }

    public mutating func schedule(_ event: Event, at time: Duration) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = event
        } else {
            slot = slots.count
            slots.append(event)
        }
        heap.append(Key(time: time, sequence: sequence, slot: slot))
        sequence += 1
        var child = heap.count - 1
        let key = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard key.precedes(heap[parent]) else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = key
    }

    /// Removes and returns the earliest event.
    public mutating func pop() -> (time: Duration, event: Event)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty { siftDown(last) }
        guard let event = slots[top.slot] else { preconditionFailure("event queue slot \(top.slot) is empty") }
        slots[top.slot] = nil
        freeSlots.append(top.slot)
        return (top.time, event)
    }

    /// Places `key` at the root's position and moves it down to where it belongs.
    private mutating func siftDown(_ key: Key) {
        let count = heap.count
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            guard left < count else { break }
            let child = right < count && heap[right].precedes(heap[left]) ? right : left
            guard heap[child].precedes(key) else { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = key
    }
}
