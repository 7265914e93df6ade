import Foundation

/// A model with what is needed to resume or evaluate it: the input standardisation it was trained
/// with and, optionally, the optimizer state. Serialised in the binary format of SPEC.md
/// "Models and training" (magic `GNMODEL`, version 1, little-endian, CRC-32 trailer).
public struct ModelCheckpoint: Equatable, Sendable {
    public var model: Model
    public var standardization: Standardization?
    public var optimizer: OptimizerState?

    public init(model: Model, standardization: Standardization? = nil, optimizer: OptimizerState? = nil) {
        self.model = model
        self.standardization = standardization
        self.optimizer = optimizer
    }

    static let magic: [UInt8] = Array("GNMODEL".utf8) + [1]

    public func serialized() -> [UInt8] {
        let spec = Array(model.spec.description.utf8)
        let floats = model.parameterCount * (optimizer == nil ? 1 : 2) + 2 * (standardization?.mean.count ?? 0)
        var w = ByteWriter(capacity: Self.magic.count + 2 + spec.count + 16 + 1 + 8 + 4 * floats + 4)
        w.raw(Self.magic)
        w.u16(UInt16(spec.count))
        w.raw(spec)
        w.u32(UInt32(model.inputCount))
        w.u32(UInt32(model.classCount))
        w.u64(UInt64(model.parameterCount))
        w.floats(model.parameters)
        w.u8((standardization == nil ? 0 : 1) | (optimizer == nil ? 0 : 2))
        if let standardization {
            w.floats(standardization.mean)
            w.floats(standardization.inverseStd)
        }
        if let optimizer {
            w.u64(UInt64(optimizer.step))
            w.floats(optimizer.velocity)
        }
        let crc = crc32(w.bytes)
        w.u32(crc)
        return w.bytes
    }

    /// Parses `serialized()` output; `source` names the file in errors.
    public init(bytes: [UInt8], source: String = "model") throws {
        guard bytes.count >= 12 else { throw DataError(file: source, "truncated: \(bytes.count) bytes is too short for a model file") }
        var r = ByteReader(bytes, source: source)
        let magic = try r.take(8, "magic")
        guard magic.prefix(7).elementsEqual(Self.magic.prefix(7)) else { throw DataError(file: source, "not a gossipnode model file (bad magic)") }
        guard magic.last == 1 else { throw DataError(file: source, "model format version \(magic.last ?? 0) is not supported (expected 1)") }
        let body = bytes.count - 4
        let stored = littleEndianUInt32(bytes, at: body)
        let actual = bytes.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[..<body])) }
        guard stored == actual else { throw DataError(file: source, "corrupt: CRC-32 mismatch (truncated or modified file)") }
        let specLength = Int(try r.u16("spec length"))
        guard let specText = String(bytes: try r.take(specLength, "spec"), encoding: .utf8) else {
            throw DataError(file: source, "model spec is not UTF-8")
        }
        let spec: ModelSpec
        do { spec = try ModelSpec.parse(specText) } catch let error as DataError {
            throw DataError(file: source, "bad model spec: \(error.problem)")
        }
        let inputs = Int(try r.u32("input count")), classes = Int(try r.u32("class count"))
        guard inputs > 0, classes >= 2, inputs <= 1 << 24, classes <= 1 << 16 else {
            throw DataError(file: source, "implausible shape: \(inputs) inputs, \(classes) classes")
        }
        let count = try r.u64("parameter count")
        guard let expected = spec.parameterCount(inputCount: inputs, classCount: classes), UInt64(expected) == count else {
            throw DataError(file: source, "declares \(count) parameters, which does not fit \(spec) on \(inputs) inputs and \(classes) classes")
        }
        guard count <= UInt64(r.remaining / 4) else { throw DataError(file: source, "truncated: declares \(count) parameters") }
        let parameters = try r.floats(Int(count), "parameters")
        let model: Model
        do { model = try Model(spec: spec, inputCount: inputs, classCount: classes, parameters: parameters) } catch let error as DataError {
            throw DataError(file: source, error.problem)
        }
        let flags = try r.u8("flags")
        guard flags & ~3 == 0 else { throw DataError(file: source, "unknown flags \(flags)") }
        var standardization: Standardization?
        if flags & 1 != 0 {
            standardization = Standardization(mean: try r.floats(inputs, "standardization mean"),
                                              inverseStd: try r.floats(inputs, "standardization scale"))
        }
        var optimizer: OptimizerState?
        if flags & 2 != 0 {
            let step = try r.u64("optimizer step")
            guard step <= UInt64(Int.max) else { throw DataError(file: source, "implausible optimizer step \(step)") }
            optimizer = OptimizerState(velocity: try r.floats(model.parameterCount, "optimizer velocity"), step: Int(step))
        }
        guard r.remaining == 4 else { throw DataError(file: source, "\(r.remaining - 4) unexpected bytes before the CRC") }
        self.init(model: model, standardization: standardization, optimizer: optimizer)
    }

    /// Writes the file atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try FileAccess.write(serialized(), to: path)
    }
}
