import Foundation
import Transport

/// The `gossipnode` entry point: picks the command, parses its options, maps errors to exit codes.
public enum CommandLineTool {
    public static let executableName = "gossipnode"
    public static let version = "0.1.0"

    /// Every command, in the order `--help` lists them. New commands add one line here.
    public static let commands: [Command] = [
        RunCommand.command,
        SimulateCommand.command,
        KeygenCommand.command,
        PubkeyCommand.command,
        TrainCommand.command,
        EvalCommand.command,
        PrivacyCommand.command,
        BenchSecAggCommand.command,
        BenchTransportCommand.command,
        BenchCheckpointCommand.command,
        BenchGroupsCommand.command,
        ChaosCommand.command,
    ]

    public static func command(named name: String) -> Command? { commands.first { $0.name == name } }

    /// Runs the tool with `arguments` (without the program name) and returns the exit code.
    public static func main(_ arguments: [String], console: Console = .standard) -> Int32 {
        guard let first = arguments.first else {
            console.writeErr(overview)
            return ExitCode.usage
        }
        switch first {
        case "-h", "--help":
            console.writeOut(overview)
            return ExitCode.success
        case "--version":
            console.out("\(executableName) \(version)")
            return ExitCode.success
        case "help":
            guard arguments.count > 1 else { console.writeOut(overview); return ExitCode.success }
            guard let command = command(named: arguments[1]) else { return unknownCommand(arguments[1], console: console) }
            console.writeOut(command.help)
            return ExitCode.success
        default:
            break
        }
        // `gossipnode --peers F --id N ...` is shorthand for `gossipnode run ...`.
        let (command, rest): (Command, [String])
        if first.hasPrefix("-") {
            (command, rest) = (RunCommand.command, arguments)
        } else if let named = Self.command(named: first) {
            (command, rest) = (named, Array(arguments.dropFirst()))
        } else {
            return unknownCommand(first, console: console)
        }
        return execute(command, rest, console: console)
    }

    /// `gossipnode NAME` and `gossipnode help NAME` with a name no command has: exit 2, with the
    /// nearest command's name when it looks like a typo.
    static func unknownCommand(_ name: String, console: Console) -> Int32 {
        var message = "error: unknown command \(ErrorText.quoted(name, limit: 1024))"
        if let guess = ArgumentParser.closest(name, among: commands.map(\.name)) { message += "; did you mean '\(guess)'?" }
        console.err(message)
        console.err("See '\(executableName) --help' for the list of commands.")
        return ExitCode.usage
    }

    static func execute(_ command: Command, _ arguments: [String], console: Console) -> Int32 {
        do {
            let (parsed, help) = try ArgumentParser.parse(arguments, options: command.options)
            if help {
                console.writeOut(command.help)
                return ExitCode.success
            }
            // Every required option that is missing, in one error, before the command looks at any.
            let absent = command.options.filter { $0.isRequired && $0.defaultValue == nil && !parsed.wasGiven($0.name) }
            if !absent.isEmpty { throw UsageError.missing(absent.map { parsed.quoted($0.name) }, count: absent.count) }
            return try command.run(parsed, console)
        } catch let error as UsageError {
            console.err("error: \(error.message)")
            console.err("Usage: \(command.usage)")
            console.err("See '\(executableName) \(command.name) --help' for more information.")
            return ExitCode.usage
        } catch let error as any ConfigurationProblem {
            console.err("error: \(error.description)")
            return ExitCode.usage
        } catch {
            console.err("error: \(error)")
            return ExitCode.failure
        }
    }

    static var overview: String {
        var text = """
        OVERVIEW: Serverless, privacy-preserving federated learning over encrypted UDP.

        Each node trains on its own data; every round, peers form small groups that run
        pairwise-masked secure aggregation, so a node only ever learns its group's average.

        USAGE: \(executableName) <command> [options]
               \(executableName) --peers <file> --id <name> [options]   (same as '\(executableName) run')

        COMMANDS:

        """
        text += formatRows(commands.map { ($0.name, $0.abstract) })
        text += """

        OPTIONS:
          --version                 Show the version.
          -h, --help                Show help information.

        See '\(executableName) help <command>' or '\(executableName) <command> --help' for details.

        """
        return text
    }
}

extension PeersFileError: ConfigurationProblem {}
extension KeyFileError: ConfigurationProblem {}
extension TransportError: ConfigurationProblem {}
extension AddressError: ConfigurationProblem {}
