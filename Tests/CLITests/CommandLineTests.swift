import Foundation
import Testing
import TestKit
@testable import GossipnodeCLI

@Suite struct CommandLineTests {
    @Test func topLevelHelpListsEveryCommand() {
        for words in [["--help"], ["-h"], ["help"]] {
            let result = runTool(words)
            #expect(result.code == 0)
            for command in CommandLineTool.commands { #expect(result.stdout.contains("  \(command.name)")) }
        }
        let bare = runTool([])
        #expect(bare.code == 2)
        #expect(bare.stderr.contains("USAGE:"))
    }

    @Test(arguments: CommandLineTool.commands.map(\.name))
    func everyCommandHasHelpWithDefaults(_ name: String) {
        for words in [[name, "--help"], ["help", name], [name, "-h"]] {
            let result = runTool(words)
            #expect(result.code == 0)
            #expect(result.stdout.hasPrefix("OVERVIEW: "))
            #expect(result.stdout.contains("USAGE: gossipnode \(name)"))
        }
        let command = CommandLineTool.command(named: name)!
        // Help wraps long lines; compare with whitespace collapsed.
        let help = command.help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for option in command.options {
            #expect(help.contains("--\(option.name)"))
            if let value = option.defaultValue { #expect(help.contains("(default: \(value))")) }
        }
    }

    @Test func versionPrintsTheVersion() {
        let result = runTool(["--version"])
        #expect(result.code == 0)
        #expect(result.stdout == "gossipnode \(CommandLineTool.version)\n")
    }

    @Test func unknownCommandsAndOptionsAreUsageErrors() {
        let unknownCommand = runTool(["kegen"])
        #expect(unknownCommand.code == 2)
        #expect(unknownCommand.stderr.contains("unknown command 'kegen'; did you mean 'keygen'?"))

        let unknownFlag = runTool(["keygen", "--outt", "x"])
        #expect(unknownFlag.code == 2)
        let lines = unknownFlag.stderr.split(separator: "\n")
        #expect(lines.first == "error: unknown option '--outt'; did you mean '--out'?")
        #expect(lines.dropFirst().first?.hasPrefix("Usage: gossipnode keygen --out <file>") == true)

        let missingValue = runTool(["pubkey", "--key"])
        #expect(missingValue.code == 2)
        #expect(missingValue.stderr.hasPrefix("error: missing value for '--key <file>'\n"))

        let missingRequired = runTool(["pubkey"])
        #expect(missingRequired.code == 2)
        #expect(missingRequired.stderr.hasPrefix("error: missing required option '--key <file>'\n"))

        let stray = runTool(["keygen", "positional"])
        #expect(stray.code == 2)
        #expect(stray.stderr.hasPrefix("error: unexpected argument 'positional'"))

        let twice = runTool(["keygen", "--out", "a", "--out", "b"])
        #expect(twice.code == 2)
        #expect(twice.stderr.contains("given more than once"))

        let flagWithValue = runTool(["keygen", "--out", "a", "--force=yes"])
        #expect(flagWithValue.code == 2)

        // Echoed input is escaped and cut: a NUL or a terminal escape cannot garble the message,
        // and a huge value stays one short line.
        let hostile = runTool(["keygen", "pos\u{0}itional\u{1B}[2J"])
        #expect(hostile.stderr.hasPrefix("error: unexpected argument 'pos\\0itional\\u{1B}[2J'"), "\(hostile.stderr)")
        let seed = runTool(["train", "--seed", "18446744073709551615"])
        #expect(seed.stderr.contains("expected an integer from 0 to 9223372036854775807"), "\(seed.stderr)")
        let huge = runTool(["train", "--epochs", String(repeating: "9", count: 100_000)])
        let first = huge.stderr.split(separator: "\n").first ?? ""
        #expect(huge.code == 2 && first.contains("...' (100000 bytes) for '--epochs <n>'") && first.count < 1_200, "\(first.prefix(300))")
    }

    /// Two swapped letters, the commonest typo, got no suggestion in a short name (`trian` was two
    /// edits from `train`), and `help NAME` suggested nothing at all.
    @Test func swappedLettersAndHelpOfAnUnknownCommandGetASuggestion() {
        #expect(ArgumentParser.editDistance("trian", "train") == 1)
        #expect(ArgumentParser.editDistance("ab", "ba") == 1 && ArgumentParser.editDistance("abc", "ca") == 3)
        for words in [["trian"], ["help", "trian"]] {
            let result = runTool(words)
            #expect(result.code == 2 && result.stderr.hasPrefix("error: unknown command 'trian'; did you mean 'train'?\n"), "\(result.stderr)")
        }
        let flag = runTool(["train", "--epcohs", "1"])
        #expect(flag.code == 2 && flag.stderr.hasPrefix("error: unknown option '--epcohs'; did you mean '--epochs'?\n"), "\(flag.stderr)")
        let escaped = runTool(["help", "x\u{1B}[2J"])
        #expect(escaped.code == 2 && escaped.stderr.hasPrefix("error: unknown command 'x\\u{1B}[2J'\n"), "\(escaped.stderr)")
    }

    @Test func optionValuesAcceptEqualsSignAndNegativeNumbers() throws {
        let options: [OptionSpec] = [.value("lr", "x", help: ""), .value("n", "x", help: ""), .flag("f", help: "")]
        let (parsed, help) = try ArgumentParser.parse(["--lr=0.5", "--n", "-3", "--f"], options: options)
        #expect(!help)
        #expect(try parsed.double("lr") == 0.5)
        #expect(try parsed.int("n") == -3)
        #expect(parsed.flag("f"))
        #expect(throws: UsageError.self) { try parsed.int("n", in: 0...10) }
        #expect(throws: UsageError.self) { try parsed.int("lr") }
    }
}
