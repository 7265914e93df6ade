import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks a node's `--state` directory before anything runs, so a typo or an unwritable place
/// fails at start with the path and the system's reason, not after the first round's training.
enum StateDirectory {
    /// `path` must be a writable directory; `create` makes it (and its parents) when missing,
    /// otherwise (a dry run) its nearest existing parent must be a writable directory.
    static func check(_ path: String, create: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ConfigurationError("--state \(path): is a file, not a directory") }
            try checkWritable(path, what: "")
            return
        }
        guard create else {
            var parent = URL(fileURLWithPath: path).deletingLastPathComponent()
            while !FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDirectory) {
                parent = parent.deletingLastPathComponent()
            }
            guard isDirectory.boolValue else { throw ConfigurationError("--state \(path): \(parent.path) is a file, not a directory") }
            return try checkWritable(parent.path, what: " (the directory it would be created in)")
        }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw ConfigurationError("--state \(path): cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        try checkWritable(path, what: "")
    }

    /// The directories `check(path, create: true)` would make, deepest first.
    static func missing(_ path: String) -> [String] {
        var missing: [String] = []
        var url = URL(fileURLWithPath: path)
        while url.path != "/", !FileManager.default.fileExists(atPath: url.path) {
            missing.append(url.path)
            url = url.deletingLastPathComponent()
        }
        return missing
    }

    /// Removes directories that `check` made (`missing`, deepest first), if still empty.
    static func remove(_ directories: [String]) {
        for directory in directories { rmdir(directory) }
    }

    private static func checkWritable(_ directory: String, what: String) throws {
        guard access(directory, W_OK | X_OK) == 0 else {
            throw ConfigurationError("--state: cannot write in \(directory)\(what): \(String(cString: strerror(errno)))")
        }
    }
}
