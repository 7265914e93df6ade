import CKernels
import Foundation
import Learning

/// The Learning readers: damaged files must end in a `DataError`, accepted ones must be
/// self-consistent, and model files must survive a write/read round trip.
public enum LearningHarness {
    /// The file-based readers read from one scratch file per process, rewritten per input (in
    /// /dev/shm when there is one: a disk-backed /tmp makes every rewrite wait for the disk).
    static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm")
            : FileManager.default.temporaryDirectory
        let directory = base.appendingPathComponent("gossipnode-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("input").path
    }()

    static func write(_ bytes: [UInt8]) {
        Fuzz.require((try? Data(bytes).write(to: URL(fileURLWithPath: scratch))) != nil, "cannot write \(scratch)")
    }

    static func expectDataError(_ body: () throws -> Void) {
        do { try body() } catch let error as DataError {
            Fuzz.require(error.file == scratch || error.file == "fuzz.model", "error names \(error.file)")
        } catch {
            Fuzz.require(false, "not a DataError: \(error)")
        }
    }

    public static func idx(_ bytes: [UInt8]) {
        write(bytes)
        expectDataError {
            let (header, pixels) = try IDXReader.readImages(path: scratch)
            Fuzz.require(pixels.count == header.count * header.itemSize, "pixel count does not match the header")
        }
        expectDataError { _ = try IDXReader.readLabels(path: scratch) }
    }

    public static func csv(_ bytes: [UInt8]) {
        write(bytes)
        expectDataError {
            let table = try CSVReader.read(path: scratch, labelColumn: "label")
            Fuzz.require(table.count > 0 && table.featureCount > 0, "accepted an empty table")
        }
    }

    /// Decodes the input as is, then again with a valid CRC so mutations reach the fields behind it.
    public static func modelCheckpoint(_ bytes: [UInt8]) {
        var repaired = bytes
        if repaired.count >= 4 {
            let crc = repaired.withUnsafeBytes { ck_crc32(0, $0.baseAddress, repaired.count - 4) }
            for i in 0..<4 { repaired[repaired.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        }
        for input in [bytes, repaired] {
            expectDataError {
                let checkpoint = try ModelCheckpoint(bytes: input, source: "fuzz.model")
                let again = checkpoint.serialized()
                Fuzz.require((try? ModelCheckpoint(bytes: again))?.serialized() == again, "round trip changed the model")
            }
        }
    }
}
