import Foundation

extension Simulator {
    /// Memory a simulation needs, estimated before it starts so that a run too large for the
    /// machine is refused with the numbers instead of swapping or aborting on an allocation.
    ///
    /// Calibrated with peak RSS (`/usr/bin/time -v`, one round, Fashion-MNIST subset): `mlp:2048`
    /// (1.6M parameters) took 0.89 / 2.58 GB at 10 / 30 nodes, 53 bytes per parameter per node
    /// (parameters, optimizer state, checkpoint, 8-byte secure-aggregation words, encrypted chunks
    /// in flight); `logreg` took 95 / 302 MB at 100 / 500 nodes, 0.52 MB per node, and nodes gain
    /// 15-20 KB per round after that (README, Scale). The constants round these up, so a run that
    /// is refused would not have fitted; the data are counted twice (the loaded split and the shards).
    public struct MemoryEstimate: Sendable, Equatable {
        /// Bytes per parameter per node (measured 53).
        public static let bytesPerParameter = 64
        /// Bytes per node besides its model's share: keys, transport links, sessions, round growth.
        public static let bytesPerNode = 512 << 10
        /// The process itself (code, runtime).
        public static let baseBytes = 64 << 20

        public var bytes: Int

        /// - Parameters:
        ///   - dataBytes: the bytes of the loaded training and test features.
        public init(nodes: Int, parameters: Int, dataBytes: Int) {
            let perNode = Double(Self.bytesPerNode) + Double(Self.bytesPerParameter) * Double(parameters)
            let total = Double(Self.baseBytes) + 2 * Double(dataBytes) + Double(nodes) * perNode
            bytes = total >= Double(Int.max) ? .max : Int(total)
        }

        /// The machine's physical memory (nil where the system does not say).
        public static var physicalMemory: Int? {
            let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
            guard pages > 0, size > 0 else { return nil }
            return pages.multipliedReportingOverflow(by: size).overflow ? .max : pages * size
        }
    }
}
