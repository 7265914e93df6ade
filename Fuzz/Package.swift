// swift-tools-version:6.0
// libFuzzer binaries for gossipnode's decoders. A separate package so the main build never sees
// them: build and run with scripts/fuzz.sh (it passes -sanitize=fuzzer,address).
import PackageDescription

/// One executable per fuzz target; the name is also its corpus folder, Corpus/<name>.
let fuzzTargets = [
    "peers-file", "key-file", "endpoint",
    "liveness-message", "convergence-annotation", "node-checkpoint", "node-message",
    "privacy-ledger",
    "idx", "csv", "model-checkpoint",
    "secagg-message", "transport-datagram",
]

let package = Package(
    name: "gossipnode-fuzz",
    dependencies: [.package(name: "gossipnode", path: "..")],
    targets: [
        // What each target does with one input: decode, check the result, trap on a broken property.
        .target(name: "FuzzHarness", dependencies: [.product(name: "GossipnodeModules", package: "gossipnode")]),
    ] + fuzzTargets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzHarness"], path: "Targets/\(name)")
    }
)
