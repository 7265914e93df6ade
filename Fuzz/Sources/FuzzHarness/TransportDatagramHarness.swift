import Crypto
import FuzzFixtures
@testable import Transport

extension TransportHarness {
    /// Built once; libFuzzer calls targets from one thread, and each input works on a copy.
    nonisolated(unsafe) static let datagramFixture = try! DatagramFuzzFixture()

    public static func datagrams(_ bytes: [UInt8]) {
        let (problem, _) = datagramFixture.run(bytes)
        Fuzz.require(problem == nil, problem ?? "")
    }
}
