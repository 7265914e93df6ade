import Foundation
import Learning
import Privacy

/// `gossipnode privacy`: the Rényi-DP accountant from the command line — ε for a training setup,
/// the noise multiplier or the number of steps that a budget allows, and a node's spent ledger.
enum PrivacyCommand {
    static let command = Command(
        name: "privacy",
        abstract: "Compute ε for DP-SGD, or the noise or steps a privacy budget allows.",
        discussion: """
        Accounts DP-SGD as the Poisson-sampled Gaussian mechanism with Rényi DP (SPEC.md §9).
        With --noise-multiplier and --steps: prints ε at --delta and the optimal Rényi order.
        With --epsilon and --steps: prints the smallest noise multiplier that stays within ε.
        With --epsilon and --noise-multiplier: prints how many steps fit within ε.
        With --state: prints the privacy a node has spent (its ledger; the directory must exist,
        and without a ledger nothing is spent); add --record to add --steps steps with
        --sampling-rate and --noise-multiplier to that ledger, for example to count a release made
        elsewhere from the same data. --epsilon does not apply with --state.
        With --table: reads CSV rows 'q,sigma,steps,delta' and prints ε and order for each.
        Without --state or --table, --sampling-rate and two of --noise-multiplier, --steps and
        --epsilon are required; an error names all that are missing.
        """,
        options: [
            .value("sampling-rate", "q", help: "Probability that a step includes each example, in (0, 1]."),
            .value("noise-multiplier", "sigma", help: "Noise standard deviation over the clip norm, above 0."),
            .value("steps", "n", help: "Number of training steps."),
            .value("delta", "d", help: "The δ of the (ε, δ) guarantee, in (0, 1).", default: "1e-5"),
            .value("epsilon", "e", help: "A privacy budget ε, above 0."),
            .value("state", "dir", help: "A node's state directory: show (or --record into) its privacy ledger."),
            .flag("record", help: "With --state: add the given steps to the ledger, written atomically (refused while a node runs on that state directory)."),
            .value("table", "csv", help: "Compute ε for every 'q,sigma,steps,delta' row of a CSV file."),
            .flag("json", help: "Print one JSON object instead of text (with --table, one per row)."),
        ],
        run: { args, console in
            let request = try PrivacyRequest(args)
            return try request.run(json: args.flag("json"), console: console)
        })
}

extension LedgerError: ConfigurationProblem {}
extension PrivacyParameterError: ConfigurationProblem {}

/// What the user asked for, validated before any computation.
enum PrivacyRequest {
    case epsilon(q: Double, sigma: Double, steps: Int, delta: Double)
    case noise(q: Double, steps: Int, delta: Double, epsilon: Double)
    case steps(q: Double, sigma: Double, delta: Double, epsilon: Double)
    case ledger(state: String, delta: Double, record: PrivacyRun?)
    case table(path: String)

    init(_ args: ParsedArguments) throws {
        let delta = try Self.delta(args)
        if let path = args.string("table") {
            for other in ["sampling-rate", "noise-multiplier", "steps", "epsilon", "state"] where args.wasGiven(other) {
                throw UsageError("--table takes its parameters from the file; remove --\(other)")
            }
            self = .table(path: path)
            return
        }
        if let state = args.string("state") {
            // An option this mode would ignore is an error: whoever adds it expects it to count.
            let ignored = args.flag("record") ? ["epsilon"] : ["epsilon", "sampling-rate", "noise-multiplier", "steps"]
            for other in ignored where args.wasGiven(other) {
                throw UsageError("--\(other) does not apply with --state" + (other == "epsilon" ? "" : " without --record"))
            }
            // A missing directory is a typo, not a node that has spent nothing (an existing state
            // directory without a ledger is one, and shows 0); --record would start a stray ledger.
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: state, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError("no privacy ledger at \(LedgerStore(stateDirectory: state).path): \(state) is not a directory")
            }
            var run: PrivacyRun? = nil
            if args.flag("record") {
                let (q, sigma, steps) = (try Self.samplingRate(args), try Self.noiseMultiplier(args), try Self.steps(args))
                guard let q, let sigma, let steps else {
                    let absent = ["sampling-rate", "noise-multiplier", "steps"].filter { !args.wasGiven($0) }
                    throw UsageError.missing(absent.map(args.quoted), count: absent.count, note: "with --record")
                }
                run = try PrivacyRun(samplingRate: q, noiseMultiplier: sigma, steps: steps)
            }
            self = .ledger(state: state, delta: delta, record: run)
            return
        }
        guard !args.flag("record") else { throw UsageError("--record needs --state <dir>") }
        let q = try Self.samplingRate(args)
        let sigma = try Self.noiseMultiplier(args)
        let steps = try Self.steps(args)
        let epsilon = try Self.epsilon(args)
        if sigma != nil, steps != nil, epsilon != nil {
            throw UsageError("give two of --noise-multiplier, --steps and --epsilon, not all three")
        }
        guard let q else { throw Self.missing(args) }
        switch (sigma, steps, epsilon) {
        case let (sigma?, steps?, nil): self = .epsilon(q: q, sigma: sigma, steps: steps, delta: delta)
        case let (nil, steps?, epsilon?): self = .noise(q: q, steps: steps, delta: delta, epsilon: epsilon)
        case let (sigma?, nil, epsilon?): self = .steps(q: q, sigma: sigma, delta: delta, epsilon: epsilon)
        default: throw Self.missing(args)
        }
    }

    /// Everything the computing modes miss, in one error: --sampling-rate and two of
    /// --noise-multiplier, --steps and --epsilon (a bare `privacy` named only --sampling-rate).
    private static func missing(_ args: ParsedArguments) -> UsageError {
        let trio = ["noise-multiplier", "steps", "epsilon"]
        let absent = trio.filter { !args.wasGiven($0) }
        var parts: [String] = [], count = 0
        if !args.wasGiven("sampling-rate") { parts.append(args.quoted("sampling-rate")); count += 1 }
        switch absent.count {
        case 3:
            parts.append("two of " + trio.dropLast().map(args.quoted).joined(separator: ", ") + " and " + args.quoted(trio[2]))
            count += 2
        case 2:
            parts.append("either " + absent.map(args.quoted).joined(separator: " or "))
            count += 1
        default: break
        }
        // Nothing given at all: the other modes may be what was meant.
        let note = count == 3 ? "or '--state <dir>' for a node's spent budget, or '--table <csv>'"
            : absent.count == 2 ? "give two of --noise-multiplier, --steps and --epsilon" : nil
        return UsageError.missing(parts, count: count, note: note)
    }

    func run(json: Bool, console: Console) throws -> Int32 {
        let accountant = PrivacyAccountant()
        switch self {
        case let .epsilon(q, sigma, steps, delta):
            let result = try accountant.guarantee(samplingRate: q, noiseMultiplier: sigma, steps: steps, delta: delta)
            if json {
                console.out(jsonObject(["sampling_rate": q, "noise_multiplier": sigma, "steps": steps, "delta": delta,
                                        "epsilon": result.epsilon, "order": result.order]))
            } else {
                console.out("epsilon \(format(result.epsilon)) at delta \(format(delta)) (optimal Rényi order \(format(result.order)))")
            }
        case let .noise(q, steps, delta, epsilon):
            let sigma = try accountant.noiseMultiplier(forEpsilon: epsilon, samplingRate: q, steps: steps, delta: delta)
            let result = try accountant.guarantee(samplingRate: q, noiseMultiplier: sigma, steps: steps, delta: delta)
            if json {
                console.out(jsonObject(["sampling_rate": q, "steps": steps, "delta": delta, "target_epsilon": epsilon,
                                        "noise_multiplier": sigma, "epsilon": result.epsilon, "order": result.order]))
            } else {
                console.out("noise multiplier \(format(roundedUp(sigma))) (gives epsilon \(format(result.epsilon)) at delta \(format(delta)), optimal Rényi order \(format(result.order)))")
            }
        case let .steps(q, sigma, delta, epsilon):
            let limit = PrivacyRun.maximumSteps
            let steps = try accountant.maximumSteps(samplingRate: q, noiseMultiplier: sigma, epsilon: epsilon, delta: delta, limit: limit)
            let result = try accountant.guarantee(samplingRate: q, noiseMultiplier: sigma, steps: steps, delta: delta)
            // The search stops at the most steps a run may record: then more may fit, say so.
            let atLimit = steps == limit
            if json {
                console.out(jsonObject(["sampling_rate": q, "noise_multiplier": sigma, "delta": delta, "target_epsilon": epsilon,
                                        "steps": steps, "steps_at_limit": atLimit, "epsilon": result.epsilon, "order": result.order]))
            } else {
                console.out("\(atLimit ? "at least " : "")\(steps) steps fit\(atLimit ? " (the most a run may have)" : "") "
                            + "(epsilon \(format(result.epsilon)) at delta \(format(delta)), optimal Rényi order \(format(result.order)))")
            }
        case let .ledger(state, delta, record):
            let store = LedgerStore(stateDirectory: state)
            // Recording reads, adds to and rewrites the ledger: not while a node writes it too.
            let lock = record != nil ? try StateLock(state) : nil
            defer { lock?.release() }
            var ledger = try store.load(accountant: accountant)
            if let record {
                _ = try store.record(&ledger, samplingRate: record.samplingRate, noiseMultiplier: record.noiseMultiplier,
                                     steps: record.steps, delta: delta)
            }
            let result = try ledger.guarantee(delta: delta)
            if json {
                let runs = ledger.runs.map { ["sampling_rate": $0.samplingRate, "noise_multiplier": $0.noiseMultiplier, "steps": $0.steps] as [String: Any] }
                console.out(jsonObject(["ledger": store.path, "runs": runs, "steps": ledger.totalSteps, "delta": delta,
                                        "epsilon": result.epsilon, "order": result.order]))
            } else {
                console.out("\(store.path): \(ledger.totalSteps) \(ledger.totalSteps == 1 ? "step" : "steps") in \(ledger.runs.count) \(ledger.runs.count == 1 ? "run" : "runs")")
                for run in ledger.runs {
                    console.out("  \(run.steps) steps at sampling rate \(format(run.samplingRate)), noise multiplier \(format(run.noiseMultiplier))")
                }
                console.out("epsilon \(format(result.epsilon)) at delta \(format(delta)) (optimal Rényi order \(format(result.order)))")
            }
        case let .table(path):
            try PrivacyTable.run(path: path, accountant: accountant, console: console, json: json)
        }
        return ExitCode.success
    }

    // MARK: - Validation with messages that name the option

    private static func samplingRate(_ args: ParsedArguments) throws -> Double? {
        try number(args, "sampling-rate", "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
    }

    private static func noiseMultiplier(_ args: ParsedArguments) throws -> Double? {
        let range = PrivacyRun.noiseMultiplierRange
        return try number(args, "noise-multiplier", "a number from \(range.lowerBound) to \(range.upperBound)") { range.contains($0) }
    }

    private static func epsilon(_ args: ParsedArguments) throws -> Double? {
        try number(args, "epsilon", "a number above 0") { $0 > 0 }
    }

    private static func delta(_ args: ParsedArguments) throws -> Double {
        guard let value = try number(args, "delta", "a number in [\(PrivacyRun.smallestDelta), 1)",
                                     valid: { $0 >= PrivacyRun.smallestDelta && $0 < 1 }) else {
            throw UsageError.missing([args.quoted("delta")], count: 1)
        }
        return value
    }

    private static func steps(_ args: ParsedArguments) throws -> Int? {
        try args.int("steps", in: 1...PrivacyRun.maximumSteps)
    }


    private static func number(_ args: ParsedArguments, _ name: String, _ expectation: String,
                               valid: (Double) -> Bool) throws -> Double? {
        guard let text = args.string(name) else { return nil }
        guard let value = Double(text), value.isFinite, valid(value) else { throw args.invalid(name, text, "expected \(expectation)") }
        return value
    }
}

/// `--table`: ε for many setups in one process (the benchmark and batch use).
enum PrivacyTable {
    /// CSV out, or with `json` one JSON object per row.
    static func run(path: String, accountant: PrivacyAccountant, console: Console, json: Bool) throws {
        guard let text = String(data: try FileAccess.contents(of: path), encoding: .utf8) else {
            throw ConfigurationError("\(path): is not UTF-8 text")
        }
        var curves: [[Double]: RDPCurve] = [:]
        var output = json ? "" : "q,sigma,steps,delta,epsilon,order\n"
        // By `isNewline`, like the CSV and peers readers: "\r\n" is one Character, so splitting at
        // "\n" alone never split a CRLF file and dropped every row.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if fields.isEmpty || fields == [""] || fields.first == "q" { continue }
            // Steps as --steps takes them (at least 1), so a row and the flags mean the same run.
            guard fields.count >= 4, let q = Double(fields[0]), let sigma = Double(fields[1]),
                  let steps = Int(fields[2]), (1...PrivacyRun.maximumSteps).contains(steps), let delta = Double(fields[3]) else {
                throw ConfigurationError("\(path):\(index + 1): expected 'q,sigma,steps,delta' (steps at least 1), got '\(line)'")
            }
            do {
                let run = try PrivacyRun(samplingRate: q, noiseMultiplier: sigma, steps: steps)
                try PrivacyRun.validate(delta: delta)
                let key = [q, sigma]
                let step = try curves[key] ?? accountant.stepCurve(samplingRate: q, noiseMultiplier: sigma)
                curves[key] = step
                let result = try RDPCurve.zero(orders: accountant.orders).composed(with: step, times: run.steps).guarantee(delta: delta)
                output += json ? jsonObject(["q": q, "sigma": sigma, "steps": steps, "delta": delta, "epsilon": result.epsilon,
                                             "order": result.order]) + "\n"
                               : "\(fields[0]),\(fields[1]),\(fields[2]),\(fields[3]),\(result.epsilon),\(result.order ?? .nan)\n"
            } catch {
                throw ConfigurationError("\(path):\(index + 1): \(error)")
            }
        }
        console.writeOut(output)
    }
}

private func format(_ value: Double?) -> String {
    guard let value else { return "none" }
    if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
    return String(format: "%.6g", value)
}

/// `value` rounded up at its sixth significant digit, so a printed noise multiplier still meets
/// the budget (ε only falls as σ grows).
private func roundedUp(_ value: Double) -> Double {
    let scale = pow(10, 5 - floor(log10(value)))
    return (value * scale).rounded(.up) / scale
}

/// One line of JSON with sorted keys; nil values become null, non-finite numbers strings.
private func jsonObject(_ fields: [String: Any?]) -> String {
    func clean(_ value: Any?) -> Any {
        switch value {
        case nil: return NSNull()
        case let d as Double: return d.isFinite ? d : String(d)
        case let array as [[String: Any]]: return array.map { $0.mapValues { clean($0) } }
        case let some?: return some
        }
    }
    let object = fields.mapValues { clean($0) }
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
}
