import Transport
/// The declaration of one `--kebab-case` option: what it takes, its help text and its default.
public struct OptionSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A switch: present or absent, takes no value.
        case flag
        /// Takes one value, written `--name VALUE` or `--name=VALUE`.
        case value(valueName: String)
    }

    public let name: String
    public let kind: Kind
    public let help: String
    /// Shown in help as `(default: ...)` and returned when the option is absent.
    public let defaultValue: String?
    /// A default that depends on other options (`keys/<id>.key`): shown in help, applied by the command.
    public let derivedDefault: String?
    /// Whether the option may be given several times (all values are kept).
    public let repeatable: Bool
    /// Whether the command cannot run without it (shown unbracketed in the usage line).
    public let isRequired: Bool

    public static func flag(_ name: String, help: String) -> OptionSpec {
        OptionSpec(name: name, kind: .flag, help: help, defaultValue: nil, derivedDefault: nil,
                   repeatable: false, isRequired: false)
    }

    public static func value(_ name: String, _ valueName: String, help: String, default defaultValue: String? = nil,
                             derivedDefault: String? = nil, repeatable: Bool = false,
                             required: Bool = false) -> OptionSpec {
        OptionSpec(name: name, kind: .value(valueName: valueName), help: help, defaultValue: defaultValue,
                   derivedDefault: derivedDefault, repeatable: repeatable, isRequired: required)
    }

    var synopsis: String {
        switch kind {
        case .flag: return "--\(name)"
        case let .value(valueName): return "--\(name) <\(valueName)>"
        }
    }
}

/// The options a user gave, with defaults applied and typed accessors whose errors name the option.
public struct ParsedArguments: Sendable {
    let specs: [String: OptionSpec]
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    /// True when the command declares the option (commands share flag structs but not every flag).
    public func declares(_ name: String) -> Bool { specs[name] != nil }

    /// True when the user wrote the option (defaults do not count).
    public func wasGiven(_ name: String) -> Bool { flags.contains(name) || values[name] != nil }

    public func flag(_ name: String) -> Bool {
        precondition(specs[name]?.kind == .flag, "undeclared flag --\(name)")
        return flags.contains(name)
    }

    /// The last value given, else the default, else nil.
    public func string(_ name: String) -> String? {
        precondition(specs[name] != nil, "undeclared option --\(name)")
        return values[name]?.last ?? specs[name]?.defaultValue
    }

    /// Every value given for a repeatable option, in order.
    public func strings(_ name: String) -> [String] {
        precondition(specs[name] != nil, "undeclared option --\(name)")
        return values[name] ?? []
    }

    public func required(_ name: String) throws(UsageError) -> String {
        guard let value = string(name) else { throw UsageError.missing([quoted(name)], count: 1) }
        return value
    }

    /// `'--name <value>'`, an option as error messages quote it.
    public func quoted(_ name: String) -> String { "'\(specs[name]?.synopsis ?? "--" + name)'" }

    public func int(_ name: String, in range: ClosedRange<Int>? = nil) throws(UsageError) -> Int? {
        guard let text = string(name) else { return nil }
        // An integer too large for Int says the whole range, not just "expected an integer".
        guard let value = Int(text) else {
            throw invalid(name, text, range.map { "expected an integer from \($0.lowerBound) to \($0.upperBound)" } ?? "expected an integer")
        }
        if let range, !range.contains(value) {
            throw invalid(name, text, "expected \(Self.describe(range))")
        }
        return value
    }

    public func double(_ name: String, in range: ClosedRange<Double>? = nil) throws(UsageError) -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = Double(text), value.isFinite else { throw invalid(name, text, "expected a number") }
        if let range, !range.contains(value) {
            throw invalid(name, text, "expected a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// An error for a value that does not fit, in one consistent wording.
    public func invalid(_ name: String, _ value: String, _ expectation: String) -> UsageError {
        // Cut only far beyond any real value or path (PATH_MAX is 4096; 1,024 shows any sane one).
        UsageError("invalid value \(ErrorText.quoted(value, limit: 1024)) for '\(specs[name]?.synopsis ?? "--" + name)': \(expectation)")
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "an integer of at least \(range.lowerBound)" }
        return "an integer from \(range.lowerBound) to \(range.upperBound)"
    }
}

/// Turns `--name value` / `--name=value` / `--flag` words into `ParsedArguments`.
enum ArgumentParser {
    /// Parses `arguments` against `options`; `-h`/`--help` anywhere is reported separately.
    static func parse(_ arguments: [String], options: [OptionSpec]) throws(UsageError) -> (ParsedArguments, help: Bool) {
        var specs: [String: OptionSpec] = [:]
        for option in options { specs[option.name] = option }
        var parsed = ParsedArguments(specs: specs)
        var index = 0
        var help = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if word == "-h" || word == "--help" { help = true; continue }
            guard word.hasPrefix("--"), word.count > 2 else {
                throw UsageError("unexpected argument \(ErrorText.quoted(word, limit: 1024))")
            }
            var name = String(word.dropFirst(2))
            var inlineValue: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = specs[name] else {
                var message = "unknown option \(ErrorText.quoted("--" + name, limit: 1024))"
                if let guess = closest(name, among: options.map(\.name)) { message += "; did you mean '--\(guess)'?" }
                throw UsageError(message)
            }
            switch spec.kind {
            case .flag:
                guard inlineValue == nil else { throw UsageError("option '--\(name)' takes no value") }
                parsed.flags.insert(name)
            case .value:
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count, !isOptionLike(arguments[index]) else {
                        throw UsageError("missing value for '\(spec.synopsis)'")
                    }
                    value = arguments[index]
                    index += 1
                }
                if parsed.values[name] != nil, !spec.repeatable {
                    throw UsageError("option '--\(name)' given more than once")
                }
                parsed.values[name, default: []].append(value)
            }
        }
        return (parsed, help)
    }

    /// `--x` is an option; `-5` (a negative number) is a value.
    private static func isOptionLike(_ word: String) -> Bool {
        word.hasPrefix("--") || (word.hasPrefix("-") && word.count > 1 && !(word.dropFirst().first?.isNumber ?? false))
    }

    /// The declared option nearest to a misspelling, if it is close enough to be a likely typo.
    static func closest(_ word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
        guard let (name, distance) = scored, distance <= max(1, word.count / 3) else { return nil }
        return name
    }

    /// Edits between `a` and `b`, two swapped neighbours counting as one: the commonest slip
    /// (`trian`) would otherwise cost two and, in a short word, get no suggestion.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        var beforePrevious: [Int] = [], previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in stride(from: 1, through: y.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    current[j] = min(current[j], beforePrevious[j - 2] + 1)
                }
            }
            beforePrevious = previous
            previous = current
        }
        return previous[y.count]
    }
}
