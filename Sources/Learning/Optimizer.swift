import CKernels

/// How the learning rate changes with the step count.
public enum LearningRateSchedule: Equatable, Sendable, CustomStringConvertible {
    case constant
    /// Cosine decay from the base rate to zero over `totalSteps`, then zero.
    case cosine(totalSteps: Int)
    /// Multiply by `factor` every `every` steps.
    case stepDecay(every: Int, factor: Float)

    /// Parses `constant`, `cosine` (over `totalSteps`) or `step:EVERY:FACTOR`.
    public static func parse(_ text: String, totalSteps: Int) throws -> LearningRateSchedule {
        if text == "constant" { return .constant }
        if text == "cosine" { return .cosine(totalSteps: max(totalSteps, 1)) }
        let parts = text.split(separator: ":")
        // A decay: a factor above 1 would grow the rate without bound until the model diverges.
        if parts.count == 3, parts[0] == "step", let every = Int(parts[1]), every > 0, let factor = Float(parts[2]), factor > 0, factor <= 1 {
            return .stepDecay(every: every, factor: factor)
        }
        throw DataError(file: "--lr-schedule", "'\(text)' is not constant, cosine or step:EVERY:FACTOR (EVERY ≥ 1 steps, 0 < FACTOR ≤ 1)")
    }

    public func rate(base: Float, step: Int) -> Float {
        switch self {
        case .constant: return base
        case .cosine(let total):
            let progress = min(Double(step) / Double(total), 1)
            return base * Float(0.5 * (1 + _cos(Double.pi * progress)))
        case .stepDecay(let every, let factor):
            var rate = base
            for _ in 0..<(step / every) { rate *= factor }
            return rate
        }
    }

    public var description: String {
        switch self {
        case .constant: "constant"
        case .cosine(let total): "cosine(\(total))"
        case .stepDecay(let every, let factor): "step:\(every):\(factor)"
        }
    }
}

/// Hyper-parameters of SGD with momentum and (coupled, L2) weight decay, as in PyTorch's `SGD`:
/// g' = g + weightDecay * w;  v = momentum * v + g';  w -= rate(step) * v.
public struct SGDOptions: Equatable, Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    public var schedule: LearningRateSchedule

    public init(learningRate: Float = 0.05, momentum: Float = 0.9, weightDecay: Float = 0, schedule: LearningRateSchedule = .constant) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.schedule = schedule
    }
}

/// FedProx's proximal term (Li et al., MLSys 2020): local training minimises the loss plus
/// mu/2 * ||w - anchor||², the anchor being where the round's training began, so a node's model
/// cannot drift far from the one its group will average, whatever its data or step count.
public struct ProximalTerm: Equatable, Sendable {
    public var anchor: [Float]
    public var mu: Float

    public init(anchor: [Float], mu: Float) {
        self.anchor = anchor
        self.mu = mu
    }
}

/// The optimizer's memory: momentum buffer and step count (checkpointed with the model).
public struct OptimizerState: Equatable, Sendable {
    public var velocity: [Float]
    public var step: Int

    public init(parameterCount: Int) {
        velocity = [Float](repeating: 0, count: parameterCount)
        step = 0
    }

    public init(velocity: [Float], step: Int) {
        self.velocity = velocity
        self.step = step
    }

    /// One SGD update of `parameters` with `gradient` (already averaged over the batch), on this thread.
    public mutating func apply(_ options: SGDOptions, gradient: [Float], to parameters: inout [Float]) {
        precondition(gradient.count == parameters.count)
        update(options, &parameters) { w, v, rate in
            gradient.withUnsafeBufferPointer { g in
                ck_sgd_momentum(w, v, g.baseAddress!, g.count, rate, options.momentum, options.weightDecay)
            }
        }
    }

    /// One SGD update of `parameters` with `workspace.gradient`, split over threads as the
    /// workspace formed it (and applied to its replicas too, if it has them); with `proximal`,
    /// pulled towards its anchor as well (FedProx).
    public mutating func apply(_ options: SGDOptions, from workspace: Workspace, to parameters: inout [Float], proximal: ProximalTerm? = nil) {
        precondition(workspace.gradient.count == parameters.count)
        precondition(proximal.map { $0.anchor.count == parameters.count } ?? true)
        update(options, &parameters) { w, v, rate in
            guard let proximal else {
                return workspace.sgdUpdate(parameters: w, velocity: v, rate: rate, momentum: options.momentum, decay: options.weightDecay)
            }
            proximal.anchor.withUnsafeBufferPointer { anchor in
                workspace.sgdUpdate(parameters: w, velocity: v, rate: rate, momentum: options.momentum, decay: options.weightDecay,
                                    proximal: (anchor.baseAddress!, proximal.mu))
            }
        }
    }

    /// Runs `body` on the parameters, the velocity and this step's learning rate, then counts the step.
    private mutating func update(_ options: SGDOptions, _ parameters: inout [Float],
                                 _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Float) -> Void) {
        precondition(velocity.count == parameters.count)
        let rate = options.schedule.rate(base: options.learningRate, step: step)
        parameters.withUnsafeMutableBufferPointer { w in
            velocity.withUnsafeMutableBufferPointer { v in body(w.baseAddress!, v.baseAddress!, rate) }
        }
        step += 1
    }
}
