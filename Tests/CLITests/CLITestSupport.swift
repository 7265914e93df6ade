@testable import GossipnodeCLI

/// Runs the tool in-process and returns exit code and both streams.
func runTool(_ arguments: [String]) -> (code: Int32, stdout: String, stderr: String) {
    let captured = CapturedConsole()
    let code = CommandLineTool.main(arguments, console: captured.console)
    return (code, captured.stdout, captured.stderr)
}
