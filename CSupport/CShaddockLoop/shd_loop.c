// The loop: its listening socket, its once-per-iteration flush, its deadline
// tick and its cross-thread wake-up.
#include "shd_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_tick(uv_timer_t *timer);
static void on_flush_point(uv_handle_t *handle);
static void on_check(uv_check_t *check) { on_flush_point((uv_handle_t *)check); }
static void on_prepare(uv_prepare_t *prepare) { on_flush_point((uv_handle_t *)prepare); }
static void on_wake(uv_async_t *async);
static void on_interval(uv_timer_t *timer);

shd_loop_t *shd_loop_new(const shd_callbacks_t *callbacks, void *ctx, const shd_loop_options_t *options) {
    shd_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) return NULL;
    loop->cb = *callbacks;
    loop->ctx = ctx;
    if (options != NULL) loop->opt = *options;
    if (loop->opt.read_buffer_size == 0) loop->opt.read_buffer_size = 64 * 1024;
    if (loop->opt.max_buffered == 0) loop->opt.max_buffered = 1024 * 1024;
    if (loop->opt.max_pending == 0) loop->opt.max_pending = 1024 * 1024;
    if (loop->opt.tick_ms == 0) loop->opt.tick_ms = 100;
    if (loop->opt.linger_ms == 0) loop->opt.linger_ms = 2000;
    if (loop->opt.backlog == 0) loop->opt.backlog = 1024;
    if (loop->opt.max_posted == 0) loop->opt.max_posted = 65536;
    loop->rbuf = malloc(loop->opt.read_buffer_size);
    if (loop->rbuf == NULL || uv_loop_init(&loop->uv) != 0) {
        free(loop->rbuf);
        free(loop);
        return NULL;
    }
    loop->uv.data = loop;
    uv_timer_init(&loop->uv, &loop->tick);
    uv_check_init(&loop->uv, &loop->check);
    uv_prepare_init(&loop->uv, &loop->prepare);
    uv_async_init(&loop->uv, &loop->wake, on_wake);
    uv_timer_init(&loop->uv, &loop->interval);
    loop->tick.data = loop->check.data = loop->prepare.data = loop->wake.data = loop;
    loop->interval.data = loop;
    // Flush after the I/O callbacks of an iteration (check) and after timers,
    // right before the loop blocks again (prepare): whatever was queued in an
    // iteration leaves in that iteration.
    uv_check_start(&loop->check, on_check);
    uv_prepare_start(&loop->prepare, on_prepare);
    uv_timer_start(&loop->tick, on_tick, loop->opt.tick_ms, loop->opt.tick_ms);
    loop->tick_due = uv_now(&loop->uv) + loop->opt.tick_ms;
    // The tick alone must not keep a loop alive; handles and connections do.
    uv_unref((uv_handle_t *)&loop->check);
    uv_unref((uv_handle_t *)&loop->prepare);
    return loop;
}

static void on_connection(uv_stream_t *server, int status) {
    shd_loop_t *loop = server->data;
    if (status < 0 || loop->shutting_down) return;
    shd__conn_accept(loop);
}

int shd_loop_listen(shd_loop_t *loop, const char *host, int port, int *bound_port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sslen;
    int family;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        family = AF_INET;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sslen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        family = AF_INET6;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*in6);
    } else {
        return SHD_EADDR;
    }
    // libuv 1.44 has no flag for SO_REUSEPORT, so the socket is made here,
    // given the option before bind, and handed to libuv.
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return SHD_EBIND;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (!loop->opt.exclusive_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
        listen(fd, loop->opt.backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return SHD_EBIND;
    }
    sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    if (bound_port != NULL)
        *bound_port = ntohs(family == AF_INET ? in4->sin_port : in6->sin6_port);
    uv_tcp_init(&loop->uv, &loop->listener);
    loop->listener.data = loop;
    int rc = uv_tcp_open(&loop->listener, fd);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&loop->listener, loop->opt.backlog, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&loop->listener, NULL);
        return rc;
    }
    loop->listening = 1;
    return SHD_OK;
}

/// The loop this thread runs, for shd_loop_current_ctx.
static __thread shd_loop_t *current_loop;

void *shd_loop_current_ctx(void) { return current_loop ? current_loop->ctx : NULL; }

int shd_loop_run(shd_loop_t *loop) {
    loop->thread = uv_thread_self();
    current_loop = loop;
    __atomic_store_n(&loop->running, 1, __ATOMIC_RELEASE);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    // What was posted while the loop wound down is still delivered, so its
    // owners can release it.
    shd__mailbox_drain(loop);
    __atomic_store_n(&loop->running, 0, __ATOMIC_RELEASE);
    current_loop = NULL;
    return 0;
}

int shd_loop_on_thread(const shd_loop_t *loop) {
    if (!__atomic_load_n(&loop->running, __ATOMIC_ACQUIRE)) return 0;
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &loop->thread);
}

void shd_loop_set_interval(shd_loop_t *loop, uint32_t ms) {
    if (ms == 0) uv_timer_stop(&loop->interval);
    else uv_timer_start(&loop->interval, on_interval, ms, ms);
    // Like the tick, the interval alone must not keep the loop alive.
    uv_unref((uv_handle_t *)&loop->interval);
}

static void on_interval(uv_timer_t *timer) {
    shd_loop_t *loop = timer->data;
    if (loop->cb.on_interval) loop->cb.on_interval(loop->ctx);
}

void shd_loop_wake(shd_loop_t *loop) { uv_async_send(&loop->wake); }

static void on_wake(uv_async_t *async) {
    shd_loop_t *loop = async->data;
    if (loop->cb.on_post) shd__mailbox_drain(loop);
    if (loop->cb.on_wake) loop->cb.on_wake(loop->ctx);
}

void shd_loop_shutdown(shd_loop_t *loop) {
    if (loop->shutting_down) return;
    loop->shutting_down = 1;
    // Delayed items are delivered now rather than holding the loop open.
    shd__delayed_fire_all(loop);
    shd_loop_stop_listening(loop);
    for (shd_conn_t *c = loop->conns; c != NULL; c = c->next) shd_conn_close(c, SHD_CLOSE_ABORT);
    uv_close((uv_handle_t *)&loop->tick, NULL);
    uv_close((uv_handle_t *)&loop->check, NULL);
    uv_close((uv_handle_t *)&loop->prepare, NULL);
    uv_close((uv_handle_t *)&loop->interval, NULL);
    // The wake handle stays open until shd_loop_free: other threads may still
    // post (and so wake) until the loop's owner is released. Unreferenced, it
    // does not keep shd_loop_run from returning.
    uv_unref((uv_handle_t *)&loop->wake);
}

void shd_loop_stop_listening(shd_loop_t *loop) {
    if (!loop->listening) return;
    loop->listening = 0;
    uv_close((uv_handle_t *)&loop->listener, NULL);
}

void shd_loop_set_limits(shd_loop_t *loop, size_t max_buffered, size_t max_pending) {
    if (max_buffered > 0) loop->opt.max_buffered = max_buffered;
    if (max_pending > 0) loop->opt.max_pending = max_pending;
}

void shd_loop_free(shd_loop_t *loop) {
    if (loop == NULL) return;
    // A loop that never ran (a server whose start failed) still has its
    // listener and timers open: close them, or the loop cannot be closed.
    if (!loop->shutting_down) shd_loop_shutdown(loop);
    uv_close((uv_handle_t *)&loop->wake, NULL);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    // Items posted after the last drain are freed, not delivered: the owner
    // is being released.
    shd_post_t *p = __atomic_exchange_n(&loop->inbox, NULL, __ATOMIC_ACQUIRE);
    while (p != NULL) {
        shd_post_t *next = p->next;
        free(p);
        p = next;
    }
    uv_loop_close(&loop->uv);
    while (loop->free_chunks != NULL) {
        shd_chunk_t *c = loop->free_chunks;
        loop->free_chunks = c->next;
        free(c);
    }
    shd__tls_loop_free(loop);
    shd__proxy_loop_free(loop);
    free(loop->rbuf);
    free(loop);
}

uint64_t shd_loop_now(const shd_loop_t *loop) { return uv_now(&loop->uv); }

uint64_t shd_loop_lag_ms(const shd_loop_t *loop) { return shd_counter_load(&loop->stats.lag_ms); }

void shd_loop_get_stats(const shd_loop_t *loop, shd_loop_stats_t *out) {
    const uint64_t *in = (const uint64_t *)&loop->stats;
    uint64_t *o = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++) o[i] = shd_counter_load(&in[i]);
}

void shd_loop_flush(shd_loop_t *loop) {
    // A flush can finish a graceful close, which never frees the connection
    // here (uv_close completes later), so walking the list is safe.
    shd_conn_t *c = loop->dirty;
    loop->dirty = NULL;
    while (c != NULL) {
        shd_conn_t *next = c->next_dirty;
        c->next_dirty = NULL;
        c->dirty = 0;
        shd__conn_flush(c);
        c = next;
    }
}

static void on_flush_point(uv_handle_t *handle) {
    shd_loop_t *loop = handle->data;
    if (loop->cb.before_flush) loop->cb.before_flush(loop->ctx);
    if (loop->dirty != NULL) shd_loop_flush(loop);
}

static void on_tick(uv_timer_t *timer) {
    shd_loop_t *loop = timer->data;
    uint64_t now = uv_now(&loop->uv);
    // How late this tick ran is the loop's lag: the time a callback waited
    // behind other work (what a toobusy check looks at).
    __atomic_store_n(&loop->stats.lag_ms, now > loop->tick_due ? now - loop->tick_due : 0, __ATOMIC_RELAXED);
    loop->tick_due = now + loop->opt.tick_ms;
    // One pass over the connections per tick: cheaper in memory than a timer
    // per connection, and precise enough for handshake, heartbeat and linger
    // timeouts measured in seconds.
    for (shd_conn_t *c = loop->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->deadline == 0 || c->deadline > now) continue;
        c->deadline = 0;
        if (c->state == SHD_CONN_OPEN && c->proxy_wait != NULL) {
            shd__proxy_timeout(c);
        } else if (c->state == SHD_CONN_OPEN) {
            if (loop->cb.on_deadline) loop->cb.on_deadline(loop->ctx, c);
        } else if (c->state != SHD_CONN_CLOSING) {
            // A graceful close that the peer did not finish in time.
            shd__conn_begin_close(c, SHD_CLOSED_BY_US);
        }
    }
    if (now >= loop->next_trim) {
        shd__chunks_trim(loop);
        loop->next_trim = now + 1000;
    }
    if (loop->cb.on_tick) loop->cb.on_tick(loop->ctx);
}
