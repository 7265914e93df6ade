#if canImport(Glibc)
import Glibc
#endif

/// What kind of file is at a path, in the words an error message uses. Commands that write a
/// file replace only a regular file: a device node, FIFO, socket, directory or symlink at the
/// target is not theirs to delete, and naming it beats a bare "File exists".
public enum FileKind {
    /// The file type bits (`S_IFMT`) of what is at `path`; nil if nothing is there or it cannot
    /// be examined (the caller's next step reports why). `followingSymlink: false` is `lstat`.
    public static func of(_ path: String, followingSymlink: Bool) -> mode_t? {
        var info = stat()
        let rc = followingSymlink ? stat(path, &info) : lstat(path, &info)
        return rc == 0 ? info.st_mode & S_IFMT : nil
    }

    /// "is a directory, not a regular file" and the like; nil for a regular file.
    public static func notRegular(_ type: mode_t) -> String? {
        let name: String
        switch type & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: name = "a directory"
        case S_IFLNK: name = "a symbolic link"
        case S_IFIFO: name = "a FIFO"
        case S_IFCHR: name = "a character device"
        case S_IFBLK: name = "a block device"
        case S_IFSOCK: name = "a socket"
        default: name = "a special file"
        }
        return "is \(name), not a regular file"
    }

    /// Why a new file must not be written at `path` in place of what is there, or nil when
    /// nothing or a regular file is there. A symlink is refused rather than followed or
    /// replaced: where it points is not necessarily the user's to overwrite.
    public static func replacementRefusal(at path: String) -> String? {
        of(path, followingSymlink: false).flatMap(notRegular).map { $0 + "; refusing to replace it" }
    }
}
