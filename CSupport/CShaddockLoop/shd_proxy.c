// The PROXY protocol (see shd_proxy.h): the header parser, trust lists,
// and a listening loop's connections waiting for their header.
#include "shd_internal.h"
#include "shd_proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

// MARK: The parser

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_prefix[] = "PROXY ";

void shd_proxy_init(shd_proxy_parser_t *p) { memset(p, 0, sizeof(*p)); }

static int parse_port(const char *text, uint16_t *out) {
    size_t n = strlen(text);
    if (n == 0 || n > 5) return -1;
    unsigned long value = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        value = value * 10 + (unsigned long)(text[i] - '0');
    }
    if (value > 65535) return -1;
    *out = (uint16_t)value;
    return 0;
}

// "PROXY TCP4 src dst sport dport", "PROXY TCP6 ...", "PROXY UNKNOWN ..."
// (the line without its CRLF): single spaces, nothing missing or extra.
static int parse_v1(const uint8_t *line, size_t len, shd_proxy_header_t *out) {
    char text[SHD_PROXY_V1_MAX + 1];
    memcpy(text, line, len);
    text[len] = 0;
    if (memchr(text, 0, len) != NULL) return SHD_PROXY_BAD;
    char *fields[7];
    size_t count = 0;
    for (char *at = text;;) {
        if (count == 7) return SHD_PROXY_BAD;
        fields[count++] = at;
        char *space = strchr(at, ' ');
        if (space == NULL) break;
        *space = 0;
        at = space + 1;
    }
    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (count >= 2 && strcmp(fields[1], "UNKNOWN") == 0) {
        out->local = 1;  // whatever follows is ignored, as the specification says
        return SHD_PROXY_DONE;
    }
    if (count != 6) return SHD_PROXY_BAD;
    int family = strcmp(fields[1], "TCP4") == 0 ? 4 : strcmp(fields[1], "TCP6") == 0 ? 6 : 0;
    if (family == 0) return SHD_PROXY_BAD;
    int af = family == 4 ? AF_INET : AF_INET6;
    if (inet_pton(af, fields[2], out->source) != 1 || inet_pton(af, fields[3], out->destination) != 1
        || parse_port(fields[4], &out->source_port) != 0 || parse_port(fields[5], &out->destination_port) != 0)
        return SHD_PROXY_BAD;
    out->family = family;
    return SHD_PROXY_DONE;
}

static int v1_byte(shd_proxy_parser_t *p, uint8_t byte, shd_proxy_header_t *out) {
    if (p->have < sizeof(v1_prefix) - 1 && byte != (uint8_t)v1_prefix[p->have]) return SHD_PROXY_BAD;
    if (p->have == SHD_PROXY_V1_MAX) return SHD_PROXY_BAD;  // no CRLF within the longest header
    p->kept[p->have++] = byte;
    if (byte != '\n') return SHD_PROXY_MORE;
    if (p->have < 2 || p->kept[p->have - 2] != '\r') return SHD_PROXY_BAD;
    return parse_v1(p->kept, p->have - 2, out);
}

// The fixed part is in: the command, the family and the length decide how
// much address to keep and how much to pass over.
static int v2_fixed(shd_proxy_parser_t *p, shd_proxy_header_t *out) {
    uint8_t version_command = p->kept[12], family = p->kept[13];
    uint32_t len = (uint32_t)p->kept[14] << 8 | p->kept[15];
    if (version_command >> 4 != 2) return SHD_PROXY_BAD;
    int command = version_command & 0x0F;
    if (command > 1) return SHD_PROXY_BAD;
    uint32_t keep = 0;
    switch (family) {
    case 0x00: break;                             // UNSPEC
    case 0x11: keep = command == 1 ? 12 : 0; break;  // TCP over IPv4
    case 0x21: keep = command == 1 ? 36 : 0; break;  // TCP over IPv6
    case 0x12: case 0x22: case 0x31: case 0x32: break;  // UDP, UNIX: not a TCP client
    default: return SHD_PROXY_BAD;
    }
    if (len < keep) return SHD_PROXY_BAD;
    (void)out;  // the header is written whole at the end (it may be another call's)
    p->skip = len - keep;
    p->version = 2 + (keep == 12 ? 10 : keep == 36 ? 20 : 0);  // 2, 12 (IPv4) or 22 (IPv6)
    return SHD_PROXY_MORE;
}

static void v2_address(const shd_proxy_parser_t *p, shd_proxy_header_t *out) {
    const uint8_t *a = p->kept + 16;
    size_t n = p->version == 12 ? 4 : 16;
    out->family = p->version == 12 ? 4 : 6;
    memcpy(out->source, a, n);
    memcpy(out->destination, a + n, n);
    out->source_port = (uint16_t)(a[2 * n] << 8 | a[2 * n + 1]);
    out->destination_port = (uint16_t)(a[2 * n + 2] << 8 | a[2 * n + 3]);
}

int shd_proxy_parse(shd_proxy_parser_t *p, const uint8_t *data, size_t len, size_t *used, shd_proxy_header_t *out) {
    size_t i = 0;
    *used = 0;
    if (len == 0) return SHD_PROXY_MORE;
    if (p->version == 0 && p->have == 0) {
        // Nothing else this port serves starts with either byte.
        if (data[0] == 'P') p->version = 1;
        else if (data[0] == 0x0D) p->version = 2;
        else return SHD_PROXY_ABSENT;
    }
    if (p->version == 1) {
        while (i < len) {
            int r = v1_byte(p, data[i++], out);
            if (r != SHD_PROXY_MORE) {
                *used = i;
                return r;
            }
        }
        *used = i;
        return SHD_PROXY_MORE;
    }
    // Version 2: the 16 fixed bytes, then the address kept, then the rest
    // (TLVs) passed over.
    while (i < len && p->have < 16) {
        if (p->have < 12 && data[i] != v2_signature[p->have]) {
            *used = i + 1;
            return SHD_PROXY_BAD;
        }
        p->kept[p->have++] = data[i++];
        if (p->have == 16 && v2_fixed(p, out) != SHD_PROXY_MORE) {
            *used = i;
            return SHD_PROXY_BAD;
        }
    }
    if (p->have >= 16) {
        uint32_t keep = p->version == 12 ? 12 : p->version == 22 ? 36 : 0;
        while (i < len && p->have < 16 + keep) p->kept[p->have++] = data[i++];
        if (p->have == 16 + keep) {
            size_t pass = len - i < p->skip ? len - i : p->skip;
            p->skip -= (uint32_t)pass;
            i += pass;
            if (p->skip == 0) {
                // Everything from the parser's own state: the caller's
                // header may be a new one at each call.
                memset(out, 0, sizeof(*out));
                out->version = 2;
                out->local = keep == 0;
                if (keep > 0) v2_address(p, out);
                *used = i;
                return SHD_PROXY_DONE;
            }
        }
    }
    *used = i;
    return SHD_PROXY_MORE;
}

// MARK: Trust lists

int shd_cidr_parse(const char *text, shd_cidr_t *out) {
    char address[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof(address)) return -1;
    memcpy(address, text, n);
    address[n] = 0;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, address, out->address) == 1) out->family = 4;
    else if (inet_pton(AF_INET6, address, out->address) == 1) out->family = 6;
    else return -1;
    int max = out->family == 4 ? 32 : 128;
    out->bits = (uint8_t)max;
    if (slash != NULL) {
        const char *b = slash + 1;
        int bits = 0;
        if (*b == 0 || strlen(b) > 3) return -1;
        for (; *b; b++) {
            if (*b < '0' || *b > '9') return -1;
            bits = bits * 10 + (*b - '0');
        }
        if (bits > max) return -1;
        out->bits = (uint8_t)bits;
    }
    return 0;
}

static int cidr_contains(const shd_cidr_t *c, int family, const uint8_t *address) {
    if (c->family != family) return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->address, address, (size_t)full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (c->address[full] & mask) == (address[full] & mask);
}

struct shd_proxy_config {
    shd_cidr_t *trusted;
    size_t count;
    int required;
    uint32_t timeout_ms;
};

int shd_loop_set_proxy(shd_loop_t *loop, const shd_cidr_t *trusted, size_t count, int required, uint32_t timeout_ms) {
    shd__proxy_loop_free(loop);
    if (count == 0) return SHD_OK;
    shd_proxy_config_t *config = calloc(1, sizeof(*config));
    shd_cidr_t *copy = malloc(count * sizeof(*copy));
    if (config == NULL || copy == NULL) {
        free(config);
        free(copy);
        return SHD_ENOMEM;
    }
    memcpy(copy, trusted, count * sizeof(*copy));
    config->trusted = copy;
    config->count = count;
    config->required = required;
    config->timeout_ms = timeout_ms ? timeout_ms : 5000;
    loop->proxy = config;
    return SHD_OK;
}

void shd__proxy_loop_free(shd_loop_t *loop) {
    if (loop->proxy == NULL) return;
    free(loop->proxy->trusted);
    free(loop->proxy);
    loop->proxy = NULL;
}

// MARK: Connections

// The peer's address as a family and bytes (an IPv4-mapped IPv6 address,
// from a dual-stack listener, as the IPv4 address it is).
static int peer_address(const shd_conn_t *c, int *family, uint8_t address[16]) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) {
        *family = 4;
        memcpy(address, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 0;
    }
    const uint8_t *a = (const uint8_t *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (memcmp(a, mapped, 12) == 0) {
        *family = 4;
        memcpy(address, a + 12, 4);
    } else {
        *family = 6;
        memcpy(address, a, 16);
    }
    return 0;
}

int shd__proxy_accept(shd_conn_t *c) {
    shd_loop_t *loop = c->loop;
    shd_proxy_config_t *config = loop->proxy;
    int family;
    uint8_t address[16];
    int trusted = 0;
    if (peer_address(c, &family, address) == 0) {
        for (size_t i = 0; i < config->count && !trusted; i++) trusted = cidr_contains(&config->trusted[i], family, address);
    }
    if (!trusted) {
        if (config->required) {
            SHD_STAT_ADD(loop, proxy_untrusted, 1);
            return -1;
        }
        c->proxy_check = 1;  // a header from it is refused (on_read)
        return 0;
    }
    c->proxy_wait = malloc(sizeof(*c->proxy_wait));
    if (c->proxy_wait == NULL) return -1;
    shd_proxy_init(c->proxy_wait);
    c->deadline = uv_now(&loop->uv) + config->timeout_ms;
    return 1;
}

static void refuse(shd_conn_t *c) {
    free(c->proxy_wait);
    c->proxy_wait = NULL;
    shd__conn_begin_close(c, SHD_CLOSED_BY_US);
}

void shd__proxy_on_read(shd_conn_t *c, uint8_t *data, size_t len) {
    shd_loop_t *loop = c->loop;
    shd_proxy_header_t header;
    size_t used;
    int r = shd_proxy_parse(c->proxy_wait, data, len, &used, &header);
    if (r == SHD_PROXY_MORE) return;
    if (r == SHD_PROXY_BAD) {
        SHD_STAT_ADD(loop, proxy_bad, 1);
        refuse(c);
        return;
    }
    if (r == SHD_PROXY_ABSENT) {
        if (loop->proxy != NULL && loop->proxy->required) {
            SHD_STAT_ADD(loop, proxy_missing, 1);
            refuse(c);
            return;
        }
        used = 0;  // a trusted peer without a header: its own address stands
    } else if (header.local) {
        SHD_STAT_ADD(loop, proxy_local, 1);
    } else {
        if (header.version == 1) SHD_STAT_ADD(loop, proxy_v1, 1);
        else SHD_STAT_ADD(loop, proxy_v2, 1);
        c->proxied = malloc(sizeof(*c->proxied));
        if (c->proxied == NULL) {
            refuse(c);
            return;
        }
        memset(c->proxied, 0, sizeof(*c->proxied));
        if (header.family == 4) {
            struct sockaddr_in *a = (struct sockaddr_in *)c->proxied;
            a->sin_family = AF_INET;
            memcpy(&a->sin_addr, header.source, 4);
            a->sin_port = htons(header.source_port);
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)c->proxied;
            a->sin6_family = AF_INET6;
            memcpy(&a->sin6_addr, header.source, 16);
            a->sin6_port = htons(header.source_port);
        }
    }
    free(c->proxy_wait);
    c->proxy_wait = NULL;
    c->deadline = 0;
    shd__conn_announce(c);
    if (c->state == SHD_CONN_OPEN && used < len) shd__conn_input(c, data + used, len - used);
}

int shd__proxy_untrusted_header(shd_conn_t *c, const uint8_t *data, size_t len) {
    c->proxy_check = 0;
    size_t n;
    const uint8_t *prefix;
    if (data[0] == 'P') prefix = (const uint8_t *)v1_prefix, n = sizeof(v1_prefix) - 1;
    else if (data[0] == 0x0D) prefix = v2_signature, n = sizeof(v2_signature);
    else return 0;
    if (memcmp(data, prefix, len < n ? len : n) != 0) return 0;
    SHD_STAT_ADD(c->loop, proxy_untrusted, 1);
    shd_conn_close(c, SHD_CLOSE_ABORT);
    return 1;
}

void shd__proxy_peer_eof(shd_conn_t *c) {
    // The peer left before its header was whole.
    SHD_STAT_ADD(c->loop, proxy_bad, 1);
    refuse(c);
}

void shd__proxy_timeout(shd_conn_t *c) {
    SHD_STAT_ADD(c->loop, proxy_timeout, 1);
    refuse(c);
}

void shd__proxy_conn_free(shd_conn_t *c) {
    free(c->proxy_wait);
    free(c->proxied);
    c->proxy_wait = NULL;
    c->proxied = NULL;
}
