/* pt_front.c — TCP -> TLS -> first record -> session or decoy; see pt_front.h. */
#include "pt_front.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "pt_err.h"
#include "pt_handshake.h"
#include "pt_tcp.h"

#define FRONT_BACKLOG 511         /* nginx's default listen backlog */
#define WRITE_CHUNK (256u * 1024) /* decoy output per write */
#define RELAY_HIGH (1u << 20)     /* stop reading the other side above */
#define LINGER_TIMEOUT_MS 5000    /* nginx lingering_timeout */
#define LINGER_TIME_MS 30000      /* nginx lingering_time */
#define CLOSE_POLL_MS 5
#define CLOSE_WAIT_MAX_MS 2000

typedef enum fc_state {
    FC_TLS,     /* TLS handshake */
    FC_FIRST,   /* waiting for the first record (pt_link) */
    FC_SESSION, /* handed to the owner */
    FC_DECOY,   /* built-in engine */
    FC_RELAY,   /* upstream relay */
    FC_CLOSING,
} fc_state;

struct pt_front {
    uv_loop_t *loop;
    pt_front_config cfg;
    pt_tls_server_ctx *tls;
    pt_tcp_listener *listeners[PT_FRONT_MAX_LISTEN];
    uint16_t ports[PT_FRONT_MAX_LISTEN]; /* each listener's bound port */
    size_t n_listeners;                  /* 0 once it stopped listening */
    struct sockaddr_storage up_addr, up2_addr;
    int has_up, has_up2;
    uint64_t equal_ns; /* cost of the costliest rejection */
    pt_front_conn *pending_head, *pending_tail;
    pt_front_conn *all; /* every connection still ours */
    pt_front_stats stats;
    int freeing;
};

struct pt_front_conn {
    pt_front *f;
    pt_front_conn *pprev, *pnext; /* pending list (accept order) */
    pt_front_conn *anext, *aprev; /* all */
    int in_pending;
    fc_state state;
    int holds;              /* timer, transport, link, upstream */
    pt_transport *t;        /* client side: TLS, or TCP after a raw fallback */
    pt_transport *tls_dead; /* the TLS object left by a raw fallback */
    int t_closing;
    pt_link *link;
    uv_timer_t timer;
    uint64_t accept_ms, hs_ms;
    uint16_t port; /* the port it arrived on (the decoy's redirects) */
    int is_h2;
    int preface_sent; /* the link wrote the HTTP/2 server preface (§5.3) */
    int plain;
    uint8_t alert[7]; /* a TLS alert we write ourselves (on_raw) */
    void *user;

    /* decoy engine */
    pt_decoy *d;
    int writing;
    uint8_t *wbuf;
    size_t wlen;
    pt_decoy_close closing_how;
    uint64_t linger_start;
    uint64_t close_wait_start;

    /* upstream relay */
    pt_transport *up;
    int up_connecting, up_eof, client_eof;
    uint8_t *early; /* upstream bytes before the decision, or client bytes before connect */
    size_t early_len;
    uint8_t *to_up; /* client bytes waiting for the connection */
    size_t to_up_len;
    int client_spoke_last; /* relay: bytes went up after the last came down */
    /* relay, preface_sent: bytes of the upstream's own HTTP/2 preface
     * matched and dropped so far; strip_done once past it */
    size_t strip_got;
    int strip_done;
    size_t up_inflight, client_inflight;
};

static uint64_t now_ms(const pt_front *f)
{
    return uv_now(f->loop);
}

static pt_decoy_time dtime(const pt_front *f)
{
    pt_decoy_time t = {uv_now(f->loop), (int64_t)time(NULL)};
    return t;
}

void pt_front_config_default(pt_front_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    pt_link_config_default(&cfg->link);
    pt_decoy_config_default(&cfg->decoy);
    cfg->max_pending = 1024;
    cfg->tls_timeout_ms = 60000;
}

void *pt_front_conn_user(const pt_front_conn *fc)
{
    return fc->user;
}
void pt_front_conn_set_user(pt_front_conn *fc, void *p)
{
    fc->user = p;
}

void pt_front_get_stats(const pt_front *f, pt_front_stats *out)
{
    *out = f->stats;
}

/* ---- lifetime ------------------------------------------------------------- */

static void pending_remove(pt_front_conn *fc)
{
    if (!fc->in_pending) {
        return;
    }
    pt_front *f = fc->f;
    if (fc->pprev) {
        fc->pprev->pnext = fc->pnext;
    } else {
        f->pending_head = fc->pnext;
    }
    if (fc->pnext) {
        fc->pnext->pprev = fc->pprev;
    } else {
        f->pending_tail = fc->pprev;
    }
    fc->pprev = fc->pnext = NULL;
    fc->in_pending = 0;
    f->stats.pending--;
}

static void release(pt_front_conn *fc)
{
    if (--fc->holds > 0) {
        return;
    }
    pt_front *f = fc->f;
    if (f) {
        pending_remove(fc);
        if (fc->aprev) {
            fc->aprev->anext = fc->anext;
        } else if (f->all == fc) {
            f->all = fc->anext;
        }
        if (fc->anext) {
            fc->anext->aprev = fc->aprev;
        }
    }
    pt_decoy_free(fc->d);
    free(fc->wbuf);
    free(fc->early);
    free(fc->to_up);
    free(fc);
}

static void on_timer_closed(uv_handle_t *h)
{
    release(h->data);
}
static void on_t_closed(pt_transport *t)
{
    release(t->data);
}
static void on_dead_tls_closed(pt_transport *t)
{
    (void)t;
}
static void on_up_closed(pt_transport *t)
{
    release(t->data);
}

static void close_upstream(pt_front_conn *fc)
{
    if (fc->up) {
        pt_transport *up = fc->up;
        fc->up = NULL;
        up->data = fc;
        up->on_read = NULL;
        up->on_eof = NULL;
        pt_transport_close(up, on_up_closed);
    }
}

/* Close everything we hold (the link, if any, closes itself). */
static void conn_close(pt_front_conn *fc)
{
    if (fc->state == FC_CLOSING) {
        return;
    }
    fc->state = FC_CLOSING;
    pending_remove(fc);
    uv_timer_stop(&fc->timer);
    if (!uv_is_closing((uv_handle_t *)&fc->timer)) {
        uv_close((uv_handle_t *)&fc->timer, on_timer_closed);
    }
    if (fc->t && !fc->t_closing) {
        fc->t_closing = 1;
        fc->t->data = fc;
        fc->t->on_read = NULL;
        fc->t->on_eof = NULL;
        pt_transport_close(fc->t, on_t_closed);
    }
    if (fc->tls_dead) {
        pt_transport_close(fc->tls_dead, on_dead_tls_closed);
        fc->tls_dead = NULL;
    }
    close_upstream(fc);
}

/* RST: SO_LINGER {1, 0} on the TCP socket, then close. */
static void conn_reset(pt_front_conn *fc)
{
    pt_transport *low = fc->t;
    if (low && pt_tls_is_tls(low)) {
        low = pt_tls_lower(low);
    }
    uv_tcp_t *h = low ? pt_tcp_handle(low) : NULL;
    uv_os_fd_t fd;
    if (h && uv_fileno((uv_handle_t *)h, &fd) == 0) {
        struct linger lg = {1, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    conn_close(fc);
}

/* ---- the built-in decoy ------------------------------------------------------ */

static void decoy_pump(pt_front_conn *fc);

static void decoy_written(pt_transport *t, int status, void *arg)
{
    pt_front_conn *fc = t->data;
    size_t n = (size_t)(uintptr_t)arg;
    fc->writing = 0;
    if (fc->state != FC_DECOY) {
        return;
    }
    if (status != 0) {
        conn_close(fc);
        return;
    }
    pt_decoy_output_done(fc->d, n, dtime(fc->f));
    decoy_pump(fc);
}

static void decoy_on_timer(uv_timer_t *h);

static void linger_read(pt_transport *t, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    pt_front_conn *fc = t->data;
    /* lingering close: discard, and wait another lingering_timeout */
    uint64_t now = now_ms(fc->f);
    uint64_t end = fc->linger_start + LINGER_TIME_MS;
    uint64_t next = now + LINGER_TIMEOUT_MS < end ? now + LINGER_TIMEOUT_MS : end;
    uv_timer_start(&fc->timer, decoy_on_timer, next > now ? next - now : 0, 0);
}

static void linger_eof(pt_transport *t, int err)
{
    (void)err;
    conn_close(t->data);
}

static void close_poll(uv_timer_t *h)
{
    pt_front_conn *fc = h->data;
    if (fc->state != FC_DECOY && fc->state != FC_RELAY) {
        return;
    }
    if (fc->closing_how == PT_DECOY_LINGER) {
        conn_close(fc); /* lingering ran out */
        return;
    }
    /* The close_notify and FIN are queued: close once they are out. */
    if (fc->t && pt_transport_write_queue_size(fc->t) > 0 &&
        now_ms(fc->f) - fc->close_wait_start < CLOSE_WAIT_MAX_MS) {
        uv_timer_start(&fc->timer, close_poll, CLOSE_POLL_MS, 0);
        return;
    }
    conn_close(fc);
}

/* The engine is done and its output is out: end the connection its way. */
static void finish(pt_front_conn *fc, pt_decoy_close how)
{
    fc->closing_how = how;
    fc->close_wait_start = now_ms(fc->f);
    uv_timer_stop(&fc->timer);
    switch (how) {
    case PT_DECOY_RESET:
        conn_reset(fc);
        return;
    case PT_DECOY_CLOSE_QUIET:
        conn_close(fc); /* TCP close: FIN, no close_notify */
        return;
    case PT_DECOY_LINGER:
        if (pt_transport_shutdown(fc->t) != 0) {
            conn_close(fc);
            return;
        }
        fc->linger_start = now_ms(fc->f);
        fc->t->on_read = linger_read;
        fc->t->on_eof = linger_eof;
        pt_transport_read_start(fc->t);
        uv_timer_start(&fc->timer, close_poll, LINGER_TIMEOUT_MS, 0);
        return;
    default:
        if (pt_transport_shutdown(fc->t) != 0) {
            conn_close(fc);
            return;
        }
        pt_transport_read_stop(fc->t);
        uv_timer_start(&fc->timer, close_poll, 0, 0);
        return;
    }
}

static void decoy_on_timer(uv_timer_t *h)
{
    pt_front_conn *fc = h->data;
    if (fc->state != FC_DECOY) {
        return;
    }
    if (fc->closing_how == PT_DECOY_LINGER) {
        conn_close(fc);
        return;
    }
    pt_decoy_on_timer(fc->d, dtime(fc->f));
    decoy_pump(fc);
}

static void decoy_pump(pt_front_conn *fc)
{
    if (fc->state != FC_DECOY || fc->closing_how != PT_DECOY_OPEN) {
        return;
    }
    pt_decoy *d = fc->d;
    const uint8_t *p;
    size_t n = pt_decoy_output(d, &p);
    if (!fc->writing && n > 0) {
        if (n > WRITE_CHUNK) {
            n = WRITE_CHUNK;
        }
        free(fc->wbuf);
        fc->wbuf = malloc(n);
        if (!fc->wbuf) {
            conn_close(fc);
            return;
        }
        memcpy(fc->wbuf, p, n);
        fc->wlen = n;
        uv_buf_t b = uv_buf_init((char *)fc->wbuf, (unsigned)n);
        if (pt_transport_write(fc->t, &b, 1, decoy_written, (void *)(uintptr_t)n) != 0) {
            conn_close(fc);
            return;
        }
        fc->writing = 1;
        return; /* the rest when this write is done */
    }
    pt_decoy_close how = pt_decoy_close_how(d);
    if (how != PT_DECOY_OPEN) {
        if (!fc->writing && n == 0) {
            finish(fc, how);
        } else {
            pt_transport_read_stop(fc->t);
        }
        return;
    }
    if (pt_decoy_wants_read(d)) {
        pt_transport_read_start(fc->t);
    } else {
        pt_transport_read_stop(fc->t);
    }
    uint64_t dl = pt_decoy_deadline(d);
    if (dl == UINT64_MAX) {
        uv_timer_stop(&fc->timer);
    } else {
        uint64_t now = now_ms(fc->f);
        uv_timer_start(&fc->timer, decoy_on_timer, dl > now ? dl - now : 0, 0);
    }
}

static void decoy_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_front_conn *fc = t->data;
    if (fc->state != FC_DECOY) {
        return;
    }
    if (pt_decoy_on_bytes(fc->d, data, len, dtime(fc->f)) == PT_ERR_NOMEM) {
        conn_close(fc);
        return;
    }
    decoy_pump(fc);
}

static void decoy_on_eof(pt_transport *t, int err)
{
    pt_front_conn *fc = t->data;
    if (fc->state != FC_DECOY) {
        return;
    }
    if (err < 0 && err != UV_EOF && err != UV_EPROTO) {
        conn_close(fc); /* reset by the peer */
        return;
    }
    pt_decoy_on_eof(fc->d, dtime(fc->f));
    decoy_pump(fc);
}

/* Start the engine on the client transport with |data| already read. */
static void start_builtin(pt_front_conn *fc, pt_decoy_proto proto, const uint8_t *data, size_t len)
{
    pt_front *f = fc->f;
    fc->state = FC_DECOY;
    f->stats.decoys++;
    uint64_t start = fc->hs_ms ? fc->hs_ms : fc->accept_ms;
    pt_decoy_config dc = f->cfg.decoy;
    dc.port = fc->port;
    dc.h2_preface_sent = proto == PT_DECOY_HTTP2 && fc->preface_sent;
    if (pt_decoy_new(&fc->d, &dc, proto, start, dtime(f)) != PT_ERR_OK) {
        conn_close(fc);
        return;
    }
    fc->t->data = fc;
    fc->t->on_read = decoy_on_read;
    fc->t->on_eof = decoy_on_eof;
    if (len > 0 && pt_decoy_on_bytes(fc->d, data, len, dtime(f)) != PT_ERR_OK) {
        conn_close(fc);
        return;
    }
    decoy_pump(fc);
}

/* ---- upstream relay ------------------------------------------------------------ */

static void relay_update_reading(pt_front_conn *fc)
{
    if (fc->state != FC_RELAY) {
        return;
    }
    if (fc->t && !fc->client_eof) {
        if (fc->up_inflight < RELAY_HIGH && !fc->up_connecting) {
            pt_transport_read_start(fc->t);
        } else {
            pt_transport_read_stop(fc->t);
        }
    }
    if (fc->up && !fc->up_eof) {
        if (fc->client_inflight < RELAY_HIGH) {
            pt_transport_read_start(fc->up);
        } else {
            pt_transport_read_stop(fc->up);
        }
    }
}

typedef struct relay_buf {
    pt_front_conn *fc;
    size_t len;
    uint8_t data[];
} relay_buf;

static void to_client_written(pt_transport *t, int status, void *arg)
{
    (void)t;
    relay_buf *b = arg;
    pt_front_conn *fc = b->fc;
    fc->client_inflight -= b->len;
    free(b);
    if (status != 0 && fc->state == FC_RELAY) {
        conn_close(fc);
        return;
    }
    relay_update_reading(fc);
}

static void to_up_written(pt_transport *t, int status, void *arg)
{
    (void)t;
    relay_buf *b = arg;
    pt_front_conn *fc = b->fc;
    fc->up_inflight -= b->len;
    free(b);
    if (status != 0 && fc->state == FC_RELAY) {
        conn_close(fc);
        return;
    }
    relay_update_reading(fc);
}

static int relay_write(pt_front_conn *fc, pt_transport *dst, const uint8_t *p, size_t n,
                       pt_transport_write_cb cb, size_t *inflight)
{
    relay_buf *b = malloc(sizeof(*b) + n);
    if (!b) {
        return -1;
    }
    b->fc = fc;
    b->len = n;
    memcpy(b->data, p, n);
    uv_buf_t ub = uv_buf_init((char *)b->data, (unsigned)n);
    if (pt_transport_write(dst, &ub, 1, cb, b) != 0) {
        free(b);
        return -1;
    }
    *inflight += n;
    return 0;
}

static int append(uint8_t **buf, size_t *len, const uint8_t *p, size_t n)
{
    if (*len + n > (4u << 20)) {
        return -1;
    }
    uint8_t *q = realloc(*buf, *len + n + 1);
    if (!q) {
        return -1;
    }
    memcpy(q + *len, p, n);
    *buf = q;
    *len += n;
    return 0;
}

static void relay_client_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_front_conn *fc = t->data;
    if (fc->state != FC_RELAY) {
        return;
    }
    fc->client_spoke_last = 1;
    if (fc->up_connecting || !fc->up) {
        if (append(&fc->to_up, &fc->to_up_len, data, len) != 0) {
            conn_close(fc);
        }
        return;
    }
    if (relay_write(fc, fc->up, data, len, to_up_written, &fc->up_inflight) != 0) {
        conn_close(fc);
        return;
    }
    relay_update_reading(fc);
}

static void relay_client_eof(pt_transport *t, int err)
{
    pt_front_conn *fc = t->data;
    if (fc->state != FC_RELAY) {
        return;
    }
    fc->client_eof = 1;
    if (err < 0 && err != UV_EPROTO) {
        conn_close(fc);
        return;
    }
    if (fc->up && !fc->up_connecting) {
        (void)pt_transport_shutdown(fc->up);
    }
}

static void relay_up_forward(pt_front_conn *fc, const uint8_t *data, size_t len)
{
    if (fc->state != FC_RELAY) {
        /* before the decision: keep it */
        if (append(&fc->early, &fc->early_len, data, len) != 0) {
            close_upstream(fc);
        }
        return;
    }
    if (relay_write(fc, fc->t, data, len, to_client_written, &fc->client_inflight) != 0) {
        conn_close(fc);
        return;
    }
    relay_update_reading(fc);
}

/* Upstream h2c after our own preface (PROTOCOL.md §5.3): nginx's first
 * bytes are the same 40-byte preface, which the client already has; drop
 * them. An upstream whose preface differs (other http2 settings) has its
 * bytes passed on unchanged, the part already matched included. Returns 0
 * with |*data|/|*len| (possibly |*tmp|, to free) what to forward, -1 on
 * NOMEM. */
static int strip_up_preface(pt_front_conn *fc, const uint8_t **data, size_t *len, uint8_t **tmp)
{
    *tmp = NULL;
    if (!fc->preface_sent || fc->strip_done) {
        return 0;
    }
    size_t want = PT_HS_H2_PREFACE_LEN - fc->strip_got;
    size_t n = *len < want ? *len : want;
    if (memcmp(*data, pt_hs_h2_preface + fc->strip_got, n) == 0) {
        fc->strip_got += n;
        fc->strip_done = fc->strip_got == PT_HS_H2_PREFACE_LEN;
        *data += n;
        *len -= n;
        return 0;
    }
    fc->strip_done = 1;
    if (fc->strip_got == 0) {
        return 0;
    }
    *tmp = malloc(fc->strip_got + *len);
    if (!*tmp) {
        return -1;
    }
    memcpy(*tmp, pt_hs_h2_preface, fc->strip_got);
    memcpy(*tmp + fc->strip_got, *data, *len);
    *data = *tmp;
    *len += fc->strip_got;
    return 0;
}

static void relay_up_read(pt_transport *up, const uint8_t *data, size_t len)
{
    pt_front_conn *fc = up->data;
    fc->client_spoke_last = 0;
    uint8_t *tmp;
    if (strip_up_preface(fc, &data, &len, &tmp) != 0) {
        if (fc->state == FC_RELAY) {
            conn_close(fc);
        } else {
            close_upstream(fc);
        }
        return;
    }
    if (len > 0) {
        relay_up_forward(fc, data, len);
    }
    free(tmp);
}

static void relay_up_eof(pt_transport *up, int err)
{
    pt_front_conn *fc = up->data;
    fc->up_eof = 1;
    if (fc->state != FC_RELAY) {
        close_upstream(fc);
        return;
    }
    if (err == UV_ECONNRESET) {
        conn_reset(fc);
        return;
    }
    /* nginx ends a connection with close_notify unless it timed out
     * reading a request (c->timedout: quiet). Over plain TCP we only see
     * the FIN: a partial request is pending if the client spoke last. */
    int recent = !fc->client_spoke_last;
    /* The engine-less close path; relayed bytes already handed to the
     * transport go out before the close_notify / FIN (quiet closes wait
     * for them in close_poll). */
    fc->state = FC_DECOY;
    if (recent) {
        finish(fc, PT_DECOY_CLOSE);
    } else {
        fc->closing_how = PT_DECOY_CLOSE_QUIET;
        fc->close_wait_start = now_ms(fc->f);
        uv_timer_start(&fc->timer, close_poll, 0, 0);
    }
}

static void relay_start(pt_front_conn *fc)
{
    fc->state = FC_RELAY;
    fc->f->stats.upstream++;
    fc->t->data = fc;
    fc->t->on_read = relay_client_read;
    fc->t->on_eof = relay_client_eof;
    if (fc->early_len) {
        if (relay_write(fc, fc->t, fc->early, fc->early_len, to_client_written,
                        &fc->client_inflight) != 0) {
            conn_close(fc);
            return;
        }
        free(fc->early);
        fc->early = NULL;
        fc->early_len = 0;
    }
    if (!fc->up_connecting && fc->up) {
        if (fc->to_up_len) {
            if (relay_write(fc, fc->up, fc->to_up, fc->to_up_len, to_up_written,
                            &fc->up_inflight) != 0) {
                conn_close(fc);
                return;
            }
            free(fc->to_up);
            fc->to_up = NULL;
            fc->to_up_len = 0;
        }
        if (fc->client_eof) {
            (void)pt_transport_shutdown(fc->up);
        }
        if (fc->up_eof) {
            relay_up_eof(fc->up, 0);
            return;
        }
    }
    relay_update_reading(fc);
}

static void up_connected(pt_transport *up, int status, void *arg)
{
    pt_front_conn *fc = arg;
    fc->up_connecting = 0;
    if (status != 0 || (fc->state != FC_FIRST && fc->state != FC_RELAY)) {
        if (up) {
            up->data = fc;
            fc->up = up;
            close_upstream(fc);
        } else {
            release(fc);
        }
        if (status != 0 && fc->state == FC_RELAY) {
            /* no upstream: the built-in engine answers instead */
            uint8_t *pend = fc->to_up;
            size_t plen = fc->to_up_len;
            fc->to_up = NULL;
            fc->to_up_len = 0;
            start_builtin(fc, fc->is_h2 ? PT_DECOY_HTTP2 : PT_DECOY_HTTP1, pend, plen);
            free(pend);
        }
        return;
    }
    fc->up = up;
    up->data = fc;
    up->on_read = relay_up_read;
    up->on_eof = relay_up_eof;
    pt_transport_read_start(up);
    if (fc->state == FC_RELAY) {
        relay_start(fc);
    }
}

/* Connect to the upstream as soon as the TLS handshake is done, so that its
 * client_header_timeout runs from the same moment as nginx's would. */
static void upstream_preconnect(pt_front_conn *fc)
{
    pt_front *f = fc->f;
    const struct sockaddr *sa = NULL;
    if (fc->is_h2 && f->has_up2) {
        sa = (const struct sockaddr *)&f->up2_addr;
    } else if (!fc->is_h2 && f->has_up) {
        sa = (const struct sockaddr *)&f->up_addr;
    }
    if (!sa) {
        return;
    }
    fc->holds++;
    fc->up_connecting = 1;
    if (pt_tcp_connect(f->loop, sa, up_connected, fc) != 0) {
        fc->up_connecting = 0;
        fc->holds--;
    }
}

/* ---- the decision ------------------------------------------------------------------- */

static pt_transport_read_cb g_link_read;
static pt_transport_eof_cb g_link_eof;
static int g_in_eof; /* the link decides because the client ended its side */
static uint64_t g_decide_start;
static const uint8_t *g_first;
static size_t g_first_len;

/* The client ended its side before its first record: the decoy must know
 * (nginx closes at once, without close_notify). */
static void first_eof(pt_transport *t, int err)
{
    g_in_eof = 1;
    g_link_eof(t, err);
    g_in_eof = 0;
}

/* Time the link's decision on the first record, and keep the record: the
 * link hands the decoy at most one message's worth of it (PT_HS_MSG_MAX+2),
 * while nginx would see the whole record (a 9 KB request line must get its
 * 414). */
static void first_read(pt_transport *t, const uint8_t *data, size_t len)
{
    g_decide_start = uv_hrtime();
    g_first = data;
    g_first_len = len;
    g_link_read(t, data, len);
    g_decide_start = 0;
    g_first = NULL;
    g_first_len = 0;
}

static void on_link_up(pt_link *l, void *user)
{
    pt_front_conn *fc = user;
    pt_front *f = fc->f;
    pending_remove(fc);
    fc->state = FC_SESSION;
    f->stats.sessions++;
    uv_timer_stop(&fc->timer);
    close_upstream(fc);
    if (f->cfg.on_session) {
        f->cfg.on_session(l, fc, f->cfg.user);
    } else {
        pt_link_close(l, PT_ERR_OK);
    }
}

static void on_link_down(pt_link *l, void *user, int err)
{
    pt_front_conn *fc = user;
    pt_front *f = fc->f;
    fc->link = NULL;
    if (fc->state == FC_SESSION) {
        if (f && f->cfg.on_session_down) {
            f->cfg.on_session_down(l, fc, f->cfg.user, err);
        }
        fc->t = NULL; /* the link closed it */
        conn_close(fc);
    } else if (fc->state == FC_FIRST) {
        fc->t = NULL; /* failed without a decoy hand-off */
        conn_close(fc);
    }
    release(fc); /* the link's hold */
}

static void on_link_decoy(pt_transport *t, const uint8_t *data, size_t len, void *user)
{
    pt_front_conn *fc = user;
    pt_front *f = fc->f;
    int eof = g_in_eof;
    if (g_first && g_first_len > len) {
        data = g_first; /* the whole first record (see first_read) */
        len = g_first_len;
    }
    fc->client_spoke_last = len > 0;
    /* Equalise: every rejection costs what the costliest one does. */
    if (g_decide_start) {
        while (uv_hrtime() - g_decide_start < f->equal_ns) {
        }
    }
    pending_remove(fc);
    fc->t = t;
    fc->holds++; /* the transport is ours again */
    t->data = fc;
    if (fc->up || fc->up_connecting) {
        if (append(&fc->to_up, &fc->to_up_len, data, len) != 0) {
            conn_close(fc);
            return;
        }
        fc->client_eof = eof;
        relay_start(fc);
        return;
    }
    start_builtin(fc, fc->is_h2 ? PT_DECOY_HTTP2 : PT_DECOY_HTTP1, data, len);
    if (eof && fc->state == FC_DECOY && fc->d) {
        pt_decoy_on_eof(fc->d, dtime(f));
        decoy_pump(fc);
    }
}

static void on_tls_timeout(uv_timer_t *h)
{
    pt_front_conn *fc = h->data;
    if (fc->state == FC_TLS) {
        conn_close(fc); /* nginx: handshake timed out, FIN */
    }
}

/* Close once what is queued (a TLS alert) is out; nginx closes right
 * after a failed handshake. */
static void tls_fail_close(pt_front_conn *fc)
{
    pending_remove(fc);
    fc->state = FC_DECOY;
    fc->closing_how = PT_DECOY_OPEN;
    fc->close_wait_start = now_ms(fc->f);
    uv_timer_stop(&fc->timer);
    uv_timer_start(&fc->timer, close_poll, 0, 0);
}

static void on_handshake(pt_transport *t, int status, void *arg)
{
    pt_front_conn *fc = arg;
    pt_front *f = fc->f;
    if (fc->state != FC_TLS) {
        return;
    }
    if (status != 0) {
        f->stats.tls_failed++;
        tls_fail_close(fc);
        return;
    }
    fc->hs_ms = now_ms(f);
    uv_timer_stop(&fc->timer);
    const uint8_t *alpn;
    size_t alen = pt_tls_alpn(t, &alpn);
    fc->is_h2 = alen == 2 && memcmp(alpn, "h2", 2) == 0;
    upstream_preconnect(fc);
    fc->state = FC_FIRST;
    /* With h2, the link sends nginx's HTTP/2 preface at once (§5.3): the
     * decoy, built-in or upstream, must then not send it a second time. */
    pt_link_config lc = f->cfg.link;
    lc.h2_preface = fc->is_h2;
    int rc = pt_link_server_new(&fc->link, f->loop, t, &lc,
                                &(pt_link_callbacks){on_link_up, on_link_down, on_link_decoy}, fc);
    sodium_memzero(lc.local_priv, sizeof(lc.local_priv));
    fc->preface_sent = rc == PT_ERR_OK && fc->is_h2;
    if (rc != PT_ERR_OK) {
        tls_fail_close(fc);
        return;
    }
    /* The link owns the transport now: its hold becomes the link's. */
    fc->t = NULL;
    g_link_read = t->on_read;
    t->on_read = first_read;
    g_link_eof = t->on_eof;
    t->on_eof = first_eof;
}

/* Not TLS at all: nginx reads it as plain HTTP (first byte not 0x16 and
 * without the SSLv2 bit) or lets OpenSSL fail on it (SSLv2 bit: FIN). */
static void on_raw(pt_transport *t, pt_transport *lower, const uint8_t *data, size_t len, void *arg)
{
    pt_front_conn *fc = arg;
    pt_front *f = fc->f;
    fc->tls_dead = t;
    fc->t = lower;
    lower->data = fc;
    fc->plain = 1;
    uv_timer_stop(&fc->timer);
    pending_remove(fc);
    f->stats.plain++;
    if (data[0] == 0x16) {
        /* What OpenSSL answers and BoringSSL would not (pt_tls.h): a
         * handshake record that is no ClientHello gets unexpected_message
         * in a TLS 1.2 record; a TLS 1.0/1.1 ClientHello gets
         * internal_error in a record of its version. Then nginx closes. */
        uint8_t *alert = fc->alert;
        memcpy(alert, "\x15\x03\x03\x00\x02\x02\x0a", 7);
        if (len >= 11 && data[5] == 0x01) {
            alert[2] = data[10];
            alert[6] = 0x50;
        }
        uv_buf_t b = uv_buf_init((char *)alert, sizeof(fc->alert));
        fc->state = FC_DECOY;
        if (pt_transport_write(lower, &b, 1, NULL, NULL) != 0) {
            conn_close(fc);
            return;
        }
        fc->closing_how = PT_DECOY_CLOSE_QUIET;
        fc->close_wait_start = now_ms(f);
        uv_timer_start(&fc->timer, close_poll, 0, 0);
        return;
    }
    if (data[0] & 0x80) {
        fc->state = FC_DECOY;
        finish(fc, PT_DECOY_CLOSE_QUIET);
        return;
    }
    start_builtin(fc, PT_DECOY_PLAIN_ON_TLS, data, len);
}

static void on_accept(pt_tcp_listener *l, pt_transport *tcp, void *arg)
{
    pt_front *f = arg;
    pt_front_conn *fc = calloc(1, sizeof(*fc));
    if (!fc) {
        pt_transport_close(tcp, NULL);
        return;
    }
    fc->f = f;
    for (size_t i = 0; i < f->n_listeners; i++) {
        if (f->listeners[i] == l) {
            fc->port = f->ports[i];
        }
    }
    fc->accept_ms = now_ms(f);
    fc->holds = 1; /* timer */
    uv_timer_init(f->loop, &fc->timer);
    fc->timer.data = fc;
    fc->anext = f->all;
    if (f->all) {
        f->all->aprev = fc;
    }
    f->all = fc;
    f->stats.accepted++;
    pt_transport *t;
    if (pt_tls_server_new(&t, f->tls, tcp, on_handshake, fc) != 0) {
        pt_transport_close(tcp, NULL);
        conn_close(fc);
        return;
    }
    fc->holds++; /* transport */
    fc->t = t;
    t->data = fc;
    fc->state = FC_TLS;
    pt_tls_server_set_raw_fallback(t, on_raw, fc);
    uv_timer_start(&fc->timer, on_tls_timeout, f->cfg.tls_timeout_ms, 0);
    /* pending list; over the cap, drain the oldest */
    fc->in_pending = 1;
    fc->pprev = f->pending_tail;
    if (f->pending_tail) {
        f->pending_tail->pnext = fc;
    } else {
        f->pending_head = fc;
    }
    f->pending_tail = fc;
    f->stats.pending++;
    while (f->stats.pending > f->cfg.max_pending && f->pending_head != fc) {
        pt_front_conn *old = f->pending_head;
        f->stats.drained++;
        pending_remove(old);
        if (old->state == FC_FIRST && old->link) {
            pt_link_close(old->link, PT_ERR_TIMEOUT);
        } else {
            conn_close(old);
        }
    }
}

/* ---- set-up -------------------------------------------------------------------------- */

static int parse_addr(const char *s, struct sockaddr_storage *out)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) {
        return -1;
    }
    size_t hl = (size_t)(colon - s);
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!end || *end != '\0' || port <= 0 || port > 65535) {
        return -1;
    }
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) {
        return 0;
    }
    return -1;
}

/* How long a well-formed message 1 from an unknown client takes to reject
 * (the costliest rejection): median of a few runs. */
static uint64_t calibrate(const pt_front_config *cfg)
{
    uint8_t spub[32], cpriv[32], msg[PT_HS_MSG_MAX + 2];
    crypto_scalarmult_base(spub, cfg->link.local_priv);
    randombytes_buf(cpriv, sizeof(cpriv));
    uint64_t t[7];
    for (int i = 0; i < 7; i++) {
        pt_hs hs;
        pt_hs_payload p;
        memset(&p, 0, sizeof(p));
        p.version = PT_PROTOCOL_VERSION;
        p.timestamp = (uint64_t)time(NULL);
        pt_hs_settings_default(&p.settings);
        size_t len = 0;
        if (pt_hs_client_create(&hs, msg, sizeof(msg), &len, cpriv, spub, cfg->link.transport_id,
                                &p, 400, NULL, NULL) != PT_ERR_OK) {
            return 0;
        }
        pt_hs_cleanup(&hs);
        uint64_t t0 = uv_hrtime();
        pt_hs srv;
        uint8_t cpub[32];
        pt_hs_payload got;
        size_t used;
        (void)pt_hs_server_read(&srv, msg, len, &used, cfg->link.local_priv, cfg->link.transport_id,
                                cpub, &got);
        int found = 0;
        for (size_t k = 0; k < cfg->link.n_authorized; k++) {
            found |= sodium_memcmp(cfg->link.authorized[k], cpub, 32) == 0;
        }
        (void)found;
        (void)pt_hs_timestamp_ok(got.timestamp, (uint64_t)time(NULL));
        pt_hs_cleanup(&srv);
        t[i] = uv_hrtime() - t0;
    }
    sodium_memzero(cpriv, sizeof(cpriv));
    for (int i = 1; i < 7; i++) {
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            uint64_t x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    }
    return t[3];
}

int pt_front_new(pt_front **out, uv_loop_t *loop, const pt_front_config *cfg, size_t *bad_listen)
{
    *out = NULL;
    size_t bad_dummy;
    if (!bad_listen) {
        bad_listen = &bad_dummy;
    }
    *bad_listen = cfg->n_listen;
    struct sockaddr_storage la[PT_FRONT_MAX_LISTEN];
    if (cfg->n_listen == 0 || cfg->n_listen > PT_FRONT_MAX_LISTEN) {
        return PT_ERR_CONFIG;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (!cfg->listen[i] || parse_addr(cfg->listen[i], &la[i]) != 0) {
            *bad_listen = i;
            return PT_ERR_CONFIG;
        }
    }
    pt_front *f = calloc(1, sizeof(*f));
    if (!f) {
        return PT_ERR_NOMEM;
    }
    f->loop = loop;
    f->cfg = *cfg;
    if (!f->cfg.max_pending) {
        f->cfg.max_pending = 1024;
    }
    if (!f->cfg.tls_timeout_ms) {
        f->cfg.tls_timeout_ms = 60000;
    }
    if (!f->cfg.decoy.server) {
        pt_decoy_config_default(&f->cfg.decoy);
    }
    if (cfg->upstream) {
        if (parse_addr(cfg->upstream, &f->up_addr) != 0) {
            free(f);
            return PT_ERR_CONFIG;
        }
        f->has_up = 1;
    }
    if (cfg->upstream_h2) {
        if (parse_addr(cfg->upstream_h2, &f->up2_addr) != 0) {
            free(f);
            return PT_ERR_CONFIG;
        }
        f->has_up2 = 1;
    }
    int rc = pt_tls_server_ctx_new(&f->tls, &cfg->tls);
    if (rc != PT_ERR_OK) {
        free(f);
        return rc;
    }
    f->equal_ns = calibrate(&f->cfg);
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (pt_tcp_listen(loop, (const struct sockaddr *)&la[i], FRONT_BACKLOG, on_accept, f,
                          &f->listeners[i]) != 0) {
            *bad_listen = i;
            pt_front_stop_listening(f);
            pt_tls_server_ctx_free(f->tls);
            free(f);
            return PT_ERR_IO;
        }
        f->n_listeners = i + 1;
        f->ports[i] = (uint16_t)pt_tcp_listener_port(f->listeners[i]);
    }
    *out = f;
    return PT_ERR_OK;
}

int pt_front_port(const pt_front *f)
{
    return f->n_listeners ? f->ports[0] : 0;
}

void pt_front_stop_listening(pt_front *f)
{
    if (!f) {
        return;
    }
    for (size_t i = 0; i < f->n_listeners; i++) {
        pt_tcp_listener_close(f->listeners[i]);
        f->listeners[i] = NULL;
    }
    f->n_listeners = 0;
}

void pt_front_free(pt_front *f)
{
    if (!f) {
        return;
    }
    pt_front_stop_listening(f);
    while (f->all) {
        pt_front_conn *fc = f->all;
        f->all = fc->anext;
        if (f->all) {
            f->all->aprev = NULL;
        }
        fc->anext = fc->aprev = NULL;
        pending_remove(fc);
        if (fc->state == FC_FIRST && fc->link) {
            pt_link_close(fc->link, PT_ERR_OK);
        } else if (fc->state != FC_SESSION) {
            conn_close(fc);
        }
        fc->f = NULL;
    }
    pt_tls_server_ctx_free(f->tls);
    free(f);
}
