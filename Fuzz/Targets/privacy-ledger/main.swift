import FuzzHarness

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    PrivacyHarness.ledger(Fuzz.bytes(data, size))
    return 0
}
