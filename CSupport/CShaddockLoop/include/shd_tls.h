// TLS in the loop shim (OpenSSL 3): the layers above see plaintext only.
//
// A listening loop given a context sniffs each connection's first byte: 0x16
// (a TLS handshake record) starts TLS, anything else is plaintext (served,
// or refused when TLS is required). Ciphertext is read into the loop's
// receive buffer and handed to OpenSSL from there through a BIO of our own;
// plaintext is decrypted into loop-owned memory and given to on_data exactly
// as a plain connection's bytes are. What a connection queues in an
// iteration is encrypted at the flush into records of up to 16 KiB and sent
// with the same one write per connection; no read or write syscall per
// record. An idle TLS connection holds no record buffers
// (SSL_MODE_RELEASE_BUFFERS).
//
// Contexts are reference counted (each connection's SSL holds its own), so
// a reload swaps a loop's context while open connections keep theirs.
#ifndef SHD_TLS_H
#define SHD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "shd_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/// An OpenSSL SSL_CTX, opaque here.
typedef struct shd_tls_ctx shd_tls_ctx_t;
/// Session-ticket keys shared by the contexts that use them (every loop of
/// a process, across reloads), so that any of them resumes the others'
/// sessions.
typedef struct shd_tls_tickets shd_tls_tickets_t;

/// One certificate: a PEM file with the certificate (followed by its
/// chain, if any) and a PEM file with its private key (may be the same).
typedef struct shd_tls_cert {
    const char *cert_file;
    const char *key_file;
} shd_tls_cert_t;

typedef struct shd_tls_config {
    /// Server: at least one; one RSA and one ECDSA certificate may be given
    /// together (OpenSSL picks by the client's signature algorithms).
    const shd_tls_cert_t *certs;
    size_t cert_count;
    /// TLS 1.2 cipher list (OpenSSL syntax); NULL: a modern default
    /// (ECDHE with AES-GCM or ChaCha20-Poly1305).
    const char *ciphers;
    /// TLS 1.3 cipher suites; NULL: OpenSSL's default.
    const char *ciphersuites;
    /// Server: ticket keys for resumption (NULL: tickets off).
    shd_tls_tickets_t *tickets;
    /// Client: a CA file to verify the server against (NULL: no
    /// verification, for load generators against test certificates).
    const char *ca_file;
    /// 1: a client context.
    int client;
} shd_tls_config_t;

/// Makes a context. On failure returns NULL and writes a message naming the
/// file or setting at fault into err.
shd_tls_ctx_t *shd_tls_ctx_new(const shd_tls_config_t *config, char *err, size_t err_len);

/// Drops the caller's reference.
void shd_tls_ctx_free(shd_tls_ctx_t *ctx);

/// Ticket keys: one current key (new tickets) and up to two older ones
/// (tickets still accepted, and renewed). Starts with a random key.
/// Thread-safe.
shd_tls_tickets_t *shd_tls_tickets_new(void);
void shd_tls_tickets_free(shd_tls_tickets_t *tickets);
/// A new random current key; the old current one only decrypts from now on.
void shd_tls_tickets_rotate(shd_tls_tickets_t *tickets);
/// Keys read from a file's bytes: 80 bytes per key (16 name, 32 HMAC, 32
/// AES), the first one current. Returns 0, or -1 if the length is not a
/// positive multiple of 80 (the keys are then left as they were).
int shd_tls_tickets_set(shd_tls_tickets_t *tickets, const uint8_t *bytes, size_t len);

/// Sets the context new connections on this loop get (NULL: no TLS) and
/// whether plaintext connections are refused. The loop takes a reference.
/// On the loop's thread.
void shd_loop_set_tls(shd_loop_t *loop, shd_tls_ctx_t *ctx, int required);

/// Starts TLS as the client on an outgoing connection, in on_open (what is
/// written meanwhile waits for the handshake). `server_name` is sent as SNI
/// (NULL: none). `session`, if not NULL (from shd_conn_tls_session), is
/// offered for resumption. Returns SHD_OK or SHD_ENOMEM.
int shd_conn_tls_connect(shd_conn_t *conn, shd_tls_ctx_t *ctx, const char *server_name, void *session);

/// A client connection's session (for resumption by a later connection),
/// or NULL; with TLS 1.3 it can resume once the server's ticket has been
/// read. The caller owns the returned reference. Valid until on_close
/// returns.
void *shd_conn_tls_session(shd_conn_t *conn);
void shd_tls_session_free(void *session);

/// The connection's TLS state.
enum {
    SHD_TLS_NONE = 0,         // plaintext (or not decided yet)
    SHD_TLS_HANDSHAKE = 1,    // TLS, handshake under way
    SHD_TLS_ESTABLISHED = 2,  // TLS, handshake done
    SHD_TLS_FAILED = 3,       // TLS that failed: the connection is closing
};
int shd_conn_tls_state(const shd_conn_t *conn);

/// After the handshake: the protocol version (0x0303 TLS 1.2, 0x0304 TLS
/// 1.3), whether the session was resumed, and the ALPN protocol chosen
/// (NULL if none; valid while the connection is).
int shd_conn_tls_version(const shd_conn_t *conn);
int shd_conn_tls_resumed(const shd_conn_t *conn);
const char *shd_conn_tls_alpn(const shd_conn_t *conn, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
