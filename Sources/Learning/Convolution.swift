/// The data movement around a convolution layer's GEMM (see `ConvolutionLayout`), on the rows
/// (examples) `rows` of batch-sized buffers: im2col and its adjoint, 2x2 max-pooling and its
/// adjoint. Each touches only its rows, so threads may run disjoint rows at once.
enum Convolution {
    /// Copies every 5x5 patch of the input maps into its own row: patch (y, x) of example e is row
    /// e * positions + y * outputSide + x, its features in (dy, dx, channel) order, so each dy is
    /// one contiguous copy of 5 * channels floats (channels are last in the maps).
    static func im2col(_ layer: ConvolutionLayout, input: UnsafePointer<Float>, rows: Range<Int>, patches: UnsafeMutablePointer<Float>) {
        let k = ConvolutionLayout.kernel, side = layer.side, channels = layer.channels
        let out = layer.outputSide, span = k * channels
        for row in rows {
            let image = input + row * layer.inputs
            var patch = patches + row * layer.positions * layer.patchSize
            for y in 0..<out {
                for x in 0..<out {
                    if channels == 1 {
                        // Spans of 5 floats: a fixed-size loop the compiler unrolls, not 5 memmove calls.
                        let corner = image + y * side + x
                        for dy in 0..<5 { for dx in 0..<5 { patch[dy * 5 + dx] = corner[dy * side + dx] } }
                    } else {
                        for dy in 0..<k { (patch + dy * span).update(from: image + ((y + dy) * side + x) * channels, count: span) }
                    }
                    patch += layer.patchSize
                }
            }
        }
    }

    /// The adjoint of `im2col`: sets the input-map gradient to the sum, over the patches that read
    /// each input, of that patch's gradient.
    static func col2im(_ layer: ConvolutionLayout, patchGradients: UnsafePointer<Float>, rows: Range<Int>, inputGradient: UnsafeMutablePointer<Float>) {
        let k = ConvolutionLayout.kernel, side = layer.side, channels = layer.channels
        let out = layer.outputSide, span = k * channels
        for row in rows {
            let image = inputGradient + row * layer.inputs
            image.update(repeating: 0, count: layer.inputs)
            var patch = patchGradients + row * layer.positions * layer.patchSize
            for y in 0..<out {
                for x in 0..<out {
                    for dy in 0..<k {
                        let target = image + ((y + dy) * side + x) * channels, source = patch + dy * span
                        for i in 0..<span { target[i] += source[i] }
                    }
                    patch += layer.patchSize
                }
            }
        }
    }

    /// 2x2 max-pooling with stride 2 of each example's `outputSide^2 x filters` map; records which
    /// element (offset within the example's map) each maximum came from, the first on ties.
    static func maxPool(_ layer: ConvolutionLayout, convOutput: UnsafePointer<Float>, rows: Range<Int>,
                        pooled: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        let f = layer.filters, out = layer.outputSide, half = layer.pooledSide
        for row in rows {
            let map = convOutput + row * layer.positions * f
            let target = pooled + row * layer.outputs, chosen = argmax + row * layer.outputs
            for py in 0..<half {
                for px in 0..<half {
                    let topLeft = (2 * py * out + 2 * px) * f, bottomLeft = topLeft + out * f
                    let base = (py * half + px) * f
                    // Values and indices carried along (selects, no dependent loads), so channels vectorise.
                    let a = map + topLeft, b = map + topLeft + f, c = map + bottomLeft, d = map + bottomLeft + f
                    for channel in 0..<f {
                        var value = a[channel], best = Int32(topLeft + channel)
                        if b[channel] > value { value = b[channel]; best = Int32(topLeft + f + channel) }
                        if c[channel] > value { value = c[channel]; best = Int32(bottomLeft + channel) }
                        if d[channel] > value { value = d[channel]; best = Int32(bottomLeft + f + channel) }
                        target[base + channel] = value
                        chosen[base + channel] = best
                    }
                }
            }
        }
    }

    /// The adjoint of `maxPool`: each pooled gradient goes to the element its maximum came from.
    static func unpool(_ layer: ConvolutionLayout, pooledGradient: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                       rows: Range<Int>, gradient: UnsafeMutablePointer<Float>) {
        let size = layer.positions * layer.filters
        for row in rows {
            let target = gradient + row * size
            target.update(repeating: 0, count: size)
            let source = pooledGradient + row * layer.outputs, chosen = argmax + row * layer.outputs
            for j in 0..<layer.outputs { target[Int(chosen[j])] += source[j] }
        }
    }
}
