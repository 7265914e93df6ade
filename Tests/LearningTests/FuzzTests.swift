import CKernels
import Foundation
import Testing
import TestKit
@testable import Learning

/// Bounded mutation fuzzing of the Learning file readers (libFuzzer side: Fuzz/, scripts/fuzz.sh):
/// every damaged file ends in a `DataError` naming it, never a trap or a runaway allocation.
@Suite struct LearningFuzzTests {
    /// Runs `read` on the bytes through a scratch file; a non-`DataError` failure or an error
    /// naming another file is a violation.
    static func outcome(_ file: FuzzScratchFile, _ read: () throws -> Void) -> FuzzOutcome {
        do {
            try read()
            return .accepted
        } catch let error as DataError {
            return error.file == file.path ? .rejected : .violation("error names \(error.file)")
        } catch {
            return .violation("not a DataError: \(error)")
        }
    }

    @Test func idxReadersRejectDamagedFiles() throws {
        let file = try FuzzScratchFile("data.idx")
        let report = fuzz("idx", dictionary: FuzzDictionary.binary, maxLength: 4096) { bytes in
            file.write(bytes)
            let images = Self.outcome(file) {
                let (header, pixels) = try IDXReader.readImages(path: file.path)
                guard pixels.count == header.count * header.itemSize, pixels.allSatisfy({ (0...1).contains($0) }) else {
                    throw CancellationError()
                }
            }
            let labels = Self.outcome(file) {
                let labels = try IDXReader.readLabels(path: file.path)
                guard labels.allSatisfy({ (0...255).contains($0) }) else { throw CancellationError() }
            }
            if case .violation = images { return images }
            if case .violation = labels { return labels }
            return images == .accepted || labels == .accepted ? .accepted : .rejected
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    @Test func csvReaderRejectsDamagedTables() throws {
        let file = try FuzzScratchFile("table.csv")
        let report = fuzz("csv", maxLength: 2048) { bytes in
            file.write(bytes)
            return Self.outcome(file) {
                let table = try CSVReader.read(path: file.path, labelColumn: "label")
                guard table.count > 0, table.featureCount > 0 else { throw CancellationError() }
            }
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    /// Model files from the real writer: logistic regression and an MLP, with and without the
    /// standardisation and optimizer sections.
    static var checkpointSeeds: [[UInt8]] {
        var rng = SeededGenerator(seed: 4)
        let logreg = Model(spec: .logisticRegression, inputCount: 3, classCount: 2, rng: &rng)
        let mlp = Model(spec: .mlp(hidden: [4, 2]), inputCount: 2, classCount: 3, rng: &rng)
        return [
            ModelCheckpoint(model: logreg).serialized(),
            ModelCheckpoint(model: logreg, standardization: Standardization(mean: [0, 1, 2], inverseStd: [1, 0.5, 0.25])).serialized(),
            ModelCheckpoint(model: mlp, optimizer: OptimizerState(parameterCount: mlp.parameterCount)).serialized(),
        ]
    }

    /// Replaces the CRC-32 trailer with the right one, so mutations reach the fields behind it.
    static func withRepairedCRC(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 4 else { return bytes }
        var out = bytes
        let crc = out.withUnsafeBytes { ck_crc32(0, $0.baseAddress, out.count - 4) }
        for i in 0..<4 { out[out.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return out
    }

    @Test func modelCheckpointDecoderRejectsDamagedFiles() {
        var turn = 0
        let report = fuzz("model-checkpoint", extraSeeds: Self.checkpointSeeds, dictionary: FuzzDictionary.text + FuzzDictionary.binary) { input in
            turn += 1
            // Every other input gets a valid CRC: otherwise almost nothing gets past it.
            let bytes = turn % 2 == 0 ? Self.withRepairedCRC(input) : input
            let checkpoint: ModelCheckpoint
            do { checkpoint = try ModelCheckpoint(bytes: bytes, source: "fuzz.model") } catch let error as DataError {
                return error.file == "fuzz.model" ? .rejected : .violation("error names \(error.file)")
            } catch {
                return .violation("not a DataError: \(error)")
            }
            let again = checkpoint.serialized()
            guard (try? ModelCheckpoint(bytes: again))?.serialized() == again else {
                return .violation("accepted checkpoint does not survive a round trip")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    // MARK: Regressions found by fuzzing (inputs also in Fuzz/Corpus)

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    /// A 16-byte IDX file claiming 2^32 pixels made the reader allocate 16 GiB before reading any.
    @Test func idxHeaderClaimingBillionsOfPixelsAllocatesNothing() throws {
        let directory = try TemporaryDirectory("idx-claim")
        defer { directory.cleanup() }
        let path = directory.file("claim")
        try Data(fuzzCorpus("idx", named: "regression-huge-claim")).write(to: URL(fileURLWithPath: path))
        let before = Self.peakResidentBytes()
        let error = #expect(throws: DataError.self) { _ = try IDXReader.readImages(path: path) }
        // The reader asked for one bounded chunk, not for the claim (an untouched allocation of
        // the claim would not show in the resident size below, which other tests also raise).
        #expect(error?.problem.contains("needs 65536 bytes at offset 16, only 0 remain") == true, "\(String(describing: error))")
        #expect(Self.peakResidentBytes() - before < 256 << 20)
    }

    /// Dimensions 2^32-1 cubed wrap to 12884901887 pixels, which passed the size check; the
    /// reader then trapped computing count x item size.
    @Test func idxDimensionsWhoseProductOverflowsAreImplausible() throws {
        let directory = try TemporaryDirectory("idx-overflow")
        defer { directory.cleanup() }
        let path = directory.file("overflow")
        try Data(fuzzCorpus("idx", named: "regression-overflowing-dims")).write(to: URL(fileURLWithPath: path))
        #expect { _ = try IDXReader.readImages(path: path) } throws: { ($0 as? DataError)?.problem.contains("implausible") == true }
    }

    /// A 40-byte model file (valid CRC) claiming `mlp:65536` on 2^24 inputs made the model
    /// allocate 4 TiB for its layout before comparing it with the parameters present.
    @Test func modelFileClaimingATerabyteModelIsRejected() {
        #expect(throws: DataError.self) {
            _ = try ModelCheckpoint(bytes: fuzzCorpus("model-checkpoint", named: "regression-huge-claim"))
        }
    }
}
