import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing whole user-named files with errors that say which file and why, in the
/// system's words ("No such file or directory", "is a directory"), instead of Foundation's
/// "The operation could not be completed" and its error numbers.
public enum FileAccess {
    /// The bytes of the regular file at `path`; one larger than `limit` bytes, if given, is refused
    /// before it is read (a small record grown huge must not take minutes and gigabytes to reject).
    public static func contents(of path: String, atMost limit: Int? = nil) throws(DataError) -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DataError(file: path, "cannot open (\(systemReason()))") }
        if let kind = notRegular(info.st_mode) { throw DataError(file: path, "cannot open: \(kind)") }
        if let limit, info.st_size > limit { throw DataError(file: path, "\(info.st_size) bytes, more than the \(limit) expected") }
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
            throw DataError(file: path, "cannot write (\(systemReason(of: error)))")
        }
    }

    /// The system's words for a Foundation error that carries an errno ("No space left on device",
    /// "File exists"), else Foundation's reason.
    public static func systemReason(of error: any Error) -> String {
        let error = error as NSError
        let underlying = (error.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        for candidate in [error, underlying].compactMap({ $0 }) where candidate.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(candidate.code)))
        }
        return error.localizedFailureReason ?? error.localizedDescription
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
