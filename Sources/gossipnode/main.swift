import GossipnodeCLI
import Foundation
exit(CommandLineTool.main(Array(CommandLine.arguments.dropFirst())))
