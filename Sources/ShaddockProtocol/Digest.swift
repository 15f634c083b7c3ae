import CShaddockDigest

/// The few digests the handshakes need, through OpenSSL.
public enum Digest {
    public static func md5(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHD_MD5_LEN))
        let rc = data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { shd_md5(d.baseAddress, d.count, $0.baseAddress) }
        }
        precondition(rc == 0, "OpenSSL has no MD5")
        return out
    }

    public static func base64(_ data: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 4 * ((data.count + 2) / 3))
        let n = data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { shd_base64_encode(d.baseAddress, d.count, $0.baseAddress) }
        }
        return String(decoding: out[..<n], as: UTF8.self)
    }
}
