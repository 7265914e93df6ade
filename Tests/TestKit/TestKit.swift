import Crypto
import Foundation

/// A seeded random source for tests: same seed, same bytes, on every machine.
public func seededRandom(_ seed: UInt64) -> DeterministicRandom { DeterministicRandom(seed: seed) }

/// A fresh, empty directory under the system temporary directory, removed by the caller with `cleanup`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ name: String = "gossipnode-test") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    public func write(_ name: String, _ contents: String) throws -> String {
        let path = file(name)
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public func cleanup() { try? FileManager.default.removeItem(at: url) }
}
