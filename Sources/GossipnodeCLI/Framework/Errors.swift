/// Exit codes, as documented in README: 0 done, 1 runtime failure, 2 usage or configuration error.
public enum ExitCode {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 2
}

/// A mistake on the command line: printed with the command's usage line, exit code 2.
public struct UsageError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// One error naming everything missing at once, as swift-argument-parser's "Missing expected
    /// arguments" does (one at a time, each rerun only meets the next): `parts` are quoted options
    /// or phrases ("two of '--a <x>', '--b <y>' and '--c <z>'"), adding up to `count` options.
    public static func missing(_ parts: [String], count: Int, note: String? = nil) -> UsageError {
        let list = parts.count < 2 ? parts.joined() : parts.dropLast().joined(separator: ", ") + " and " + parts.last!
        return UsageError("missing required option\(count == 1 ? "" : "s") \(list)" + (note.map { " (\($0))" } ?? ""))
    }
}

/// A bad configuration file, key or value found while validating: exit code 2, nothing started.
public protocol ConfigurationProblem: Error, CustomStringConvertible {}

/// A configuration problem that has no more specific type.
public struct ConfigurationError: ConfigurationProblem, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A failure at run time, not a bad flag (a benchmark's result that is not exact, a message that
/// arrived corrupted, a training run that diverged): exit code 1.
public struct RuntimeFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
