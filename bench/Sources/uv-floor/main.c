/* uv-floor: the smallest libuv WebSocket echo server, the floor the benchmark
 * compares against: syscalls and framing, nothing else. One loop, one thread.
 * Each data frame is echoed as it came (opcode and FIN kept, mask removed);
 * ping gets pong, close gets close. No TLS, no extensions. The answers to
 * everything one read brought go out in one write, as any server that
 * pipelines does. */
#define _GNU_SOURCE /* memmem */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define HEADER_MAX 8192           /* the whole upgrade request must fit */
#define READ_INITIAL 65536
#define PAYLOAD_MAX (16u << 20)
#define QUEUE_PAUSE (1u << 20)    /* stop reading while this much waits to be sent */

typedef struct {
    uv_tcp_t tcp; /* first, so a handle pointer is a conn pointer */
    uv_shutdown_t shutdown;
    uint8_t *buf; /* reused for every read; grows to hold the largest frame */
    size_t len, cap;
    int upgraded, closing, paused;
} conn_t;

typedef struct {
    uv_write_t req;
    char data[];
} write_req_t;

static uv_loop_t *loop;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void on_closed(uv_handle_t *h) {
    conn_t *c = (conn_t *)h;
    free(c->buf);
    free(c);
}

static void conn_close(conn_t *c) {
    c->closing = 1;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    conn_close((conn_t *)req->handle);
}

/* Closes once everything queued has been sent. */
static void conn_finish(conn_t *c) {
    if (c->closing) return;
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) conn_close(c);
}

static void on_write(uv_write_t *req, int status) {
    conn_t *c = (conn_t *)req->handle;
    free(req);
    if (status < 0) { conn_close(c); return; }
    if (c->paused && !c->closing && c->tcp.write_queue_size < QUEUE_PAUSE / 2) {
        c->paused = 0;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

/* Straight to the socket when it takes everything; only the rest is copied. */
static int conn_send(conn_t *c, uv_buf_t *bufs, int nbufs) {
    size_t total = 0, done;
    int i, r;
    for (i = 0; i < nbufs; i++) total += bufs[i].len;
    r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (r == UV_EAGAIN) r = 0;
    if (r < 0) return r;
    done = (size_t)r;
    if (done == total) return 0;

    write_req_t *w = malloc(sizeof *w + total - done);
    if (w == NULL) return UV_ENOMEM;
    size_t at = 0;
    for (i = 0; i < nbufs; i++) {
        size_t skip = done < bufs[i].len ? done : bufs[i].len;
        memcpy(w->data + at, bufs[i].base + skip, bufs[i].len - skip);
        at += bufs[i].len - skip;
        done -= skip;
    }
    uv_buf_t rest = uv_buf_init(w->data, (unsigned)at);
    if ((r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &rest, 1, on_write)) < 0) { free(w); return r; }
    if (c->tcp.write_queue_size > QUEUE_PAUSE && !c->paused) {
        c->paused = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    return 0;
}

/* The answers to one read, gathered for a single write. */
static uint8_t *out;
static size_t out_len, out_cap;

static int out_append(const void *data, size_t n) {
    if (out_len + n > out_cap) {
        size_t cap = out_cap ? out_cap : 65536;
        while (cap < out_len + n) cap *= 2;
        uint8_t *bigger = realloc(out, cap);
        if (bigger == NULL) return UV_ENOMEM;
        out = bigger, out_cap = cap;
    }
    memcpy(out + out_len, data, n);
    out_len += n;
    return 0;
}

static int out_flush(conn_t *c) {
    if (out_len == 0) return 0;
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)out_len);
    out_len = 0;
    return conn_send(c, &b, 1);
}

static int send_frame(conn_t *c, uint8_t first, const uint8_t *payload, size_t n) {
    (void)c;
    uint8_t head[10];
    unsigned h = 2, i;
    head[0] = first;
    if (n < 126) {
        head[1] = (uint8_t)n;
    } else if (n <= 0xffff) {
        head[1] = 126, head[2] = (uint8_t)(n >> 8), head[3] = (uint8_t)n, h = 4;
    } else {
        head[1] = 127, h = 10;
        for (i = 0; i < 8; i++) head[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    if (out_append(head, h) < 0) return -1;
    return out_append(payload, n);
}

/* Answers the upgrade request held in c->buf[0, end); 0 or -1 (close). */
static int upgrade(conn_t *c, size_t end) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const char *line = (const char *)c->buf, *stop = line + end, *key = NULL;
    size_t key_len = 0;
    if (end < 4 || memcmp(line, "GET ", 4) != 0) return -1;
    while (line < stop) {
        const char *eol = memmem(line, (size_t)(stop - line), "\r\n", 2);
        if (eol == NULL) break;
        if (eol - line > 18 && strncasecmp(line, "Sec-WebSocket-Key:", 18) == 0) {
            key = line + 18;
            while (key < eol && (*key == ' ' || *key == '\t')) key++;
            key_len = (size_t)(eol - key);
            while (key_len > 0 && (key[key_len - 1] == ' ' || key[key_len - 1] == '\t')) key_len--;
        }
        line = eol + 2;
    }
    if (key == NULL || key_len == 0 || key_len > 64) return -1;

    char keyed[64 + sizeof guid];
    unsigned char digest[SHA_DIGEST_LENGTH];
    memcpy(keyed, key, key_len);
    memcpy(keyed + key_len, guid, sizeof guid - 1);
    SHA1((unsigned char *)keyed, key_len + sizeof guid - 1, digest);

    char reply[160] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    size_t n = strlen(reply);
    n += (size_t)EVP_EncodeBlock((unsigned char *)reply + n, digest, SHA_DIGEST_LENGTH);
    memcpy(reply + n, "\r\n\r\n", 4);
    uv_buf_t b = uv_buf_init(reply, (unsigned)(n + 4));
    return conn_send(c, &b, 1) < 0 ? -1 : 0;
}

/* Echoes every whole frame in c->buf and keeps the unfinished tail; -1: close now. */
static int on_frames(conn_t *c) {
    size_t off = 0;
    while (!c->closing && c->len - off >= 2) {
        uint8_t *p = c->buf + off;
        size_t avail = c->len - off, h = 2, i;
        uint64_t n = p[1] & 0x7f;
        unsigned opcode = p[0] & 0x0f;
        /* No extension was agreed, so no reserved bit; a client always masks. */
        if ((p[0] & 0x70) != 0 || (p[1] & 0x80) == 0) return -1;
        if (n == 126) {
            if (avail < 4) break;
            n = (uint64_t)p[2] << 8 | p[3], h = 4;
        } else if (n == 127) {
            if (avail < 10) break;
            for (n = 0, i = 0; i < 8; i++) n = n << 8 | p[2 + i];
            h = 10;
        }
        if (n > PAYLOAD_MAX) return -1;
        if (opcode >= 8 && (n > 125 || (p[0] & 0x80) == 0)) return -1;
        size_t whole = h + 4 + (size_t)n;
        if (avail < whole) {
            if (off == 0 && whole > c->cap) { /* make room for the rest */
                uint8_t *bigger = realloc(c->buf, whole);
                if (bigger == NULL) return -1;
                c->buf = bigger, c->cap = whole;
            }
            break;
        }
        uint8_t *mask = p + h, *payload = mask + 4;
        for (i = 0; i < n; i++) payload[i] ^= mask[i & 3];
        off += whole;
        switch (opcode) {
        case 0: case 1: case 2: /* continuation, text, binary */
            if (send_frame(c, p[0], payload, (size_t)n) < 0) return -1;
            break;
        case 8: /* close: its status back (or 1000), then close once sent */
            if (send_frame(c, 0x88, n >= 2 ? payload : (const uint8_t *)"\x03\xe8", 2) < 0) return -1;
            if (out_flush(c) < 0) return -1;
            conn_finish(c);
            break;
        case 9: /* ping */
            if (send_frame(c, 0x8a, payload, (size_t)n) < 0) return -1;
            break;
        case 10: /* pong */
            break;
        default:
            return -1;
        }
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return out_flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    conn_t *c = (conn_t *)h;
    (void)suggested;
    if (c->len == c->cap) { /* full: nothing is read until a frame fits */
        uint8_t *bigger = realloc(c->buf, c->cap * 2);
        if (bigger != NULL) c->buf = bigger, c->cap *= 2;
    }
    *b = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    conn_t *c = (conn_t *)s;
    (void)b;
    if (nread < 0) { conn_close(c); return; }
    if (c->closing) return;
    c->len += (size_t)nread;
    if (!c->upgraded) {
        uint8_t *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->len >= HEADER_MAX) conn_close(c);
            return;
        }
        size_t head = (size_t)(end - c->buf) + 4;
        if (upgrade(c, head) < 0) { conn_close(c); return; }
        c->upgraded = 1;
        /* Frames sent right behind the request arrived with it. */
        memmove(c->buf, c->buf + head, c->len - head);
        c->len -= head;
    }
    if (on_frames(c) < 0) {
        out_len = 0;
        conn_close(c);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->buf = malloc(READ_INITIAL)) == NULL) { free(c); return; }
    c->cap = READ_INITIAL;
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) { conn_close(c); return; }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *s, int signum) {
    (void)signum;
    uv_stop(s->loop);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = -1, i, r;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0) host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        else break;
    }
    if (i != argc || port < 0 || port > 65535) {
        fprintf(stderr, "usage: uv-floor [--host ADDRESS] --port PORT\n");
        return 2;
    }

    struct sockaddr_storage addr;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "uv-floor: bad address %s\n", host);
        return 2;
    }
    /* A peer that vanished must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_signal_t sigint, sigterm;
    uv_tcp_init(loop, &server);
    if ((r = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) < 0 ||
        (r = uv_listen((uv_stream_t *)&server, 1024, on_connection)) < 0) {
        fprintf(stderr, "uv-floor: %s:%d: %s\n", host, port, uv_strerror(r));
        return 1;
    }
    int len = sizeof addr;
    uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
    port = ntohs(((struct sockaddr_in *)&addr)->sin_port); /* same offset for IPv6 */
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
