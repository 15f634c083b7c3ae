// The write path: outgoing bytes are appended to pooled chunks and leave in
// one write call per connection per loop iteration.
#include "shd_internal.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// Free chunks kept per loop; beyond this they go back to malloc.
#define SHD_MAX_FREE_CHUNKS 4096
// Free chunks never trimmed away: enough for a steady flow on many
// connections without touching malloc.
#define SHD_MIN_FREE_CHUNKS 64
// Memory worth handing back to the system at a trim (see shd__chunks_trim).
#define SHD_TRIM_RELEASE_BYTES (1u << 20)
// Most chunks handed to one write call.
#define SHD_MAX_IOV 64

typedef struct shd_write_req {
    uv_write_t req;
    shd_conn_t *conn;
} shd_write_req_t;

shd_chunk_t *shd__chunk_get(shd_loop_t *loop) {
    shd_chunk_t *c = loop->free_chunks;
    if (c != NULL) {
        loop->free_chunks = c->next;
        loop->free_chunk_count--;
        if (loop->free_chunk_count < loop->free_chunk_low) loop->free_chunk_low = loop->free_chunk_count;
    } else {
        loop->free_chunk_low = 0;
        c = malloc(sizeof(*c));
        if (c == NULL) return NULL;
        SHD_STAT_ADD(loop, chunks_allocated, 1);
    }
    c->next = NULL;
    c->start = c->end = 0;
    return c;
}

void shd__chunk_put(shd_loop_t *loop, shd_chunk_t *c) {
    if (loop->free_chunk_count >= SHD_MAX_FREE_CHUNKS) {
        free(c);
        return;
    }
    c->next = loop->free_chunks;
    loop->free_chunks = c;
    loop->free_chunk_count++;
}

// A burst (a login storm, a huge broadcast) can leave thousands of chunks in
// the pool. Chunks that stayed unused since the last trim are freed, down to
// SHD_MIN_FREE_CHUNKS; when that is worth it, malloc gives the pages back to
// the system, so idle sessions cost their own memory only.
void shd__chunks_trim(shd_loop_t *loop) {
    size_t excess = loop->free_chunk_low;
    if (loop->free_chunk_count - excess < SHD_MIN_FREE_CHUNKS)
        excess = loop->free_chunk_count > SHD_MIN_FREE_CHUNKS ? loop->free_chunk_count - SHD_MIN_FREE_CHUNKS : 0;
    for (size_t i = 0; i < excess; i++) {
        shd_chunk_t *c = loop->free_chunks;
        loop->free_chunks = c->next;
        free(c);
    }
    loop->free_chunk_count -= excess;
    loop->free_chunk_low = loop->free_chunk_count;
    // Freed TLS connection state counts too: after a burst of handshakes
    // the pages of thousands of freed SSL objects would otherwise stay
    // resident, between the small allocations of the sessions that remain.
    size_t released = excess * sizeof(shd_chunk_t) + loop->released;
    loop->released = 0;
    if (released >= SHD_TRIM_RELEASE_BYTES) malloc_trim(0);
}

void shd__mark_dirty(shd_conn_t *c) {
    if (c->dirty) return;
    c->dirty = 1;
    c->next_dirty = c->loop->dirty;
    c->loop->dirty = c;
}

// Copies bytes to the end of a queue, linking chunks from `reserve` (which
// the caller sized) as the tail fills.
static void append(shd_chunk_t **head, shd_chunk_t **tail, const void *data, size_t len, shd_chunk_t **reserve) {
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        shd_chunk_t *t = *tail;
        if (t == NULL || t->end == SHD_CHUNK_CAP) {
            shd_chunk_t *n = *reserve;
            *reserve = n->next;
            n->next = NULL;
            if (t == NULL) *head = n;
            else t->next = n;
            *tail = t = n;
        }
        size_t room = SHD_CHUNK_CAP - t->end;
        size_t n = left < room ? left : room;
        memcpy(t->data + t->end, p, n);
        t->end += (uint32_t)n;
        p += n;
        left -= n;
    }
}

// Takes enough chunks for `total` more bytes after `tail`, all or none.
static int reserve_chunks(shd_loop_t *loop, const shd_chunk_t *tail, size_t total, shd_chunk_t **reserve) {
    *reserve = NULL;
    size_t room = tail ? SHD_CHUNK_CAP - tail->end : 0;
    for (; room < total; room += SHD_CHUNK_CAP) {
        shd_chunk_t *n = shd__chunk_get(loop);
        if (n == NULL) {
            while (*reserve != NULL) {
                shd_chunk_t *next = (*reserve)->next;
                shd__chunk_put(loop, *reserve);
                *reserve = next;
            }
            return SHD_ENOMEM;
        }
        n->next = *reserve;
        *reserve = n;
    }
    return SHD_OK;
}

int shd__append(shd_conn_t *c, shd_chunk_t **head, shd_chunk_t **tail, const void *data, size_t len) {
    shd_chunk_t *reserve;
    if (reserve_chunks(c->loop, *tail, len, &reserve) != SHD_OK) return SHD_ENOMEM;
    append(head, tail, data, len, &reserve);
    return SHD_OK;
}

uint8_t *shd__out_room(shd_conn_t *c, size_t *room) {
    shd_chunk_t *t = c->out_tail;
    if (t == NULL || t->end == SHD_CHUNK_CAP) {
        shd_chunk_t *n = shd__chunk_get(c->loop);
        if (n == NULL) return NULL;
        if (t == NULL) c->out_head = n;
        else t->next = n;
        c->out_tail = t = n;
    }
    *room = SHD_CHUNK_CAP - t->end;
    return t->data + t->end;
}

void shd__out_commit(shd_conn_t *c, size_t n) {
    c->out_tail->end += (uint32_t)n;
    c->pending += n;
}

int shd_conn_writev(shd_conn_t *c, const shd_slice_t *parts, size_t count) {
    if (c->state != SHD_CONN_OPEN) return SHD_ECLOSED;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += parts[i].len;
    if (shd__unsent(c) + total > c->max_pending) {
        SHD_STAT_ADD(c->loop, overflows, 1);
        return SHD_EFULL;
    }
    // Over TLS the plaintext waits for the flush, which encrypts it.
    int tls = c->tls != SHD_TLS_NONE;
    shd_chunk_t **head = tls ? &c->plain_head : &c->out_head;
    shd_chunk_t **tail = tls ? &c->plain_tail : &c->out_tail;
    // Chunks are taken before anything is copied, so running out of memory
    // half-way cannot leave half a message queued.
    shd_chunk_t *reserve;
    if (reserve_chunks(c->loop, *tail, total, &reserve) != SHD_OK) return SHD_ENOMEM;
    for (size_t i = 0; i < count; i++) append(head, tail, parts[i].base, parts[i].len, &reserve);
    if (tls) c->plain_pending += total;
    else c->pending += total;
    if (total > 0) shd__mark_dirty(c);
    return SHD_OK;
}

int shd_conn_write2(shd_conn_t *c, const void *a, size_t alen, const void *b, size_t blen) {
    shd_slice_t parts[2] = {{a, alen}, {b, blen}};
    return shd_conn_writev(c, parts, 2);
}

int shd_conn_write(shd_conn_t *c, const void *data, size_t len) {
    return shd_conn_write2(c, data, len, NULL, 0);
}

size_t shd_conn_pending(const shd_conn_t *c) { return shd__unsent(c); }

void shd_conn_set_max_pending(shd_conn_t *c, size_t max_pending) { c->max_pending = max_pending; }

// Removes `n` sent bytes from the front of the queue.
static void consume(shd_conn_t *c, size_t n) {
    c->pending -= n;
    while (n > 0) {
        shd_chunk_t *h = c->out_head;
        size_t avail = h->end - h->start;
        if (n < avail) {
            h->start += (uint32_t)n;
            return;
        }
        n -= avail;
        // Keep the last chunk if it still has room: the next message of a
        // steady flow lands in it without touching the pool.
        if (h->next == NULL) {
            h->start = h->end = 0;
            return;
        }
        c->out_head = h->next;
        shd__chunk_put(c->loop, h);
    }
}

static void release_idle_chunk(shd_conn_t *c) {
    // An idle connection holds no write buffer either.
    if (c->pending == 0 && c->out_head != NULL) {
        shd__chunk_put(c->loop, c->out_head);
        c->out_head = c->out_tail = NULL;
    }
}

static size_t gather(shd_conn_t *c, uv_buf_t *iov, size_t skip, unsigned *count) {
    size_t total = 0;
    unsigned n = 0;
    for (shd_chunk_t *h = c->out_head; h != NULL && n < SHD_MAX_IOV; h = h->next) {
        size_t avail = h->end - h->start;
        size_t off = h->start;
        if (skip >= avail) {
            skip -= avail;
            continue;
        }
        off += skip;
        avail -= skip;
        skip = 0;
        if (avail == 0) continue;
        iov[n++] = uv_buf_init((char *)h->data + off, (unsigned)avail);
        total += avail;
    }
    *count = n;
    return total;
}

static void on_written(uv_write_t *req, int status) {
    shd_write_req_t *wr = (shd_write_req_t *)req;
    shd_conn_t *c = wr->conn;
    free(wr);
    size_t done = c->inflight;
    c->inflight = 0;
    if (status != 0) {
        shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
        return;
    }
    consume(c, done);
    if (shd__unsent(c) > 0) shd__mark_dirty(c);
    else {
        release_idle_chunk(c);
        if (c->state == SHD_CONN_DRAINING) shd__conn_after_drain(c);
    }
}

void shd__conn_flush(shd_conn_t *c) {
    if (c->state == SHD_CONN_CLOSING || c->state == SHD_CONN_LINGER) return;
    // Whatever the connection queued this iteration becomes records now.
    if (c->tls != SHD_TLS_NONE && shd__tls_encrypt(c) != 0) return;
    if (c->inflight > 0) return;  // on_written picks up the rest
    shd_loop_t *loop = c->loop;
    while (c->pending > 0) {
        uv_buf_t iov[SHD_MAX_IOV];
        unsigned n;
        size_t total = gather(c, iov, 0, &n);
        SHD_STAT_ADD(loop, write_calls, 1);
        int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
        if (w == UV_EAGAIN) w = 0;
        if (w < 0) {
            shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
            return;
        }
        SHD_STAT_ADD(loop, bytes_out, (uint64_t)w);
        consume(c, (size_t)w);
        if ((size_t)w < total) {
            // The socket is full: hand the rest to libuv, which writes it when
            // the socket drains and tells us in on_written.
            n = 0;
            total = gather(c, iov, 0, &n);
            shd_write_req_t *wr = malloc(sizeof(*wr));
            if (wr == NULL) {
                shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
                return;
            }
            wr->conn = c;
            if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, iov, n, on_written) != 0) {
                free(wr);
                shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
                return;
            }
            SHD_STAT_ADD(loop, bytes_out, total);
            c->inflight = total;
            SHD_STAT_ADD(loop, flushes, 1);
            return;
        }
    }
    SHD_STAT_ADD(loop, flushes, 1);
    release_idle_chunk(c);
    if (c->state == SHD_CONN_DRAINING && shd__unsent(c) == 0) shd__conn_after_drain(c);
}

static void drop_queue(shd_loop_t *loop, shd_chunk_t **head, shd_chunk_t **tail) {
    shd_chunk_t *h = *head;
    while (h != NULL) {
        shd_chunk_t *n = h->next;
        shd__chunk_put(loop, h);
        h = n;
    }
    *head = *tail = NULL;
}

void shd__conn_drop_output(shd_conn_t *c) {
    drop_queue(c->loop, &c->out_head, &c->out_tail);
    drop_queue(c->loop, &c->plain_head, &c->plain_tail);
    c->pending = 0;
    c->plain_pending = 0;
}
