// Outgoing connections: the client side of the same loop, for load
// generators and tests. Once established, a connection is read, written and
// closed exactly like an accepted one.
#include "shd_internal.h"

#include <stdlib.h>
#include <string.h>

static int parse_address(const char *host, int port, struct sockaddr_storage *out) {
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0) return 0;
    return SHD_EADDR;
}

static void on_connected(uv_connect_t *req, int status) {
    shd_conn_t *c = req->handle->data;
    shd_loop_t *loop = c->loop;
    free(req);
    if (c->state == SHD_CONN_CLOSING) return;  // closed (or shut down) meanwhile
    if (status != 0) {
        c->error = status;
        SHD_STAT_ADD(loop, connect_failed, 1);
        shd__conn_begin_close(c, SHD_CLOSED_ON_ERROR);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    SHD_STAT_ADD(loop, connected, 1);
    loop->cb.on_open(loop->ctx, c);
    shd__conn_start_reading(c);
}

shd_conn_t *shd_loop_connect(shd_loop_t *loop, const char *host, int port, const char *source, void *user, int *err) {
    struct sockaddr_storage to, from;
    int rc = parse_address(host, port, &to);
    if (rc == 0 && source != NULL) rc = parse_address(source, 0, &from);
    if (rc != 0) {
        if (err) *err = rc;
        return NULL;
    }
    shd_conn_t *c = calloc(1, sizeof(*c));
    uv_connect_t *req = malloc(sizeof(*req));
    if (c == NULL || req == NULL) {
        free(c);
        free(req);
        if (err) *err = SHD_ENOMEM;
        return NULL;
    }
    c->loop = loop;
    c->user = user;
    c->max_pending = loop->opt.max_pending;
    uv_tcp_init(&loop->uv, &c->tcp);
    c->tcp.data = c;
    if (source != NULL) rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&from, 0);
    if (rc == 0) rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&to, on_connected);
    if (rc != 0) {
        free(req);
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        if (err) *err = rc;
        return NULL;
    }
    // Linked now, so that a shutdown before the connect completes closes it
    // (and reports it through on_close) like any other connection.
    shd__conn_link(c);
    return c;
}
