// swift-tools-version:6.0
// gossipnode: serverless, privacy-preserving federated learning over UDP.
// Dependencies point one way (see SPEC.md §1): nothing below imports anything above it.
import PackageDescription

/// Release-only flags for the modules whose hot loops were measured to need them
/// (see scripts/bench-*.sh); everything else builds with the defaults.
let hotLoopSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "gossipnode",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gossipnode", targets: ["gossipnode"]),
        // The library modules, for the separate fuzzing package in Fuzz/ (scripts/fuzz.sh).
        .library(name: "GossipnodeModules",
                 targets: ["Crypto", "Learning", "Privacy", "SecureAggregation", "Transport", "Node", "FuzzFixtures"]),
    ],
    targets: [
        // libsodium's headers as a Swift module.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        // Small C helpers: numeric kernels (flush-to-zero, ISA dispatch), CRC-32, allocator setting.
        .target(name: "CKernels"),
        // Safe wrappers over libsodium: secrets, key agreement, AEAD, KDF, mask PRG, Shamir.
        .target(name: "Crypto", dependencies: ["CSodium"]),
        // Tensors, kernels, layers, models, optimizers and datasets for local training.
        .target(name: "Learning", dependencies: ["CKernels"], swiftSettings: hotLoopSettings,
                linkerSettings: [.linkedLibrary("z")]),
        // DP-SGD and the Rényi-DP accountant with its persisted ledger.
        .target(name: "Privacy", dependencies: ["Learning"]),
        // Fixed-point codec and the pairwise-masked secure-aggregation state machine.
        .target(name: "SecureAggregation", dependencies: ["Crypto"], swiftSettings: hotLoopSettings),
        // Datagram transports (UDP, in-memory), fault layer, chunking, encrypted channels.
        .target(name: "Transport", dependencies: ["Crypto"]),
        // The node: round groups, liveness, convergence, checkpoints, its round state machine.
        .target(name: "Node", dependencies: ["Learning", "Privacy", "SecureAggregation", "Transport", "Crypto"]),
        // Many node machines over the in-memory network on a virtual clock.
        .target(name: "Simulation", dependencies: ["Node"]),
        // Command-line parsing and one file per command.
        .target(name: "GossipnodeCLI", dependencies: ["Node", "Simulation", "Learning", "Privacy", "SecureAggregation", "Crypto", "Transport", "CKernels"]),
        .executableTarget(name: "gossipnode", dependencies: ["GossipnodeCLI"]),

        // Shared test helpers: seeded randomness, temporary directories, process runner.
        .target(name: "TestKit", dependencies: ["Crypto"], path: "Tests/TestKit"),
        // Fuzz fixtures shared by the in-suite fuzz tests and the libFuzzer targets in Fuzz/.
        .target(name: "FuzzFixtures", dependencies: ["Crypto", "Transport", "Node"], path: "Tests/FuzzFixtures"),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "TestKit"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning", "TestKit"]),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy", "Learning", "TestKit"]),
        .testTarget(name: "SecureAggregationTests", dependencies: ["SecureAggregation", "Crypto", "TestKit"]),
        .testTarget(name: "TransportTests", dependencies: ["FuzzFixtures", "Transport", "Crypto", "TestKit"]),
        .testTarget(name: "NodeTests", dependencies: ["FuzzFixtures", "Node", "Simulation", "TestKit"]),
        .testTarget(name: "CLITests", dependencies: ["GossipnodeCLI", "TestKit"]),
    ]
)
