import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestKit
import Transport

@Suite struct KeyFileTests {
    @Test func createWritesMode0600AndLoadGivesTheSameKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = seededRandom(1)
        let path = dir.file("keys/alice.key")
        let pair = try KeyFile.create(at: path, overwrite: false, using: &rng)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        var warnings: [String] = []
        #expect(try KeyFile.load(path: path, warnings: { warnings.append($0) }).publicKey == pair.publicKey)
        #expect(warnings.isEmpty)
    }

    @Test func refusesToOverwriteWithoutPermission() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = seededRandom(2)
        let path = dir.file("a.key")
        let first = try KeyFile.create(at: path, overwrite: false, using: &rng)
        #expect(throws: KeyFileError.self) { try KeyFile.create(at: path, overwrite: false, using: &rng) }
        #expect(try KeyFile.load(path: path).publicKey == first.publicKey)
        let second = try KeyFile.create(at: path, overwrite: true, using: &rng)
        #expect(second.publicKey != first.publicKey)
        #expect(try KeyFile.load(path: path).publicKey == second.publicKey)
    }

    /// Only a regular file is ever replaced, even with --force: a FIFO (standing in for a device
    /// node), a directory and a symlink, live or dangling, stay as they were, named in the error.
    @Test func createReplacesNothingButARegularFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let fifo = dir.file("fifo"), directory = dir.file("dir"), link = dir.file("link"), dangling = dir.file("dangling")
        let target = try dir.write("target.txt", "keep me\n")
        #expect(mkfifo(fifo, 0o600) == 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: dir.file("nowhere"))
        let cases = [(fifo, "is a FIFO", S_IFIFO), (directory, "is a directory", S_IFDIR),
                     (link, "is a symbolic link", S_IFLNK), (dangling, "is a symbolic link", S_IFLNK)]
        var rng = seededRandom(4)
        for (path, words, type) in cases {
            for overwrite in [false, true] {
                do { _ = try KeyFile.create(at: path, overwrite: overwrite, using: &rng); Issue.record("replaced \(path)") } catch {
                    #expect(error.description == "\(path): \(words), not a regular file; refusing to replace it")
                }
                #expect(FileKind.of(path, followingSymlink: false) == type)
            }
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")
        #expect(!FileManager.default.fileExists(atPath: dir.file("nowhere")))
    }

    @Test func malformedKeyFilesAreRejectedWithTheFileName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let cases: [(String, String)] = [
            ("", "found 0"),
            ("# just a comment\n", "found 0"),
            ("not base64!\n", "not valid base64"),
            (Base64.encode([UInt8](repeating: 1, count: 16)) + "\n", "must be 32 bytes"),
            (Base64.encode([UInt8](repeating: 1, count: 32)) + "\n" + Base64.encode([UInt8](repeating: 2, count: 32)), "found 2"),
        ]
        for (i, (text, words)) in cases.enumerated() {
            let path = try dir.write("k\(i).key", text)
            do { _ = try KeyFile.load(path: path); Issue.record("accepted \(text)") } catch {
                #expect(error.description.hasPrefix(path))
                #expect(error.description.contains(words), "\(error) lacks \(words)")
            }
        }
        #expect(throws: KeyFileError.self) { try KeyFile.load(path: dir.file("absent.key")) }
        do { _ = try KeyFile.load(path: dir.path); Issue.record("loaded a directory") } catch {
            #expect(error.description == "\(dir.path): is a directory, not a regular file")
        }
    }

    @Test func worldReadableKeyIsLoadedWithAWarning() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = seededRandom(3)
        let path = dir.file("open.key")
        _ = try KeyFile.create(at: path, overwrite: false, using: &rng)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        var warnings: [String] = []
        _ = try KeyFile.load(path: path, warnings: { warnings.append($0) })
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("chmod 600") == true)
    }
}
