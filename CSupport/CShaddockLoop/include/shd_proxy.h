// The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer in
// front of the gateway tells it, before anything else on the connection,
// which client the connection is for.
//
// The parser is pure (no I/O): it is fed the connection's first bytes in
// pieces of any size, keeps what it needs of the header in its own state,
// and reports where the header ended, so that the bytes after it go on to
// the transport sniffing as if they had come first. TLVs of version 2 are
// skipped without being kept.
//
// A listening loop given a trust list (shd_loop_set_proxy) reads the header
// of every connection from a trusted address before on_open: the layers
// above learn of the connection with the client's address already in
// place (shd_conn_peer). A header from anyone else, a malformed or
// truncated one, or a missing one when required closes the connection
// before any of its bytes is processed, and is counted in the loop's stats.
#ifndef SHD_PROXY_H
#define SHD_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "shd_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/// What parsing the bytes so far found.
enum {
    SHD_PROXY_MORE = 0,       // a header so far: feed more bytes
    SHD_PROXY_DONE = 1,       // a whole header; *used says where it ended
    SHD_PROXY_ABSENT = -1,    // the first byte cannot start a header (nothing consumed)
    SHD_PROXY_BAD = -2,       // a malformed header
};

/// The longest version 1 header (RFC-style line with CRLF).
#define SHD_PROXY_V1_MAX 107
/// What of a version 2 header is kept: the fixed 16 bytes and the largest
/// address block (two UNIX paths).
#define SHD_PROXY_V2_KEEP (16 + 216)

typedef struct shd_proxy_header {
    int version;            // 1 or 2
    /// No client address: a v2 LOCAL command (a balancer's health check), a
    /// v1 UNKNOWN, or a family other than TCP over IPv4 or IPv6. The
    /// connection's own addresses stand.
    int local;
    int family;             // 4 or 6 (when not local)
    uint8_t source[16];     // network order; the first 4 bytes for IPv4
    uint8_t destination[16];
    uint16_t source_port;
    uint16_t destination_port;
} shd_proxy_header_t;

typedef struct shd_proxy_parser {
    uint8_t kept[SHD_PROXY_V2_KEEP];
    uint32_t have;          // bytes in `kept`
    uint32_t skip;          // version 2: bytes of TLVs still to pass over
    uint32_t version;       // 0 until the first bytes tell
} shd_proxy_parser_t;

/// Starts a parser (or zero it).
void shd_proxy_init(shd_proxy_parser_t *parser);

/// Feeds the next `len` bytes. On SHD_PROXY_DONE, `*out` holds the header
/// and `*used` the bytes of this call it took (the rest follow the
/// header); on SHD_PROXY_MORE all were taken.
int shd_proxy_parse(shd_proxy_parser_t *parser, const uint8_t *data, size_t len, size_t *used,
                    shd_proxy_header_t *out);

/// One entry of a trust list: an address and how many of its leading bits
/// must match (32 or 128: the one address).
typedef struct shd_cidr {
    uint8_t family;         // 4 or 6
    uint8_t bits;
    uint8_t address[16];
} shd_cidr_t;

/// Reads "10.0.0.0/8", "127.0.0.1", "2001:db8::/32" or "::1". Returns 0, or
/// -1 if it is none of those.
int shd_cidr_parse(const char *text, shd_cidr_t *out);

/// PROXY headers on this loop's connections: read from the peers in
/// `trusted` (copied), each within `timeout_ms` of the accept; with
/// `required`, every connection must come from a trusted peer with a
/// header. `count` 0 turns it off. On the loop's thread; it applies to
/// connections accepted from then on. Returns SHD_OK or SHD_ENOMEM.
int shd_loop_set_proxy(shd_loop_t *loop, const shd_cidr_t *trusted, size_t count, int required, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
