import Foundation
import Privacy

/// The privacy ledger file: a damaged ledger must be refused, an accepted one must give a usable ε.
public enum PrivacyHarness {
    static let store = LedgerStore(path: "/fuzz/ledger")

    public static func ledger(_ bytes: [UInt8]) {
        guard let ledger = try? store.decode(Data(bytes)) else { return }
        let epsilon = try? ledger.guarantee(delta: 1e-5).epsilon
        Fuzz.require(epsilon.map { !$0.isNaN && $0 >= 0 } == true, "accepted ledger has no usable ε")
        Fuzz.require(ledger.totalSteps >= 0, "negative step total")
    }
}
