import Foundation
#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// A failed atomic replacement: which file, which system call, and the operating system's reason.
public struct AtomicFileError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let code: Int32

    public var description: String {
        "cannot write \(path): \(operation) failed: \(String(cString: strerror(code)))"
    }
}

/// Replaces a file's contents so that after a crash at any instant the file holds either the old
/// bytes or the new ones, never a mix, and a successful return means the new bytes are on disk.
///
/// Protocol: write a temporary file in the same directory, fsync it, rename it over the target
/// (atomic within one file system), then fsync the directory so the rename itself is durable.
/// Used for the privacy ledger and reusable for checkpoints.
public enum AtomicFile {
    /// `durable: false` skips both fsyncs: the file still appears whole or not at all while the
    /// system runs, but a power loss may lose it (records nobody resumes from).
    public static func write(_ data: some ContiguousBytes, to path: String, permissions: mode_t = 0o644,
                             durable: Bool = true) throws(AtomicFileError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw AtomicFileError(path: path, operation: "open(\(temporary))", code: errno) }
        do throws(AtomicFileError) {
            try writeAll(data, to: fd, path: path)
            guard !durable || fsync(fd) == 0 else { throw AtomicFileError(path: path, operation: "fsync", code: errno) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            throw AtomicFileError(path: path, operation: "close", code: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw AtomicFileError(path: path, operation: "rename", code: code)
        }
        if durable { try syncDirectory(directory, for: path) }
    }

    /// Removes the temporary files that writes of `path` by processes no longer running left
    /// behind (a node killed between opening and renaming one, ~3 ms of every round): each is as
    /// large as the file, and a node killed now and then would otherwise fill its disk with them.
    /// Files of live processes (another command writing the same ledger) are left alone.
    public static func removeStaleTemporaries(of path: String) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let prefix = "." + url.lastPathComponent + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid > 0,
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + "/" + name)
        }
    }

    private static func writeAll(_ data: some ContiguousBytes, to fd: Int32, path: String) throws(AtomicFileError) {
        let failure: Int32? = data.withUnsafeBytes { buffer -> Int32? in
            guard let base = buffer.baseAddress else { return nil }
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(fd, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { throw AtomicFileError(path: path, operation: "write", code: failure) }
    }

    private static func syncDirectory(_ directory: String, for path: String) throws(AtomicFileError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError(path: path, operation: "open(\(directory))", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw AtomicFileError(path: path, operation: "fsync(\(directory))", code: errno) }
    }
}
