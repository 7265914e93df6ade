import Crypto
import Foundation
import Learning
import Privacy

/// What a node needs to resume after a crash: the last completed round, its model (parameters and
/// optimizer state, as the training engine serialises them), its slow-momentum buffer and its
/// convergence state. The privacy ledger lives in its own file and is always written first
/// (SPEC.md §11).
public struct NodeCheckpoint: Sendable, Equatable {
    public var round: UInt64
    public var convergence: ConvergenceRule
    public var model: [UInt8]
    /// `SlowMomentum`'s buffer; empty without slow momentum.
    public var slowMomentum: [Float]
    /// Whether some round of this model's training ran without DP-SGD, so that the privacy ledger
    /// does not account for all it learned from the node's data: a run with `--dp` must not resume
    /// it, or it would report an ε below what was spent (SPEC §11). Nil in checkpoints written
    /// before the field existed (unknown).
    public var trainedWithoutPrivacy: Bool?
    /// The public key (base64) of the node that wrote it: a state directory copied from another
    /// node must not be resumed, or this node would report that node's spent privacy as its own,
    /// below what its own data spent (SPEC §11). Nil in checkpoints written before the field
    /// existed, and in simulations.
    public var owner: String?

    public init(round: UInt64, convergence: ConvergenceRule, model: [UInt8], slowMomentum: [Float] = [],
                trainedWithoutPrivacy: Bool? = nil, owner: String? = nil) {
        self.round = round
        self.convergence = convergence
        self.model = model
        self.slowMomentum = slowMomentum
        self.trainedWithoutPrivacy = trainedWithoutPrivacy
        self.owner = owner
    }

    /// Bit for bit: a buffer holding NaN (a diverged run) still equals its own saved copy.
    public static func == (a: NodeCheckpoint, b: NodeCheckpoint) -> Bool {
        a.round == b.round && a.convergence == b.convergence && a.model == b.model
            && a.trainedWithoutPrivacy == b.trainedWithoutPrivacy && a.owner == b.owner && a.slowMomentum.map(\.bitPattern) == b.slowMomentum.map(\.bitPattern)
    }

    static let magic: [UInt8] = Array("GNCK".utf8)
    /// Version 2 added the slow-momentum buffer; version 3 ends with a CRC-32 instead of a BLAKE2b
    /// (see `trailerLength`). Versions 1 (model to the end) and 2 still load.
    static let version: UInt32 = 3

    /// Bytes of the integrity trailer: a 32-byte BLAKE2b up to version 2, a 4-byte CRC-32 since.
    /// The trailer guards against torn or damaged files, not against someone who can write the
    /// state directory (they could recompute either), and BLAKE2b of a 2.4 MB checkpoint cost a
    /// node 2.3 ms every round against 0.6 ms for the CRC.
    static func trailerLength(version: UInt32) -> Int { version >= 3 ? 4 : 32 }

    /// The integrity trailer of `body` for a file of `version`.
    static func trailer(of body: [UInt8], version: UInt32) -> [UInt8] {
        guard version >= 3 else { return KDF.hash(body, outputLength: 32) }
        return withUnsafeBytes(of: crc32(body).littleEndian) { Array($0) }
    }

    /// `body` followed by the trailer its version (bytes 4..<8) calls for.
    static func sealed(_ body: [UInt8]) -> [UInt8] {
        body + trailer(of: body, version: body.count >= 8 ? littleEndianUInt32(body, at: 4) : version)
    }

    /// `bytes` with its trailer replaced by the right one for the version it claims (unchanged if
    /// too short to claim one): fuzzers use it so that a mutation reaches the parser behind the
    /// checksum.
    public static func withRepairedTrailer(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 8 else { return bytes }
        let trailer = trailerLength(version: littleEndianUInt32(bytes, at: 4))
        guard bytes.count >= trailer else { return bytes }
        return sealed(Array(bytes.dropLast(trailer)))
    }

    private struct Metadata: Codable {
        var round: UInt64
        var convergence: ConvergenceRule
        /// Optional: files of earlier versions lack it, and readers of those versions ignore it.
        var trainedWithoutPrivacy: Bool?
        var owner: String?
    }

    /// `"GNCK" || u32 version || u32 metadata length || metadata JSON || u64 model length || model
    /// bytes || slow-momentum buffer (f32) || CRC-32 of everything before it`: one file, replaced
    /// atomically.
    public func serialized() throws -> [UInt8] {
        // Sorted keys: the same state gives the same bytes (JSON key order otherwise follows the
        // per-process hash seed).
        let encoder = JSONEncoder()
        // A diverged model has an infinite or NaN best loss; JSON has no such numbers.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        encoder.outputFormatting = .sortedKeys
        let metadata = try encoder.encode(Metadata(round: round, convergence: convergence, trainedWithoutPrivacy: trainedWithoutPrivacy,
                                                         owner: owner))
        var out = ByteWriter(capacity: 12 + metadata.count + 8 + model.count + 4 * slowMomentum.count + 4)
        out.raw(Self.magic)
        out.u32(Self.version)
        out.u32(UInt32(metadata.count))
        out.raw(Array(metadata))
        out.u64(UInt64(model.count))
        out.raw(model)
        out.floats(slowMomentum)
        out.raw(Self.trailer(of: out.bytes, version: Self.version))
        return out.bytes
    }

    public init(bytes: [UInt8], source: String) throws(CheckpointError) {
        func fail(_ why: String) -> CheckpointError { CheckpointError(path: source, problem: why) }
        guard bytes.count >= 12 + 4 else { throw fail("truncated (\(bytes.count) bytes)") }
        guard Array(bytes[0..<4]) == Self.magic else { throw fail("not a gossipnode checkpoint") }
        let version = littleEndianUInt32(bytes, at: 4)
        guard (1...Self.version).contains(version) else { throw fail("unsupported version \(version)") }
        let trailer = Self.trailerLength(version: version)
        guard bytes.count >= 12 + trailer else { throw fail("truncated (\(bytes.count) bytes)") }
        let body = bytes[0..<(bytes.count - trailer)]
        guard Self.trailer(of: Array(body), version: version) == Array(bytes[body.count...]) else {
            throw fail("corrupt (checksum mismatch)")
        }
        let length = Int(littleEndianUInt32(bytes, at: 8))
        guard length <= body.count - 12 else { throw fail("metadata length \(length) exceeds the file") }
        let metadata: Metadata
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { metadata = try decoder.decode(Metadata.self, from: Data(bytes[12..<(12 + length)])) } catch {
            throw fail("unreadable metadata")
        }
        // Hash-valid but impossible values (a hand edit, a bug elsewhere) must not crash the node later.
        guard metadata.round <= ConvergenceRule.maximumRound, metadata.convergence.isPlausible else {
            throw fail("implausible metadata (round \(metadata.round), convergence settings \(metadata.convergence.settings))")
        }
        round = metadata.round
        convergence = metadata.convergence
        trainedWithoutPrivacy = metadata.trainedWithoutPrivacy
        owner = metadata.owner
        guard version > 1 else {
            model = Array(body[(12 + length)...])
            slowMomentum = []
            return
        }
        // The checks below leave the reader nothing to refuse; its errors would name the same file.
        var reader = ByteReader(bytes, source: source)
        var unread: Int { reader.remaining - trailer }  // the checksum verified above ends the file
        do {
            _ = try reader.take(12 + length, "header and metadata")
            guard unread >= 8 else { throw fail("truncated before the model length") }
            let modelLength = try reader.u64("model length")
            guard modelLength <= UInt64(unread) else { throw fail("model length \(modelLength) exceeds the file") }
            model = Array(try reader.take(Int(modelLength), "model"))
            guard unread % 4 == 0 else { throw fail("slow-momentum buffer of \(unread) bytes is not whole floats") }
            slowMomentum = try reader.floats(unread / 4, "slow-momentum buffer")
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail("unreadable (\(error))")
        }
    }
}

extension NodeCheckpoint {
    /// The model in `path`: a model file (`train --save`, `run --keep-round-models`) or the model
    /// inside a node's checkpoint.
    public static func readModel(from path: String) throws -> ModelCheckpoint {
        let bytes = [UInt8](try FileAccess.contents(of: path))
        guard bytes.starts(with: magic) else { return try ModelCheckpoint(bytes: bytes, source: path) }
        return try ModelCheckpoint(bytes: NodeCheckpoint(bytes: bytes, source: path).model, source: path)
    }
}

/// Reads and writes a node's checkpoint file in its state directory.
public struct CheckpointStore: Sendable {
    public static let fileName = "checkpoint"
    public let path: String

    public init(stateDirectory: String) {
        path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(Self.fileName).path
    }

    /// The saved checkpoint, or nil on a node's first start (no file).
    public func load() throws(CheckpointError) -> NodeCheckpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do { data = try FileAccess.contents(of: path) } catch { throw CheckpointError(path: path, problem: "unreadable (\(error.problem))") }
        return try NodeCheckpoint(bytes: [UInt8](data), source: path)
    }

    /// Replaces the checkpoint atomically (write, fsync, rename, fsync directory).
    public func save(_ checkpoint: NodeCheckpoint) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError(path: path, problem: "not writable: cannot create \(directory.path) (\(FileAccess.systemReason(of: error)))")
        }
        try AtomicFile.write(try checkpoint.serialized(), to: path, permissions: 0o600)
    }

    /// Where `run --keep-round-models` puts the model of `round`: `rounds/round-NNNNNN.model` beside
    /// the checkpoint, in the format of `train --save` (parameters only), so `gossipnode eval` reads it.
    public func roundModelPath(round: UInt64) -> String {
        let name = String(format: "round-%06llu.model", round)
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("rounds").appendingPathComponent(name).path
    }

    /// Keeps a round's serialised model. A record for later inspection, not state the node needs:
    /// written whole and renamed into place, without the checkpoint's fsyncs.
    ///
    /// Private like the checkpoint (mode 0600, in a 0700 directory): after a failed round the
    /// model kept is the node's own locally trained one, which secure aggregation exists to hide;
    /// world-readable, any user of the machine could read it, whatever the state directory's mode.
    public func saveRoundModel(_ model: [UInt8], round: UInt64) throws {
        let url = URL(fileURLWithPath: roundModelPath(round: round))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try AtomicFile.write(model, to: url.path, permissions: 0o600, durable: false)
    }
}

public struct CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "checkpoint \(path) is \(problem)" }
}

/// The last round this node joined (`NodeMachine.Action.joining`), in the state directory's file
/// `joined` as `NETWORK_ID_HEX ROUND`, followed by ` without-dp` when the node trained that round
/// without DP-SGD: a restarted node must never join it again (`NodeMachine.joinedBefore`), and a
/// node that sent a masked input trained without DP-SGD must not resume with `--dp` as if its data
/// had given nothing away (a run killed after its first round's input left, before the checkpoint
/// that would carry `NodeCheckpoint.trainedWithoutPrivacy`). Rounds of another network (another
/// peers file) are unrelated.
///
/// Written before the round's advertisement leaves, atomically but without fsync: it must outlive
/// the process (a kill), which the page cache does; after a crash of the whole machine a node
/// restarts with a new transport session anyway, and the mask-key names of §7.4 keep a second
/// incarnation's messages apart. One small write and a rename a round, no fsync.
public struct JoinedRoundStore: Sendable {
    public static let fileName = "joined"
    static let withoutPrivacyMark = "without-dp"
    public let path: String
    /// Whether the rounds this node records were trained without DP-SGD (written into each record).
    public let trainsWithoutPrivacy: Bool

    /// What the file says about one network: the last round joined (0 for none: a first start, a
    /// state from before the file, or a record of another network) and whether that round was trained without DP-SGD.
    public struct Record: Equatable, Sendable {
        public var round: UInt64
        public var withoutPrivacy: Bool
        public init(round: UInt64, withoutPrivacy: Bool) {
            self.round = round
            self.withoutPrivacy = withoutPrivacy
        }
    }

    public init(stateDirectory: String, trainsWithoutPrivacy: Bool = false) {
        path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(Self.fileName).path
        self.trainsWithoutPrivacy = trainsWithoutPrivacy
    }

    /// The record for `network`. Errors name the file (not a "checkpoint").
    public func load(network: [UInt8]) throws(DataError) -> Record {
        let none = Record(round: 0, withoutPrivacy: false)
        guard FileManager.default.fileExists(atPath: path) else { return none }
        let text: String
        // A record is under 120 bytes (64 hex digits, a round number, the mark).
        do { text = String(decoding: try FileAccess.contents(of: path, atMost: 4096), as: UTF8.self) } catch {
            throw DataError(file: path, "unreadable (\(error.problem))")
        }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2 || (fields.count == 3 && fields[2] == Self.withoutPrivacyMark),
              let round = UInt64(fields[1]), round <= ConvergenceRule.maximumRound else {
            throw DataError(file: path, "not a network id and a round number")
        }
        return fields[0] == Self.hex(network) ? Record(round: round, withoutPrivacy: fields.count == 3) : none
    }

    public func save(_ round: UInt64, network: [UInt8]) throws {
        let mark = trainsWithoutPrivacy ? " " + Self.withoutPrivacyMark : ""
        try AtomicFile.write(Data("\(Self.hex(network)) \(round)\(mark)\n".utf8), to: path, permissions: 0o600, durable: false)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
