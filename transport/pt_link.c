/* pt_link.c — handshake + session over a pt_transport; see pt_link.h. */
#include "pt_link.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_err.h"

#define LINK_MAX_IOV 64
/* After the session ends we send FIN and keep reading until the peer's FIN:
 * closing a socket with unread bytes makes the kernel send RST, which can
 * destroy the peer's last frames (our GOAWAY, its FINs) in flight. */
#define LINK_LINGER_MS 5000
#define HS_BUF (PT_HS_MSG_MAX + 2)

typedef enum link_state {
    LINK_HS_CLIENT, /* message 1 sent, waiting for message 2 */
    LINK_HS_SERVER, /* waiting for the first bytes */
    LINK_UP,        /* session running */
    LINK_LINGER,    /* session over; our FIN sent, reading until the peer's */
    LINK_CLOSING,   /* handles closing; on_down comes from the close callback */
} link_state;

struct pt_link {
    uv_loop_t *loop;
    pt_transport *t;
    uv_timer_t timer;
    link_state state;
    int is_client;
    int flushing;
    int closes_pending;
    int down_err;
    pt_link_config cfg; /* keys wiped once the handshake ends */
    pt_link_callbacks cb;
    void *user;
    pt_hs hs;
    pt_session *s;
    uint8_t peer_key[32];
    /* Handshake bytes: our message (kept until written) and what came in. */
    uint8_t out[HS_BUF];
    size_t out_len;
    uint8_t in[HS_BUF];
    size_t in_len;
    size_t preface_got; /* client, h2_preface: bytes of the preface checked so far */
    /* timing jitter: when the last output was written; when a held burst
     * may go (0: none held) */
    uint64_t last_write_ms, jitter_until, jitter_holds;
};

static void flush(pt_link *l);
static void teardown(pt_link *l, int err);

static uint64_t now_ms(const pt_link *l) { return uv_now(l->loop); }

void pt_link_config_default(pt_link_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->transport_id = PT_TRANSPORT_TLS;
    pt_hs_settings_default(&cfg->settings);
    cfg->settings.conn_window = 16u << 20;
    pt_session_config_default(&cfg->session);
    cfg->handshake_timeout_ms = 30000;
    cfg->aead = PT_AEAD_BORINGSSL;
}

static void wipe_keys(pt_link *l)
{
    sodium_memzero(l->cfg.local_priv, sizeof(l->cfg.local_priv));
    pt_hs_cleanup(&l->hs);
}

/* ---- teardown ---------------------------------------------------------- */

static void on_handle_closed(pt_link *l)
{
    if (--l->closes_pending > 0) {
        return;
    }
    if (l->cb.on_down) {
        l->cb.on_down(l, l->user, l->down_err);
    }
    pt_session_free(l->s);
    wipe_keys(l);
    sodium_memzero(l->in, sizeof(l->in));
    free(l);
}

static void on_timer_closed(uv_handle_t *h) { on_handle_closed(h->data); }
static void on_transport_closed(pt_transport *t) { on_handle_closed(t->data); }

/* End the link: close the transport (if we still own it) and the timer. */
static void teardown(pt_link *l, int err)
{
    if (l->state == LINK_CLOSING) {
        return;
    }
    l->state = LINK_CLOSING;
    l->down_err = err;
    uv_timer_stop(&l->timer);
    l->closes_pending = 1;
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
    if (l->t) {
        l->closes_pending++;
        pt_transport_close(l->t, on_transport_closed);
    }
}

/* ---- session driving ----------------------------------------------------- */

static void on_session_timer(uv_timer_t *h)
{
    pt_link *l = h->data;
    if (l->state != LINK_UP) {
        return;
    }
    pt_session_on_timer(l->s, now_ms(l));
    flush(l);
}

static void arm_timer(pt_link *l)
{
    uint64_t d = pt_session_next_deadline(l->s);
    if (l->jitter_until && l->jitter_until < d) {
        d = l->jitter_until;
    }
    if (d == UINT64_MAX) {
        uv_timer_stop(&l->timer);
        return;
    }
    uint64_t now = now_ms(l);
    uv_timer_start(&l->timer, on_session_timer, d > now ? d - now : 0, 0);
}

static void on_linger_timeout(uv_timer_t *h) { teardown(h->data, ((pt_link *)h->data)->down_err); }

/* The session is over and everything it sealed was written: half-close and
 * wait (bounded) for the peer to do the same. */
static void linger(pt_link *l)
{
    l->state = LINK_LINGER;
    l->down_err = pt_session_close_error(l->s);
    if (pt_transport_shutdown(l->t) != 0) {
        teardown(l, l->down_err);
        return;
    }
    uv_timer_start(&l->timer, on_linger_timeout, LINK_LINGER_MS, 0);
}

static void on_output_written(pt_transport *t, int status, void *arg)
{
    pt_link *l = t->data;
    size_t bytes = (size_t)(uintptr_t)arg;
    if (!l->s) {
        return;
    }
    pt_session_output_written(l->s, bytes);
    if (l->state != LINK_UP) {
        return;
    }
    if (status != 0) {
        pt_session_close(l->s, PT_ERR_IO);
    }
    flush(l);
}

/* Timing jitter (PROTOCOL.md §9.2): should the output wait? Only the start
 * of a burst is held, by 1..jitter_max_ms: the moment a request leaves then
 * no longer mirrors the moment the application sent it, and a transfer that
 * keeps writing (one long burst) is not slowed. A closed session drains at
 * once. */
static int jitter_hold(pt_link *l)
{
    uint64_t j = l->cfg.jitter_max_ms;
    if (!j || pt_session_is_closed(l->s)) {
        l->jitter_until = 0;
        return 0;
    }
    uint64_t now = now_ms(l);
    if (l->jitter_until) {
        if (now < l->jitter_until) {
            return 1;
        }
        l->jitter_until = 0;
        l->last_write_ms = now; /* the burst starts now, written or not */
        return 0;
    }
    if (now - l->last_write_ms < j || !pt_session_want_write(l->s)) {
        return 0;
    }
    uint32_t span = j > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)j;
    l->jitter_until = now + 1 + randombytes_uniform(span);
    l->jitter_holds++;
    return 1;
}

/* Hand everything the session has sealed to the transport, in batches of
 * up to LINK_MAX_IOV frames per write (one writev), then re-arm the timer
 * and end the link once the session is closed and drained. */
static void flush(pt_link *l)
{
    if (l->state != LINK_UP || l->flushing) {
        return;
    }
    if (jitter_hold(l)) {
        arm_timer(l);
        return;
    }
    l->flushing = 1;
    for (;;) {
        struct iovec iov[LINK_MAX_IOV];
        uv_buf_t bufs[LINK_MAX_IOV];
        size_t n = pt_session_pending_output(l->s, iov, LINK_MAX_IOV);
        if (n == 0) {
            break;
        }
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
            bytes += iov[i].iov_len;
        }
        if (pt_transport_write(l->t, bufs, (unsigned)n, on_output_written,
                               (void *)(uintptr_t)bytes) != 0) {
            /* The transport refused: the bytes are not in flight. */
            pt_session_output_written(l->s, bytes);
            pt_session_close(l->s, PT_ERR_IO);
        }
        l->last_write_ms = now_ms(l);
    }
    l->flushing = 0;
    if (pt_session_is_closed(l->s)) {
        if (pt_session_is_drained(l->s)) {
            linger(l);
        }
        return;
    }
    arm_timer(l);
}

static void session_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_link *l = t->data;
    if (l->state != LINK_UP) {
        return; /* lingering: the session is over, bytes are discarded */
    }
    pt_session_on_bytes(l->s, data, len, now_ms(l));
    flush(l);
}

static void session_on_eof(pt_transport *t, int err)
{
    pt_link *l = t->data;
    if (l->state == LINK_LINGER) {
        teardown(l, l->down_err); /* both FINs seen: a clean end */
        return;
    }
    if (l->state != LINK_UP) {
        return;
    }
    if (!pt_session_is_closed(l->s)) {
        /* The peer's transport ended without a GOAWAY drain. */
        pt_session_close(l->s, PT_ERR_IO);
    }
    (void)err;
    /* Nothing more can be written usefully once the peer is gone for good. */
    teardown(l, pt_session_close_error(l->s) ? pt_session_close_error(l->s) : PT_ERR_IO);
}

/* Start the session with the keys from the handshake; |rest| are bytes
 * that arrived after the peer's handshake message (frames). */
static int go_up(pt_link *l, pt_hs_keys *keys, const pt_hs_settings *peer, const uint8_t *rest,
                 size_t rest_len)
{
    int rc = pt_session_new(&l->s, &l->cfg.session, keys, l->is_client, &l->cfg.settings, peer,
                            &l->cfg.session_cb, l->user, now_ms(l));
    pt_hs_keys_cleanup(keys);
    wipe_keys(l);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    uv_timer_stop(&l->timer);
    l->state = LINK_UP;
    l->t->on_read = session_on_read;
    l->t->on_eof = session_on_eof;
    if (l->cb.on_up) {
        l->cb.on_up(l, l->user);
    }
    if (l->state == LINK_UP && rest_len) {
        pt_session_on_bytes(l->s, rest, rest_len, now_ms(l));
    }
    flush(l);
    return PT_ERR_OK;
}

/* ---- handshake ------------------------------------------------------------- */

/* Server: the connection is not ours. Hand the transport and every byte
 * read so far — |l->in| then |extra| — to the decoy, and end the link. */
static void to_decoy(pt_link *l, const uint8_t *extra, size_t extra_len)
{
    pt_transport *t = l->t;
    uint8_t *all = NULL;
    const uint8_t *bytes = l->in;
    size_t len = l->in_len;
    if (extra_len) {
        all = malloc(l->in_len + extra_len);
        if (all) {
            memcpy(all, l->in, l->in_len);
            memcpy(all + l->in_len, extra, extra_len);
            bytes = all;
            len += extra_len;
        }
    }
    l->t = NULL;
    t->on_read = NULL;
    t->on_eof = NULL;
    pt_transport_read_stop(t);
    if (l->cb.on_decoy && (all || !extra_len)) {
        l->cb.on_decoy(t, bytes, len, l->user);
    } else {
        pt_transport_close(t, NULL);
    }
    free(all);
    teardown(l, PT_ERR_HANDSHAKE);
}

static void on_hs_timeout(uv_timer_t *h)
{
    pt_link *l = h->data;
    if (l->state == LINK_HS_CLIENT) {
        teardown(l, PT_ERR_TIMEOUT);
    } else if (l->state == LINK_HS_SERVER) {
        /* Silence is not a valid first message: the decoy's own timeouts
         * apply from here (PROTOCOL.md §5.8). */
        to_decoy(l, NULL, 0);
    }
}

static void on_hs_written(pt_transport *t, int status, void *arg)
{
    (void)arg;
    pt_link *l = t->data;
    if (status != 0 && l->state != LINK_CLOSING && l->state != LINK_UP) {
        teardown(l, PT_ERR_IO);
    }
}

static void hs_on_eof(pt_transport *t, int err)
{
    (void)err;
    pt_link *l = t->data;
    if (l->state == LINK_HS_SERVER) {
        to_decoy(l, NULL, 0); /* what arrived (maybe nothing) meets the decoy */
        return;
    }
    teardown(l, PT_ERR_IO);
}

/* Client, h2_preface (PROTOCOL.md §5.3): check the server's first bytes
 * against the fixed HTTP/2 preface and consume them. Returns 0 with
 * |*data|, |*len| advanced past the preface bytes, or -1 on a byte that
 * differs. The preface is public constant data: no constant-time compare. */
static int strip_preface(pt_link *l, const uint8_t **data, size_t *len)
{
    if (!l->cfg.h2_preface || l->preface_got == PT_HS_H2_PREFACE_LEN) {
        return 0;
    }
    size_t want = PT_HS_H2_PREFACE_LEN - l->preface_got;
    size_t n = *len < want ? *len : want;
    if (memcmp(*data, pt_hs_h2_preface + l->preface_got, n) != 0) {
        return -1;
    }
    l->preface_got += n;
    *data += n;
    *len -= n;
    return 0;
}

static void client_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_link *l = t->data;
    if (l->state != LINK_HS_CLIENT) {
        return;
    }
    if (strip_preface(l, &data, &len) != 0) {
        teardown(l, PT_ERR_HANDSHAKE); /* not our server's first bytes */
        return;
    }
    if (len == 0) {
        return;
    }
    /* Keep at most one message; what follows it is already session data. */
    size_t room = sizeof(l->in) - l->in_len, take = len < room ? len : room;
    memcpy(l->in + l->in_len, data, take);
    l->in_len += take;

    size_t used = 0;
    pt_hs_payload p;
    pt_hs_keys keys;
    int rc = pt_hs_client_finish(&l->hs, l->in, l->in_len, &used, &p, &keys, l->cfg.aead);
    if (rc == PT_ERR_AGAIN && l->in_len < sizeof(l->in)) {
        return;
    }
    if (rc == PT_ERR_OK && p.version != PT_PROTOCOL_VERSION) {
        pt_hs_keys_cleanup(&keys);
        rc = PT_ERR_PROTO; /* §5.5: a version we do not speak */
    }
    if (rc != PT_ERR_OK) {
        teardown(l, rc == PT_ERR_AGAIN ? PT_ERR_HANDSHAKE : rc);
        return;
    }
    /* Bytes after message 2: those still in |in|, then the rest of |data|. */
    size_t in_rest = l->in_len - used;
    uint8_t *tmp = NULL;
    const uint8_t *rest = data + take;
    size_t rest_len = len - take;
    if (in_rest) {
        tmp = malloc(in_rest + rest_len);
        if (!tmp) {
            pt_hs_keys_cleanup(&keys);
            teardown(l, PT_ERR_NOMEM);
            return;
        }
        memcpy(tmp, l->in + used, in_rest);
        memcpy(tmp + in_rest, rest, rest_len);
        rest = tmp;
        rest_len += in_rest;
    }
    rc = go_up(l, &keys, &p.settings, rest, rest_len);
    free(tmp);
    if (rc != PT_ERR_OK) {
        teardown(l, rc);
    }
}

/* Constant-time membership: every entry is compared, whatever matches. */
static int is_authorized(const pt_link *l, const uint8_t key[32])
{
    int found = 0;
    for (size_t i = 0; i < l->cfg.n_authorized; i++) {
        found |= sodium_memcmp(l->cfg.authorized[i], key, 32) == 0;
    }
    return found;
}

static void server_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_link *l = t->data;
    if (l->state != LINK_HS_SERVER) {
        return;
    }
    size_t room = sizeof(l->in) - l->in_len, take = len < room ? len : room;
    memcpy(l->in + l->in_len, data, take);
    l->in_len += take;
    if (take < len) {
        /* More than any first message: not ours. The decoy gets it all,
         * including what did not fit in |in|. */
        to_decoy(l, data + take, len - take);
        return;
    }

    /* Decide on what has arrived (§5.7): no waiting for more bytes. Every
     * failure takes the same exit. */
    size_t used = 0;
    uint8_t client_pub[32];
    pt_hs_payload p;
    memset(client_pub, 0, sizeof(client_pub));
    memset(&p, 0, sizeof(p));
    int rc = pt_hs_server_read(&l->hs, l->in, l->in_len, &used, l->cfg.local_priv,
                               l->cfg.transport_id, client_pub, &p);
    int ok = rc == PT_ERR_OK && used == l->in_len;
    ok &= is_authorized(l, client_pub);
    ok &= pt_hs_timestamp_ok(p.timestamp, (uint64_t)time(NULL));
    if (ok && l->cfg.replay) {
        ok = pt_replay_check_and_add(l->cfg.replay, l->in + 2, (uint64_t)time(NULL)) == PT_ERR_OK;
    }
    if (!ok) {
        to_decoy(l, NULL, 0);
        return;
    }
    memcpy(l->peer_key, client_pub, 32);

    pt_hs_payload mine;
    memset(&mine, 0, sizeof(mine));
    mine.version = p.version < PT_PROTOCOL_VERSION ? p.version : PT_PROTOCOL_VERSION;
    mine.flags = PT_HS_FLAG_PADDING;
    mine.timestamp = (uint64_t)time(NULL);
    randombytes_buf(mine.random, sizeof(mine.random));
    mine.settings = l->cfg.settings;
    pt_hs_keys keys;
    rc = pt_hs_server_respond(&l->hs, l->out, sizeof(l->out), &l->out_len, &mine,
                              pt_hs_pick_len(2), NULL, NULL, &keys, l->cfg.aead);
    if (rc != PT_ERR_OK) {
        teardown(l, rc);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)l->out, (unsigned)l->out_len);
    if (pt_transport_write(t, &b, 1, on_hs_written, NULL) != 0) {
        pt_hs_keys_cleanup(&keys);
        teardown(l, PT_ERR_IO);
        return;
    }
    rc = go_up(l, &keys, &p.settings, NULL, 0);
    if (rc != PT_ERR_OK) {
        teardown(l, rc);
    }
}

/* ---- construction ----------------------------------------------------------- */

static int link_new(pt_link **out, uv_loop_t *loop, pt_transport *t, const pt_link_config *cfg,
                    const pt_link_callbacks *cb, void *user, int is_client)
{
    pt_link *l = calloc(1, sizeof(*l));
    if (!l) {
        return PT_ERR_NOMEM;
    }
    l->loop = loop;
    l->t = t;
    l->cfg = *cfg;
    l->cb = *cb;
    l->user = user;
    l->is_client = is_client;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    t->data = l;
    t->on_read = is_client ? client_on_read : server_on_read;
    t->on_eof = hs_on_eof;
    l->state = is_client ? LINK_HS_CLIENT : LINK_HS_SERVER;
    *out = l;
    return PT_ERR_OK;
}

int pt_link_client_new(pt_link **out, uv_loop_t *loop, pt_transport *t, const pt_link_config *cfg,
                       const pt_link_callbacks *cb, void *user)
{
    pt_link *l;
    int rc = link_new(&l, loop, t, cfg, cb, user, 1);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    pt_hs_payload p;
    memset(&p, 0, sizeof(p));
    p.version = PT_PROTOCOL_VERSION;
    p.flags = PT_HS_FLAG_PADDING;
    p.timestamp = (uint64_t)time(NULL);
    randombytes_buf(p.random, sizeof(p.random));
    p.settings = cfg->settings;
    rc = pt_hs_client_create(&l->hs, l->out, sizeof(l->out), &l->out_len, cfg->local_priv,
                             cfg->server_pub, cfg->transport_id, &p, pt_hs_pick_len(1), NULL, NULL);
    uv_buf_t b = uv_buf_init((char *)l->out, (unsigned)l->out_len);
    /* One write: message 1 travels in one TLS record (§5.3). */
    if (rc == PT_ERR_OK && (rc = pt_transport_write(t, &b, 1, on_hs_written, NULL)) != 0) {
        rc = PT_ERR_IO;
    }
    if (rc == PT_ERR_OK && pt_transport_read_start(t) != 0) {
        rc = PT_ERR_IO;
    }
    if (rc != PT_ERR_OK) {
        /* The caller keeps |t|: detach it before the link goes. */
        l->t = NULL;
        t->on_read = NULL;
        t->on_eof = NULL;
        wipe_keys(l);
        l->state = LINK_CLOSING;
        l->closes_pending = 1;
        l->cb.on_down = NULL;
        uv_close((uv_handle_t *)&l->timer, on_timer_closed);
        return rc;
    }
    uv_timer_start(&l->timer, on_hs_timeout, cfg->handshake_timeout_ms, 0);
    *out = l;
    return PT_ERR_OK;
}

int pt_link_server_new(pt_link **out, uv_loop_t *loop, pt_transport *t, const pt_link_config *cfg,
                       const pt_link_callbacks *cb, void *user)
{
    pt_link *l;
    int rc = link_new(&l, loop, t, cfg, cb, user, 0);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    /* §5.3: nginx's HTTP/2 server preface goes out right after the TLS
     * handshake, before anything is read. The buffer is static and no
     * callback is needed: a failed write shows as a read error. */
    uv_buf_t pre = uv_buf_init((char *)(uintptr_t)pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN);
    if ((cfg->h2_preface && pt_transport_write(t, &pre, 1, NULL, NULL) != 0) ||
        pt_transport_read_start(t) != 0) {
        l->t = NULL;
        t->on_read = NULL;
        t->on_eof = NULL;
        wipe_keys(l);
        l->state = LINK_CLOSING;
        l->closes_pending = 1;
        l->cb.on_down = NULL;
        uv_close((uv_handle_t *)&l->timer, on_timer_closed);
        return PT_ERR_IO;
    }
    uv_timer_start(&l->timer, on_hs_timeout, cfg->handshake_timeout_ms, 0);
    *out = l;
    return PT_ERR_OK;
}

pt_session *pt_link_session(pt_link *l) { return l->state == LINK_UP ? l->s : NULL; }

uint64_t pt_link_jitter_holds(const pt_link *l) { return l->jitter_holds; }

const uint8_t *pt_link_peer_key(const pt_link *l)
{
    return (!l->is_client && l->s) ? l->peer_key : NULL;
}

void pt_link_flush(pt_link *l) { flush(l); }

void pt_link_goaway(pt_link *l)
{
    if (l->state == LINK_UP) {
        pt_session_goaway(l->s, PT_WIRE_NO_ERROR);
        flush(l);
    } else if (l->state == LINK_HS_CLIENT || l->state == LINK_HS_SERVER) {
        teardown(l, PT_ERR_OK);
    }
}

void pt_link_close(pt_link *l, int err)
{
    if (l->state == LINK_UP && !pt_session_is_closed(l->s)) {
        pt_session_close(l->s, err);
    }
    teardown(l, err);
}
