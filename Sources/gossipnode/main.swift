import GossipnodeCLI
import Foundation
StandardStreams.prepare()
exit(CommandLineTool.main(Array(CommandLine.arguments.dropFirst())))
