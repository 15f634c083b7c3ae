#include "shd_digest.h"

#include <openssl/evp.h>

static int digest2(const EVP_MD *md, const uint8_t *a, size_t alen,
                   const uint8_t *b, size_t blen, uint8_t *out) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return -1;
    unsigned int outlen = 0;
    int ok = EVP_DigestInit_ex(ctx, md, NULL) &&
             EVP_DigestUpdate(ctx, a, alen) &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen)) &&
             EVP_DigestFinal_ex(ctx, out, &outlen);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int shd_sha1(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[SHD_SHA1_LEN]) {
    return digest2(EVP_sha1(), a, alen, b, blen, out);
}

int shd_md5(const uint8_t *data, size_t len, uint8_t out[SHD_MD5_LEN]) {
    return digest2(EVP_md5(), data, len, NULL, 0, out);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t shd_base64_encode(const uint8_t *in, size_t len, uint8_t *out) {
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

static int b64value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long shd_base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t outcap) {
    if (len % 4 != 0) return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int pad = 0;
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            uint8_t c = in[i + k];
            int d;
            if (c == '=') {
                // Padding only in the last quantum, only in its last two places.
                if (i + 4 != len || k < 2) return -1;
                pad++;
                d = 0;
            } else {
                if (pad) return -1;
                d = b64value(c);
                if (d < 0) return -1;
            }
            v = v << 6 | (uint32_t)d;
        }
        size_t n = 3 - (size_t)pad;
        if (o + n > outcap) return -1;
        out[o++] = (uint8_t)(v >> 16);
        if (n > 1) out[o++] = (uint8_t)(v >> 8);
        if (n > 2) out[o++] = (uint8_t)v;
    }
    return (long)o;
}
