// The event-loop shim: one libuv loop per thread, its listening socket, its
// connections, and the memory their bytes pass through.
//
// The shim owns bytes and syscalls; every decision (what the bytes mean, when
// to close, what to answer) is made by the caller through the callbacks.
//
// Memory: each loop has one receive buffer. Reads land there; only the
// unconsumed tail of a connection (an unfinished frame) is kept per
// connection, so an idle connection holds no read buffer. Outgoing bytes are
// appended to pooled fixed-size chunks and flushed once per loop iteration:
// everything a connection sends in one iteration goes out in one write call.
//
// Threads: every function except shd_loop_wake, shd_loop_post,
// shd_loop_on_thread, shd_loop_lag_ms and shd_loop_get_stats must be called
// on the loop's own thread. Errors are negative SHD_E* values.
#ifndef SHD_LOOP_H
#define SHD_LOOP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shd_loop shd_loop_t;
typedef struct shd_conn shd_conn_t;

enum {
    SHD_OK = 0,
    SHD_EFULL = -1001,     // the connection's bound on unsent bytes would be passed
    SHD_ECLOSED = -1002,   // the connection is closing or closed
    SHD_EBIND = -1003,     // socket(), setsockopt(), bind() or listen() failed; see errno
    SHD_ENOMEM = -1004,
    SHD_EADDR = -1005,     // the host is not a numeric IPv4/IPv6 address
};

/// Why a connection ended, as passed to on_close.
enum {
    SHD_CLOSED_BY_US = 0,      // shd_conn_close, or loop shutdown
    SHD_CLOSED_BY_PEER = 1,    // EOF from the peer before we closed
    SHD_CLOSED_ON_ERROR = 2,   // a read or write error (reset, ...)
    SHD_CLOSED_OVERSIZE = 3,   // the peer sent more unconsumed bytes than max_buffered
    SHD_CLOSED_TLS = 4,        // a TLS failure: bad handshake or record, or plaintext where TLS is required
};

/// How shd_conn_close ends a connection.
enum {
    /// Send what is queued, then FIN; discard further input; the handle is
    /// closed on the peer's EOF or after linger_ms.
    SHD_CLOSE_GRACEFUL = 0,
    /// Close now; queued bytes are dropped.
    SHD_CLOSE_ABORT = 1,
};

typedef struct shd_callbacks {
    /// A connection was accepted. Set its user pointer here.
    void (*on_open)(void *ctx, shd_conn_t *conn);
    /// Bytes arrived. `data` is loop-owned, writable memory holding the
    /// connection's unconsumed tail followed by the new bytes; it is valid only
    /// during the call. Return how many bytes were consumed; the rest is kept
    /// and handed back, with more bytes after it, on the next call.
    size_t (*on_data)(void *ctx, shd_conn_t *conn, uint8_t *data, size_t len);
    /// The connection is gone; the last callback for it. `reason` is SHD_CLOSED_*.
    void (*on_close)(void *ctx, shd_conn_t *conn, int reason);
    /// The connection's deadline passed (see shd_conn_set_deadline).
    void (*on_deadline)(void *ctx, shd_conn_t *conn);
    /// shd_loop_wake was called, from any thread.
    void (*on_wake)(void *ctx);
    /// An item posted with shd_loop_post, on the loop's thread, in the order
    /// posted by each producer.
    void (*on_post)(void *ctx, void *item);
    /// Once per loop iteration, right before queued bytes are flushed: the
    /// place to turn batched work (pushes) into bytes.
    void (*before_flush)(void *ctx);
    /// The interval timer set with shd_loop_set_interval fired.
    void (*on_interval)(void *ctx);
    /// Every tick_ms, after the connections' deadlines were checked.
    void (*on_tick)(void *ctx);
} shd_callbacks_t;

typedef struct shd_loop_options {
    size_t read_buffer_size;  // the loop's receive buffer (default 64 KiB)
    size_t max_buffered;      // most unconsumed bytes kept per connection (default 1 MiB)
    size_t max_pending;       // default bound on a connection's unsent bytes (default 1 MiB)
    uint32_t tick_ms;         // deadline resolution (default 100 ms)
    uint32_t linger_ms;       // graceful close: longest wait for the peer's EOF (default 2000)
    int backlog;              // listen backlog (default 1024)
    size_t max_posted;        // most bounded items waiting in the mailbox (default 65536)
    int exclusive_port;       // 1: listen without SO_REUSEPORT, so a port in use is an error
} shd_loop_options_t;

typedef struct shd_loop_stats {
    uint64_t accepted;
    uint64_t closed;
    uint64_t open;
    uint64_t reads;           // read callbacks that delivered bytes
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t write_calls;     // write syscalls issued by flushes
    uint64_t flushes;         // connections flushed
    uint64_t overflows;       // writes refused with SHD_EFULL
    uint64_t oversize;        // connections closed for passing max_buffered
    uint64_t chunks_allocated;
    uint64_t posted;          // items delivered through the mailbox
    uint64_t post_refused;    // bounded posts refused because the mailbox was full
    uint64_t lag_ms;          // how late the last deadline tick ran (a gauge)
    uint64_t connected;       // outgoing connections established (shd_loop_connect)
    uint64_t connect_failed;  // outgoing connections that failed to establish
    uint64_t tls_handshakes;        // TLS handshakes completed, full
    uint64_t tls_resumed;           // TLS handshakes completed, resumed
    uint64_t tls_handshake_failed;  // a TLS handshake that failed (garbage, alert, no shared cipher, ...)
    uint64_t tls_bad_record;        // a TLS record that failed after the handshake
    uint64_t tls_plaintext_refused; // plaintext connections closed because TLS is required
    uint64_t tls12;                 // handshakes completed with TLS 1.2
    uint64_t tls13;                 // handshakes completed with TLS 1.3
    uint64_t tls_own_records;       // handshakes after which the shim's own record layer took over
    uint64_t proxy_v1;              // PROXY headers read with a client address, version 1
    uint64_t proxy_v2;              // the same, version 2
    uint64_t proxy_local;           // PROXY headers without one (LOCAL, UNKNOWN): a balancer's health check
    uint64_t proxy_bad;             // malformed or truncated PROXY headers (closed)
    uint64_t proxy_untrusted;       // a PROXY header, or any connection when one is required, from an untrusted peer (closed)
    uint64_t proxy_missing;         // a trusted peer without the required header (closed)
    uint64_t proxy_timeout;         // a PROXY header not complete in time (closed)
} shd_loop_stats_t;

/// Creates a loop. `ctx` is passed to every callback. Returns NULL on failure.
shd_loop_t *shd_loop_new(const shd_callbacks_t *callbacks, void *ctx, const shd_loop_options_t *options);

/// Opens a listening socket with SO_REUSEADDR and SO_REUSEPORT on host:port
/// (numeric IPv4 or IPv6; port 0 picks one). Stores the bound port in
/// *bound_port. Several loops may listen on the same port: the kernel
/// spreads connections between them. With the exclusive_port option the
/// socket gets no SO_REUSEPORT: the port is this loop's alone.
int shd_loop_listen(shd_loop_t *loop, const char *host, int port, int *bound_port);

/// Opens an outgoing connection to host:port (numeric IPv4 or IPv6), from
/// `source` (a numeric address to bind first, port 0; NULL for any) — several
/// source addresses get a client past the ephemeral ports of one. The
/// connection is returned at once with `user` set; on_open follows once it
/// is established, or on_close with SHD_CLOSED_ON_ERROR if it fails
/// (shd_conn_error says why). Write only after on_open. Returns NULL with
/// *err set (SHD_EADDR, SHD_ENOMEM or a libuv error) if it could not start.
shd_conn_t *shd_loop_connect(shd_loop_t *loop, const char *host, int port, const char *source, void *user, int *err);

/// Runs the loop on the calling thread until shd_loop_shutdown has closed
/// everything. Returns 0.
int shd_loop_run(shd_loop_t *loop);

/// Wakes the loop: on_wake runs on the loop's thread soon after. Safe from any
/// thread; several wakes before the loop runs may produce one on_wake.
void shd_loop_wake(shd_loop_t *loop);

/// Posts `item` to the loop: on_post(item) runs on the loop's thread soon
/// after. Lock-free and safe from any thread, the loop's own included.
/// A bounded post is refused with SHD_EFULL while max_posted items wait; an
/// unbounded one (work that must not be lost, such as a task continuation) is
/// always accepted and counts towards the bound. Returns SHD_OK, SHD_EFULL or
/// SHD_ENOMEM.
int shd_loop_post(shd_loop_t *loop, void *item, int bounded);

/// Delivers `item` to on_post after `ms` milliseconds (a one-shot timer; on
/// the loop's thread only). If the loop shuts down first, the item is
/// delivered then. Returns SHD_OK or SHD_ENOMEM.
int shd_loop_post_after(shd_loop_t *loop, uint32_t ms, void *item);

/// Starts (ms > 0) or stops (0) a repeating timer that calls on_interval.
void shd_loop_set_interval(shd_loop_t *loop, uint32_t ms);

/// Whether the calling thread is the one running the loop.
int shd_loop_on_thread(const shd_loop_t *loop);

/// The `ctx` of the loop the calling thread runs, or NULL when it runs none
/// (a thread-local read: no search through the loops).
void *shd_loop_current_ctx(void);

/// Stops accepting, aborts every connection and closes the loop's handles, so
/// that shd_loop_run returns once the closes complete.
void shd_loop_shutdown(shd_loop_t *loop);

/// Closes the listening socket: no connection is accepted any more (with
/// SO_REUSEPORT, the kernel hands new ones to the loops still listening);
/// open connections are untouched. For a drain.
void shd_loop_stop_listening(shd_loop_t *loop);

/// Changes max_buffered and max_pending (a reload). max_pending applies to
/// connections accepted from now on; max_buffered to every read from now on.
void shd_loop_set_limits(shd_loop_t *loop, size_t max_buffered, size_t max_pending);

/// Frees a loop whose shd_loop_run has returned, or one that never ran.
void shd_loop_free(shd_loop_t *loop);

/// The loop's cached time in milliseconds (updated once per iteration).
uint64_t shd_loop_now(const shd_loop_t *loop);

/// How late the loop's last deadline tick ran, in ms (its lag); any thread.
uint64_t shd_loop_lag_ms(const shd_loop_t *loop);

/// Copies the loop's counters; safe from any thread.
void shd_loop_get_stats(const shd_loop_t *loop, shd_loop_stats_t *out);

/// Flushes every connection with queued bytes now (the loop does this itself
/// once per iteration; tests and shutdown paths may call it).
void shd_loop_flush(shd_loop_t *loop);

/// The libuv error that ended the connection (0 if none): a failed connect,
/// a reset, ...
int shd_conn_error(const shd_conn_t *conn);

void shd_conn_set_user(shd_conn_t *conn, void *user);
void *shd_conn_user(const shd_conn_t *conn);

/// Queues bytes for the connection; they are sent at the end of the loop
/// iteration together with everything else it queued. Returns SHD_OK,
/// SHD_EFULL (nothing queued: the bound would be passed) or SHD_ECLOSED.
int shd_conn_write(shd_conn_t *conn, const void *data, size_t len);

/// A piece of a message for shd_conn_writev.
typedef struct shd_slice {
    const void *base;
    size_t len;
} shd_slice_t;

/// Queues `count` slices as one unit: all or nothing (the bound is checked
/// once), so a batch of packages never goes out half-written.
int shd_conn_writev(shd_conn_t *conn, const shd_slice_t *parts, size_t count);

/// Queues a then b as one unit: both or neither (the bound is checked once),
/// so a message never goes out half-written.
int shd_conn_write2(shd_conn_t *conn, const void *a, size_t alen, const void *b, size_t blen);

/// Bytes queued and not yet written to the socket (over TLS: plaintext not
/// yet encrypted and records not yet sent).
size_t shd_conn_pending(const shd_conn_t *conn);

/// Sets this connection's bound on unsent bytes.
void shd_conn_set_max_pending(shd_conn_t *conn, size_t max_pending);

/// Sets this connection's bound on unconsumed input (0: the loop's
/// max_buffered): a link that carries larger messages than clients may send
/// (a NATS connection) gets a bound of its own.
void shd_conn_set_max_buffered(shd_conn_t *conn, size_t max_buffered);

/// Ends the connection (SHD_CLOSE_GRACEFUL or SHD_CLOSE_ABORT). on_data is not
/// called again; on_close follows once the handle is closed. Idempotent.
void shd_conn_close(shd_conn_t *conn, int how);

/// Whether shd_conn_close was called or the connection is otherwise ending.
int shd_conn_is_closing(const shd_conn_t *conn);

/// Arms the connection's single deadline at loop time `at_ms` (0 disarms).
/// on_deadline runs once, within tick_ms after it passes.
void shd_conn_set_deadline(shd_conn_t *conn, uint64_t at_ms);

/// Writes the peer's numeric address into buf (NUL-terminated) and its port.
/// Returns 0 or a negative error.
int shd_conn_peer(const shd_conn_t *conn, char *buf, size_t cap, int *port);

#ifdef __cplusplus
}
#endif

#endif
