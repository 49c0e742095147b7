/* pt_tcp.c — TCP transport on libuv; see pt_tcp.h and pt_transport.h. */
#include "pt_tcp.h"

#include <stdlib.h>
#include <string.h>

/* One read buffer for all connections of the thread: libuv calls alloc_cb
 * and then read_cb for one handle at a time, and on_read consumers must not
 * keep pointers into the bytes (pt_transport.h), so a single 64 KiB buffer
 * serves every connection. A buffer per connection cost 64 KiB each —
 * bench/run.sh measured 91% of the server's heap with 1000 streams there. */
#define TCP_READ_BUF 65536
#define TCP_FREE_WRITES 8

typedef struct tcp_conn tcp_conn;

typedef struct tcp_wreq {
    uv_write_t req;
    tcp_conn *c;
    pt_transport_write_cb cb;
    void *arg;
    struct tcp_wreq *next_free;
} tcp_wreq;

struct tcp_conn {
    pt_transport t; /* first: a pt_transport * is a tcp_conn * */
    uv_tcp_t h;
    uv_shutdown_t shut;
    int reading, closing, shut_started;
    pt_transport_close_cb close_cb;
    tcp_wreq *free_writes; /* small freelist: no malloc per write in steady state */
    unsigned n_free;
    pt_tcp_connect_cb connect_cb;
    void *connect_arg;
    uv_connect_t connect_req;
};

static _Thread_local uint8_t g_rbuf[TCP_READ_BUF];

static const pt_transport_ops tcp_ops;

static tcp_conn *conn_of(pt_transport *t) { return (tcp_conn *)t; }

static tcp_conn *conn_new(uv_loop_t *loop)
{
    tcp_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->t.ops = &tcp_ops;
    c->t.loop = loop;
    if (uv_tcp_init(loop, &c->h) != 0) {
        free(c);
        return NULL;
    }
    c->h.data = c;
    return c;
}

static void conn_free(tcp_conn *c)
{
    while (c->free_writes) {
        tcp_wreq *w = c->free_writes;
        c->free_writes = w->next_free;
        free(w);
    }
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    tcp_conn *c = h->data;
    if (c->close_cb) {
        c->close_cb(&c->t);
    }
    conn_free(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    (void)h;
    *buf = uv_buf_init((char *)g_rbuf, sizeof(g_rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    tcp_conn *c = s->data;
    if (nread > 0) {
        if (c->t.on_read) {
            c->t.on_read(&c->t, g_rbuf, (size_t)nread);
        }
        return;
    }
    if (nread == 0) {
        return; /* EAGAIN: nothing this time */
    }
    uv_read_stop(s);
    c->reading = 0;
    if (c->t.on_eof) {
        c->t.on_eof(&c->t, nread == UV_EOF ? 0 : (int)nread);
    }
}

static int tcp_read_start(pt_transport *t)
{
    tcp_conn *c = conn_of(t);
    if (c->closing) {
        return UV_EINVAL;
    }
    if (c->reading) {
        return 0;
    }
    int rc = uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb);
    if (rc == 0) {
        c->reading = 1;
    }
    return rc;
}

static int tcp_read_stop(pt_transport *t)
{
    tcp_conn *c = conn_of(t);
    c->reading = 0;
    return uv_read_stop((uv_stream_t *)&c->h);
}

static void write_done(uv_write_t *req, int status)
{
    tcp_wreq *w = (tcp_wreq *)req;
    tcp_conn *c = w->c;
    pt_transport_write_cb cb = w->cb;
    void *arg = w->arg;
    if (c->n_free < TCP_FREE_WRITES) {
        w->next_free = c->free_writes;
        c->free_writes = w;
        c->n_free++;
    } else {
        free(w);
    }
    if (cb) {
        cb(&c->t, status, arg);
    }
}

static int tcp_write(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs,
                     pt_transport_write_cb cb, void *arg)
{
    tcp_conn *c = conn_of(t);
    if (c->closing || c->shut_started) {
        return UV_EPIPE;
    }
    tcp_wreq *w = c->free_writes;
    if (w) {
        c->free_writes = w->next_free;
        c->n_free--;
    } else if (!(w = malloc(sizeof(*w)))) {
        return UV_ENOMEM;
    }
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    /* uv_write writes at once when nothing is queued (one writev for all
     * bufs) and queues only what the kernel did not take. */
    int rc = uv_write(&w->req, (uv_stream_t *)&c->h, bufs, nbufs, write_done);
    if (rc != 0) {
        free(w);
    }
    return rc;
}

static void shutdown_done(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static int tcp_shutdown(pt_transport *t)
{
    tcp_conn *c = conn_of(t);
    if (c->closing) {
        return UV_EINVAL;
    }
    if (c->shut_started) {
        return 0;
    }
    int rc = uv_shutdown(&c->shut, (uv_stream_t *)&c->h, shutdown_done);
    if (rc == 0) {
        c->shut_started = 1;
    }
    return rc;
}

static void tcp_close(pt_transport *t, pt_transport_close_cb cb)
{
    tcp_conn *c = conn_of(t);
    if (c->closing) {
        return;
    }
    c->closing = 1;
    c->close_cb = cb;
    c->t.on_read = NULL;
    c->t.on_eof = NULL;
    uv_close((uv_handle_t *)&c->h, on_handle_closed);
}

static size_t tcp_write_queue_size(const pt_transport *t)
{
    const tcp_conn *c = (const tcp_conn *)t;
    return c->h.write_queue_size;
}

static const pt_transport_ops tcp_ops = {
    .name = "tcp",
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .write = tcp_write,
    .shutdown = tcp_shutdown,
    .close = tcp_close,
    .write_queue_size = tcp_write_queue_size,
};

uv_tcp_t *pt_tcp_handle(pt_transport *t)
{
    return t && t->ops == &tcp_ops ? &conn_of(t)->h : NULL;
}

/* ---- connect -------------------------------------------------------------- */

static void on_failed_connect_closed(uv_handle_t *h) { conn_free(h->data); }

static void connect_done(uv_connect_t *req, int status)
{
    tcp_conn *c = req->data;
    if (status == 0 && c->closing) {
        status = UV_ECANCELED; /* cancelled just as it connected */
    }
    if (status != 0) {
        c->connect_cb(NULL, status, c->connect_arg);
        if (!c->closing) {
            c->closing = 1;
            uv_close((uv_handle_t *)&c->h, on_failed_connect_closed);
        }
        return;
    }
    /* Frames are small and latency matters; the session batches writes
     * itself, so Nagle only adds delay. */
    uv_tcp_nodelay(&c->h, 1);
    c->connect_cb(&c->t, 0, c->connect_arg);
}

int pt_tcp_connect(uv_loop_t *loop, const struct sockaddr *addr, pt_tcp_connect_cb cb, void *arg)
{
    return pt_tcp_connect_ex(loop, addr, cb, arg, NULL);
}

void pt_tcp_connect_cancel(pt_tcp_connecting *cc)
{
    tcp_conn *c = (tcp_conn *)cc;
    if (!c->closing) {
        /* uv_close on a connecting handle makes libuv call connect_done with
         * UV_ECANCELED first, then the close callback frees the memory. */
        c->closing = 1;
        uv_close((uv_handle_t *)&c->h, on_failed_connect_closed);
    }
}

int pt_tcp_connect_ex(uv_loop_t *loop, const struct sockaddr *addr, pt_tcp_connect_cb cb,
                      void *arg, pt_tcp_connecting **out)
{
    tcp_conn *c = conn_new(loop);
    if (!c) {
        return UV_ENOMEM;
    }
    c->connect_cb = cb;
    c->connect_arg = arg;
    c->connect_req.data = c;
    int rc = uv_tcp_connect(&c->connect_req, &c->h, addr, connect_done);
    if (rc != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->h, on_failed_connect_closed);
        return rc;
    }
    if (out) {
        *out = (pt_tcp_connecting *)c;
    }
    return 0;
}

/* ---- listen --------------------------------------------------------------- */

struct pt_tcp_listener {
    uv_tcp_t h;
    pt_tcp_accept_cb cb;
    void *arg;
};

static void on_connection(uv_stream_t *server, int status)
{
    pt_tcp_listener *l = server->data;
    if (status != 0) {
        return; /* e.g. EMFILE: nothing accepted; libuv retries later */
    }
    tcp_conn *c = conn_new(server->loop);
    if (!c) {
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->h) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->h, on_failed_connect_closed);
        return;
    }
    uv_tcp_nodelay(&c->h, 1);
    l->cb(l, &c->t, l->arg);
}

int pt_tcp_listen(uv_loop_t *loop, const struct sockaddr *addr, int backlog, pt_tcp_accept_cb cb,
                  void *arg, pt_tcp_listener **out)
{
    pt_tcp_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        return UV_ENOMEM;
    }
    l->cb = cb;
    l->arg = arg;
    int rc = uv_tcp_init(loop, &l->h);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->h.data = l;
    /* IPv6 listeners are IPv6-only (nginx's ipv6only=on): "[::]:443" next
     * to "0.0.0.0:443" must not collide, and each says what it means. */
    rc = uv_tcp_bind(&l->h, addr, addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->h, backlog, on_connection);
    }
    if (rc != 0) {
        pt_tcp_listener_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

int pt_tcp_listener_port(const pt_tcp_listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&l->h, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void on_listener_closed(uv_handle_t *h) { free(h->data); }

void pt_tcp_listener_close(pt_tcp_listener *l)
{
    if (l) {
        uv_close((uv_handle_t *)&l->h, on_listener_closed);
    }
}
