/// One subcommand: its name, help text, options, and what it does with validated arguments.
///
/// `run` receives arguments that already parsed against `options`; it validates their meaning
/// (throwing `UsageError` or a `ConfigurationProblem`, both exit code 2) before doing any work,
/// so a bad configuration never half-starts anything.
public struct Command: Sendable {
    public let name: String
    public let abstract: String
    public let discussion: String
    public let options: [OptionSpec]
    public let run: @Sendable (ParsedArguments, Console) throws -> Int32

    public init(name: String, abstract: String, discussion: String = "", options: [OptionSpec],
                run: @escaping @Sendable (ParsedArguments, Console) throws -> Int32) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
        self.run = run
    }

    /// `gossipnode NAME --required <X> [--optional <Y>] ...`
    public var usage: String {
        var parts = ["\(CommandLineTool.executableName) \(name)"]
        for option in options {
            parts.append(option.isRequired ? option.synopsis : "[\(option.synopsis)]")
        }
        return wrap(parts, indent: "       ")
    }

    public var help: String {
        var text = "OVERVIEW: \(abstract)\n\n"
        if !discussion.isEmpty { text += discussion + "\n\n" }
        text += "USAGE: \(usage)\n\nOPTIONS:\n"
        let rows = options.map { option -> (String, String) in
            var help = option.help
            if option.isRequired { help += " (required)" }
            if let value = option.defaultValue ?? option.derivedDefault { help += " (default: \(value))" }
            if option.repeatable { help += " (can be repeated)" }
            return (option.synopsis, help)
        } + [("-h, --help", "Show help information.")]
        text += formatRows(rows)
        return text
    }
}

/// Two-column help rows, wrapped at 100 columns.
func formatRows(_ rows: [(String, String)]) -> String {
    let width = min(30, (rows.map(\.0.count).max() ?? 0) + 2)
    var out = ""
    for (left, right) in rows {
        let padded = "  " + left
        let lines = wrapWords(right, width: 98 - width - 2)
        if padded.count + 2 > width + 2 {
            out += padded + "\n"
            for line in lines { out += String(repeating: " ", count: width + 2) + line + "\n" }
        } else {
            let pad = String(repeating: " ", count: width + 2 - padded.count)
            out += padded + pad + (lines.first ?? "") + "\n"
            for line in lines.dropFirst() { out += String(repeating: " ", count: width + 2) + line + "\n" }
        }
    }
    return out
}

func wrapWords(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ") {
        if !current.isEmpty, current.count + 1 + word.count > width {
            lines.append(current)
            current = ""
        }
        current += current.isEmpty ? String(word) : " " + word
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}

private func wrap(_ parts: [String], indent: String) -> String {
    var lines: [String] = []
    var current = ""
    for part in parts {
        if !current.isEmpty, current.count + 1 + part.count > 92 {
            lines.append(current)
            current = indent
        }
        current += (current.isEmpty || current == indent) ? part : " " + part
    }
    lines.append(current)
    return lines.joined(separator: "\n")
}
