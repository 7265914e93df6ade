import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A node's static secret key on disk: one base64 line (32 bytes), optional `#` comment lines,
/// file mode 0600. The public key is derived from it, never stored beside it.
public enum KeyFile {
    public static let header = "# gossipnode secret key (X25519). Keep it private; share only the public key."

    /// Creates a new key at `path` with mode 0600. Refuses to replace an existing file unless
    /// `overwrite`, and never replaces anything but a regular file (not a device node, FIFO,
    /// directory or symlink, even a dangling one); the file is created exclusively so a
    /// concurrent writer cannot race us.
    public static func create(at path: String, overwrite: Bool, using rng: inout some RandomSource) throws(KeyFileError) -> KeyPair {
        let pair = KeyPair.generate(using: &rng)
        let text = header + "\n" + Base64.encode(pair.secretKey.copyBytes()) + "\n"
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw KeyFileError(file: path, problem: "cannot create directory '\(directory)'")
            }
        }
        if let refusal = FileKind.replacementRefusal(at: path) { throw KeyFileError(file: path, problem: refusal) }
        if FileKind.of(path, followingSymlink: false) != nil {
            guard overwrite else { throw KeyFileError(file: path, problem: "file exists; pass --force to replace it") }
            guard unlink(path) == 0 else { throw KeyFileError(file: path, problem: "cannot remove existing file: \(errnoText())") }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyFileError(file: path, problem: "cannot create file: \(errnoText())") }
        defer { close(fd) }
        var bytes = Array(text.utf8)
        defer { secureZero(&bytes) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw KeyFileError(file: path, problem: "cannot write file: \(errnoText())")
        }
        return pair
    }

    /// Reads a key file. Errors name the file and say what is wrong; `warnings` reports a key
    /// readable by other users (as WireGuard does) without refusing it.
    public static func load(path: String, warnings: (String) -> Void = { _ in }) throws(KeyFileError) -> KeyPair {
        var info = stat()
        guard stat(path, &info) == 0 else { throw KeyFileError(file: path, problem: "cannot read key file: \(errnoText())") }
        if let problem = FileKind.notRegular(info.st_mode) { throw KeyFileError(file: path, problem: problem) }
        guard info.st_size <= 4096 else { throw KeyFileError(file: path, problem: "too large to be a key file") }
        if info.st_mode & 0o077 != 0 {
            warnings("warning: \(path) is accessible by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyFileError(file: path, problem: "cannot read key file")
        }
        return try parse(data, file: path)
    }

    /// Parses a key file's contents; `file` is used only in error messages.
    public static func parse(_ data: Data, file path: String) throws(KeyFileError) -> KeyPair {
        guard let text = String(data: data, encoding: .utf8) else {
            throw KeyFileError(file: path, problem: "key file is not valid UTF-8 text")
        }
        let lines = text.split(whereSeparator: { $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard lines.count == 1 else {
            throw KeyFileError(file: path, problem: "expected exactly one base64 key line, found \(lines.count)")
        }
        var raw: [UInt8]
        do { raw = try Base64.decode(lines[0], what: "secret key") } catch {
            throw KeyFileError(file: path, problem: "key is not valid base64")
        }
        defer { secureZero(&raw) }
        guard raw.count == KeyPair.secretKeyByteCount else {
            throw KeyFileError(file: path, problem: "key must be \(KeyPair.secretKeyByteCount) bytes, found \(raw.count)")
        }
        do { return try KeyPair(secretKey: SecretBytes(copying: raw)) } catch {
            throw KeyFileError(file: path, problem: "invalid key: \(error)")
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

public struct KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let problem: String
    public var description: String { "\(file): \(problem)" }
}
