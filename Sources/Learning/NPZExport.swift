import Foundation

/// Writes a model as a NumPy `.npz` (a zip of `.npy` arrays, stored uncompressed) so Python can
/// read it with `numpy.load`: `spec` (string), `conv{C}.weight` (5 x 5 x channels x filters: height,
/// width, input channel, filter) and `conv{C}.bias` for a CNN's convolutions, `layer{L}.weight`
/// (inputs x outputs, y = x @ W + b; a CNN's first dense layer reads the last pooled map flattened
/// in height, width, channel order) and `layer{L}.bias`, and `standardization.mean` /
/// `standardization.inverse_std` when present.
public enum NPZExport {
    public static func archive(_ checkpoint: ModelCheckpoint) -> [UInt8] {
        let model = checkpoint.model
        var entries: [(String, [UInt8])] = [("spec.npy", npyString(model.spec.description))]
        for (c, layer) in model.convolutions.enumerated() {
            let k = ConvolutionLayout.kernel
            entries.append(("conv\(c).weight.npy", npyFloats(Array(model.parameters[layer.weightOffset..<layer.biasOffset]), shape: [k, k, layer.channels, layer.filters])))
            entries.append(("conv\(c).bias.npy", npyFloats(Array(model.parameters[layer.biasOffset..<layer.end]), shape: [layer.filters])))
        }
        for (l, layer) in model.layers.enumerated() {
            entries.append(("layer\(l).weight.npy", npyFloats(Array(model.parameters[layer.weightOffset..<layer.biasOffset]), shape: [layer.inputs, layer.outputs])))
            entries.append(("layer\(l).bias.npy", npyFloats(Array(model.parameters[layer.biasOffset..<layer.end]), shape: [layer.outputs])))
        }
        if let s = checkpoint.standardization {
            entries.append(("standardization.mean.npy", npyFloats(s.mean, shape: [s.mean.count])))
            entries.append(("standardization.inverse_std.npy", npyFloats(s.inverseStd, shape: [s.inverseStd.count])))
        }
        return zipStored(entries)
    }

    public static func write(_ checkpoint: ModelCheckpoint, to path: String) throws {
        try FileAccess.write(archive(checkpoint), to: path)
    }

    /// NPY version 1.0: magic, header length, a Python dict literal padded to 64 bytes, raw data.
    static func npy(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var w = ByteWriter()
        w.raw([0x93] + Array("NUMPY".utf8) + [1, 0])
        w.u16(UInt16(header.utf8.count))
        w.raw(Array(header.utf8))
        w.raw(data)
        return w.bytes
    }

    static func npyFloats(_ values: [Float], shape: [Int]) -> [UInt8] {
        var w = ByteWriter()
        w.floats(values)
        return npy(descr: "<f4", shape: shape, data: w.bytes)
    }

    /// A 0-d NumPy unicode array (UTF-32LE code points), loadable without pickle.
    static func npyString(_ text: String) -> [UInt8] {
        var w = ByteWriter()
        for scalar in text.unicodeScalars { w.u32(scalar.value) }
        return npy(descr: "<U\(max(text.unicodeScalars.count, 1))", shape: [], data: w.bytes.isEmpty ? [0, 0, 0, 0] : w.bytes)
    }

    /// A zip archive with stored (uncompressed) entries and no zip64 (entries under 4 GiB).
    static func zipStored(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var w = ByteWriter(), central = ByteWriter()
        for (name, data) in entries {
            let crc = crc32(data)
            let offset = UInt32(w.bytes.count), nameBytes = Array(name.utf8)
            w.u32(0x0403_4b50); w.u16(20); w.u16(0); w.u16(0); w.u16(0); w.u16(0x21)
            w.u32(crc); w.u32(UInt32(data.count)); w.u32(UInt32(data.count)); w.u16(UInt16(nameBytes.count)); w.u16(0)
            w.raw(nameBytes); w.raw(data)
            central.u32(0x0201_4b50); central.u16(20); central.u16(20); central.u16(0); central.u16(0); central.u16(0); central.u16(0x21)
            central.u32(crc); central.u32(UInt32(data.count)); central.u32(UInt32(data.count)); central.u16(UInt16(nameBytes.count))
            central.u16(0); central.u16(0); central.u16(0); central.u16(0); central.u32(0); central.u32(offset)
            central.raw(nameBytes)
        }
        let centralOffset = UInt32(w.bytes.count)
        w.raw(central.bytes)
        w.u32(0x0605_4b50); w.u16(0); w.u16(0); w.u16(UInt16(entries.count)); w.u16(UInt16(entries.count))
        w.u32(UInt32(central.bytes.count)); w.u32(centralOffset); w.u16(0)
        return w.bytes
    }
}
