// Digests and base64 for the handshake paths: SHA-1 for Sec-WebSocket-Accept,
// MD5 for the Pomelo dictionary version. One-shot, no state, no allocation.
#ifndef SHD_DIGEST_H
#define SHD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHD_SHA1_LEN 20
#define SHD_MD5_LEN 16

/// SHA-1 of the concatenation a||b (b may be NULL/0). Writes 20 bytes to out.
/// Returns 0, or a negative value if the digest is unavailable.
int shd_sha1(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[SHD_SHA1_LEN]);

/// MD5 of data. Writes 16 bytes to out. Returns 0 or a negative value.
int shd_md5(const uint8_t *data, size_t len, uint8_t out[SHD_MD5_LEN]);

/// Standard base64 (with padding) of data into out, which must hold
/// 4*((len+2)/3) bytes. Returns the number of bytes written.
size_t shd_base64_encode(const uint8_t *data, size_t len, uint8_t *out);

/// Decodes standard base64 into out (capacity outcap). Returns the number of
/// decoded bytes, or -1 if the input is not valid padded base64 or does not fit.
long shd_base64_decode(const uint8_t *data, size_t len, uint8_t *out, size_t outcap);

#endif
