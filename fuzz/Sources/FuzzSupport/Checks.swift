/// A property every input must keep. A violation stops the process with a
/// trap, which libFuzzer records as a crash with the input that caused it.
@inline(__always)
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant: \(message())", file: file, line: line) }
}

/// Calls `body` with a copy of `source` in an allocation of exactly its
/// size, so that a read one byte past the end is an AddressSanitizer report
/// rather than a read of whatever follows in a larger buffer.
public func withExactCopy<R>(of source: some Collection<UInt8>, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 1)
    defer { bytes.deallocate() }
    let copied = source.withContiguousStorageIfAvailable { bytes.copyMemory(from: UnsafeRawBufferPointer($0)) } != nil
    if !copied { _ = bytes.initializeMemory(as: UInt8.self, from: source) }
    return try body(bytes)
}

/// Whether the bytes are well-formed UTF-8, by the standard library's own
/// decoder: the oracle the gateway's validators are compared with.
public func isUTF8(_ bytes: some Collection<UInt8>) -> Bool {
    var decoder = UTF8()
    var iterator = bytes.makeIterator()
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue: continue
        case .emptyInput: return true
        case .error: return false
        }
    }
}
