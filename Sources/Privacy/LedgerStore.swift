import Foundation
import Learning

/// A ledger file that cannot be trusted: named, with the reason. The node must stop rather than
/// start over from zero, because a reset budget would silently void the privacy guarantee.
public struct LedgerError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public var description: String {
        "privacy ledger \(path) \(reason); refusing to continue with an unknown spent budget "
            + "(restore the file from a backup, or delete it only if no model trained under it ever left this node)"
    }
}

/// Saves and loads a node's privacy ledger in its state directory.
///
/// The file is JSON: the runs, the ε they give at the node's δ (for people; always recomputed on
/// load) and an FNV-1a checksum over the runs' exact bits, so truncation, a damaged byte or a hand
/// edit is reported instead of read as a smaller budget. Writes go through `AtomicFile`, so a
/// crash leaves the old or the new ledger, never a mix. Callers save *before* any model that
/// reflects the recorded steps leaves the node or is checkpointed.
public struct LedgerStore: Sendable {
    public static let fileName = "ledger"
    static let format = "gossipnode-privacy-ledger"
    static let version = 1

    public let path: String

    public init(stateDirectory: String) {
        path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(Self.fileName).path
    }

    public init(path: String) { self.path = path }

    /// The saved ledger; an empty one only if the file does not exist (a node's first start).
    public func load(accountant: PrivacyAccountant = PrivacyAccountant()) throws(LedgerError) -> PrivacyLedger {
        guard FileManager.default.fileExists(atPath: path) else { return PrivacyLedger(accountant: accountant) }
        let data: Data
        do {
            data = try FileAccess.contents(of: path)
        } catch {
            throw LedgerError(path: path, reason: error.problem)
        }
        return try decode(data, accountant: accountant)
    }

    /// Validates and decodes a ledger file's bytes; errors name this store's path.
    public func decode(_ data: Data, accountant: PrivacyAccountant = PrivacyAccountant()) throws(LedgerError) -> PrivacyLedger {
        let file: LedgerFile
        do {
            file = try JSONDecoder().decode(LedgerFile.self, from: data)
        } catch {
            throw LedgerError(path: path, reason: "is corrupt or truncated (\(data.count) bytes, not a valid ledger: \(Self.describe(error)))")
        }
        guard file.format == Self.format else { throw LedgerError(path: path, reason: "is not a privacy ledger (format '\(file.format)')") }
        guard file.version == Self.version else { throw LedgerError(path: path, reason: "has unsupported version \(file.version)") }
        guard file.checksum == Self.checksum(file.runs) else {
            throw LedgerError(path: path, reason: "is corrupt (checksum mismatch: the runs were altered)")
        }
        do {
            return try PrivacyLedger(runs: file.runs, accountant: accountant)
        } catch {
            throw LedgerError(path: path, reason: "holds an invalid run (\(error))")
        }
    }

    /// Writes the ledger atomically and durably, with its ε at `delta` for people to read.
    public func save(_ ledger: PrivacyLedger, delta: Double) throws -> PrivacyGuarantee {
        let guarantee = try ledger.guarantee(delta: delta)
        let file = LedgerFile(format: Self.format, version: Self.version, runs: ledger.runs,
                              summary: .init(delta: delta, epsilon: guarantee.epsilon.isFinite ? guarantee.epsilon : nil,
                                             order: guarantee.order, steps: ledger.totalSteps),
                              checksum: Self.checksum(ledger.runs))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(file)
        data.append(UInt8(ascii: "\n"))
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: path)
        return guarantee
    }

    /// Records `steps` more steps and saves before returning: the write-ahead step of training.
    public func record(_ ledger: inout PrivacyLedger, samplingRate q: Double, noiseMultiplier sigma: Double,
                       steps: Int, delta: Double) throws -> PrivacyGuarantee {
        try ledger.record(samplingRate: q, noiseMultiplier: sigma, steps: steps)
        return try save(ledger, delta: delta)
    }

    /// FNV-1a (64-bit) over each run's q and σ bit patterns and step count: detects accidental
    /// damage and edits (it is not a defence against an attacker who can rewrite the file).
    static func checksum(_ runs: [PrivacyRun]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash ^= (value >> UInt64(shift)) & 0xff
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        mix(UInt64(runs.count))
        for run in runs {
            mix(run.samplingRate.bitPattern)
            mix(run.noiseMultiplier.bitPattern)
            mix(UInt64(bitPattern: Int64(run.steps)))
        }
        return "fnv1a64:" + String(hash, radix: 16)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: return "\(error)"
        }
    }
}

/// The on-disk shape of the ledger.
struct LedgerFile: Codable {
    struct Summary: Codable {
        let delta: Double
        let epsilon: Double?
        let order: Double?
        let steps: Int
    }

    let format: String
    let version: Int
    let runs: [PrivacyRun]
    let summary: Summary
    let checksum: String
}
