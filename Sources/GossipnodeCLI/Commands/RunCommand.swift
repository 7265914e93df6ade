import CKernels
import Crypto
import Foundation
import Learning
import Node
import Privacy
import Transport

extension CheckpointError: ConfigurationProblem {}

/// `gossipnode run`: one node of the network, identified by its line in the peers file.
enum RunCommand {
    static let nodeOptions: [OptionSpec] = [
        .value("peers", "file", help: "The peers file: one 'NAME HOST:PORT PUBLIC_KEY' per line.", default: "peers/list.txt"),
        .value("id", "name", help: "This node's name in the peers file.", required: true),
        .value("key", "file", help: "This node's secret key file.", derivedDefault: "keys/<id>.key"),
        .value("listen", "addr:port", help: "Local UDP address to bind.", derivedDefault: "this node's address in the peers file"),
        .value("state", "dir", help: "Directory for checkpoints and the privacy ledger.", derivedDefault: "state/<id>"),
        .flag("keep-round-models", help: "Also keep each round's model in <state>/rounds/round-NNNNNN.model (round-000007.model), for 'gossipnode eval'."),
        .value("mtu", "bytes", help: "UDP payload size of a datagram; every node must use the same.",
               derivedDefault: "1232, or 61440 when every peer in the peers file is on loopback"),
        .flag("json", help: "Write one JSON object per line instead of text."),
        .value("log-level", "level", help: "One of error, warning, info, debug.", default: "info"),
        .value("alone-timeout", "seconds", help: "Stop with a failure after too few peers have been alive this long for any group to reach its threshold (the network stopped or is unreachable); 0: never.",
               default: "300"),
        .flag("dry-run", help: "Check the configuration (peers, key, data, flags, that --listen can be bound, state directory, that no other process uses it, and checkpoint), say what would run, and exit."),
    ]

    static let command = Command(
        name: "run",
        abstract: "Run one node: train locally, aggregate securely with each round's group.",
        discussion: """
        Reads the peers file, finds this node's line by --id, checks that --key holds the secret
        key matching that line's public key, and joins the network. Every round the node trains
        on its own data shard (by default shard I/N, I being its position in the peers file),
        then runs secure aggregation with the group that every peer computes identically from the
        round number and the peer list, and adopts the group's average. Nodes stop together when
        the network has converged, at --rounds, or when the privacy budget (--epsilon) is spent.
        State (model, round, spent privacy) is checkpointed every round in --state; restarting
        with the same command resumes from it.
        """,
        // No --standardize: statistics of one node's shard would scale each node's inputs
        // differently, and a model averaged across them would fit none. --shard defaults to the
        // node's own shard, not train's 1/1, and its help says so.
        options: nodeOptions + NodeFlags.options + TrainingFlags.options.compactMap { option in
            switch option.name {
            case "standardize": nil
            case "shard": .value("shard", "i/n", help: option.help, derivedDefault: "I/N, I being this node's position among the N peers")
            default: option
            }
        } + TrainingPrivacyFlags.options,
        run: { args, console in
            // Before the key is read: a crash must not leave it, or any round's secrets, in a core.
            _ = ck_forbid_core_dumps()
            let config = try RunConfiguration(args, warn: { console.err($0) })
            if args.flag("dry-run") {
                let start = try config.prepare(creatingState: false)
                do { try config.addresses.checkBindable() } catch { throw config.cannotListen(error) }
                console.out(config.json ? config.dryRunJSON(resumeAfter: start.saved?.round)
                                        : config.summary + (start.saved.map { "; would resume after round \($0.round)" } ?? ""))
                return ExitCode.success
            }
            return try config.run(console: console)
        })
}

/// The validated settings of `run`; building one checks everything before anything starts.
struct RunConfiguration {
    let peers: PeersFile
    let peersPath: String
    let me: Peer
    let index: Int
    let identity: KeyPair
    let listen: Endpoint
    /// The peers' and the local socket's addresses, resolved as the transport will.
    let addresses: PeerAddresses
    let stateDirectory: String
    let keepRoundModels: Bool
    let mtu: Int
    let json: Bool
    let logLevel: NodeRunner.LogLevel
    /// nil: never (`--alone-timeout 0`).
    let aloneTimeout: Duration?
    let node: NodeFlags
    let training: TrainingFlags
    let privacy: TrainingPrivacyFlags

    init(_ args: ParsedArguments, warn: (String) -> Void) throws {
        let id = try args.required("id")
        peersPath = try args.required("peers")
        peers = try PeersFile.load(path: peersPath)
        guard let index = peers.index(of: id) else {
            throw ConfigurationError("\(peersPath): no peer named '\(id)' (known: \(peers.peers.map(\.name).joined(separator: ", ")))")
        }
        self.index = index
        me = peers.peers[index]
        let keyPath = args.string("key") ?? "keys/\(id).key"
        guard FileManager.default.fileExists(atPath: keyPath) else {
            throw ConfigurationError("\(keyPath): no such key file; create it with 'gossipnode keygen --out \(keyPath)' "
                + "and put the printed public key on the line of '\(id)' in \(peersPath)")
        }
        identity = try KeyFile.load(path: keyPath, warnings: warn)
        guard identity.publicKey == me.publicKey else {
            throw ConfigurationError("\(keyPath): key does not match the public key of '\(id)' in \(peersPath)")
        }
        if let listenText = args.string("listen") {
            do { listen = try Endpoint(parsing: listenText) } catch { throw args.invalid("listen", listenText, error.message) }
        } else {
            listen = me.endpoint
        }
        // Resolved as the transport will: spellings of one address, or peers the socket cannot
        // reach, would otherwise fail only at run time (a bind error, or every round timing out).
        let addresses: PeerAddresses
        do { addresses = try PeerAddresses(peers: peers, listen: listen) } catch {
            if let listenText = args.string("listen") { throw args.invalid("listen", listenText, error.message) }
            throw ConfigurationError("\(peersPath): the address of '\(id)': \(error)")
        }
        do { try addresses.check(peers: peers, localIndex: index, listen: listen) } catch {
            throw ConfigurationError("\(peersPath): \(error)")
        }
        self.addresses = addresses
        // Here, not once the socket is open, so that --dry-run warns of a mistyped name too.
        for (peer, why) in addresses.unresolved(except: index).sorted(by: { $0.key < $1.key }) {
            warn("[warning] peer \(peers.peers[peer].name): \(why); it is reached once a datagram from it arrives")
        }
        stateDirectory = args.string("state") ?? "state/\(id)"
        guard !stateDirectory.isEmpty else { throw args.invalid("state", "", "expected a directory") }
        keepRoundModels = args.flag("keep-round-models")
        mtu = try args.int("mtu", in: 576...65_507)
            ?? (peers.peers.allSatisfy(\.endpoint.isLoopback) ? TransportConfiguration.loopbackMTU : TransportConfiguration().mtu)
        json = args.flag("json")
        guard let level = NodeRunner.LogLevel(name: args.string("log-level")!) else {
            throw args.invalid("log-level", args.string("log-level")!, "expected error, warning, info or debug")
        }
        logLevel = level
        let alone = try args.double("alone-timeout", in: 0...86_400)!
        aloneTimeout = alone == 0 ? nil : .milliseconds(Int(alone * 1000))
        node = try NodeFlags(args)
        // Here, not at the start, so that --dry-run warns too. `run` uses the default liveness settings.
        let verdict = Liveness.verdictTime(.init())
        if node.joinTimeout < verdict {
            warn("[warning] --join-timeout \(node.joinTimeout.seconds) s is shorter than the failure detector's "
                 + "verdict on a crashed peer (\(verdict.seconds) s): such a peer will cost its groups the whole join timeout")
        }
        var training = try TrainingFlags(args)
        if !args.wasGiven("shard") { training.shard = try Shard(index: index, count: peers.peers.count) }
        self.training = training
        privacy = try TrainingPrivacyFlags(args)
        guard peers.peers.count >= 3 else {
            throw ConfigurationError("\(peersPath): secure aggregation needs at least 3 peers, found \(peers.peers.count)")
        }
        try OpenFileLimit.ensure(atLeast: 32)
    }

    /// The socket cannot be bound at `listen` (in use, not local, no permission): a configuration
    /// error, in a dry run as at the real start.
    func cannotListen(_ error: any Error) -> ConfigurationError {
        ConfigurationError("cannot listen on \(listen): \(error)")
    }

    var summary: String {
        let k = min(node.groupSize, peers.peers.count)
        return "node \(me.name) listening on \(listen) with \(peers.peers.count) peers from \(peersPath); "
            + "up to \(node.rounds) rounds in groups of \(k)+, datagrams of up to \(mtu) bytes, state in \(stateDirectory)"
    }

    func run(console: Console) throws -> Int32 {
        // A node allocates and frees model-sized buffers every round; keeping them saves ~2% of its
        // CPU (scripts/bench-node-round.sh compares against GOSSIPNODE_MALLOC_TUNING=0).
        if ProcessInfo.processInfo.environment["GOSSIPNODE_MALLOC_TUNING"] != "0" { _ = ck_retain_freed_memory() }
        let created = StateDirectory.missing(stateDirectory)
        let (split, store, saved, initial, learnerSettings, lock, session, joined) = try prepare(creatingState: true)
        defer { lock?.release() }
        var data = split
        if let noise = privacy.inputNoise {
            var rng = SystemRandom()
            noise.apply(to: &data.train, rng: &rng)
        }
        var learner = try NodeLearner(settings: learnerSettings, shard: data.train, initial: initial, stateDirectory: stateDirectory)
        if let saved { learner.restore(slowMomentumBuffer: saved.slowMomentum) }
        var host = NodeHost(name: me.name, learner: learner, test: data.test, checkpoints: store, evalEvery: node.evalEvery,
                            keepRoundModels: keepRoundModels)
        host.resumedTrainedWithoutPrivacy = saved?.trainedWithoutPrivacy ?? false
        host.owner = me.publicKey.base64
        var transportConfiguration = TransportConfiguration()
        transportConfiguration.mtu = mtu
        // `session` is above every earlier start's, whatever the clock did; recorded before anything is sent.
        let transport: UDPTransport
        do {
            transport = try UDPTransport(peers: peers, localIndex: index, identity: identity, addresses: addresses,
                                         configuration: transportConfiguration, session: session)
        } catch let error as SystemCallError {
            // Binding failed (address in use, not local, no permission): a configuration problem,
            // and exit code 2 promises that nothing was started: remove the lock file and the
            // state directories made for this start (empty but for that file).
            lock?.releaseUndoingCreation()
            StateDirectory.remove(created)
            throw cannotListen(error)
        }
        // A state directory that cannot be written (a full disk) fails the node at its first
        // checkpoint, with that file's name; until then the wall clock alone must do, as before.
        do { try SessionFloor.record(session, stateDirectory: stateDirectory) } catch {
            console.err("[warning] cannot record the transport session: \(error)")
        }
        var seed = [UInt8](repeating: 0, count: 32)
        var system = SystemRandom()
        seed.withUnsafeMutableBytes { system.fill($0) }
        let settings = NodeMachine.Settings(
            networkID: peers.networkID.bytes, peers: peers.peers.map(\.publicKey), me: index, groupSize: node.groupSize,
            minimumThreshold: node.threshold, phaseTimeout: node.phaseTimeout, joinTimeout: node.joinTimeout,
            clipRange: node.clipRange, weightCap: Double(max(1, data.train.count * peers.peers.count)),
            convergence: node.convergence(peers: peers.peers.count), aloneTimeout: aloneTimeout)
        let machine = NodeMachine(settings: settings, resumeAfter: saved?.round ?? 0, convergence: saved?.convergence,
                                  joinedBefore: joined.before, seed: seed, now: monotonicNow())
        let output = NodeRunner.Output(json: json, logLevel: logLevel, line: { console.out($0) }, log: { console.err($0) })
        if json {
            console.out(Self.startJSON(node: me.name, resumedAfter: saved?.round, epsilon: learner.epsilon,
                                       examples: learner.train.count, localSteps: learnerSettings.localSteps))
        } else {
            console.out(summary)
            console.out("training \(training.model) on \(learner.train.count) examples (shard \(training.shard), \(training.partition)), "
                        + "\(learnerSettings.localSteps) local steps per round"
                        + (learnerSettings.dp.map { ", DP-SGD σ = \($0.noiseMultiplier), C = \($0.clipNorm), δ = \(privacy.delta)" } ?? "")
                        + (saved.map { "; resuming after round \($0.round)" } ?? ""))
        }
        let runner = NodeRunner(machine: machine, host: host, transport: transport, names: peers.peers.map(\.name), output: output,
                                joinedRounds: joined.store)
        let result = try runner.run()
        console.out(json ? Self.summaryJSON(result, node: me.name) : Self.summaryText(result, node: me.name))
        if case .failure = result.reason { return ExitCode.failure }
        return ExitCode.success
    }

    /// Everything `run` checks before it starts, also for `--dry-run`: the data and the model on
    /// it, the learner's settings (σ calibrated for --target-epsilon), the state directory (created
    /// by `run`, only checked by a dry run), and the checkpoint, which must fit this data and these
    /// flags. Returns the data, the checkpoint store, the saved checkpoint if any, the model to
    /// start from (restored, or new: the same on every node) and the learner's settings.
    func prepare(creatingState: Bool) throws -> (data: DataSplit, store: CheckpointStore, saved: NodeCheckpoint?,
                                                 initial: ModelCheckpoint, learner: NodeLearner.Settings, lock: StateLock?,
                                                 session: UInt64, joined: (store: JoinedRoundStore, before: UInt64)) {
        let data = try training.loadData()
        guard data.train.count >= 2 else { throw ConfigurationError("shard \(training.shard) of \(training.source) has fewer than 2 examples") }
        try training.model.validate(inputCount: data.train.featureCount, classCount: data.train.classCount)
        let learner = try node.learner(training: training, privacy: privacy, shardSize: data.train.count * 9 / 10)
        try StateDirectory.check(stateDirectory, create: creatingState)
        let lock = creatingState ? try StateLock(stateDirectory) : nil
        if !creatingState { try StateLock.checkFree(stateDirectory) }
        let store = CheckpointStore(stateDirectory: stateDirectory)
        let joinedRounds = JoinedRoundStore(stateDirectory: stateDirectory, trainsWithoutPrivacy: learner.dp == nil)
        if creatingState {
            for path in [store.path, LedgerStore(stateDirectory: stateDirectory).path, joinedRounds.path,
                         SessionFloor.path(stateDirectory: stateDirectory)] { AtomicFile.removeStaleTemporaries(of: path) }
        }
        // The state's other records, read here so that a dry run refuses what the start would (the
        // learner reads the ledger again when the node starts).
        _ = try LedgerStore(stateDirectory: stateDirectory).load()
        let session = try SessionFloor.next(stateDirectory: stateDirectory)
        let record = try joinedRounds.load(network: peers.networkID.bytes)
        // No restart of this network's run can have joined a round past its last: a record of one
        // is not this run's, and the node would only train alone, every round failing, to --rounds.
        guard record.round <= node.rounds else {
            throw ConfigurationError("\(joinedRounds.path): this node joined round \(record.round) of this network, "
                + "beyond --rounds \(node.rounds): not a record of this run; delete the state directory to start the network over")
        }
        // Checked with or without a checkpoint: a run killed before its first checkpoint has none,
        // yet its masked input (trained without DP-SGD) may already be in a group's average.
        guard learner.dp == nil || !record.withoutPrivacy else {
            throw Self.unaccounted(joinedRounds.path, "this node joined round \(record.round) with a model trained without --dp")
        }
        let joined = (store: joinedRounds, before: record.round)
        guard let saved = try store.load() else {
            var rng = SeededGenerator(seed: training.seed)
            let model = Model(spec: training.model, inputCount: data.train.featureCount, classCount: data.train.classCount, rng: &rng)
            return (data, store, nil, ModelCheckpoint(model: model), learner, lock, session, joined)
        }
        let initial = try ModelCheckpoint(bytes: saved.model, source: store.path)
        try checkOwner(saved, checkpoint: store.path)
        try checkResumable(initial.model, convergence: saved.convergence.settings, checkpoint: store.path, data: data)
        if learner.dp != nil { try checkAccounted(saved, checkpoint: store.path) }
        return (data, store, saved, initial, learner, lock, session, joined)
    }

    /// A checkpoint resumes only the run that wrote it: the same model on data of the same shape
    /// (anything else would train garbage or read past its buffers), and the same stop rule, which
    /// every node of the network must share to stop together.
    func checkResumable(_ model: Model, convergence: ConvergenceRule.Settings, checkpoint path: String, data: DataSplit) throws {
        let advice = "resume with the settings it was written with, or start over with another --state"
        guard model.spec == training.model else {
            throw ConfigurationError("\(path): holds a \(model.spec) model, but --model is \(training.model); \(advice)")
        }
        guard model.inputCount == data.train.featureCount, model.classCount == data.train.classCount else {
            throw ConfigurationError("\(path): its model takes \(model.inputCount) features and \(model.classCount) classes; "
                + "\(training.source) has \(data.train.featureCount) and \(data.train.classCount); \(advice)")
        }
        let wanted = node.convergence(peers: peers.peers.count)
        let differences = [
            convergence.maxRounds != wanted.maxRounds ? "--rounds \(convergence.maxRounds) (now \(wanted.maxRounds))" : nil,
            convergence.tolerance != wanted.tolerance ? "--tolerance \(convergence.tolerance) (now \(wanted.tolerance))" : nil,
            convergence.patience != wanted.patience ? "--patience \(convergence.patience) (now \(wanted.patience))" : nil,
            convergence.mixingMargin != wanted.mixingMargin
                ? "a mixing margin of \(convergence.mixingMargin) rounds (now \(wanted.mixingMargin): other peers, --group-size, or a gossipnode before the group schedule)" : nil,
        ].compactMap { $0 }
        guard differences.isEmpty else {
            throw ConfigurationError("\(path): written with \(differences.joined(separator: ", ")); every node must stop by the same rule; \(advice)")
        }
    }

    /// A checkpoint resumes only on the node that wrote it: a state directory copied from another
    /// node would make this one report that node's spent privacy, not what its own data spent.
    /// Checkpoints written before the owner was recorded carry none and are not checked.
    func checkOwner(_ saved: NodeCheckpoint, checkpoint path: String) throws {
        guard let owner = saved.owner, owner != me.publicKey.base64 else { return }
        let writer = peers.peers.first { $0.publicKey.base64 == owner }.map { "node '\($0.name)'" } ?? "a node with key \(owner)"
        throw ConfigurationError("\(path): written by \(writer), not by '\(me.name)': its model and spent privacy are that "
            + "node's (a copied state directory?); use this node's own state, or start over with another --state")
    }

    /// With `--dp`, a checkpoint resumes only if the privacy ledger accounts for everything its
    /// model learned: a model trained in some round without DP-SGD (a run without `--dp`, then
    /// restarted with it), or one whose ledger is gone, would let the node report an ε counting
    /// only the steps after the restart, far below what its data has already given away.
    func checkAccounted(_ saved: NodeCheckpoint, checkpoint path: String) throws {
        guard saved.trainedWithoutPrivacy != true else {
            throw Self.unaccounted(path, "its model was trained without --dp in earlier rounds")
        }
        let ledger = LedgerStore(stateDirectory: stateDirectory).path
        guard saved.round == 0 || FileManager.default.fileExists(atPath: ledger) else {
            throw ConfigurationError("\(path): resuming after round \(saved.round) with --dp, but \(ledger) is missing, so the "
                + "privacy its model already spent is unknown; restore the ledger, or start over with another --state")
        }
    }

    /// `run --dp` on a state whose file at `path` shows training without DP-SGD (`what`).
    static func unaccounted(_ path: String, _ what: String) -> ConfigurationError {
        ConfigurationError("\(path): \(what), which no privacy ledger accounts for; resumed with --dp it would report an ε "
            + "below what was spent; start over with another --state")
    }

    static func summaryText(_ result: NodeRunner.Summary, node: String) -> String {
        var line = "\(node) stopped: \(result.reason) after round \(result.rounds)"
        if let accuracy = result.testAccuracy { line += String(format: "; test-acc %.2f%%", 100 * accuracy) }
        if let epsilon = result.epsilon { line += String(format: "; ε %.3f", epsilon) }
        line += "; sent \(result.bytesSent) B, received \(result.bytesReceived) B in "
            + String(format: "%.1f s (%.1f s of CPU)", result.seconds, result.cpuSeconds)
        return line
    }

    /// `--dry-run --json`: what would run, as one JSON object.
    func dryRunJSON(resumeAfter round: UInt64?) -> String {
        let fields: [String] = [
            "\"event\":\"dry_run\"", "\"node\":" + ReportText.jsonString(me.name), "\"listen\":" + ReportText.jsonString("\(listen)"),
            "\"peers\":\(peers.peers.count)", "\"rounds\":\(node.rounds)", "\"group_size\":\(min(node.groupSize, peers.peers.count))",
            "\"mtu\":\(mtu)", "\"state\":" + ReportText.jsonString(stateDirectory),
            "\"would_resume_after_round\":" + (round.map { "\($0)" } ?? "null"),
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The first JSON line: what the node starts from, so a restart shows it resumed (and with
    /// which spent privacy) rather than starting over.
    static func startJSON(node: String, resumedAfter round: UInt64?, epsilon: Double?, examples: Int, localSteps: Int) -> String {
        let fields: [String] = [
            "\"event\":\"start\"", "\"node\":" + ReportText.jsonString(node),
            "\"resumed_after_round\":" + (round.map { "\($0)" } ?? "null"),
            "\"epsilon\":" + ReportText.jsonNumber(epsilon), "\"training_examples\":\(examples)", "\"local_steps\":\(localSteps)",
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func summaryJSON(_ result: NodeRunner.Summary, node: String) -> String {
        let number = ReportText.jsonNumber
        let fields: [String] = [
            "\"event\":\"summary\"", "\"node\":" + ReportText.jsonString(node),
            "\"reason\":" + ReportText.jsonString(result.reason.description), "\"rounds\":\(result.rounds)",
            "\"test_accuracy\":" + number(result.testAccuracy), "\"epsilon\":" + number(result.epsilon),
            "\"bytes_sent\":\(result.bytesSent)", "\"bytes_received\":\(result.bytesReceived)",
            "\"seconds\":" + number(result.seconds), "\"cpu_seconds\":" + number(result.cpuSeconds),
            "\"datagrams_dropped\":\(result.transport.datagramsDropped)",
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
