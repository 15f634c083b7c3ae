// A connection: accept, the read path through the loop's receive buffer, and
// the ways a connection ends.
#include "shd_internal.h"

#include <stdlib.h>
#include <string.h>

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_closed(uv_handle_t *handle);

void shd__conn_accept(shd_loop_t *loop) {
    shd_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return;
    c->loop = loop;
    c->max_pending = loop->opt.max_pending;
    uv_tcp_init(&loop->uv, &c->tcp);
    c->tcp.data = c;
    if (uv_accept((uv_stream_t *)&loop->listener, (uv_stream_t *)&c->tcp) != 0) {
        c->state = SHD_CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    // Writes are already batched per iteration; Nagle would only add delay.
    uv_tcp_nodelay(&c->tcp, 1);
    c->tls_sniff = loop->tls_ctx != NULL;
    shd__conn_link(c);
    SHD_STAT_ADD(loop, accepted, 1);
    // Behind a balancer, the layers above hear of a connection once its
    // PROXY header has told whose it is.
    int wait = loop->proxy != NULL ? shd__proxy_accept(c) : 0;
    if (wait != 0) c->unannounced = 1;
    if (wait < 0) {
        shd__conn_begin_close(c, SHD_CLOSED_BY_US);
        return;
    }
    if (wait == 0) loop->cb.on_open(loop->ctx, c);
    shd__conn_start_reading(c);
}

void shd__conn_announce(shd_conn_t *c) {
    c->unannounced = 0;
    c->loop->cb.on_open(c->loop->ctx, c);
}

void shd__conn_link(shd_conn_t *c) {
    shd_loop_t *loop = c->loop;
    c->next = loop->conns;
    if (loop->conns) loop->conns->prev = c;
    loop->conns = c;
    SHD_STAT_ADD(loop, open, 1);
}

void shd__conn_start_reading(shd_conn_t *c) {
    // Even a connection closed in on_open reads on: a graceful close waits
    // for the peer's EOF.
    if (c->state != SHD_CONN_CLOSING)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

// Reads go to the loop's buffer. A connection with an unfinished frame gets
// its tail copied to the front of that buffer so the parser sees contiguous
// bytes; only a tail too large for that is read into the connection's own
// (growing, bounded) buffer.
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    shd_conn_t *c = handle->data;
    shd_loop_t *loop = c->loop;
    size_t cap = loop->opt.read_buffer_size;
    c->tail_in_rbuf = 0;
    // Over TLS the tail is plaintext: ciphertext always lands in the
    // buffer alone (shd_tls.c puts the tail in front of what it decrypts).
    if (c->tail_len == 0 || c->state != SHD_CONN_OPEN || c->tls != SHD_TLS_NONE) {
        *buf = uv_buf_init((char *)loop->rbuf, (unsigned)cap);
        return;
    }
    if (c->tail_len <= cap / 2) {
        memcpy(loop->rbuf, c->tail, c->tail_len);
        c->tail_in_rbuf = 1;
        *buf = uv_buf_init((char *)loop->rbuf + c->tail_len, (unsigned)(cap - c->tail_len));
        return;
    }
    if (shd__conn_grow_tail(c, c->tail_len + cap) != SHD_OK) {
        *buf = uv_buf_init(NULL, 0);  // libuv reports UV_ENOBUFS to on_read
        return;
    }
    *buf = uv_buf_init((char *)c->tail + c->tail_len, (unsigned)(c->tail_cap - c->tail_len));
}

int shd__conn_grow_tail(shd_conn_t *c, size_t want) {
    if (c->tail_cap >= want) return SHD_OK;
    uint8_t *grown = realloc(c->tail, want);
    if (grown == NULL) return SHD_ENOMEM;
    c->tail = grown;
    c->tail_cap = want;
    return SHD_OK;
}

static void keep_tail(shd_conn_t *c, const uint8_t *rest, size_t len) {
    if (len == 0) {
        if (c->tail == NULL) return;
        // An idle connection holds no read buffer.
        free(c->tail);
        c->tail = NULL;
        c->tail_len = c->tail_cap = 0;
        return;
    }
    if (rest == c->tail) {
        c->tail_len = len;
        return;
    }
    if (shd__conn_grow_tail(c, len < 256 ? 256 : len) != SHD_OK) {
        shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
        return;
    }
    memmove(c->tail, rest, len);
    c->tail_len = len;
}

void shd__conn_peer_eof(shd_conn_t *c) {
    c->peer_eof = 1;
    if (c->state == SHD_CONN_OPEN) {
        // A half-close: the peer may still read, so what was queued for
        // it (answers to its last requests) goes out before we close.
        c->close_reason = SHD_CLOSED_BY_PEER;
        c->state = SHD_CONN_DRAINING;
        c->deadline = uv_now(&c->loop->uv) + c->loop->opt.linger_ms;
        shd__conn_drain(c);
    } else if (c->state == SHD_CONN_LINGER) {
        shd__conn_begin_close(c, SHD_CLOSED_BY_US);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    shd_conn_t *c = stream->data;
    shd_loop_t *loop = c->loop;
    if (nread == 0) return;  // EAGAIN: the tail is still in c->tail
    if (nread < 0) {
        if (c->state == SHD_CONN_CLOSING) return;
        if (nread != UV_EOF) {
            c->error = (int32_t)nread;
            shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
            return;
        }
        if (c->proxy_wait != NULL && c->state == SHD_CONN_OPEN) {
            shd__proxy_peer_eof(c);
            return;
        }
        if (c->tls != SHD_TLS_NONE && c->state == SHD_CONN_OPEN) shd__tls_peer_eof(c);
        shd__conn_peer_eof(c);
        return;
    }
    SHD_STAT_ADD(loop, reads, 1);
    SHD_STAT_ADD(loop, bytes_in, (uint64_t)nread);
    if (c->state != SHD_CONN_OPEN) return;  // closing: input is discarded
    uint8_t *data = (uint8_t *)buf->base;
    if (c->proxy_wait != NULL) {
        shd__proxy_on_read(c, data, (size_t)nread);
        return;
    }
    if (c->proxy_check && shd__proxy_untrusted_header(c, data, (size_t)nread)) return;
    shd__conn_input(c, data, (size_t)nread);
}

// New bytes at `data` (just read, or what followed a PROXY header): to the
// TLS sniff and layer, or with the connection's tail to on_data.
void shd__conn_input(shd_conn_t *c, uint8_t *data, size_t n) {
    if (c->tls_sniff) shd__tls_sniff(c, data);
    if (c->tls != SHD_TLS_NONE) {
        shd__tls_on_ciphertext(c, data, n);
        return;
    }
    if (c->state != SHD_CONN_OPEN) return;  // refused by the sniff
    // on_alloc put the new bytes right behind the tail (a copy in the
    // loop's buffer, or the connection's own buffer), or the tail is empty.
    if (c->tail_in_rbuf) shd__conn_deliver(c, c->loop->rbuf, c->tail_len + n);
    else if (c->tail_len > 0 && data == c->tail + c->tail_len) shd__conn_deliver(c, c->tail, c->tail_len + n);
    else shd__conn_deliver(c, data, n);
}

// Hands bytes (the tail, then what is new) to on_data and keeps what it
// did not consume, within max_buffered.
void shd__conn_deliver(shd_conn_t *c, uint8_t *data, size_t len) {
    shd_loop_t *loop = c->loop;
    size_t used = loop->cb.on_data(loop->ctx, c, data, len);
    if (c->state != SHD_CONN_OPEN) return;
    if (used > len) used = len;
    size_t max_buffered = c->max_buffered ? c->max_buffered : loop->opt.max_buffered;
    if (len - used > max_buffered) {
        SHD_STAT_ADD(loop, oversize, 1);
        shd__conn_begin_close(c, SHD_CLOSED_OVERSIZE);
        return;
    }
    keep_tail(c, data + used, len - used);
}

void shd_conn_set_max_buffered(shd_conn_t *c, size_t max_buffered) { c->max_buffered = max_buffered; }

void shd_conn_close(shd_conn_t *c, int how) {
    if (c->state == SHD_CONN_CLOSING) return;
    if (how == SHD_CLOSE_ABORT) {
        shd__conn_begin_close(c, SHD_CLOSED_BY_US);
        return;
    }
    if (c->state != SHD_CONN_OPEN) return;
    c->state = SHD_CONN_DRAINING;
    c->close_reason = SHD_CLOSED_BY_US;
    c->deadline = uv_now(&c->loop->uv) + c->loop->opt.linger_ms;
    shd__conn_drain(c);
}

// A draining connection: over TLS a close_notify follows what is queued
// (the flush writes it); once everything is sent, shd__conn_after_drain.
void shd__conn_drain(shd_conn_t *c) {
    if (c->tls == SHD_TLS_ESTABLISHED && c->tls_notify == 0) {
        c->tls_notify = 1;
        shd__mark_dirty(c);
        return;
    }
    if (shd__unsent(c) == 0) shd__conn_after_drain(c);
    // else: the flush calls shd__conn_after_drain once the queue is empty.
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    shd_conn_t *c = req->data;
    free(req);
    if (status != 0 && c->state != SHD_CONN_CLOSING) shd__conn_begin_close(c, SHD_CLOSED_BY_US);
}

void shd__conn_after_drain(shd_conn_t *c) {
    if (c->state != SHD_CONN_DRAINING) return;
    if (c->peer_eof) {
        // Everything is written and the peer has nothing more to send: no
        // unread input can turn this close into a reset.
        shd__conn_begin_close(c, c->close_reason);
        return;
    }
    c->state = SHD_CONN_LINGER;
    // Send FIN and keep reading (and discarding) until the peer's EOF, so that
    // unread input does not turn the close into a reset that could destroy
    // the last bytes we sent (a kick, a close frame).
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        shd__conn_begin_close(c, SHD_CLOSED_BY_US);
        return;
    }
    req->data = c;
}

void shd__conn_begin_close(shd_conn_t *c, int reason) {
    if (c->state == SHD_CONN_CLOSING) return;
    if (c->state == SHD_CONN_OPEN || reason == SHD_CLOSED_ON_ERROR) c->close_reason = (uint8_t)reason;
    c->state = SHD_CONN_CLOSING;
    c->deadline = 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_closed(uv_handle_t *handle) {
    shd_conn_t *c = handle->data;
    shd_loop_t *loop = c->loop;
    if (c->prev) c->prev->next = c->next;
    else loop->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->dirty) {
        // Unlink from the flush list.
        shd_conn_t **p = &loop->dirty;
        while (*p != NULL && *p != c) p = &(*p)->next_dirty;
        if (*p == c) *p = c->next_dirty;
    }
    SHD_STAT_ADD(loop, closed, 1);
    SHD_STAT_ADD(loop, open, (uint64_t)-1);
    if (!c->unannounced) loop->cb.on_close(loop->ctx, c, c->close_reason);
    shd__tls_free(c);
    shd__proxy_conn_free(c);
    shd__conn_drop_output(c);
    free(c->tail);
    free(c);
}

int shd_conn_is_closing(const shd_conn_t *c) { return c->state != SHD_CONN_OPEN; }

int shd_conn_error(const shd_conn_t *c) { return c->error; }

void shd_conn_set_user(shd_conn_t *c, void *user) { c->user = user; }
void *shd_conn_user(const shd_conn_t *c) { return c->user; }

void shd_conn_set_deadline(shd_conn_t *c, uint64_t at_ms) {
    if (c->state == SHD_CONN_OPEN) c->deadline = at_ms;
}

int shd_conn_peer(const shd_conn_t *c, char *buf, size_t cap, int *port) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = 0;
    // Behind a balancer: the client its PROXY header named.
    if (c->proxied != NULL) memcpy(&ss, c->proxied, sizeof(*c->proxied));
    else rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0) return rc;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        rc = uv_ip6_name(a, buf, cap);
        if (port) *port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        rc = uv_ip4_name(a, buf, cap);
        if (port) *port = ntohs(a->sin_port);
    }
    return rc;
}
