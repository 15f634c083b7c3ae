// The record layer of an established server connection: TLS 1.2 and 1.3
// with AES-GCM or ChaCha20-Poly1305 (every cipher the default lists allow).
//
// OpenSSL does the handshake. Meanwhile its message callback tells us each
// record header and each key change, so we know both directions' sequence
// numbers, and its key-log callback hands us the TLS 1.3 traffic secrets
// (TLS 1.2 keys come from the master secret). Once the handshake is done
// the keys are taken and the SSL object is freed: an idle TLS session then
// holds its keys (about 200 bytes) instead of OpenSSL's per-connection
// state (about 15 KB even with SSL_MODE_RELEASE_BUFFERS). A connection with
// any other cipher, or that the switch cannot be made for, stays with
// OpenSSL.
//
// Records are opened from the loop's receive buffer straight into the
// decryption buffer and sealed from the plain queue straight into the out
// queue: one pass of the cipher over each byte, no copy. The cipher
// contexts belong to the loop and are keyed again only when another
// connection's records come through them.
#include "shd_internal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LEN 16
#define HEADER_LEN 5
#define MAX_PLAIN 16384
// The largest record a peer may send (RFC 8446 5.2, RFC 5246 6.2.3).
#define MAX_CIPHER_13 (MAX_PLAIN + 256)
#define MAX_CIPHER_12 (MAX_PLAIN + 2048)

enum { CT_CHANGE_CIPHER_SPEC = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPLICATION_DATA = 23 };
enum {
    ALERT_CLOSE_NOTIFY = 0,
    ALERT_UNEXPECTED_MESSAGE = 10,
    ALERT_BAD_RECORD_MAC = 20,
    ALERT_RECORD_OVERFLOW = 22,
    ALERT_DECODE_ERROR = 50,
    ALERT_INTERNAL_ERROR = 80,
    ALERT_NO_RENEGOTIATION = 100,
};
enum { HS_CLIENT_HELLO = 1, HS_KEY_UPDATE = 24 };
enum { AEAD_AES128_GCM = 0, AEAD_AES256_GCM, AEAD_CHACHA20_POLY1305, AEAD_COUNT };

typedef struct shd_tls_keys {
    uint8_t key[32];
    uint8_t iv[12];      // TLS 1.2 AES-GCM uses the first 4 (the salt)
    uint64_t seq;        // the next record's sequence number
    uint64_t epoch;      // names these keys in a loop's cipher contexts
    uint8_t secret[48];  // TLS 1.3: the traffic secret, for KeyUpdate
} shd_tls_keys_t;

typedef struct shd_tls_rec shd_tls_rec_t;
typedef struct shd_tls_ciphers shd_tls_ciphers_t;

struct shd_tls_rec {
    shd_tls_keys_t rd, wr;  // the client's keys (we open) and ours (we seal)
    uint8_t *partial;       // a record a read ended inside of, while it lasts
    size_t partial_len;
    uint16_t version;
    uint8_t aead, key_len, hash_len;
    uint8_t secrets;        // TLS 1.3 secrets seen: 1 the client's, 2 ours
    uint8_t resumed, alpn;  // alpn: http/1.1 was chosen
    uint8_t active;         // the records are ours
    uint8_t closed;         // the peer's close_notify came
};

struct shd_tls_ciphers {
    EVP_CIPHER_CTX *ctx[2][AEAD_COUNT];  // [0] opens, [1] seals
    uint64_t epoch[2][AEAD_COUNT];       // whose keys each holds
};

static EVP_CIPHER *aead_ciphers[AEAD_COUNT];
static EVP_KDF *hkdf, *tls1_prf;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static uint64_t next_epoch;

static void fetch_algorithms(void) {
    aead_ciphers[AEAD_AES128_GCM] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    aead_ciphers[AEAD_AES256_GCM] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    aead_ciphers[AEAD_CHACHA20_POLY1305] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    tls1_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
}

static uint64_t new_epoch(void) { return __atomic_add_fetch(&next_epoch, 1, __ATOMIC_RELAXED); }

static int is_tls13(const shd_tls_rec_t *r) { return r->version == TLS1_3_VERSION; }

// MARK: Following the handshake

// Sequence numbers start at zero with each key change: in TLS 1.2 at a
// ChangeCipherSpec, in TLS 1.3 after a Finished (the application keys);
// every record header after that is one record more under those keys.
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg) {
    (void)version;
    shd_tls_rec_t *r = arg;
    uint64_t *seq = write_p ? &r->wr.seq : &r->rd.seq;
    // (OpenSSL reports a ChangeCipherSpec it reads by its record header only.)
    if (content_type == SSL3_RT_HEADER && len > 0) {
        if (((const uint8_t *)buf)[0] == SSL3_RT_CHANGE_CIPHER_SPEC) *seq = 0;
        else (*seq)++;
    } else if (content_type == SSL3_RT_HANDSHAKE && len > 0 && ((const uint8_t *)buf)[0] == SSL3_MT_FINISHED
             && SSL_version(ssl) == TLS1_3_VERSION)
        *seq = 0;
}

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

// "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>" and the server's:
// the TLS 1.3 application traffic secrets, which OpenSSL has no other way
// of giving.
void shd__tls_keylog(const SSL *ssl, const char *line) {
    shd_conn_t *c = SSL_get_app_data(ssl);
    if (c == NULL || c->rec == NULL) return;
    shd_tls_rec_t *r = c->rec;
    static const char client[] = "CLIENT_TRAFFIC_SECRET_0 ", server[] = "SERVER_TRAFFIC_SECRET_0 ";
    shd_tls_keys_t *k;
    uint8_t bit;
    if (strncmp(line, client, sizeof(client) - 1) == 0) k = &r->rd, bit = 1;
    else if (strncmp(line, server, sizeof(server) - 1) == 0) k = &r->wr, bit = 2;
    else return;
    const char *hex = strchr(line + sizeof(client) - 1, ' ');
    if (hex == NULL) return;
    hex++;
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > sizeof(k->secret)) return;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return;
        k->secret[i] = (uint8_t)(hi << 4 | lo);
    }
    r->hash_len = (uint8_t)(n / 2);
    r->secrets |= bit;
}

int shd__tls_records_watch(shd_conn_t *c) {
    pthread_once(&fetch_once, fetch_algorithms);
    c->rec = calloc(1, sizeof(*c->rec));
    if (c->rec == NULL) return SHD_ENOMEM;
    SSL_set_app_data(c->ssl, c);
    SSL_set_msg_callback(c->ssl, msg_cb);
    SSL_set_msg_callback_arg(c->ssl, c->rec);
    return SHD_OK;
}

// MARK: Keys

static const char *digest_name(const shd_tls_rec_t *r) { return r->hash_len == 48 ? "SHA384" : "SHA256"; }

// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1.
static int expand_label(const shd_tls_rec_t *r, const uint8_t *secret, const char *label, uint8_t *out, size_t len) {
    uint8_t info[2 + 1 + 6 + 16 + 1];
    size_t label_len = strlen(label);
    info[0] = (uint8_t)(len >> 8);
    info[1] = (uint8_t)len;
    info[2] = (uint8_t)(6 + label_len);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, label_len);
    info[9 + label_len] = 0;  // no context
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest_name(r), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, r->hash_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + label_len),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX *kdf = hkdf ? EVP_KDF_CTX_new(hkdf) : NULL;
    int ok = kdf != NULL && EVP_KDF_derive(kdf, out, len, params) == 1;
    EVP_KDF_CTX_free(kdf);
    return ok ? 0 : -1;
}

static int install13(shd_tls_rec_t *r, shd_tls_keys_t *k) {
    if (expand_label(r, k->secret, "key", k->key, r->key_len) != 0) return -1;
    if (expand_label(r, k->secret, "iv", k->iv, 12) != 0) return -1;
    k->epoch = new_epoch();
    return 0;
}

// A TLS 1.3 KeyUpdate: the next traffic secret, its keys, sequence zero.
static int update13(shd_tls_rec_t *r, shd_tls_keys_t *k) {
    uint8_t next[48];
    if (expand_label(r, k->secret, "traffic upd", next, r->hash_len) != 0) return -1;
    memcpy(k->secret, next, r->hash_len);
    OPENSSL_cleanse(next, sizeof(next));
    k->seq = 0;
    return install13(r, k);
}

// The TLS 1.2 key block (RFC 5246 6.3); AEAD ciphers have no MAC keys.
static int install12(shd_tls_rec_t *r, SSL *ssl) {
    uint8_t master[48], seed[13 + 64], block[2 * 32 + 2 * 12];
    size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
    memcpy(seed, "key expansion", 13);
    if (master_len == 0 || SSL_get_server_random(ssl, seed + 13, 32) != 32
        || SSL_get_client_random(ssl, seed + 45, 32) != 32)
        return -1;
    size_t iv_len = r->aead == AEAD_CHACHA20_POLY1305 ? 12 : 4;
    size_t len = 2 * (size_t)r->key_len + 2 * iv_len;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest_name(r), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, master_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX *kdf = tls1_prf ? EVP_KDF_CTX_new(tls1_prf) : NULL;
    int ok = kdf != NULL && EVP_KDF_derive(kdf, block, len, params) == 1;
    EVP_KDF_CTX_free(kdf);
    if (ok) {
        memcpy(r->rd.key, block, r->key_len);
        memcpy(r->wr.key, block + r->key_len, r->key_len);
        memcpy(r->rd.iv, block + 2 * r->key_len, iv_len);
        memcpy(r->wr.iv, block + 2 * r->key_len + iv_len, iv_len);
        r->rd.epoch = new_epoch();
        r->wr.epoch = new_epoch();
    }
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(block, sizeof(block));
    return ok ? 0 : -1;
}

static int keep_openssl(shd_conn_t *c) {
    shd__tls_records_free(c);
    return 0;
}

int shd__tls_records_take(shd_conn_t *c) {
    shd_tls_rec_t *r = c->rec;
    SSL *ssl = c->ssl;
    if (r == NULL) return 0;
    SSL_set_msg_callback(ssl, NULL);
    // OpenSSL reads a record's header, then exactly its body: at the end of
    // the handshake it holds no bytes of a next record.
    if (SSL_has_pending(ssl)) return keep_openssl(c);
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    const EVP_MD *md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;
    switch (cipher ? SSL_CIPHER_get_cipher_nid(cipher) : NID_undef) {
    case NID_aes_128_gcm: r->aead = AEAD_AES128_GCM, r->key_len = 16; break;
    case NID_aes_256_gcm: r->aead = AEAD_AES256_GCM, r->key_len = 32; break;
    case NID_chacha20_poly1305: r->aead = AEAD_CHACHA20_POLY1305, r->key_len = 32; break;
    default: return keep_openssl(c);
    }
    if (md == NULL || aead_ciphers[r->aead] == NULL) return keep_openssl(c);
    int hash_len = EVP_MD_get_size(md);
    if (hash_len != 32 && hash_len != 48) return keep_openssl(c);
    r->version = (uint16_t)SSL_version(ssl);
    if (is_tls13(r)) {
        if (r->secrets != 3 || r->hash_len != hash_len) return keep_openssl(c);
        if (install13(r, &r->rd) != 0 || install13(r, &r->wr) != 0) return keep_openssl(c);
    } else {
        r->hash_len = (uint8_t)hash_len;
        if (r->version != TLS1_2_VERSION || install12(r, ssl) != 0) return keep_openssl(c);
    }
    r->resumed = (uint8_t)SSL_session_reused(ssl);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    r->alpn = alpn_len == 8;
    r->active = 1;
    SHD_STAT_ADD(c->loop, tls_own_records, 1);
    SSL_free(ssl);
    c->ssl = NULL;
    c->loop->released += SHD_TLS_SSL_BYTES;
    return 1;
}

// MARK: Cipher contexts

static EVP_CIPHER_CTX *keyed(shd_loop_t *loop, const shd_tls_rec_t *r, const shd_tls_keys_t *k, int seal) {
    shd_tls_ciphers_t *s = loop->tls_ciphers;
    if (s == NULL && (s = loop->tls_ciphers = calloc(1, sizeof(*s))) == NULL) return NULL;
    EVP_CIPHER_CTX **ctx = &s->ctx[seal][r->aead];
    if (*ctx == NULL) {
        *ctx = EVP_CIPHER_CTX_new();
        if (*ctx == NULL) return NULL;
        if (EVP_CipherInit_ex(*ctx, aead_ciphers[r->aead], NULL, NULL, NULL, seal) != 1) {
            EVP_CIPHER_CTX_free(*ctx);
            *ctx = NULL;
            return NULL;
        }
    }
    if (s->epoch[seal][r->aead] != k->epoch) {
        s->epoch[seal][r->aead] = 0;
        if (EVP_CipherInit_ex(*ctx, NULL, NULL, k->key, NULL, seal) != 1) return NULL;
        s->epoch[seal][r->aead] = k->epoch;
    }
    return *ctx;
}

void shd__tls_records_loop_free(shd_loop_t *loop) {
    shd_tls_ciphers_t *s = loop->tls_ciphers;
    if (s == NULL) return;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < AEAD_COUNT; j++) EVP_CIPHER_CTX_free(s->ctx[i][j]);
    free(s);
    loop->tls_ciphers = NULL;
}

static void put_seq(uint8_t out[8], uint64_t seq) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(seq >> (56 - 8 * i));
}

// TLS 1.3 and TLS 1.2 ChaCha20-Poly1305: the IV xor the sequence number;
// TLS 1.2 AES-GCM: the salt and the record's explicit nonce.
static void make_nonce(const shd_tls_rec_t *r, const shd_tls_keys_t *k, const uint8_t *explicit, uint8_t out[12]) {
    if (!is_tls13(r) && r->aead != AEAD_CHACHA20_POLY1305) {
        memcpy(out, k->iv, 4);
        memcpy(out + 4, explicit, 8);
        return;
    }
    uint8_t seq[8];
    put_seq(seq, k->seq);
    memcpy(out, k->iv, 12);
    for (int i = 0; i < 8; i++) out[4 + i] ^= seq[i];
}

static size_t explicit_len(const shd_tls_rec_t *r) {
    return !is_tls13(r) && r->aead != AEAD_CHACHA20_POLY1305 ? 8 : 0;
}

// MARK: Sealing

static int seal_bytes(shd_conn_t *c, EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t n) {
    while (n > 0) {
        size_t room;
        uint8_t *out = shd__out_room(c, &room);
        if (out == NULL) return -1;
        size_t k = n < room ? n : room;
        int written;
        if (EVP_CipherUpdate(ctx, out, &written, in, (int)k) != 1 || (size_t)written != k) return -1;
        shd__out_commit(c, k);
        in += k;
        n -= k;
    }
    return 0;
}

static int put_bytes(shd_conn_t *c, const uint8_t *in, size_t n) {
    while (n > 0) {
        size_t room;
        uint8_t *out = shd__out_room(c, &room);
        if (out == NULL) return -1;
        size_t k = n < room ? n : room;
        memcpy(out, in, k);
        shd__out_commit(c, k);
        in += k;
        n -= k;
    }
    return 0;
}

// One record of `type` into the out queue: `n` bytes of `msg`, or (msg
// NULL) the first `n` bytes of the plain queue, which it takes.
static int seal_record(shd_conn_t *c, uint8_t type, const uint8_t *msg, size_t n) {
    shd_tls_rec_t *r = c->rec;
    int tls13 = is_tls13(r);
    size_t explicit = explicit_len(r);
    size_t len = explicit + n + (tls13 ? 1 : 0) + TAG_LEN;
    uint8_t head[HEADER_LEN + 8], nonce[12], aad[13], seq[8];
    head[0] = tls13 ? CT_APPLICATION_DATA : type;
    head[1] = 3, head[2] = 3;
    head[3] = (uint8_t)(len >> 8), head[4] = (uint8_t)len;
    put_seq(seq, r->wr.seq);
    if (explicit) memcpy(head + HEADER_LEN, seq, 8);
    make_nonce(r, &r->wr, head + HEADER_LEN, nonce);
    size_t aad_len;
    if (tls13) {
        memcpy(aad, head, HEADER_LEN);
        aad_len = HEADER_LEN;
    } else {
        memcpy(aad, seq, 8);
        aad[8] = type, aad[9] = 3, aad[10] = 3;
        aad[11] = (uint8_t)(n >> 8), aad[12] = (uint8_t)n;
        aad_len = 13;
    }
    EVP_CIPHER_CTX *ctx = keyed(c->loop, r, &r->wr, 1);
    int ignored;
    if (ctx == NULL || EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1
        || EVP_CipherUpdate(ctx, NULL, &ignored, aad, (int)aad_len) != 1)
        return -1;
    if (put_bytes(c, head, HEADER_LEN + explicit) != 0) return -1;
    if (msg != NULL) {
        if (seal_bytes(c, ctx, msg, n) != 0) return -1;
    } else {
        while (n > 0) {
            shd_chunk_t *h = c->plain_head;
            size_t k = h->end - h->start;
            if (k > n) k = n;
            if (seal_bytes(c, ctx, h->data + h->start, k) != 0) return -1;
            h->start += (uint32_t)k;
            c->plain_pending -= k;
            n -= k;
            if (h->start == h->end) {
                c->plain_head = h->next;
                if (c->plain_head == NULL) c->plain_tail = NULL;
                shd__chunk_put(c->loop, h);
            }
        }
    }
    if (tls13 && seal_bytes(c, ctx, &type, 1) != 0) return -1;
    uint8_t tag[TAG_LEN];
    if (EVP_CipherFinal_ex(ctx, tag, &ignored) != 1 || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag) != 1)
        return -1;
    if (put_bytes(c, tag, TAG_LEN) != 0) return -1;
    r->wr.seq++;
    shd__mark_dirty(c);
    return 0;
}

static int seal_alert(shd_conn_t *c, uint8_t level, uint8_t description) {
    uint8_t alert[2] = {level, description};
    return seal_record(c, CT_ALERT, alert, 2);
}

int shd__tls_records_out(shd_conn_t *c) {
    // As few records as fit: up to 16 KiB of what was queued in each.
    while (c->plain_pending > 0) {
        size_t n = c->plain_pending < MAX_PLAIN ? c->plain_pending : MAX_PLAIN;
        if (seal_record(c, CT_APPLICATION_DATA, NULL, n) != 0) {
            shd__tls_failed(c, 0);
            return -1;
        }
    }
    if (c->tls_notify == 1) {
        c->tls_notify = 2;
        if (seal_alert(c, 1, ALERT_CLOSE_NOTIFY) != 0) {
            shd__tls_failed(c, 0);
            return -1;
        }
    }
    return 0;
}

// MARK: Opening

// Opens one whole record (`len` bytes after its header) into `out`, which
// has room for `len` bytes. Returns the content type and the plaintext's
// length, or -1 with the alert to send.
static int open_record(shd_conn_t *c, const uint8_t *record, size_t len, uint8_t *out, size_t *out_len,
                       uint8_t *alert) {
    shd_tls_rec_t *r = c->rec;
    int tls13 = is_tls13(r);
    uint8_t type = record[0];
    if (record[1] != 3 || record[2] != 3) {
        *alert = ALERT_DECODE_ERROR;
        return -1;
    }
    if (tls13 ? type != CT_APPLICATION_DATA : type < CT_CHANGE_CIPHER_SPEC || type > CT_APPLICATION_DATA) {
        *alert = ALERT_UNEXPECTED_MESSAGE;
        return -1;
    }
    size_t explicit = explicit_len(r);
    if (len < explicit + TAG_LEN + (tls13 ? 1 : 0)) {
        *alert = ALERT_BAD_RECORD_MAC;
        return -1;
    }
    const uint8_t *body = record + HEADER_LEN + explicit;
    size_t n = len - explicit - TAG_LEN;
    uint8_t nonce[12], aad[13], tag[TAG_LEN];
    size_t aad_len;
    make_nonce(r, &r->rd, record + HEADER_LEN, nonce);
    if (tls13) {
        memcpy(aad, record, HEADER_LEN);
        aad_len = HEADER_LEN;
    } else {
        put_seq(aad, r->rd.seq);
        aad[8] = type, aad[9] = 3, aad[10] = 3;
        aad[11] = (uint8_t)(n >> 8), aad[12] = (uint8_t)n;
        aad_len = 13;
    }
    memcpy(tag, body + n, TAG_LEN);
    EVP_CIPHER_CTX *ctx = keyed(c->loop, r, &r->rd, 0);
    int written = 0, ignored;
    if (ctx == NULL || EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1
        || EVP_CipherUpdate(ctx, NULL, &ignored, aad, (int)aad_len) != 1
        || (n > 0 && EVP_CipherUpdate(ctx, out, &written, body, (int)n) != 1)) {
        *alert = ALERT_INTERNAL_ERROR;
        return -1;
    }
    if (EVP_CipherFinal_ex(ctx, out + written, &ignored) != 1) {
        *alert = ALERT_BAD_RECORD_MAC;
        return -1;
    }
    r->rd.seq++;
    if (!tls13) {
        *out_len = n;
        return type;
    }
    // TLS 1.3: the real content type follows the content, then zeros.
    while (n > 0 && out[n - 1] == 0) n--;
    if (n == 0) {
        *alert = ALERT_UNEXPECTED_MESSAGE;
        return -1;
    }
    *out_len = n - 1;
    return out[n - 1];
}

// After the handshake: alerts, a TLS 1.3 KeyUpdate, a TLS 1.2 attempt to
// renegotiate (refused with a warning, as OpenSSL does). Returns 0 to go
// on, 1 when the peer closed, -1 with an alert to send (0: none).
static int control_record(shd_conn_t *c, int type, const uint8_t *msg, size_t len, uint8_t *alert) {
    shd_tls_rec_t *r = c->rec;
    *alert = ALERT_UNEXPECTED_MESSAGE;
    if (type == CT_ALERT) {
        if (len != 2) {
            *alert = ALERT_DECODE_ERROR;
            return -1;
        }
        if (msg[1] == ALERT_CLOSE_NOTIFY) return 1;
        // TLS 1.2 warnings (user_canceled, no_renegotiation, ...) are
        // informational; anything else ends the connection, without an
        // answer (RFC 8446 6.2).
        if (!is_tls13(r) && msg[0] == 1) return 0;
        *alert = 0;
        return -1;
    }
    if (type != CT_HANDSHAKE || len < 4) return -1;
    size_t body = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
    // One message per record: clients never split or pack these.
    if (body != len - 4) return -1;
    if (!is_tls13(r)) {
        if (msg[0] != HS_CLIENT_HELLO) return -1;
        return seal_alert(c, 1, ALERT_NO_RENEGOTIATION) == 0 ? 0 : -1;
    }
    if (msg[0] != HS_KEY_UPDATE || body != 1 || msg[4] > 1) return -1;
    *alert = ALERT_INTERNAL_ERROR;
    if (update13(r, &r->rd) != 0) return -1;
    if (msg[4] == 1) {
        // update_requested: ours goes out under the old keys, then they change.
        static const uint8_t key_update[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
        if (seal_record(c, CT_HANDSHAKE, key_update, sizeof(key_update)) != 0) return -1;
        if (update13(r, &r->wr) != 0) return -1;
    }
    return 0;
}

// The next whole record: in place in the read (then `data` moves past it
// once it is opened), or completed in the partial buffer. 0 when the bytes
// ran out (a started record waits in the partial buffer), -1 when a header
// announces more than a record may hold, -2 out of memory.
static int next_record(shd_tls_rec_t *r, const uint8_t *data, size_t len, size_t *used, const uint8_t **record,
                       size_t *record_len) {
    size_t max = HEADER_LEN + (is_tls13(r) ? MAX_CIPHER_13 : MAX_CIPHER_12);
    *used = 0;
    if (r->partial_len == 0) {
        if (len >= HEADER_LEN) {
            size_t whole = HEADER_LEN + ((size_t)data[3] << 8 | data[4]);
            if (whole > max) return -1;
            if (len >= whole) {
                *record = data;
                *record_len = whole;
                return 1;
            }
        }
        if (len == 0) return 0;
    }
    if (r->partial == NULL && (r->partial = malloc(max)) == NULL) return -2;
    for (;;) {
        size_t whole = HEADER_LEN;
        if (r->partial_len >= HEADER_LEN) {
            whole += (size_t)r->partial[3] << 8 | r->partial[4];
            if (whole > max) return -1;
        }
        if (r->partial_len >= whole) {
            *record = r->partial;
            *record_len = whole;
            return 1;
        }
        if (*used == len) return 0;
        size_t k = whole - r->partial_len;
        if (k > len - *used) k = len - *used;
        memcpy(r->partial + r->partial_len, data + *used, k);
        r->partial_len += k;
        *used += k;
    }
}

static void fail(shd_conn_t *c, uint8_t alert) {
    if (alert != 0) seal_alert(c, 2, alert);
    shd__tls_failed(c, 0);
}

void shd__tls_records_in(shd_conn_t *c, const uint8_t *data, size_t len) {
    shd_tls_rec_t *r = c->rec;
    shd_loop_t *loop = c->loop;
    size_t max_plain = is_tls13(r) ? MAX_CIPHER_13 : MAX_CIPHER_12;
    if (r->closed) return;
    for (;;) {
        // Plaintext goes behind the connection's unconsumed plaintext, with
        // room for at least one more record.
        uint8_t *buf;
        size_t cap, have = c->tail_len;
        if (c->tail_len + max_plain <= loop->tls_plain_cap) {
            buf = loop->tls_plain;
            cap = loop->tls_plain_cap;
            if (have > 0) memcpy(buf, c->tail, have);
        } else {
            if (shd__conn_grow_tail(c, c->tail_len + max_plain) != SHD_OK) {
                shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
                return;
            }
            buf = c->tail;
            cap = c->tail_cap;
        }
        size_t before = have;
        int full = 0;
        for (;;) {
            const uint8_t *record;
            size_t record_len, used;
            int got = next_record(r, data, len, &used, &record, &record_len);
            data += used;
            len -= used;
            if (got == -2) {
                shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
                return;
            }
            if (got < 0) {
                fail(c, ALERT_RECORD_OVERFLOW);
                return;
            }
            if (got == 0) break;
            size_t body = record_len - HEADER_LEN;
            if (have + body > cap) {
                full = 1;
                break;
            }
            size_t n;
            uint8_t alert;
            int type = open_record(c, record, body, buf + have, &n, &alert);
            if (record == r->partial) {
                r->partial_len = 0;
                free(r->partial);
                r->partial = NULL;
            } else {
                data += record_len;
                len -= record_len;
            }
            if (type < 0) {
                fail(c, alert);
                return;
            }
            if (type == CT_APPLICATION_DATA) {
                have += n;
                continue;
            }
            int rc = control_record(c, type, buf + have, n, &alert);
            if (rc < 0) {
                fail(c, alert);
                return;
            }
            if (rc > 0) {
                r->closed = 1;
                break;
            }
        }
        if (have > before) {
            shd__conn_deliver(c, buf, have);
            if (c->state != SHD_CONN_OPEN) return;
        }
        if (r->closed) {
            shd__conn_peer_eof(c);
            return;
        }
        if (!full) return;
    }
}

// MARK: State

int shd__tls_records_partial(const shd_conn_t *c) { return c->rec != NULL && c->rec->partial_len > 0; }

void shd__tls_records_free(shd_conn_t *c) {
    shd_tls_rec_t *r = c->rec;
    if (r == NULL) return;
    if (c->ssl != NULL) SSL_set_msg_callback(c->ssl, NULL);
    free(r->partial);
    OPENSSL_cleanse(r, sizeof(*r));
    free(r);
    c->rec = NULL;
}

int shd__tls_records_version(const shd_conn_t *c) { return c->rec->version; }
int shd__tls_records_resumed(const shd_conn_t *c) { return c->rec->resumed; }
int shd__tls_records_alpn(const shd_conn_t *c) { return c->rec->alpn; }
