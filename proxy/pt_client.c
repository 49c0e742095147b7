/* pt_client.c — the client daemon; see pt_client.h. */
#include "pt_client.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_http_proxy.h"
#include "pt_link.h"
#include "pt_log.h"
#include "pt_socks5.h"
#include "pt_splice.h"
#include "pt_tcp.h"

enum { KIND_SOCKS = 1, KIND_HTTP = 2 };

typedef enum lc_state {
    LC_NEGOTIATE, /* reading the SOCKS5 / HTTP request */
    LC_WAITING,   /* request complete, no tunnel yet */
    LC_OPENING,   /* STREAM_OPEN sent, waiting for the outcome */
    LC_SPLICED,   /* relaying: the splice owns the transport */
    LC_DONE,      /* failed or finished; waiting for both sides to let go */
} lc_state;

typedef struct lconn lconn;
typedef struct tunnel tunnel;

struct lconn {
    pt_client *c;
    int kind;
    lc_state state;
    pt_transport *t;
    int t_done;      /* transport closed, or handed to the splice */
    int s_done;      /* no stream, or on_stream_closed seen */
    tunnel *tun;
    uint32_t sid;
    pt_splice *splice;
    pt_socks5 socks;
    pt_http_proxy http;
    uint8_t *http_buf;
    uint8_t *early; /* bytes after the request: the stream's first bytes */
    size_t early_len;
    uint64_t wait_since;
    lconn *wprev, *wnext; /* waiting list */
    lconn *prev, *next;   /* all connections */
};

struct tunnel {
    pt_client *c;
    pt_link *link;
    int up, draining;
    uint64_t up_since;
    tunnel *next;
};

struct pt_client {
    uv_loop_t *loop;
    pt_client_config cfg;
    pt_tls_client_ctx *tls;
    pt_tcp_listener *socks_l, *http_l;
    tunnel *tunnels;      /* current first; draining ones after it */
    tunnel *current;      /* the one new streams go to, when up */
    int connecting;       /* a tunnel attempt is under way */
    uv_timer_t retry;     /* reconnect backoff */
    uv_timer_t sweep;     /* waiting-list timeouts */
    uint64_t backoff_ms;
    uv_getaddrinfo_t gai;
    lconn *waiting_head, *waiting_tail;
    size_t n_waiting;
    lconn *all;
    int stopping;
};

static void lconn_maybe_free(lconn *lc);
static void dispatch_waiting(pt_client *c);
static void tunnel_connect(pt_client *c);
static void maybe_finish_stop(pt_client *c);
static void schedule_retry(pt_client *c);
static void lconn_splice(lconn *lc, pt_session *s, uint32_t sid, const pt_addr *bound);

/* ---- small write helper ------------------------------------------------------ */

typedef struct wchunk {
    int close_after;
    size_t len;
    uint8_t data[];
} wchunk;

static void on_t_closed(pt_transport *t)
{
    lconn *lc = t->data;
    lc->t_done = 1;
    lc->t = NULL;
    lconn_maybe_free(lc);
}

static void lconn_close_t(lconn *lc)
{
    if (lc->t && !lc->t_done && lc->state != LC_SPLICED) {
        pt_transport *t = lc->t;
        t->on_read = NULL;
        t->on_eof = NULL;
        lc->t = NULL;
        t->data = lc;
        pt_transport_close(t, on_t_closed);
    }
}

static void on_reply_written(pt_transport *t, int status, void *arg)
{
    wchunk *w = arg;
    if (w->close_after && t->data) {
        lconn_close_t(t->data);
    }
    free(w);
    (void)status;
}

/* Write |len| bytes to the local connection (copied); close it afterwards
 * if |close_after|. */
static void lconn_write(lconn *lc, const uint8_t *p, size_t len, int close_after)
{
    if (!lc->t) {
        return;
    }
    wchunk *w = malloc(sizeof(*w) + len);
    if (!w) {
        lconn_close_t(lc);
        return;
    }
    w->close_after = close_after;
    w->len = len;
    memcpy(w->data, p, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (pt_transport_write(lc->t, &b, 1, on_reply_written, w) != 0) {
        free(w);
        lconn_close_t(lc);
    }
}

/* ---- connection lifetime --------------------------------------------------------- */

static void waiting_remove(pt_client *c, lconn *lc)
{
    if (lc->state != LC_WAITING) {
        return;
    }
    if (lc->wprev) {
        lc->wprev->wnext = lc->wnext;
    } else {
        c->waiting_head = lc->wnext;
    }
    if (lc->wnext) {
        lc->wnext->wprev = lc->wprev;
    } else {
        c->waiting_tail = lc->wprev;
    }
    lc->wprev = lc->wnext = NULL;
    c->n_waiting--;
}

static void lconn_maybe_free(lconn *lc)
{
    if (!lc->t_done || !lc->s_done) {
        return;
    }
    pt_client *c = lc->c;
    waiting_remove(c, lc);
    if (lc->prev) {
        lc->prev->next = lc->next;
    } else {
        c->all = lc->next;
    }
    if (lc->next) {
        lc->next->prev = lc->prev;
    }
    if (lc->kind == KIND_SOCKS) {
        pt_socks5_cleanup(&lc->socks);
    } else if (lc->http_buf) {
        pt_http_proxy_cleanup(&lc->http);
        free(lc->http_buf);
    }
    free(lc->early);
    free(lc);
}

static const pt_addr *lconn_target(lconn *lc)
{
    return lc->kind == KIND_SOCKS ? pt_socks5_target(&lc->socks) : pt_http_proxy_target(&lc->http);
}

/* The request failed before (or instead of) a stream: answer and close. */
static void lconn_fail(lconn *lc, uint32_t wire_code)
{
    uint8_t out[PT_HTTP_PROXY_RESPONSE_MAX];
    size_t n = 0;
    pt_client *c = lc->c;
    waiting_remove(c, lc);
    lc->state = LC_DONE;
    if (lc->kind == KIND_SOCKS) {
        if (pt_socks5_reply_failure(&lc->socks, out, sizeof(out), &n, wire_code) != PT_ERR_OK) {
            n = 0;
        }
    } else {
        if (pt_http_proxy_error_encode(out, sizeof(out), &n, wire_code, lconn_target(lc)) !=
            PT_ERR_OK) {
            n = 0;
        }
    }
    if (n) {
        lconn_write(lc, out, n, 1);
    } else {
        lconn_close_t(lc);
    }
}

/* ---- streams ---------------------------------------------------------------------- */

static int open_stream(lconn *lc, tunnel *tun)
{
    pt_session *s = pt_link_session(tun->link);
    if (!s) {
        return PT_ERR_STATE;
    }
    uint32_t sid;
    int rc = pt_session_stream_open(s, lconn_target(lc), lc, &sid);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    lc->tun = tun;
    lc->sid = sid;
    lc->s_done = 0;
    lc->state = LC_OPENING;
    if (PT_LOG_ENABLED(PT_LOG_DEBUG)) {
        char a[300];
        pt_addr_format(lconn_target(lc), a, sizeof(a));
        pt_log_debug("stream %u -> %s", sid, a);
    }
    if (lc->c->cfg.optimistic) {
        /* Answer now and send the first bytes with the STREAM_OPEN
         * (optimistic data, PROTOCOL.md §7.2): the browser saves the
         * round trip to the server; a failed connect arrives as a reset. */
        lconn_splice(lc, s, sid, NULL);
    }
    return PT_ERR_OK;
}

/* A complete request: open its stream now, or wait for the tunnel. */
static void request_ready(lconn *lc)
{
    pt_client *c = lc->c;
    pt_transport_read_stop(lc->t); /* nothing more until the stream is up */
    if (c->current && c->current->up && !c->current->draining) {
        int rc = open_stream(lc, c->current);
        if (rc == PT_ERR_OK) {
            pt_link_flush(c->current->link);
            return;
        }
        if (rc != PT_ERR_STREAM_LIMIT && rc != PT_ERR_STATE) {
            lconn_fail(lc, PT_WIRE_INTERNAL_ERROR);
            return;
        }
    }
    if (c->n_waiting >= c->cfg.max_waiting) {
        lconn_fail(lc, PT_WIRE_REFUSED_STREAM);
        return;
    }
    lc->state = LC_WAITING;
    lc->wait_since = uv_now(c->loop);
    lc->wprev = c->waiting_tail;
    lc->wnext = NULL;
    if (c->waiting_tail) {
        c->waiting_tail->wnext = lc;
    } else {
        c->waiting_head = lc;
    }
    c->waiting_tail = lc;
    c->n_waiting++;
    if (!c->connecting && !(c->current && c->current->up)) {
        tunnel_connect(c); /* no tunnel and none coming: try now */
    }
}

static void dispatch_waiting(pt_client *c)
{
    tunnel *tun = c->current;
    int opened = 0;
    while (c->waiting_head && tun && tun->up && !tun->draining) {
        lconn *lc = c->waiting_head;
        waiting_remove(c, lc);
        lc->state = LC_NEGOTIATE; /* not waiting any more */
        int rc = open_stream(lc, tun);
        if (rc == PT_ERR_STREAM_LIMIT) {
            /* Put it back at the head: a stream will close eventually. */
            lc->state = LC_WAITING;
            lc->wnext = c->waiting_head;
            lc->wprev = NULL;
            if (c->waiting_head) {
                c->waiting_head->wprev = lc;
            } else {
                c->waiting_tail = lc;
            }
            c->waiting_head = lc;
            c->n_waiting++;
            break;
        }
        if (rc != PT_ERR_OK) {
            lconn_fail(lc, PT_WIRE_INTERNAL_ERROR);
            continue;
        }
        opened = 1;
    }
    if (opened) {
        pt_link_flush(tun->link);
    }
}

static void on_sweep(uv_timer_t *h)
{
    pt_client *c = h->data;
    uint64_t now = uv_now(c->loop);
    while (c->waiting_head && now - c->waiting_head->wait_since >= c->cfg.wait_timeout_ms) {
        pt_log_info("no tunnel for %llu ms: failing a waiting connection",
                    (unsigned long long)c->cfg.wait_timeout_ms);
        lconn_fail(c->waiting_head, PT_WIRE_INTERNAL_ERROR);
    }
}

/* Session callbacks: every stream's user pointer is its lconn. */

/* Answer the local request with success (|bound|: the server's address
 * for the target; NULL when not known yet) and relay from now on: the
 * splice owns the transport. */
static void lconn_splice(lconn *lc, pt_session *s, uint32_t sid, const pt_addr *bound)
{
    uint8_t out[PT_SOCKS5_REPLY_MAX];
    size_t n = 0;
    if (lc->kind == KIND_SOCKS) {
        if (pt_socks5_reply_success(&lc->socks, out, sizeof(out), &n, bound) != PT_ERR_OK) {
            pt_socks5_reply_success(&lc->socks, out, sizeof(out), &n, NULL);
        }
        lconn_write(lc, out, n, 0);
    } else if (pt_http_proxy_kind_of(&lc->http) == PT_HTTP_PROXY_CONNECT) {
        uint8_t est[64];
        if (pt_http_proxy_established_encode(est, sizeof(est), &n) == PT_ERR_OK) {
            lconn_write(lc, est, n, 0);
        }
    }
    /* Relay from now on: the splice owns the transport. */
    pt_transport *t = lc->t;
    if (pt_splice_new(&lc->splice, lc->tun->link, sid, t, lc->early, lc->early_len) !=
        PT_ERR_OK) {
        pt_session_stream_reset(s, sid, PT_WIRE_INTERNAL_ERROR);
        lconn_close_t(lc);
        return;
    }
    free(lc->early);
    lc->early = NULL;
    lc->early_len = 0;
    lc->state = LC_SPLICED;
    lc->t = NULL;
    lc->t_done = 1; /* the splice closes it */
}

static void cb_opened(pt_session *s, void *user, uint32_t sid, void *su, const pt_addr *bound)
{
    (void)user;
    lconn *lc = su;
    if (lc->state == LC_SPLICED) {
        return; /* optimistic: answered and relaying already */
    }
    if (!lc->t) {
        pt_session_stream_reset(s, sid, PT_WIRE_CANCEL); /* the local side left */
        return;
    }
    lconn_splice(lc, s, sid, bound);
}

static void cb_failed(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    (void)s;
    (void)user;
    lconn *lc = su;
    pt_log_debug("stream %u failed: %s", sid, pt_wire_err_name(code));
    if (lc->splice) {
        /* Optimistic: success was already answered; all that is left to
         * say is a reset (the splice closes the local connection). */
        pt_splice_on_reset(lc->splice, code);
    } else if (lc->t) {
        lconn_fail(lc, code);
    }
}

static void cb_data(pt_session *s, void *user, uint32_t sid, void *su, const uint8_t *p, size_t n)
{
    (void)user;
    lconn *lc = su;
    if (lc->splice) {
        pt_splice_on_data(lc->splice, p, n);
    } else {
        pt_session_stream_consumed(s, sid, n); /* nobody to give it to */
    }
}

static void cb_fin(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    lconn *lc = su;
    if (lc->splice) {
        pt_splice_on_fin(lc->splice);
    }
}

static void cb_reset(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    (void)s;
    (void)user;
    (void)sid;
    lconn *lc = su;
    if (lc->splice) {
        pt_splice_on_reset(lc->splice, code);
    } else if (lc->t) {
        lconn_fail(lc, code);
    }
}

static void cb_writable(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    lconn *lc = su;
    if (lc->splice) {
        pt_splice_on_writable(lc->splice);
    }
}

static void cb_closed(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    lconn *lc = su;
    if (lc->splice) {
        pt_splice_on_closed(lc->splice);
        lc->splice = NULL;
    }
    lc->s_done = 1;
    lc->tun = NULL;
    if (lc->state != LC_SPLICED) {
        lconn_close_t(lc);
    }
    lconn_maybe_free(lc);
}

static void cb_goaway(pt_session *s, void *user, uint32_t last, uint32_t code)
{
    (void)s;
    (void)last;
    pt_client *c = user;
    pt_log_info("server sent GOAWAY (%s): opening a new tunnel for new connections",
                pt_wire_err_name(code));
    uint64_t up_for = UINT64_MAX;
    if (c->current) {
        up_for = uv_now(c->loop) - c->current->up_since;
        c->current->draining = 1;
        c->current = NULL;
    }
    if (!c->stopping && !c->connecting) {
        /* A server that is shutting down (or full) says GOAWAY at once to
         * every new session: reconnecting at once would spin. Only a tunnel
         * that served for a while is replaced immediately. */
        if (up_for < 5000) {
            schedule_retry(c);
        } else {
            tunnel_connect(c);
        }
    }
}

/* ---- tunnels ------------------------------------------------------------------------ */

static void on_retry(uv_timer_t *h) { tunnel_connect(h->data); }

static void schedule_retry(pt_client *c)
{
    if (c->stopping) {
        /* A tunnel attempt that failed after stop: nothing retries; see
         * whether that was the last thing keeping us up. */
        maybe_finish_stop(c);
        return;
    }
    /* Exponential backoff with +-25% jitter: many clients losing one server
     * do not all come back in the same second. */
    uint64_t base = c->backoff_ms;
    uint64_t jitter = base / 2 ? randombytes_uniform((uint32_t)(base / 2 > 0xffffffffu ? 0xffffffffu : base / 2)) : 0;
    uint64_t delay = base - base / 4 + jitter;
    c->backoff_ms = base * 2 > c->cfg.reconnect_max_ms ? c->cfg.reconnect_max_ms : base * 2;
    pt_log_info("tunnel down; reconnecting in %.1f s", (double)delay / 1000.0);
    uv_timer_start(&c->retry, on_retry, delay, 0);
}

static void tunnel_unlink(pt_client *c, tunnel *tun)
{
    for (tunnel **pp = &c->tunnels; *pp; pp = &(*pp)->next) {
        if (*pp == tun) {
            *pp = tun->next;
            break;
        }
    }
    if (c->current == tun) {
        c->current = NULL;
    }
    free(tun);
}

static void on_link_up(pt_link *l, void *user)
{
    (void)l;
    pt_client *c = user;
    tunnel *tun = c->tunnels; /* the newest is first */
    while (tun && tun->link != l) {
        tun = tun->next;
    }
    if (!tun) {
        return;
    }
    c->connecting = 0;
    if (c->stopping) {
        pt_link_goaway(l); /* came up after stop: drain it at once */
        return;
    }
    tun->up = 1;
    tun->up_since = uv_now(c->loop);
    c->current = tun;
    c->backoff_ms = c->cfg.reconnect_min_ms;
    pt_log_info("tunnel up");
    dispatch_waiting(c);
}

static void on_link_down(pt_link *l, void *user, int err)
{
    pt_client *c = user;
    tunnel *tun = c->tunnels;
    while (tun && tun->link != l) {
        tun = tun->next;
    }
    if (!tun) {
        return;
    }
    int was_current = c->current == tun || !tun->up;
    if (!tun->up) {
        c->connecting = 0;
        /* The server answers an unknown key exactly like a web server (that
         * is the point), so "not accepted" is all we can know here. */
        pt_log_warn("tunnel handshake failed (%s): the server did not accept this client's key, "
                    "or it is not the Phantom server whose PublicKey is configured",
                    pt_strerror(err));
    } else if (err != PT_ERR_OK) {
        pt_log_warn("tunnel lost: %s", pt_strerror(err));
    }
    tunnel_unlink(c, tun);
    if (c->stopping) {
        maybe_finish_stop(c);
        return;
    }
    if (was_current && !c->connecting) {
        schedule_retry(c);
    }
}

static const pt_link_callbacks link_cb = {on_link_up, on_link_down, NULL};

static void start_link(pt_client *c, pt_transport *t)
{
    tunnel *tun = calloc(1, sizeof(*tun));
    if (!tun) {
        pt_transport_close(t, NULL);
        c->connecting = 0;
        schedule_retry(c);
        return;
    }
    tun->c = c;
    pt_link_config lc;
    pt_link_config_default(&lc);
    lc.transport_id = c->cfg.plain_tcp ? PT_TRANSPORT_TCP : PT_TRANSPORT_TLS;
    if (!c->cfg.plain_tcp) {
        /* PROTOCOL.md §5.3: with ALPN h2 the server's HTTP/2 preface comes
         * before message 2. */
        const uint8_t *alpn;
        size_t alen = pt_tls_alpn(t, &alpn);
        lc.h2_preface = alen == 2 && memcmp(alpn, "h2", 2) == 0;
    }
    memcpy(lc.local_priv, c->cfg.client_priv, 32);
    memcpy(lc.server_pub, c->cfg.server_pub, 32);
    lc.session.pad = c->cfg.pad;
    lc.session.cover_interval_ms = c->cfg.cover_interval_ms;
    lc.jitter_max_ms = c->cfg.jitter_ms;
    lc.handshake_timeout_ms = c->cfg.handshake_timeout_ms;
    lc.session_cb = (pt_session_callbacks){
        .on_stream_opened = cb_opened,
        .on_stream_failed = cb_failed,
        .on_stream_data = cb_data,
        .on_stream_fin = cb_fin,
        .on_stream_reset = cb_reset,
        .on_stream_writable = cb_writable,
        .on_stream_closed = cb_closed,
        .on_goaway = cb_goaway,
    };
    tun->next = c->tunnels;
    c->tunnels = tun;
    int rc = pt_link_client_new(&tun->link, c->loop, t, &lc, &link_cb, c);
    sodium_memzero(lc.local_priv, sizeof(lc.local_priv));
    if (rc != PT_ERR_OK) {
        c->tunnels = tun->next;
        free(tun);
        pt_transport_close(t, NULL);
        c->connecting = 0;
        schedule_retry(c);
    }
}

static void on_tls_done(pt_transport *t, int status, void *arg)
{
    pt_client *c = arg;
    if (c->stopping) {
        t->on_read = NULL;
        t->on_eof = NULL;
        pt_transport_close(t, NULL);
        c->connecting = 0;
        maybe_finish_stop(c);
        return;
    }
    if (status != 0) {
        /* pt_tls reports the failure on on_eof too; we own t: close it. */
        pt_log_warn("TLS handshake with %s failed: %s", c->cfg.endpoint_host,
                    pt_tls_error_string(t));
        t->on_read = NULL;
        t->on_eof = NULL;
        pt_transport_close(t, NULL);
        c->connecting = 0;
        schedule_retry(c);
        return;
    }
    start_link(c, t);
}

static void tls_pre_eof(pt_transport *t, int err)
{
    (void)t;
    (void)err; /* the handshake callback handles failures */
}

static void on_tcp_connected(pt_transport *t, int status, void *arg)
{
    pt_client *c = arg;
    if (c->stopping && status == 0) {
        pt_transport_close(t, NULL); /* stopped while connecting */
        c->connecting = 0;
        maybe_finish_stop(c);
        return;
    }
    if (status != 0) {
        pt_log_warn("cannot connect to %s:%u: %s", c->cfg.endpoint_host, c->cfg.endpoint_port,
                    uv_strerror(status));
        c->connecting = 0;
        schedule_retry(c);
        return;
    }
    if (c->cfg.plain_tcp) {
        start_link(c, t);
        return;
    }
    pt_transport *tls;
    const char *sni = c->cfg.server_name[0] ? c->cfg.server_name : NULL;
    if (pt_tls_client_new(&tls, c->tls, t, sni, on_tls_done, c) != 0) {
        pt_transport_close(t, NULL);
        c->connecting = 0;
        schedule_retry(c);
        return;
    }
    tls->data = c;
    tls->on_eof = tls_pre_eof;
    pt_transport_read_start(tls);
}

static void on_endpoint_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pt_client *c = req->data;
    if (c->stopping) {
        c->connecting = 0;
        if (res) {
            uv_freeaddrinfo(res);
        }
        maybe_finish_stop(c);
        return;
    }
    if (status != 0 || !res) {
        pt_log_warn("cannot resolve %s: %s", c->cfg.endpoint_host, uv_strerror(status));
        c->connecting = 0;
        schedule_retry(c);
        return;
    }
    struct sockaddr_storage ss;
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    if (ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_port = htons(c->cfg.endpoint_port);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(c->cfg.endpoint_port);
    }
    if (pt_tcp_connect(c->loop, (struct sockaddr *)&ss, on_tcp_connected, c) != 0) {
        c->connecting = 0;
        schedule_retry(c);
    }
}

static void tunnel_connect(pt_client *c)
{
    if (c->stopping || c->connecting) {
        return;
    }
    uv_timer_stop(&c->retry);
    c->connecting = 1;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    if (uv_getaddrinfo(c->loop, &c->gai, on_endpoint_resolved, c->cfg.endpoint_host, NULL,
                       &hints) != 0) {
        c->connecting = 0;
        schedule_retry(c);
    }
}

/* ---- local listeners ----------------------------------------------------------------- */

static void lconn_on_eof(pt_transport *t, int err)
{
    (void)err;
    lconn *lc = t->data;
    /* The local client left before its stream was relayed. */
    if (lc->state == LC_OPENING && lc->tun && !lc->s_done) {
        pt_session *s = pt_link_session(lc->tun->link);
        if (s) {
            pt_session_stream_reset(s, lc->sid, PT_WIRE_CANCEL);
            pt_link_flush(lc->tun->link);
        }
    }
    waiting_remove(lc->c, lc);
    lc->state = LC_DONE;
    lconn_close_t(lc);
}

static void lconn_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    lconn *lc = t->data;
    if (lc->state != LC_NEGOTIATE) {
        return;
    }
    size_t used = 0;
    int rc;
    if (lc->kind == KIND_SOCKS) {
        uint8_t out[PT_SOCKS5_OUT_MAX];
        size_t out_len = 0;
        rc = pt_socks5_consume(&lc->socks, out, sizeof(out), &out_len, &used, data, len);
        if (out_len) {
            lconn_write(lc, out, out_len, rc == PT_ERR_PROTO);
        } else if (rc == PT_ERR_PROTO) {
            lconn_close_t(lc);
        }
        if (rc == PT_ERR_PROTO) {
            pt_log_debug("socks5: %s", pt_socks5_fail_reason(&lc->socks));
            lc->state = LC_DONE;
            return;
        }
    } else {
        rc = pt_http_proxy_consume(&lc->http, &used, data, len);
        if (rc == PT_ERR_PROTO) {
            uint8_t out[PT_HTTP_PROXY_RESPONSE_MAX];
            size_t n = 0;
            lc->state = LC_DONE;
            if (pt_http_proxy_response_encode(out, sizeof(out), &n, pt_http_proxy_status(&lc->http),
                                              pt_http_proxy_fail_reason(&lc->http)) == PT_ERR_OK) {
                lconn_write(lc, out, n, 1);
            } else {
                lconn_close_t(lc);
            }
            return;
        }
    }
    if (rc == PT_ERR_AGAIN) {
        return;
    }
    if (rc != PT_ERR_OK) {
        lc->state = LC_DONE;
        lconn_close_t(lc);
        return;
    }
    /* The stream's first bytes: a rewritten request head (plain http://),
     * then whatever the client sent after its request. */
    size_t head_len = 0;
    uint8_t *head = NULL;
    if (lc->kind == KIND_HTTP && pt_http_proxy_kind_of(&lc->http) == PT_HTTP_PROXY_FORWARD) {
        head = malloc(PT_HTTP_PROXY_FORWARD_MAX);
        if (!head || pt_http_proxy_forward_head(&lc->http, head, PT_HTTP_PROXY_FORWARD_MAX,
                                                &head_len) != PT_ERR_OK) {
            free(head);
            lconn_fail(lc, PT_WIRE_INTERNAL_ERROR);
            return;
        }
    }
    size_t rest = len - used;
    if (head_len + rest) {
        lc->early = malloc(head_len + rest);
        if (!lc->early) {
            free(head);
            lconn_fail(lc, PT_WIRE_INTERNAL_ERROR);
            return;
        }
        if (head_len) {
            memcpy(lc->early, head, head_len);
        }
        memcpy(lc->early + head_len, data + used, rest);
        lc->early_len = head_len + rest;
    }
    free(head);
    request_ready(lc);
}

static void on_local_accept(pt_tcp_listener *l, pt_transport *t, int kind, pt_client *c)
{
    (void)l;
    lconn *lc = calloc(1, sizeof(*lc));
    if (!lc) {
        pt_transport_close(t, NULL);
        return;
    }
    lc->c = c;
    lc->kind = kind;
    lc->t = t;
    lc->s_done = 1; /* no stream yet */
    lc->state = LC_NEGOTIATE;
    int rc;
    if (kind == KIND_SOCKS) {
        rc = pt_socks5_init(&lc->socks, c->cfg.cred);
    } else {
        lc->http_buf = malloc(PT_HTTP_PROXY_HEAD_MAX);
        rc = lc->http_buf ? pt_http_proxy_init(&lc->http, c->cfg.cred, lc->http_buf,
                                               PT_HTTP_PROXY_HEAD_MAX)
                          : PT_ERR_NOMEM;
    }
    lc->next = c->all;
    if (c->all) {
        c->all->prev = lc;
    }
    c->all = lc;
    t->data = lc;
    if (rc != PT_ERR_OK) {
        lc->state = LC_DONE;
        lconn_close_t(lc);
        return;
    }
    t->on_read = lconn_on_read;
    t->on_eof = lconn_on_eof;
    pt_transport_read_start(t);
}

static void on_socks_accept(pt_tcp_listener *l, pt_transport *t, void *arg)
{
    on_local_accept(l, t, KIND_SOCKS, arg);
}

static void on_http_accept(pt_tcp_listener *l, pt_transport *t, void *arg)
{
    on_local_accept(l, t, KIND_HTTP, arg);
}

/* ---- lifetime ------------------------------------------------------------------------- */

void pt_client_config_default(pt_client_config *c)
{
    memset(c, 0, sizeof(*c));
    c->endpoint_port = 443;
    c->socks_enabled = 1;
    c->http_enabled = 1;
    uv_ip4_addr("127.0.0.1", 1080, (struct sockaddr_in *)&c->socks_addr);
    uv_ip4_addr("127.0.0.1", 8118, (struct sockaddr_in *)&c->http_addr);
    pt_pad_policy_default(&c->pad);
    c->reconnect_max_ms = 60000;
    c->reconnect_min_ms = 1000;
    c->max_waiting = 256;
    c->wait_timeout_ms = 30000;
    c->handshake_timeout_ms = 30000;
    c->tls.verify = PT_TLS_VERIFY_SYSTEM;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    }
}

int pt_client_start(pt_client **out, uv_loop_t *loop, const pt_client_config *cfg, char *err,
                    size_t err_cap)
{
    pt_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, err_cap, "out of memory");
        return PT_ERR_NOMEM;
    }
    c->loop = loop;
    c->cfg = *cfg;
    c->backoff_ms = cfg->reconnect_min_ms;
    if (!cfg->plain_tcp && pt_tls_client_ctx_new(&c->tls, &cfg->tls) != 0) {
        snprintf(err, err_cap, "cannot set up TLS (CA file or pins)");
        free(c);
        return PT_ERR_CONFIG;
    }
    char a[80];
    int rc;
    if (cfg->socks_enabled &&
        (rc = pt_tcp_listen(loop, (const struct sockaddr *)&cfg->socks_addr, 511, on_socks_accept,
                            c, &c->socks_l)) != 0) {
        addr_text(&cfg->socks_addr, a, sizeof(a));
        snprintf(err, err_cap, "cannot listen on %s (SOCKS5): %s", a, uv_strerror(rc));
        pt_tls_client_ctx_free(c->tls);
        free(c);
        return PT_ERR_IO;
    }
    if (cfg->http_enabled &&
        (rc = pt_tcp_listen(loop, (const struct sockaddr *)&cfg->http_addr, 511, on_http_accept, c,
                            &c->http_l)) != 0) {
        addr_text(&cfg->http_addr, a, sizeof(a));
        snprintf(err, err_cap, "cannot listen on %s (HTTP proxy): %s", a, uv_strerror(rc));
        pt_tcp_listener_close(c->socks_l);
        pt_tls_client_ctx_free(c->tls);
        free(c);
        return PT_ERR_IO;
    }
    uv_timer_init(loop, &c->retry);
    c->retry.data = c;
    uv_timer_init(loop, &c->sweep);
    c->sweep.data = c;
    uv_timer_start(&c->sweep, on_sweep, 1000, 1000);
    tunnel_connect(c);
    *out = c;
    return PT_ERR_OK;
}

static void on_client_timer_closed(uv_handle_t *h)
{
    pt_client *c = h->data;
    if (h == (uv_handle_t *)&c->sweep) {
        pt_tls_client_ctx_free(c->tls);
        free(c);
    }
}

static void maybe_finish_stop(pt_client *c)
{
    if (!c->stopping || c->tunnels || c->connecting || c->stopping == 2) {
        return;
    }
    c->stopping = 2;
    uv_close((uv_handle_t *)&c->retry, NULL);
    uv_close((uv_handle_t *)&c->sweep, on_client_timer_closed);
}

void pt_client_stop(pt_client *c)
{
    if (c->stopping) {
        return;
    }
    c->stopping = 1;
    if (c->socks_l) {
        pt_tcp_listener_close(c->socks_l);
        c->socks_l = NULL;
    }
    if (c->http_l) {
        pt_tcp_listener_close(c->http_l);
        c->http_l = NULL;
    }
    uv_timer_stop(&c->retry);
    while (c->waiting_head) {
        lconn_fail(c->waiting_head, PT_WIRE_INTERNAL_ERROR);
    }
    /* Connections still negotiating are closed; relayed ones end with the
     * tunnel drain. */
    for (lconn *lc = c->all; lc; lc = lc->next) {
        if (lc->state == LC_NEGOTIATE) {
            lc->state = LC_DONE;
            lconn_close_t(lc);
        }
    }
    for (tunnel *tun = c->tunnels; tun; tun = tun->next) {
        pt_link_goaway(tun->link);
    }
    maybe_finish_stop(c);
}

int pt_client_tunnel_up(const pt_client *c) { return c->current && c->current->up; }

int pt_client_socks_port(const pt_client *c)
{
    return c->socks_l ? pt_tcp_listener_port(c->socks_l) : 0;
}

int pt_client_http_port(const pt_client *c)
{
    return c->http_l ? pt_tcp_listener_port(c->http_l) : 0;
}
