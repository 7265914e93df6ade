import Foundation
import Testing
import TestKit
@testable import Privacy

/// Bounded mutation fuzzing of the privacy ledger file (libFuzzer side: Fuzz/, scripts/fuzz.sh).
/// A damaged ledger must be refused with a `LedgerError`, never read as a smaller budget or crash.
@Suite struct PrivacyFuzzTests {
    static let store = LedgerStore(path: "/fuzz/ledger")
    /// Three small integer orders instead of the standard grid: decoding is the same, and every
    /// accepted ledger costs accountant passes, which would dominate the debug run.
    static let accountant = PrivacyAccountant(orders: [2, 3, 8])
    /// A few orders of each kind (fractional, integer, large), for the pass that feeds the
    /// accountant extreme but valid runs.
    static let mixedAccountant = PrivacyAccountant(orders: [1.5, 2, 3, 8, 32, 1024])

    /// The bytes `LedgerStore.save` would write for these runs (without touching the disk).
    static func encoded(_ runs: [PrivacyRun]) throws -> Data {
        let file = LedgerFile(format: LedgerStore.format, version: LedgerStore.version, runs: runs,
                              summary: .init(delta: 1e-5, epsilon: nil, order: nil, steps: 0),
                              checksum: LedgerStore.checksum(runs))
        return try JSONEncoder().encode(file)
    }

    /// Accepted ledgers must give a usable guarantee and survive a save/load round trip.
    static func check(_ ledger: PrivacyLedger, accountant: PrivacyAccountant = accountant) -> FuzzOutcome {
        guard let epsilon = try? ledger.guarantee(delta: 1e-5).epsilon, !epsilon.isNaN, epsilon >= 0 else {
            return .violation("accepted ledger has no usable ε")
        }
        guard let data = try? encoded(ledger.runs), (try? store.decode(data, accountant: accountant)) == ledger else {
            return .violation("accepted ledger does not survive a round trip")
        }
        return .accepted
    }

    @Test func ledgerDecoderRefusesDamagedFiles() {
        let report = fuzz("privacy-ledger") { bytes in
            do throws(LedgerError) { return Self.check(try Self.store.decode(Data(bytes), accountant: Self.accountant)) } catch {
                return error.path == Self.store.path ? .rejected : .violation("error names the wrong file: \(error)")
            }
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    /// Mutations almost never keep the checksum right, so this pass repairs it after mutating:
    /// mutated run values (tiny or huge q and σ, step counts near the limit, runs that merge)
    /// then reach the accountant, which must account for every valid run.
    @Test func ledgerWithRepairedChecksumValidatesEveryRun() {
        let report = fuzz("privacy-ledger", inputs: defaultFuzzInputs / 10, seed: 2) { bytes in
            guard let file = try? JSONDecoder().decode(LedgerFile.self, from: Data(bytes)),
                  let repaired = try? Self.encoded(file.runs) else { return .rejected }
            do {
                return Self.check(try Self.store.decode(repaired, accountant: Self.mixedAccountant), accountant: Self.mixedAccountant)
            } catch {
                return .violation("a ledger with valid runs and checksum was refused: \(error)")
            }
        }
        #expect(report.isClean, "\(report)")
        #expect(report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}
