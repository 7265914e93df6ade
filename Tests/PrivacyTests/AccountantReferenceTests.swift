import Foundation
import Testing
@testable import Privacy

/// One row of data/privacy-reference.csv, produced by scripts/make-privacy-reference.sh.
struct ReferenceRow {
    let samplingRate: Double, noiseMultiplier: Double, steps: Int, delta: Double, epsilon: Double, order: Double

    static func load() throws -> [ReferenceRow] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/privacy-reference.csv")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",").map(String.init)
            guard f.count == 6, let q = Double(f[0]), let s = Double(f[1]), let t = Int(f[2]),
                  let d = Double(f[3]), let e = Double(f[4]), let o = Double(f[5]) else {
                throw PrivacyParameterError("bad reference row: \(line)")
            }
            return ReferenceRow(samplingRate: q, noiseMultiplier: s, steps: t, delta: d, epsilon: e, order: o)
        }
    }
}

@Suite("Accountant against dp-accounting")
struct AccountantReferenceTests {
    @Test("ε within 1% of dp-accounting, at the same optimal order, on every row of the reference grid")
    func matchesReferenceTable() throws {
        let rows = try ReferenceRow.load()
        #expect(rows.count >= 300)
        let accountant = PrivacyAccountant()
        var curves: [[Double]: RDPCurve] = [:]
        for row in rows {
            let key = [row.samplingRate, row.noiseMultiplier]
            let step = try curves[key] ?? accountant.stepCurve(samplingRate: row.samplingRate,
                                                                 noiseMultiplier: row.noiseMultiplier)
            curves[key] = step
            let ours = try RDPCurve.zero().composed(with: step, times: row.steps).guarantee(delta: row.delta)
            if row.epsilon == 0 {
                #expect(ours.epsilon == 0, "q=\(row.samplingRate) σ=\(row.noiseMultiplier) T=\(row.steps) δ=\(row.delta)")
                continue
            }
            let relative = abs(ours.epsilon - row.epsilon) / row.epsilon
            #expect(ours.order == row.order, "q=\(row.samplingRate) σ=\(row.noiseMultiplier) T=\(row.steps) δ=\(row.delta): optimal order")
            #expect(relative <= 0.01, "q=\(row.samplingRate) σ=\(row.noiseMultiplier) T=\(row.steps) δ=\(row.delta): ours \(ours.epsilon) at α=\(ours.order ?? .nan), reference \(row.epsilon) at α=\(row.order)")
        }
    }
}
