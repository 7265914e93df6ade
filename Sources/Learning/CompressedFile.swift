import CKernels
import Foundation

/// Sequential reader over a gzip'd or plain file (zlib's gz* API), raising `DataError`s that name the file.
final class CompressedFileReader {
    let path: String
    private let handle: UnsafeMutableRawPointer
    private(set) var bytesRead = 0
    /// An upper bound on the bytes this file can yield: deflate expands at most 1032-fold, a plain
    /// file is its own size. Lets a reader size its buffer once without trusting a header's claim.
    let contentBound: Int

    init(path: String) throws {
        self.path = path
        guard let handle = ck_gz_open(path) else {
            throw DataError(file: path, "cannot open (\(String(cString: strerror(errno))))")
        }
        self.handle = handle
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        contentBound = size.multipliedReportingOverflow(by: 1032).overflow ? Int.max : size * 1032
    }

    deinit { ck_gz_close(handle) }

    /// Reads up to `buffer.count` bytes; fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let chunk = UInt32(min(buffer.count - total, 1 << 30))
            let n = ck_gz_read(handle, buffer.baseAddress! + total, chunk)
            if n < 0 { throw DataError(file: path, "corrupt compressed data after \(bytesRead + total) bytes (\(String(cString: ck_gz_error(handle))))") }
            if n == 0 { break }
            total += n
        }
        bytesRead += total
        return total
    }

    /// Reads exactly `buffer.count` bytes or throws a truncation error saying what was being read.
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, what: String) throws {
        let offset = bytesRead
        let n = try read(into: buffer)
        if n < buffer.count {
            throw DataError(file: path, "truncated: \(what) needs \(buffer.count) bytes at offset \(offset), only \(n) remain")
        }
    }

    /// True when nothing follows the current position.
    func atEnd() throws -> Bool {
        var byte: UInt8 = 0
        return try withUnsafeMutableBytes(of: &byte) { try read(into: $0) } == 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
