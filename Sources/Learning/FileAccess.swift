import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing whole user-named files with errors that say which file and why, in the
/// system's words ("No such file or directory", "is a directory"), instead of Foundation's
/// "The operation could not be completed" and its error numbers.
public enum FileAccess {
    /// The bytes of the regular file at `path`.
    public static func contents(of path: String) throws(DataError) -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DataError(file: path, "cannot open (\(systemReason()))") }
        if let kind = notRegular(info.st_mode) { throw DataError(file: path, "cannot open: \(kind)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read (\(systemReason()))")
        }
        return data
    }

    /// Checks before any work that `bytes` could be written to `path` later: its directory exists
    /// and is writable, and nothing but a regular file is in the way. `flag` names the option.
    public static func checkWritable(_ path: String, flag: String) throws(DataError) {
        var info = stat()
        if stat(path, &info) == 0, let kind = notRegular(info.st_mode) {
            throw DataError(file: "\(flag) \(path)", "cannot write: \(kind)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(directory, W_OK | X_OK) == 0 else {
            throw DataError(file: "\(flag) \(path)", "cannot write in \(directory) (\(systemReason()))")
        }
    }

    /// Replaces `path` with `bytes` atomically (a temporary file renamed over it).
    public static func write(_ bytes: [UInt8], to path: String) throws(DataError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DataError(file: path, "cannot write (\((error as NSError).localizedFailureReason ?? error.localizedDescription))")
        }
    }

    private static func notRegular(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "it is a directory"
        default: "it is not a regular file"
        }
    }

    private static func systemReason() -> String { String(cString: strerror(errno)) }
}
