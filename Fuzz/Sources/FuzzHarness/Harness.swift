/// Shared by every libFuzzer target: the input as bytes, and a property check that crashes so
/// libFuzzer records the input (decoders themselves must never crash: they throw or return nil).
public enum Fuzz {
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    public static func require(_ condition: Bool, _ problem: @autoclosure () -> String) {
        if !condition { fatalError("fuzz property violated: \(problem())") }
    }
}
