/* pt_server.c — the server daemon; see pt_server.h. */
#include "pt_server.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_log.h"
#include "pt_splice.h"

typedef struct ssession ssession;

/* One incoming stream: egress under way, then relayed. */
typedef struct sstream {
    ssession *ss;
    uint32_t sid;
    pt_egress_req *egress; /* while connecting */
    pt_splice *splice;     /* once connected */
    int fin_early;         /* the client FINed before we connected */
    uint8_t *early;        /* DATA that came before we connected */
    size_t early_len;
    size_t client_idx;
} sstream;

struct ssession {
    pt_server *srv;
    pt_link *link;
    pt_front_conn *fc;
    size_t client_idx; /* index in srv->clients, SIZE_MAX if removed */
    char name[72];     /* for logs, also after the key was removed */
    ssession *prev, *next;
};

struct pt_server {
    uv_loop_t *loop;
    pt_server_config cfg;
    pt_front *front;
    /* The authorized keys as pt_link reads them: a fixed table; unused
     * slots are all-zero, a key no handshake can complete with (X25519
     * with it gives zero, which Noise rejects). */
    uint8_t (*keys)[32];
    pt_server_client *clients;
    size_t n_clients;
    uint32_t *live_streams; /* per client */
    pt_replay *replay;
    ssession *sessions;
    size_t n_sessions;
    int stopping;
};

static ssession *sess_of(void *user) { return pt_front_conn_user((pt_front_conn *)user); }

/* ---- streams ------------------------------------------------------------------ */

static void stream_release_count(sstream *st)
{
    pt_server *srv = st->ss->srv;
    if (st->client_idx < srv->n_clients && srv->live_streams[st->client_idx] > 0) {
        srv->live_streams[st->client_idx]--;
    }
    st->client_idx = SIZE_MAX;
}

static void on_egress(pt_transport *t, uint32_t code, const pt_addr *bound, void *arg)
{
    sstream *st = arg;
    st->egress = NULL;
    pt_link *l = st->ss->link;
    pt_session *s = pt_link_session(l);
    if (!s) {
        if (t) {
            pt_transport_close(t, NULL);
        }
        return;
    }
    if (!t) {
        pt_log_debug("stream %u: connect failed: %s", st->sid, pt_wire_err_name(code));
        pt_session_stream_reject(s, st->sid, code);
        pt_link_flush(l);
        return;
    }
    /* Tell the client where we connected from (SOCKS5 BND), then relay. */
    if (pt_session_stream_accept(s, st->sid, bound) != PT_ERR_OK ||
        pt_splice_new(&st->splice, l, st->sid, t, NULL, 0) != PT_ERR_OK) {
        pt_transport_close(t, NULL);
        pt_session_stream_reset(s, st->sid, PT_WIRE_INTERNAL_ERROR);
        pt_link_flush(l);
        return;
    }
    if (st->early_len) {
        pt_splice_on_data(st->splice, st->early, st->early_len);
        free(st->early);
        st->early = NULL;
        st->early_len = 0;
    }
    if (st->fin_early) {
        pt_splice_on_fin(st->splice);
    }
    pt_link_flush(l);
}

static void cb_incoming(pt_session *s, void *user, uint32_t sid, const pt_addr *target,
                        void **stream_user)
{
    ssession *ss = sess_of(user);
    pt_server *srv = ss->srv;
    if (srv->stopping) {
        pt_session_stream_reject(s, sid, PT_WIRE_REFUSED_STREAM);
        return;
    }
    size_t ci = ss->client_idx;
    if (ci >= srv->n_clients) {
        pt_session_stream_reject(s, sid, PT_WIRE_REFUSED_STREAM); /* key was removed */
        return;
    }
    if (srv->live_streams[ci] >= srv->clients[ci].max_streams) {
        /* Per-client limit across all of this key's sessions. */
        pt_session_stream_reject(s, sid, PT_WIRE_REFUSED_STREAM);
        return;
    }
    sstream *st = calloc(1, sizeof(*st));
    if (!st) {
        pt_session_stream_reject(s, sid, PT_WIRE_INTERNAL_ERROR);
        return;
    }
    st->ss = ss;
    st->sid = sid;
    st->client_idx = ci;
    srv->live_streams[ci]++;
    *stream_user = st;
    if (PT_LOG_ENABLED(PT_LOG_DEBUG)) {
        char a[300];
        pt_addr_format(target, a, sizeof(a));
        pt_log_debug("client %s stream %u -> %s", srv->clients[ci].name, sid, a);
    }
    if (pt_egress_connect(srv->loop, &srv->cfg.egress, target, on_egress, st, &st->egress) !=
        PT_ERR_OK) {
        st->egress = NULL;
        pt_session_stream_reject(s, sid, PT_WIRE_CONNECT_ERROR);
    }
}

static void cb_data(pt_session *s, void *user, uint32_t sid, void *su, const uint8_t *p, size_t n)
{
    (void)user;
    sstream *st = su;
    if (!st) {
        pt_session_stream_consumed(s, sid, n);
        return;
    }
    if (st->splice) {
        pt_splice_on_data(st->splice, p, n);
        return;
    }
    /* Optimistic data (PROTOCOL.md 7.2) before the target answered: keep it;
     * it is bounded by the stream window, whose credit we have not returned. */
    uint8_t *b = realloc(st->early, st->early_len + n);
    if (!b) {
        pt_session_stream_reset(s, sid, PT_WIRE_INTERNAL_ERROR);
        return;
    }
    memcpy(b + st->early_len, p, n);
    st->early = b;
    st->early_len += n;
}

static void cb_fin(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    sstream *st = su;
    if (!st) {
        return;
    }
    if (st->splice) {
        pt_splice_on_fin(st->splice);
    } else {
        st->fin_early = 1;
    }
}

static void cb_reset(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    (void)s;
    (void)user;
    (void)sid;
    sstream *st = su;
    if (st && st->splice) {
        pt_splice_on_reset(st->splice, code);
    }
}

static void cb_writable(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    sstream *st = su;
    if (st && st->splice) {
        pt_splice_on_writable(st->splice);
    }
}

static void cb_closed(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    sstream *st = su;
    if (!st) {
        return;
    }
    if (st->egress) {
        pt_egress_cancel(st->egress);
    }
    if (st->splice) {
        pt_splice_on_closed(st->splice);
    }
    stream_release_count(st);
    free(st->early);
    free(st);
}

/* ---- sessions ------------------------------------------------------------------ */

static size_t find_client(const pt_server *srv, const uint8_t *pub)
{
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < srv->n_clients; i++) {
        if (sodium_memcmp(srv->clients[i].pub, pub, 32) == 0) {
            found = i;
        }
    }
    return found;
}

static void on_session(pt_link *l, pt_front_conn *fc, void *user)
{
    pt_server *srv = user;
    ssession *ss = calloc(1, sizeof(*ss));
    if (!ss) {
        pt_link_close(l, PT_ERR_NOMEM);
        return;
    }
    ss->srv = srv;
    ss->link = l;
    ss->fc = fc;
    ss->client_idx = find_client(srv, pt_link_peer_key(l));
    pt_front_conn_set_user(fc, ss);
    ss->next = srv->sessions;
    if (srv->sessions) {
        srv->sessions->prev = ss;
    }
    srv->sessions = ss;
    srv->n_sessions++;
    snprintf(ss->name, sizeof(ss->name), "%s",
             ss->client_idx < srv->n_clients ? srv->clients[ss->client_idx].name : "?");
    pt_log_info("session up: client %s (%zu sessions)", ss->name, srv->n_sessions);
    if (srv->stopping || srv->n_sessions > srv->cfg.max_sessions) {
        pt_session_goaway(pt_link_session(l),
                          srv->stopping ? PT_WIRE_NO_ERROR : PT_WIRE_ENHANCE_YOUR_CALM);
        pt_link_flush(l);
    }
}

static void maybe_done(pt_server *srv);

static void on_session_down(pt_link *l, pt_front_conn *fc, void *user, int err)
{
    (void)l;
    pt_server *srv = user;
    ssession *ss = pt_front_conn_user(fc);
    if (!ss) {
        return;
    }
    if (err == PT_ERR_OK) {
        pt_log_info("session closed: client %s", ss->name);
    } else {
        pt_log_info("session ended: client %s: %s", ss->name, pt_strerror(err));
    }
    if (ss->prev) {
        ss->prev->next = ss->next;
    } else {
        srv->sessions = ss->next;
    }
    if (ss->next) {
        ss->next->prev = ss->prev;
    }
    srv->n_sessions--;
    free(ss);
    maybe_done(srv);
}

/* ---- lifetime ------------------------------------------------------------------ */

int pt_server_set_clients(pt_server *srv, const pt_server_client *clients, size_t n)
{
    if (n > PT_SERVER_MAX_CLIENTS) {
        return PT_ERR_RANGE;
    }
    /* Map each live session to its index in the new list (or SIZE_MAX). */
    uint8_t old_pub[32];
    for (ssession *ss = srv->sessions; ss; ss = ss->next) {
        if (ss->client_idx >= srv->n_clients) {
            continue;
        }
        memcpy(old_pub, srv->clients[ss->client_idx].pub, 32);
        size_t ni = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (sodium_memcmp(clients[i].pub, old_pub, 32) == 0) {
                ni = i;
            }
        }
        ss->client_idx = ni;
        if (ni == SIZE_MAX) {
            pt_log_info("client key removed: its session drains");
            pt_session *s = pt_link_session(ss->link);
            if (s) {
                pt_session_goaway(s, PT_WIRE_NO_ERROR);
                pt_link_flush(ss->link);
            }
        }
    }
    /* Live stream counts follow their keys. */
    uint32_t *counts = calloc(PT_SERVER_MAX_CLIENTS, sizeof(uint32_t));
    if (!counts) {
        return PT_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < srv->n_clients; j++) {
            if (sodium_memcmp(clients[i].pub, srv->clients[j].pub, 32) == 0) {
                counts[i] = srv->live_streams[j];
            }
        }
    }
    memcpy(srv->live_streams, counts, PT_SERVER_MAX_CLIENTS * sizeof(uint32_t));
    free(counts);
    memset(srv->keys, 0, PT_SERVER_MAX_CLIENTS * 32);
    for (size_t i = 0; i < n; i++) {
        memcpy(srv->keys[i], clients[i].pub, 32);
        srv->clients[i] = clients[i];
    }
    srv->n_clients = n;
    return PT_ERR_OK;
}

int pt_server_start(pt_server **out, uv_loop_t *loop, const pt_server_config *cfg, char *err,
                    size_t err_cap)
{
    if (cfg->n_clients > PT_SERVER_MAX_CLIENTS) {
        snprintf(err, err_cap, "too many clients (at most %d)", PT_SERVER_MAX_CLIENTS);
        return PT_ERR_CONFIG;
    }
    pt_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, err_cap, "out of memory");
        return PT_ERR_NOMEM;
    }
    srv->loop = loop;
    srv->cfg = *cfg;
    if (!srv->cfg.max_sessions) {
        srv->cfg.max_sessions = 256;
    }
    srv->keys = calloc(PT_SERVER_MAX_CLIENTS, 32);
    srv->clients = calloc(PT_SERVER_MAX_CLIENTS, sizeof(pt_server_client));
    srv->live_streams = calloc(PT_SERVER_MAX_CLIENTS, sizeof(uint32_t));
    srv->replay = pt_replay_new(1u << 16, (uint64_t)time(NULL));
    if (!srv->keys || !srv->clients || !srv->live_streams || !srv->replay) {
        snprintf(err, err_cap, "out of memory");
        goto fail;
    }
    pt_server_set_clients(srv, cfg->clients, cfg->n_clients);
    srv->cfg.clients = NULL;

    pt_front_config fcfg = cfg->front;
    fcfg.link.authorized = (const uint8_t(*)[32])srv->keys;
    fcfg.link.n_authorized = PT_SERVER_MAX_CLIENTS;
    fcfg.link.replay = srv->replay;
    fcfg.link.session_cb = (pt_session_callbacks){
        .on_stream_incoming = cb_incoming,
        .on_stream_data = cb_data,
        .on_stream_fin = cb_fin,
        .on_stream_reset = cb_reset,
        .on_stream_writable = cb_writable,
        .on_stream_closed = cb_closed,
    };
    fcfg.on_session = on_session;
    fcfg.on_session_down = on_session_down;
    fcfg.user = srv;
    size_t bad = 0;
    int rc = pt_front_new(&srv->front, loop, &fcfg, &bad);
    sodium_memzero(&fcfg.link.local_priv, sizeof(fcfg.link.local_priv));
    sodium_memzero(&srv->cfg.front.link.local_priv, sizeof(srv->cfg.front.link.local_priv));
    if (rc != PT_ERR_OK) {
        if (bad < cfg->front.n_listen) {
            snprintf(err, err_cap, "cannot listen on %s: %s", cfg->front.listen[bad],
                     rc == PT_ERR_IO ? "address in use or not available" : "bad address");
        } else {
            snprintf(err, err_cap, "cannot start: %s",
                     rc == PT_ERR_NOMEM ? "out of memory" : "bad certificate or key");
        }
        goto fail;
    }
    char where[PT_FRONT_MAX_LISTEN * 72] = "";
    for (size_t i = 0, at = 0; i < cfg->front.n_listen && at < sizeof(where); i++) {
        int n = snprintf(where + at, sizeof(where) - at, "%s%s", i ? ", " : "",
                         cfg->front.listen[i]);
        at += n > 0 ? (size_t)n : 0;
    }
    pt_log_info("listening on %s (%zu authorized clients)", where, srv->n_clients);
    *out = srv;
    return PT_ERR_OK;
fail:
    pt_replay_free(srv->replay);
    free(srv->keys);
    free(srv->clients);
    free(srv->live_streams);
    free(srv);
    return PT_ERR_CONFIG;
}

static void maybe_done(pt_server *srv)
{
    if (srv->stopping != 1 || srv->sessions) {
        return;
    }
    srv->stopping = 2;
    /* Only now: pt_front_free detaches the sessions it still tracks, after
     * which their on_session_down would never reach us. */
    pt_front_free(srv->front);
    srv->front = NULL;
    pt_replay_free(srv->replay);
    sodium_memzero(srv->keys, PT_SERVER_MAX_CLIENTS * 32);
    free(srv->keys);
    free(srv->clients);
    free(srv->live_streams);
    free(srv);
}

void pt_server_stop(pt_server *srv)
{
    if (srv->stopping) {
        return;
    }
    srv->stopping = 1;
    /* Drain: accept nothing new, GOAWAY to every session; the front itself
     * goes when the last session is down (maybe_done). */
    pt_front_stop_listening(srv->front);
    for (ssession *ss = srv->sessions; ss; ss = ss->next) {
        pt_link_goaway(ss->link);
    }
    maybe_done(srv);
}

int pt_server_port(const pt_server *srv) { return srv->front ? pt_front_port(srv->front) : 0; }
size_t pt_server_sessions(const pt_server *srv) { return srv->n_sessions; }
