import Foundation
import Testing
import TestKit
@testable import Privacy

@Suite("Privacy ledger")
struct LedgerTests {
    @Test("steps with the same q and σ merge; a change of either starts a new run")
    func compactRuns() throws {
        var ledger = PrivacyLedger()
        for _ in 0..<100 { try ledger.record(samplingRate: 0.01, noiseMultiplier: 1.1, steps: 1) }
        try ledger.record(samplingRate: 0.02, noiseMultiplier: 1.1, steps: 5)
        try ledger.record(samplingRate: 0.02, noiseMultiplier: 1.1, steps: 5)
        try ledger.record(samplingRate: 0.02, noiseMultiplier: 0.9, steps: 3)
        #expect(ledger.runs == [try PrivacyRun(samplingRate: 0.01, noiseMultiplier: 1.1, steps: 100),
                                try PrivacyRun(samplingRate: 0.02, noiseMultiplier: 1.1, steps: 10),
                                try PrivacyRun(samplingRate: 0.02, noiseMultiplier: 0.9, steps: 3)])
        #expect(ledger.totalSteps == 113)
        let direct = try PrivacyAccountant().guarantee(of: ledger.runs, delta: 1e-5).epsilon
        #expect(abs(try ledger.guarantee(delta: 1e-5).epsilon - direct) <= 1e-12 * direct)
    }

    @Test("save then load gives the same runs and ε; a missing file is a fresh ledger")
    func roundTrip() throws {
        let dir = try TemporaryDirectory("ledger")
        defer { dir.cleanup() }
        let store = LedgerStore(stateDirectory: dir.path + "/state")
        #expect(try store.load().runs.isEmpty)
        var ledger = PrivacyLedger()
        let saved = try store.record(&ledger, samplingRate: 256.0 / 60_000, noiseMultiplier: 1.1, steps: 1000, delta: 1e-5)
        try ledger.record(samplingRate: 0.1, noiseMultiplier: 3, steps: 7)
        let second = try store.save(ledger, delta: 1e-5)
        #expect(second.epsilon > saved.epsilon)
        let loaded = try store.load()
        #expect(loaded == ledger)
        #expect(try loaded.guarantee(delta: 1e-5) == second)
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        #expect(text.contains("\"epsilon\"") && text.contains("fnv1a64:"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state")
        #expect(leftovers == [LedgerStore.fileName])
    }

    @Test("every truncation of a ledger file is an error naming the file, never a reset")
    func truncatedFiles() throws {
        let dir = try TemporaryDirectory("ledger")
        defer { dir.cleanup() }
        let store = LedgerStore(stateDirectory: dir.path)
        var ledger = PrivacyLedger()
        try ledger.record(samplingRate: 0.01, noiseMultiplier: 1.0, steps: 12_345)
        try ledger.record(samplingRate: 0.5, noiseMultiplier: 4.0, steps: 6)
        _ = try store.save(ledger, delta: 1e-5)
        let full = try Data(contentsOf: URL(fileURLWithPath: store.path))
        // The trailing newline and closing whitespace are not content; everything before is.
        let content = full.count - 2
        for length in 0..<content {
            try full.prefix(length).write(to: URL(fileURLWithPath: store.path))
            do {
                let loaded = try store.load()
                Issue.record("a \(length)-byte prefix loaded as \(loaded.runs)")
            } catch {
                #expect(error.path == store.path)
                #expect(error.description.contains(store.path))
            }
        }
    }

    @Test("a damaged or edited number is caught by the checksum")
    func editedFile() throws {
        let dir = try TemporaryDirectory("ledger")
        defer { dir.cleanup() }
        let store = LedgerStore(stateDirectory: dir.path)
        var ledger = PrivacyLedger()
        try ledger.record(samplingRate: 0.01, noiseMultiplier: 1.0, steps: 12_345)
        _ = try store.save(ledger, delta: 1e-5)
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        for (original, edited) in [("12345", "2345"), ("12345", "12344"), ("\"sigma\" : 1", "\"sigma\" : 2")] {
            #expect(text.contains(original))
            try text.replacingOccurrences(of: original, with: edited).write(toFile: store.path, atomically: false, encoding: .utf8)
            let error = #expect(throws: LedgerError.self) { try store.load() }
            #expect(error?.reason.contains("checksum") == true)
        }
        try "{\"format\": \"something-else\"}".write(toFile: store.path, atomically: false, encoding: .utf8)
        #expect(throws: LedgerError.self) { try store.load() }
    }

    @Test("a ledger that cannot be read is an error, not an empty budget")
    func unreadable() throws {
        let dir = try TemporaryDirectory("ledger")
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.file(LedgerStore.fileName), withIntermediateDirectories: false)
        let error = #expect(throws: LedgerError.self) { try LedgerStore(stateDirectory: dir.path).load() }
        #expect(error?.description.contains(dir.file(LedgerStore.fileName)) == true)
        #expect(error?.reason == "cannot open: it is a directory", "\(String(describing: error))")
    }
}

@Suite("Privacy budget")
struct BudgetTests {
    @Test("the check allows steps up to the budget and refuses the first that would exceed it")
    func checkAtTheEdge() throws {
        let budget = try PrivacyBudget(epsilon: 1.5, delta: 1e-5)
        var ledger = PrivacyLedger()
        let (q, sigma) = (0.05, 1.2)
        let fit = try budget.remainingSteps(ledger, samplingRate: q, noiseMultiplier: sigma)
        #expect(fit > 1)
        #expect(try budget.check(ledger, samplingRate: q, noiseMultiplier: sigma, steps: fit).allowed)
        #expect(try !budget.check(ledger, samplingRate: q, noiseMultiplier: sigma, steps: fit + 1).allowed)
        // Spending step by step stops at exactly the same count.
        var taken = 0
        while try budget.check(ledger, samplingRate: q, noiseMultiplier: sigma).allowed {
            try ledger.record(samplingRate: q, noiseMultiplier: sigma, steps: 1)
            taken += 1
        }
        #expect(taken == fit)
        let check = try budget.check(ledger, samplingRate: q, noiseMultiplier: sigma)
        #expect(check.spent.epsilon <= 1.5 && check.afterSteps.epsilon > 1.5)
        #expect(try budget.remainingSteps(ledger, samplingRate: q, noiseMultiplier: sigma) == 0)
        // More noise still buys some further steps.
        #expect(try budget.remainingSteps(ledger, samplingRate: q, noiseMultiplier: 20) > 0)
    }

    @Test("budgets outside the valid range are rejected")
    func invalidBudget() {
        #expect(throws: PrivacyParameterError.self) { try PrivacyBudget(epsilon: 0, delta: 1e-5) }
        #expect(throws: PrivacyParameterError.self) { try PrivacyBudget(epsilon: .infinity, delta: 1e-5) }
        #expect(throws: PrivacyParameterError.self) { try PrivacyBudget(epsilon: 1, delta: 0) }
    }
}

@Suite("Atomic file")
struct AtomicFileTests {
    @Test("replaces contents, applies the mode and leaves no temporary file")
    func replaces() throws {
        let dir = try TemporaryDirectory("atomic")
        defer { dir.cleanup() }
        let path = dir.file("checkpoint.bin")
        try AtomicFile.write(Data("first".utf8), to: path, permissions: 0o600)
        try AtomicFile.write(Data(repeating: 7, count: 1 << 20), to: path, permissions: 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 7, count: 1 << 20))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["checkpoint.bin"])
    }

    @Test("a missing directory is an error naming the file")
    func missingDirectory() throws {
        let path = "/nonexistent-\(UUID().uuidString)/ledger.json"
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data("x".utf8), to: path) }
        #expect(error?.description.contains(path) == true)
    }
}
