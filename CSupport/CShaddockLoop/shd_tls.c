// TLS for the loop's connections (see shd_tls.h): contexts, ticket keys,
// the BIO that joins OpenSSL to the loop's buffers, and the per-connection
// handshake, decryption and encryption.
#include "shd_internal.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The largest TLS record's plaintext.
#define SHD_TLS_RECORD 16384
#define SHD_TICKET_KEYS 3
#define SHD_TICKET_KEY_BYTES 80

// MARK: Ticket keys

typedef struct ticket_key {
    uint8_t name[16];
    uint8_t hmac[32];
    uint8_t aes[32];
} ticket_key_t;

struct shd_tls_tickets {
    pthread_rwlock_t lock;
    ticket_key_t keys[SHD_TICKET_KEYS];  // [0] is current
    int count;
    int refs;  // under lock: the creator's and each context's
};

shd_tls_tickets_t *shd_tls_tickets_new(void) {
    shd_tls_tickets_t *t = calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    t->refs = 1;
    shd_tls_tickets_rotate(t);
    return t;
}

static void tickets_release(shd_tls_tickets_t *t) {
    pthread_rwlock_wrlock(&t->lock);
    int left = --t->refs;
    pthread_rwlock_unlock(&t->lock);
    if (left > 0) return;
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void shd_tls_tickets_free(shd_tls_tickets_t *t) {
    if (t != NULL) tickets_release(t);
}

void shd_tls_tickets_rotate(shd_tls_tickets_t *t) {
    ticket_key_t fresh;
    if (RAND_bytes((uint8_t *)&fresh, sizeof(fresh)) != 1) return;
    pthread_rwlock_wrlock(&t->lock);
    memmove(&t->keys[1], &t->keys[0], sizeof(ticket_key_t) * (SHD_TICKET_KEYS - 1));
    t->keys[0] = fresh;
    if (t->count < SHD_TICKET_KEYS) t->count++;
    pthread_rwlock_unlock(&t->lock);
    OPENSSL_cleanse(&fresh, sizeof(fresh));
}

int shd_tls_tickets_set(shd_tls_tickets_t *t, const uint8_t *bytes, size_t len) {
    if (len == 0 || len % SHD_TICKET_KEY_BYTES != 0) return -1;
    size_t n = len / SHD_TICKET_KEY_BYTES;
    if (n > SHD_TICKET_KEYS) n = SHD_TICKET_KEYS;
    pthread_rwlock_wrlock(&t->lock);
    for (size_t i = 0; i < n; i++) memcpy(&t->keys[i], bytes + i * SHD_TICKET_KEY_BYTES, SHD_TICKET_KEY_BYTES);
    t->count = (int)n;
    pthread_rwlock_unlock(&t->lock);
    return 0;
}

static int tickets_index = -1;
static pthread_once_t tickets_index_once = PTHREAD_ONCE_INIT;

static void tickets_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr != NULL) tickets_release(ptr);
}

static void make_tickets_index(void) {
    tickets_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tickets_ex_free);
}

// Encrypts new tickets with the current key; decrypts with whichever key
// named the ticket, and always asks for a new ticket (returns 2): a TLS 1.3
// client uses each ticket once, and without a fresh one its next connection
// would be a full handshake; a TLS 1.2 client gets one under the current key.
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int enc) {
    shd_tls_tickets_t *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tickets_index);
    if (t == NULL) return 0;
    ticket_key_t key;
    int found = -1;
    pthread_rwlock_rdlock(&t->lock);
    if (enc) {
        found = t->count > 0 ? 0 : -1;
    } else {
        for (int i = 0; i < t->count; i++) {
            if (memcmp(t->keys[i].name, name, 16) == 0) {
                found = i;
                break;
            }
        }
    }
    if (found >= 0) key = t->keys[found];
    pthread_rwlock_unlock(&t->lock);
    if (found < 0) return enc ? -1 : 0;  // unknown key: a full handshake
    int rc = enc ? 1 : 2;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof(key.hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(name, key.name, 16);
        if (RAND_bytes(iv, 16) != 1
            || EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1
            || EVP_MAC_CTX_set_params(mac, params) != 1) rc = -1;
    } else {
        if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1
            || EVP_MAC_CTX_set_params(mac, params) != 1) rc = -1;
    }
    OPENSSL_cleanse(&key, sizeof(key));
    return rc;
}

// MARK: Contexts

static const char default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN: http/1.1 when the client offers it (a wss client may), otherwise
// none; Pomelo over TLS offers nothing.
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl, (void)arg;
    for (unsigned i = 0; i < inlen;) {
        unsigned n = in[i];
        if (i + 1 + n > inlen) break;
        if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static void set_error(char *err, size_t len, const char *what, const char *file) {
    if (err == NULL || len == 0) return;
    unsigned long e = ERR_peek_last_error();
    char reason[160] = "";
    if (e != 0) ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    if (file != NULL) snprintf(err, len, "%s %s%s%s", what, file, e ? ": " : "", reason);
    else snprintf(err, len, "%s%s%s", what, e ? ": " : "", reason);
}

shd_tls_ctx_t *shd_tls_ctx_new(const shd_tls_config_t *cfg, char *err, size_t err_len) {
    pthread_once(&tickets_index_once, make_tickets_index);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(cfg->client ? TLS_client_method() : TLS_server_method());
    if (ctx == NULL) {
        set_error(err, err_len, "cannot make a TLS context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections hold no record buffers; a record is written whole.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, cfg->ciphers ? cfg->ciphers : default_ciphers) != 1) {
        set_error(err, err_len, "bad TLS 1.2 cipher list", cfg->ciphers ? cfg->ciphers : default_ciphers);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
        set_error(err, err_len, "bad TLS 1.3 cipher suites", cfg->ciphersuites);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->client) {
        // A load generator resumes by the session it keeps itself.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        if (cfg->ca_file != NULL) {
            if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
                set_error(err, err_len, "cannot read the CA file", cfg->ca_file);
                SSL_CTX_free(ctx);
                return NULL;
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        }
        return (shd_tls_ctx_t *)ctx;
    }
    if (cfg->cert_count == 0) {
        set_error(err, err_len, "TLS needs a certificate and its key", NULL);
        SSL_CTX_free(ctx);
        return NULL;
    }
    for (size_t i = 0; i < cfg->cert_count; i++) {
        const shd_tls_cert_t *c = &cfg->certs[i];
        if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
            set_error(err, err_len, "cannot read the certificate", c->cert_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1) {
            int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
            set_error(err, err_len, mismatch ? "the private key does not match the certificate"
                                             : "cannot read the private key", c->key_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            set_error(err, err_len, "the private key does not match the certificate", c->key_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    // The TLS 1.3 traffic secrets, for the record layer that takes over
    // after the handshake (shd_tls_records.c).
    SSL_CTX_set_keylog_callback(ctx, shd__tls_keylog);
    // Resumption is by tickets only: no per-session state on the server.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (cfg->tickets != NULL) {
        pthread_rwlock_wrlock(&cfg->tickets->lock);
        cfg->tickets->refs++;
        pthread_rwlock_unlock(&cfg->tickets->lock);
        SSL_CTX_set_ex_data(ctx, tickets_index, cfg->tickets);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
        // One TLS 1.3 ticket per handshake: a client resumes with one.
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    return (shd_tls_ctx_t *)ctx;
}

void shd_tls_ctx_free(shd_tls_ctx_t *ctx) { SSL_CTX_free((SSL_CTX *)ctx); }

void shd_loop_set_tls(shd_loop_t *loop, shd_tls_ctx_t *ctx, int required) {
    if (ctx != NULL) SSL_CTX_up_ref((SSL_CTX *)ctx);
    SSL_CTX_free(loop->tls_ctx);
    loop->tls_ctx = (SSL_CTX *)ctx;
    loop->tls_required = ctx != NULL && required;
}

// The loop's decryption and record buffers, made with its first TLS
// connection (server or client).
static int ensure_buffers(shd_loop_t *loop) {
    if (loop->tls_plain == NULL) {
        // Room for a read's worth, and for at least two whole records.
        size_t cap = loop->opt.read_buffer_size;
        if (cap < 40 * 1024) cap = 40 * 1024;
        loop->tls_plain = malloc(cap);
        loop->tls_plain_cap = cap;
    }
    if (loop->tls_record == NULL) loop->tls_record = malloc(SHD_TLS_RECORD);
    return loop->tls_plain != NULL && loop->tls_record != NULL ? SHD_OK : SHD_ENOMEM;
}

void shd__tls_loop_free(shd_loop_t *loop) {
    SSL_CTX_free(loop->tls_ctx);
    loop->tls_ctx = NULL;
    free(loop->tls_plain);
    free(loop->tls_record);
    shd__tls_records_loop_free(loop);
    loop->tls_plain = loop->tls_record = NULL;
}

// MARK: The BIO over the loop's buffers

// Reads take the ciphertext of the current read callback (no copy into a
// BIO buffer); writes append records to the connection's out queue.
static int bio_read(BIO *bio, char *out, int len) {
    shd_conn_t *c = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (c->tls_in_len == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t n = (size_t)len < c->tls_in_len ? (size_t)len : c->tls_in_len;
    memcpy(out, c->tls_in, n);
    c->tls_in += n;
    c->tls_in_len -= n;
    return (int)n;
}

static int bio_write(BIO *bio, const char *in, int len) {
    shd_conn_t *c = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    if (shd__append(c, &c->out_head, &c->out_tail, in, (size_t)len) != SHD_OK) return -1;
    c->pending += (size_t)len;
    shd__mark_dirty(c);
    return len;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    (void)bio, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

static void make_bio_method(void) {
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "shaddock loop");
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

static int attach_ssl(shd_conn_t *c, SSL_CTX *ctx) {
    pthread_once(&bio_method_once, make_bio_method);
    if (ensure_buffers(c->loop) != SHD_OK) return SHD_ENOMEM;
    SSL *ssl = SSL_new(ctx);
    BIO *bio = ssl ? BIO_new(bio_method) : NULL;
    if (bio == NULL) {
        SSL_free(ssl);
        return SHD_ENOMEM;
    }
    BIO_set_data(bio, c);
    SSL_set_bio(ssl, bio, bio);  // one BIO both ways: the SSL takes our one reference
    c->ssl = ssl;
    c->tls = SHD_TLS_HANDSHAKE;
    return SHD_OK;
}

// MARK: Connections
//
// The thread's OpenSSL error queue is emptied after every failure (and
// around the calls that may leave entries behind), so the per-record calls
// below read SSL_get_error without clearing it first.

void shd__tls_sniff(shd_conn_t *c, const uint8_t *data) {
    shd_loop_t *loop = c->loop;
    c->tls_sniff = 0;
    if (loop->tls_ctx != NULL && data[0] == 0x16) {
        if (attach_ssl(c, loop->tls_ctx) != SHD_OK) {
            shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
            return;
        }
        SSL_set_accept_state(c->ssl);
        if (shd__tls_records_watch(c) != SHD_OK) shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
        return;
    }
    if (loop->tls_required) {
        SHD_STAT_ADD(loop, tls_plaintext_refused, 1);
        shd__conn_begin_close(c, SHD_CLOSED_TLS);
    }
}

int shd_conn_tls_connect(shd_conn_t *c, shd_tls_ctx_t *ctx, const char *server_name, void *session) {
    c->tls_sniff = 0;
    if (attach_ssl(c, (SSL_CTX *)ctx) != SHD_OK) return SHD_ENOMEM;
    SSL_set_connect_state(c->ssl);
    if (server_name != NULL) SSL_set_tlsext_host_name(c->ssl, server_name);
    if (session != NULL) SSL_set_session(c->ssl, session);
    // The ClientHello goes out with the loop's next flush.
    c->tls_in_len = 0;
    SSL_do_handshake(c->ssl);
    ERR_clear_error();
    shd__mark_dirty(c);
    return SHD_OK;
}

void *shd_conn_tls_session(shd_conn_t *c) { return c->ssl ? SSL_get1_session(c->ssl) : NULL; }

void shd_tls_session_free(void *session) { SSL_SESSION_free(session); }

void shd__tls_failed(shd_conn_t *c, int handshake) {
    shd_loop_t *loop = c->loop;
    if (handshake) SHD_STAT_ADD(loop, tls_handshake_failed, 1);
    else SHD_STAT_ADD(loop, tls_bad_record, 1);
    ERR_clear_error();
    c->tls = SHD_TLS_FAILED;
    c->tls_in_len = 0;
    if (c->state != SHD_CONN_OPEN) return;
    // The alert OpenSSL queued (why the handshake failed, a bad record)
    // goes out, then FIN; nothing more is read or encrypted.
    c->close_reason = SHD_CLOSED_TLS;
    c->state = SHD_CONN_DRAINING;
    c->deadline = uv_now(&loop->uv) + loop->opt.linger_ms;
    c->tls_notify = 2;
    c->plain_pending = 0;
    while (c->plain_head != NULL) {
        shd_chunk_t *h = c->plain_head;
        c->plain_head = h->next;
        shd__chunk_put(loop, h);
    }
    c->plain_tail = NULL;
    if (c->pending == 0) shd__conn_after_drain(c);
    else shd__mark_dirty(c);
}

// Returns 1 once established, 0 if more is needed, -1 if it failed (closed).
static int handshake(shd_conn_t *c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        shd_loop_t *loop = c->loop;
        c->tls = SHD_TLS_ESTABLISHED;
        if (SSL_session_reused(c->ssl)) SHD_STAT_ADD(loop, tls_resumed, 1);
        else SHD_STAT_ADD(loop, tls_handshakes, 1);
        if (SSL_version(c->ssl) == TLS1_3_VERSION) SHD_STAT_ADD(loop, tls13, 1);
        else SHD_STAT_ADD(loop, tls12, 1);
        // A server connection's records are ours from here on, when its
        // cipher is one we seal and open ourselves.
        shd__tls_records_take(c);
        // A client may have queued plaintext while it waited.
        if (c->plain_pending > 0) shd__mark_dirty(c);
        return 1;
    }
    if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return 0;
    shd__tls_failed(c, 1);
    return -1;
}

void shd__tls_on_ciphertext(shd_conn_t *c, const uint8_t *data, size_t len) {
    shd_loop_t *loop = c->loop;
    c->tls_in = data;
    c->tls_in_len = len;
    if (c->tls == SHD_TLS_HANDSHAKE && handshake(c) <= 0) {
        c->tls_in_len = 0;
        return;
    }
    if (c->ssl == NULL) {
        const uint8_t *rest = c->tls_in;
        size_t rest_len = c->tls_in_len;
        c->tls_in_len = 0;
        if (rest_len > 0) shd__tls_records_in(c, rest, rest_len);
        return;
    }
    // Plaintext is decrypted behind the connection's unconsumed plaintext,
    // in the loop's buffer (or, for a tail too large for that, in the
    // connection's own), and handed on as a plain connection's bytes are.
    for (;;) {
        size_t cap = loop->opt.read_buffer_size;
        uint8_t *buf;
        size_t have = c->tail_len;
        if (c->tail_len <= cap / 2) {
            buf = loop->tls_plain;
            if (c->tail_len > 0) memcpy(buf, c->tail, c->tail_len);
        } else {
            if (shd__conn_grow_tail(c, c->tail_len + cap) != SHD_OK) {
                shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
                return;
            }
            buf = c->tail;
            cap = c->tail_cap;
        }
        int more = 0, closed = 0;
        size_t before = have;
        // Only while there is ciphertext to read: a read that finds none
        // would make OpenSSL take a record buffer to wait in, and an idle
        // connection must hold none.
        while (have < cap && (c->tls_in_len > 0 || SSL_has_pending(c->ssl))) {
            int r = SSL_read(c->ssl, buf + have, (int)(cap - have));
            if (r > 0) {
                have += (size_t)r;
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) break;
            if (e == SSL_ERROR_ZERO_RETURN) {
                closed = 1;  // close_notify: the peer sends no more
                break;
            }
            c->tls_in_len = 0;
            shd__tls_failed(c, 0);
            return;
        }
        if (have == cap) more = 1;
        if (have > before) {
            shd__conn_deliver(c, buf, have);
            if (c->state != SHD_CONN_OPEN) {
                c->tls_in_len = 0;
                return;
            }
        }
        if (closed) {
            c->tls_in_len = 0;
            shd__conn_peer_eof(c);
            return;
        }
        if (!more) break;
    }
    c->tls_in_len = 0;
}

// Moves up to `max` bytes from the front of the plain queue to `out`.
static size_t take_plain(shd_conn_t *c, uint8_t *out, size_t max) {
    size_t n = 0;
    while (n < max && c->plain_head != NULL) {
        shd_chunk_t *h = c->plain_head;
        size_t avail = h->end - h->start;
        size_t k = avail < max - n ? avail : max - n;
        memcpy(out + n, h->data + h->start, k);
        h->start += (uint32_t)k;
        n += k;
        if (h->start == h->end) {
            c->plain_head = h->next;
            if (c->plain_head == NULL) c->plain_tail = NULL;
            shd__chunk_put(c->loop, h);
        }
    }
    c->plain_pending -= n;
    return n;
}

int shd__tls_encrypt(shd_conn_t *c) {
    if (c->tls != SHD_TLS_ESTABLISHED) return 0;
    if (c->ssl == NULL) return shd__tls_records_out(c);
    // As few records as fit: up to 16 KiB of what was queued in each.
    while (c->plain_pending > 0) {
        shd_chunk_t *h = c->plain_head;
        size_t avail = h->end - h->start;
        int r;
        if (avail == c->plain_pending || avail >= SHD_TLS_RECORD) {
            // One chunk holds it (the common case): encrypted in place.
            size_t n = avail < SHD_TLS_RECORD ? avail : SHD_TLS_RECORD;
            r = SSL_write(c->ssl, h->data + h->start, (int)n);
            if (r > 0) {
                h->start += (uint32_t)n;
                c->plain_pending -= n;
                if (h->start == h->end) {
                    c->plain_head = h->next;
                    if (c->plain_head == NULL) c->plain_tail = NULL;
                    shd__chunk_put(c->loop, h);
                }
            }
        } else {
            size_t n = take_plain(c, c->loop->tls_record, SHD_TLS_RECORD);
            r = SSL_write(c->ssl, c->loop->tls_record, (int)n);
        }
        if (r <= 0) {
            shd__tls_failed(c, 0);
            return -1;
        }
    }
    if (c->tls_notify == 1) {
        c->tls_notify = 2;
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    return 0;
}

void shd__tls_free(shd_conn_t *c) {
    shd__tls_records_free(c);
    if (c->ssl == NULL) return;
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->loop->released += SHD_TLS_SSL_BYTES;
}

void shd__tls_peer_eof(shd_conn_t *c) {
    // The peer left mid-handshake, or in the middle of a record.
    if (c->tls == SHD_TLS_HANDSHAKE) SHD_STAT_ADD(c->loop, tls_handshake_failed, 1);
    else if (c->tls == SHD_TLS_ESTABLISHED && (c->ssl ? SSL_has_pending(c->ssl) : shd__tls_records_partial(c)))
        SHD_STAT_ADD(c->loop, tls_bad_record, 1);
}

int shd_conn_tls_state(const shd_conn_t *c) { return c->tls; }

int shd_conn_tls_version(const shd_conn_t *c) {
    if (c->tls != SHD_TLS_ESTABLISHED) return 0;
    return c->ssl ? SSL_version(c->ssl) : shd__tls_records_version(c);
}

int shd_conn_tls_resumed(const shd_conn_t *c) {
    if (c->tls != SHD_TLS_ESTABLISHED) return 0;
    return c->ssl ? SSL_session_reused(c->ssl) : shd__tls_records_resumed(c);
}

const char *shd_conn_tls_alpn(const shd_conn_t *c, size_t *len) {
    const unsigned char *p = NULL;
    unsigned n = 0;
    if (c->ssl != NULL) SSL_get0_alpn_selected(c->ssl, &p, &n);
    else if (c->rec != NULL && shd__tls_records_alpn(c)) p = (const unsigned char *)"http/1.1", n = 8;
    if (len) *len = n;
    return n ? (const char *)p : NULL;
}
