// Private structures of the loop shim, shared by its source files.
#ifndef SHD_INTERNAL_H
#define SHD_INTERNAL_H

#include "shd_counters.h"
#include "shd_loop.h"
#include "shd_tls.h"

#include <openssl/ssl.h>
#include <uv.h>

/// One fixed-size piece of a connection's outgoing queue. Chunks come from a
/// per-loop free list, so a steady flow of messages allocates nothing.
#define SHD_CHUNK_SIZE 4096
typedef struct shd_chunk {
    struct shd_chunk *next;
    uint32_t start;  // first unsent byte
    uint32_t end;    // one past the last queued byte
    uint8_t data[SHD_CHUNK_SIZE - 2 * sizeof(uint32_t) - sizeof(void *)];
} shd_chunk_t;

#define SHD_CHUNK_CAP (sizeof(((shd_chunk_t *)0)->data))

enum {
    SHD_CONN_OPEN = 0,
    SHD_CONN_DRAINING,  // graceful close: flushing what is queued
    SHD_CONN_LINGER,    // FIN sent: waiting for the peer's EOF
    SHD_CONN_CLOSING,   // uv_close called
};

struct shd_conn {
    uv_tcp_t tcp;               // first member: a uv handle pointer is a conn pointer
    shd_loop_t *loop;
    void *user;
    struct shd_conn *prev, *next;   // the loop's list of connections
    struct shd_conn *next_dirty;    // the loop's list of connections to flush
    shd_chunk_t *out_head, *out_tail;
    size_t pending;             // queued bytes, in flight included
    size_t max_pending;
    size_t max_buffered;        // 0: the loop's max_buffered
    size_t inflight;            // bytes handed to an unfinished uv_write
    uint8_t *tail;              // unconsumed input kept between reads
    size_t tail_len, tail_cap;
    uint64_t deadline;          // loop time in ms; 0 = none
    int32_t error;              // the libuv error that ended it, if any
    uint8_t state;
    uint8_t dirty;
    uint8_t close_reason;
    uint8_t tail_in_rbuf;       // this read's buffer starts with a copy of the tail
    uint8_t peer_eof;           // the peer sent FIN: nothing more will be read
    // TLS (shd_tls.c). Over TLS the tail above holds plaintext, the out
    // queue records, and what the connection writes waits in the plain
    // queue until the flush encrypts it.
    uint8_t tls;                // SHD_TLS_*
    uint8_t tls_sniff;          // a TLS-capable listener: the first byte decides
    uint8_t tls_notify;         // close_notify wanted (1) or sent (2)
    SSL *ssl;
    shd_chunk_t *plain_head, *plain_tail;
    size_t plain_pending;
    const uint8_t *tls_in;      // ciphertext OpenSSL has not read yet
    size_t tls_in_len;
    // A server connection's own record layer (shd_tls_records.c): made at
    // accept, it follows the handshake's record counts and takes over from
    // OpenSSL once the handshake is done.
    struct shd_tls_rec *rec;
    // PROXY protocol (shd_proxy.c): the parser while a trusted peer's
    // header is awaited, then the client's address it gave.
    struct shd_proxy_parser *proxy_wait;
    struct sockaddr_in6 *proxied;   // large enough for a sockaddr_in too (28 bytes, not 128)
    uint8_t proxy_check;        // an untrusted peer: a header from it is refused
    uint8_t unannounced;        // on_open was never called: no on_close either
};

/// Bytes a connection has not sent: queued, encrypted or not.
static inline size_t shd__unsent(const shd_conn_t *c) { return c->pending + c->plain_pending; }

struct shd_loop {
    uv_loop_t uv;
    shd_callbacks_t cb;
    void *ctx;
    shd_loop_options_t opt;
    uv_tcp_t listener;
    int listening;
    uv_timer_t tick;
    uv_check_t check;
    uv_prepare_t prepare;
    uv_async_t wake;
    int shutting_down;
    uint8_t *rbuf;
    shd_conn_t *conns;          // all live connections
    shd_conn_t *dirty;          // connections with bytes to flush
    shd_chunk_t *free_chunks;
    size_t free_chunk_count;
    size_t free_chunk_low;      // fewest free chunks since the last trim
    uint64_t next_trim;         // loop time of the next pool trim
    shd_loop_stats_t stats;
    uv_timer_t interval;
    uint64_t tick_due;          // when the deadline tick should next run
    uv_thread_t thread;         // the thread running the loop, once it runs
    int running;
    // The mailbox: a lock-free stack that producers push onto and the loop
    // takes whole (then reverses, for order).
    struct shd_post *inbox;
    size_t inbox_count;
    struct shd_delayed *delayed;    // items waiting for shd_loop_post_after
    SSL_CTX *tls_ctx;           // new connections' TLS context, if any
    int tls_required;           // refuse plaintext connections
    uint8_t *tls_plain;         // decrypted bytes, before on_data
    size_t tls_plain_cap;       // read_buffer_size, and room for two records at least
    struct shd_tls_ciphers *tls_ciphers;  // the record layer's cipher contexts
    size_t released;            // bytes given back to malloc since the last trim (an estimate)
    struct shd_proxy_config *proxy;  // PROXY headers from trusted peers, if set
    uint8_t *tls_record;        // plaintext gathered for one record (16 KiB)
};

typedef struct shd_delayed shd_delayed_t;
typedef struct shd_proxy_config shd_proxy_config_t;

/// One mailbox item.
typedef struct shd_post {
    struct shd_post *next;
    void *item;
} shd_post_t;

/// Stats are written by the loop thread and read from any thread.
#define SHD_STAT_ADD(loop, field, n) shd_counter_add(&(loop)->stats.field, (uint64_t)(n))

// shd_write.c
shd_chunk_t *shd__chunk_get(shd_loop_t *loop);
int shd__append(shd_conn_t *conn, shd_chunk_t **head, shd_chunk_t **tail, const void *data, size_t len);
void shd__mark_dirty(shd_conn_t *conn);
void shd__chunk_put(shd_loop_t *loop, shd_chunk_t *chunk);
void shd__conn_flush(shd_conn_t *conn);
void shd__conn_drop_output(shd_conn_t *conn);
void shd__chunks_trim(shd_loop_t *loop);
/// Writing in place at the end of the out queue (the record layer seals
/// straight into it): room in the last chunk, taking a new chunk when it is
/// full (NULL when out of memory), then how much of it was written.
uint8_t *shd__out_room(shd_conn_t *conn, size_t *room);
void shd__out_commit(shd_conn_t *conn, size_t n);

// shd_mailbox.c
void shd__mailbox_drain(shd_loop_t *loop);
void shd__delayed_fire_all(shd_loop_t *loop);

// shd_tls.c
void shd__tls_sniff(shd_conn_t *conn, const uint8_t *data);
void shd__tls_on_ciphertext(shd_conn_t *conn, const uint8_t *data, size_t len);
int shd__tls_encrypt(shd_conn_t *conn);
void shd__tls_free(shd_conn_t *conn);
void shd__tls_peer_eof(shd_conn_t *conn);
void shd__tls_loop_free(shd_loop_t *loop);
void shd__tls_failed(shd_conn_t *conn, int handshake);

/// About what an SSL object and its session hold after a handshake
/// (measured: RSS per idle session with OpenSSL 3.0 keeping the records).
#define SHD_TLS_SSL_BYTES (15 * 1024)

// shd_tls_records.c
void shd__tls_keylog(const SSL *ssl, const char *line);
int shd__tls_records_watch(shd_conn_t *conn);
int shd__tls_records_take(shd_conn_t *conn);
void shd__tls_records_in(shd_conn_t *conn, const uint8_t *data, size_t len);
int shd__tls_records_out(shd_conn_t *conn);
int shd__tls_records_partial(const shd_conn_t *conn);
void shd__tls_records_free(shd_conn_t *conn);
void shd__tls_records_loop_free(shd_loop_t *loop);
int shd__tls_records_version(const shd_conn_t *conn);
int shd__tls_records_resumed(const shd_conn_t *conn);
int shd__tls_records_alpn(const shd_conn_t *conn);

// shd_proxy.c
int shd__proxy_accept(shd_conn_t *conn);
void shd__proxy_on_read(shd_conn_t *conn, uint8_t *data, size_t len);
int shd__proxy_untrusted_header(shd_conn_t *conn, const uint8_t *data, size_t len);
void shd__proxy_peer_eof(shd_conn_t *conn);
void shd__proxy_timeout(shd_conn_t *conn);
void shd__proxy_conn_free(shd_conn_t *conn);
void shd__proxy_loop_free(shd_loop_t *loop);

// shd_conn.c
void shd__conn_announce(shd_conn_t *conn);
void shd__conn_input(shd_conn_t *conn, uint8_t *data, size_t len);
void shd__conn_deliver(shd_conn_t *conn, uint8_t *data, size_t len);
int shd__conn_grow_tail(shd_conn_t *conn, size_t want);
void shd__conn_peer_eof(shd_conn_t *conn);
void shd__conn_drain(shd_conn_t *conn);
void shd__conn_accept(shd_loop_t *loop);
void shd__conn_begin_close(shd_conn_t *conn, int reason);
void shd__conn_after_drain(shd_conn_t *conn);
void shd__conn_link(shd_conn_t *conn);
void shd__conn_start_reading(shd_conn_t *conn);

#endif
