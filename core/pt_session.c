/* pt_session.c — the session engine; see pt_session.h for the contract and
 * docs/PROTOCOL.md §6.5 (rekey), §7 (streams), §8 (flow control), §10
 * (errors) and §11 (keepalive, GOAWAY) for the rules.
 *
 * Layout of the send path (no copy between the application and the wire):
 *
 *   stream_write -> stream's block queue: [9 spare][payload ...][room for pad+tag]
 *   pending_output -> scheduler seals the head block IN PLACE (the 9 spare
 *                     bytes take the prefix and header; pad and tag go after
 *                     the payload) and moves it to the output queue.
 *   A frame cut short by a window, or smaller than half a block, is sealed
 *   as a copy into the shared "out block", where control frames go too; the
 *   rest of the stream block then starts |off| bytes later, so its remainder
 *   can again be sealed in place at data + off (the bytes before it were
 *   already sent).
 *
 * Control frames are sealed when they arise; DATA only inside
 * pending_output, right before the glue writes. So a PONG or WINDOW_UPDATE
 * is behind nothing but bytes already handed to the transport (§11.1: "ahead
 * of queued DATA").
 */
#include "pt_session.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pt_cbs.h"
#include "pt_err.h"

/* The pool has two budgets: data blocks (what the application wrote) and
 * control blocks (the out block: control frames and copied DATA). Control gets
 * 1/8 of max_buffer_bytes and at least MIN_CTL_BLOCKS, so application data
 * can never starve a PONG, WINDOW_UPDATE or STREAM_CLOSE; stream_open stops at
 * 3/4 of it so opens cannot use up what answers to the peer need. */
#define MIN_CTL_BLOCKS 8u
#define MIN_DATA_BLOCKS 4u
/* Free blocks / streams kept for reuse; beyond that they go back to malloc. */
#define POOL_KEEP_BLOCKS 16u
#define POOL_KEEP_STREAMS 64u
/* Room a control frame needs in the out block (STREAM_OPEN is the largest). */
#define CTL_FRAME_ROOM (PT_FRAME_OVERHEAD + PT_ADDR_MAX_ENCODED + PT_FRAME_MAX_PAD)
#define FINAL_BUF_LEN (PT_FRAME_OVERHEAD + 8 + PT_FRAME_MAX_PAD)
#define HT_INITIAL 16u

/* ---- intrusive doubly-linked lists (circular, with a head) -------------- */

typedef struct dlink {
    struct dlink *prev, *next; /* next == NULL: not on a list */
} dlink;

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void dl_init(dlink *h)
{
    h->prev = h;
    h->next = h;
}
static int dl_empty(const dlink *h)
{
    return h->next == h;
}
static int dl_on(const dlink *l)
{
    return l->next != NULL;
}
static void dl_push(dlink *h, dlink *l)
{
    l->next = h;
    l->prev = h->prev;
    h->prev->next = l;
    h->prev = l;
}
static void dl_del(dlink *l)
{
    if (l->next) {
        l->prev->next = l->next;
        l->next->prev = l->prev;
        l->next = NULL;
        l->prev = NULL;
    }
}

/* ---- types -------------------------------------------------------------- */

/* A pooled frame block. As a stream block: payload bytes [off, fill) live at
 * data + PT_FRAME_PAYLOAD_OFFSET + i. As the out block: fill bytes are used. */
typedef struct blk {
    struct blk *next; /* stream queue or free list */
    uint32_t refs;    /* owner (stream queue or out-block slot) + output entries */
    uint32_t off;
    uint32_t fill;
    uint32_t ctl; /* budget it counts against: 1 control, 0 data */
    uint8_t data[];
} blk;

/* One run of sealed bytes in the output queue. */
typedef struct oent {
    struct oent *next;
    blk *b; /* NULL for the session's final GOAWAY buffer */
    const uint8_t *p;
    size_t len;
} oent;

typedef enum sstate {
    SS_OPENING = 0, /* we sent STREAM_OPEN, no answer yet */
    SS_PENDING = 1, /* peer opened; the application has not answered */
    SS_OPEN = 2,    /* half-closes are the FIN flags below (§7.3) */
    SS_CLOSED = 3,  /* out of the table; waiting for on_stream_closed */
} sstate;

#define SF_LOCAL 0x01      /* we opened it */
#define SF_FIN_QUEUED 0x02 /* application shut down; FIN after the data */
#define SF_FIN_SENT 0x04   /* HALF_CLOSED_LOCAL */
#define SF_FIN_RECV 0x08   /* HALF_CLOSED_REMOTE */
#define SF_RESERVED 0x10   /* tail block lent out by stream_reserve */

/* Receive-window auto-tuning state (pt_stream.tune). */
#define TUNE_WU_SENT 0x01 /* wu_ms is valid */
#define TUNE_PROBE 0x02   /* an RTT sample is running */

/* Auto-tuning grows the connection receive window up to this (or the
 * announced CONN_WINDOW if larger). */
#define AUTOTUNE_CONN_MAX (64u * 1024 * 1024)

#define EV_FAILED 0x01
#define EV_RESET 0x02
#define EV_CLOSED 0x04

typedef struct pt_stream {
    uint32_t sid;
    uint8_t state;
    uint8_t flags;
    uint8_t ev;       /* callbacks owed (the stream is closed) */
    uint32_t ev_code; /* for EV_FAILED / EV_RESET */
    void *user;
    int64_t send_window;   /* §8.1: what we may still send */
    uint32_t recv_credit;  /* what the peer may still send */
    uint32_t recv_pending; /* consumed, not yet returned by WINDOW_UPDATE */
    uint32_t unconsumed;   /* delivered to the application, not consumed */
    uint32_t recv_win;     /* receive window: recv_credit + unconsumed + recv_pending
                            * <= recv_win; grows by auto-tuning (§8.2) */
    uint8_t tune;          /* TUNE_* */
    uint64_t recv_off;     /* DATA bytes received */
    uint64_t wu_ms;        /* last WINDOW_UPDATE sent (TUNE_WU_SENT) */
    uint64_t probe_limit;  /* TUNE_PROBE: bytes the peer could send before it */
    uint64_t probe_ms;     /* ... and when that WINDOW_UPDATE went out */
    size_t send_buffered;  /* written, not sealed */
    size_t reserved_max;
    blk *sq_head, *sq_tail;
    uint64_t last_active;
    struct pt_stream *hnext; /* hash chain, or free list */
    dlink rq;                /* ready to send (round robin) */
    dlink idle;              /* by last activity, oldest first */
    dlink ww;                /* wants on_stream_writable */
    dlink evl;               /* owes callbacks */
} pt_stream;

struct pt_session {
    pt_session_config cfg;
    pt_session_callbacks cb;
    void *user;
    int is_client;
    pt_hs_settings local, peer;
    pt_frame_dir tx;
    pt_frame_opener rx;

    int closed;
    int close_err;
    int closed_notified;
    unsigned depth; /* driver calls in progress (callbacks run at depth 1) */
    uint64_t now;   /* latest now_ms seen */
    size_t mem_bytes;

    /* receive */
    uint8_t *rbuf; /* PT_FRAME_MAX_WIRE */
    size_t rlen, rneed;

    /* block pool */
    size_t blk_size, blk_in_use, blk_free_n, fill_max;
    size_t data_in_use, data_max, ctl_in_use, ctl_max;
    blk *blk_free;
    blk *outblk;

    /* output queue: [head .. hand) handed out, [hand ..] not yet */
    oent *oq_head, *oq_tail, *hand, *oent_free;
    size_t oq_head_off, hand_off;
    size_t out_bytes;  /* sealed, not released */
    size_t out_handed; /* handed out, not released */
    oent final_ent;
    uint8_t final_buf[FINAL_BUF_LEN];

    /* streams */
    pt_stream **ht;
    size_t ht_mask;
    uint8_t ht_key[crypto_shorthash_KEYBYTES];
    size_t nstreams; /* in the table (not closed) */
    pt_stream *st_free;
    size_t st_free_n;
    dlink ready, idle, ww, events;
    size_t nready, nww;
    int ww_check;
    uint32_t next_local_sid, max_remote_sid;
    size_t local_open, remote_open;
    size_t send_buffered;

    /* connection flow control (§8.1) */
    int64_t conn_send_window;
    uint32_t conn_recv_credit, conn_recv_pending;
    /* receive-window auto-tuning (§8.2 receiver policy): conn_win bounds
     * conn_recv_credit + every unconsumed + conn_recv_pending */
    uint32_t conn_win, conn_win_floor, conn_win_max;
    int conn_wu_sent, conn_probe;
    uint64_t conn_wu_ms, conn_recv_off, conn_probe_limit, conn_probe_ms;
    uint64_t rtt_ms; /* minimum RTT sample; UINT64_MAX = none yet */
    int ping_rtt;    /* a PING whose PONG gives an RTT sample is out */

    /* GOAWAY (§11.2) */
    int goaway_sent, goaway_recv;
    uint32_t goaway_sent_last, goaway_recv_last;

    /* keepalive (§11.1) and rekey (§6.5) */
    uint64_t last_rx, ping_sent;
    int ping_out;
    uint8_t ping_data[8];
    uint64_t frames_since_rekey, last_rekey;

    /* cover traffic (§9.2): last_tx is when the last frame was sealed;
     * cover_gap the idle time before the next PADDING frame, drawn anew for
     * each idle period (cover_base: the last_tx it was drawn for) */
    uint64_t last_tx, cover_base, cover_gap;

    /* stats */
    uint64_t frames_sent, frames_received, data_sent, data_received;
    uint64_t rekeys_sent, rekeys_received, pings_sent, cover_sent;
};

/* ---- memory ------------------------------------------------------------- */

static void *mem_alloc(const pt_session_mem *m, size_t n)
{
    return m->malloc_fn ? m->malloc_fn(n, m->mem_user) : malloc(n);
}

static void mem_release(const pt_session_mem *m, void *p)
{
    if (m->free_fn) {
        m->free_fn(p, m->mem_user);
    } else {
        free(p);
    }
}

static void *s_alloc(pt_session *s, size_t n)
{
    void *p = mem_alloc(&s->cfg.mem, n);
    if (p) {
        s->mem_bytes += n;
    }
    return p;
}

static void s_free(pt_session *s, void *p, size_t n)
{
    if (p) {
        s->mem_bytes -= n;
        mem_release(&s->cfg.mem, p);
    }
}

/* ---- block pool --------------------------------------------------------- */

static size_t blk_bytes(const pt_session *s)
{
    return sizeof(blk) + s->blk_size;
}

/* blk_get returns a block with one reference, or NULL when its budget is
 * used up (or malloc fails). */
static blk *blk_get(pt_session *s, int ctl)
{
    if (ctl ? s->ctl_in_use >= s->ctl_max : s->data_in_use >= s->data_max) {
        return NULL;
    }
    blk *b = s->blk_free;
    if (b) {
        s->blk_free = b->next;
        s->blk_free_n--;
    } else {
        b = s_alloc(s, blk_bytes(s));
        if (!b) {
            return NULL;
        }
    }
    s->blk_in_use++;
    if (ctl) {
        s->ctl_in_use++;
    } else {
        s->data_in_use++;
    }
    b->next = NULL;
    b->refs = 1;
    b->off = 0;
    b->fill = 0;
    b->ctl = ctl ? 1 : 0;
    return b;
}

static void blk_unref(pt_session *s, blk *b)
{
    assert(b->refs > 0);
    if (--b->refs > 0) {
        return;
    }
    s->blk_in_use--;
    if (b->ctl) {
        s->ctl_in_use--;
    } else {
        s->data_in_use--;
        s->ww_check = 1; /* memory freed: a blocked writer may fit now */
    }
    if (s->blk_free_n < POOL_KEEP_BLOCKS) {
        b->next = s->blk_free;
        s->blk_free = b;
        s->blk_free_n++;
    } else {
        s_free(s, b, blk_bytes(s));
    }
}

/* ---- output queue ------------------------------------------------------- */

static oent *oent_get(pt_session *s)
{
    oent *e = s->oent_free;
    if (e) {
        s->oent_free = e->next;
        return e;
    }
    return s_alloc(s, sizeof(oent));
}

static void oent_put(pt_session *s, oent *e)
{
    if (e != &s->final_ent) {
        e->next = s->oent_free;
        s->oent_free = e;
    }
}

/* out_push appends |len| sealed bytes at |p| (inside |b|, whose reference the
 * caller hands over) using the preallocated entry |e|; a run contiguous with
 * the tail entry in the same block is merged into it. */
static void out_push(pt_session *s, oent *e, blk *b, const uint8_t *p, size_t len)
{
    oent *t = s->oq_tail;
    if (t && b && t->b == b && t->p + t->len == p) {
        if (!s->hand) {
            s->hand = t;
            s->hand_off = t->len;
        }
        t->len += len;
        blk_unref(s, b);
        oent_put(s, e);
    } else {
        e->next = NULL;
        e->b = b;
        e->p = p;
        e->len = len;
        if (t) {
            t->next = e;
        } else {
            s->oq_head = e;
            s->oq_head_off = 0;
        }
        s->oq_tail = e;
        if (!s->hand) {
            s->hand = e;
            s->hand_off = 0;
        }
    }
    s->out_bytes += len;
}

static void out_release(pt_session *s, size_t n)
{
    if (n > s->out_handed) {
        n = s->out_handed;
    }
    s->out_handed -= n;
    s->out_bytes -= n;
    while (n > 0) {
        oent *e = s->oq_head;
        size_t left = e->len - s->oq_head_off;
        if (n < left) {
            s->oq_head_off += n;
            break;
        }
        n -= left;
        /* Every byte of |e| was handed out, so |hand| is past it. */
        s->oq_head = e->next;
        s->oq_head_off = 0;
        if (!s->oq_head) {
            s->oq_tail = NULL;
        }
        if (e->b) {
            blk_unref(s, e->b);
        }
        oent_put(s, e);
    }
    if (!s->oq_head && s->outblk) {
        /* All written: an idle session holds no block (the free list keeps
         * it warm for the next frame). */
        blk_unref(s, s->outblk);
        s->outblk = NULL;
    }
}

static void free_entry_chain(pt_session *s, oent *e)
{
    while (e) {
        oent *next = e->next;
        s->out_bytes -= e->len;
        if (e->b) {
            blk_unref(s, e->b);
        }
        oent_put(s, e);
        e = next;
    }
}

/* After an AEAD failure nothing more is sent (§10.2): drop what was sealed but
 * not yet handed to the transport. */
static void out_drop_unhanded(pt_session *s)
{
    oent *e = s->hand;
    if (!e) {
        return;
    }
    if (s->hand_off > 0) {
        s->out_bytes -= e->len - s->hand_off;
        e->len = s->hand_off;
        free_entry_chain(s, e->next);
        e->next = NULL;
        s->oq_tail = e;
    } else {
        oent *prev = NULL;
        for (oent *it = s->oq_head; it != e; it = it->next) {
            prev = it;
        }
        if (prev) {
            prev->next = NULL;
        } else {
            s->oq_head = NULL;
            s->oq_head_off = 0;
        }
        s->oq_tail = prev;
        free_entry_chain(s, e);
    }
    s->hand = NULL;
    s->hand_off = 0;
}

/* outblk_room makes the out block have |need| free bytes. */
static int outblk_room(pt_session *s, size_t need)
{
    if (s->outblk && s->blk_size - s->outblk->fill >= need) {
        return PT_ERR_OK;
    }
    blk *b = blk_get(s, 1);
    if (!b) {
        return PT_ERR_NOMEM; /* even the control reserve is gone */
    }
    if (s->outblk) {
        blk_unref(s, s->outblk);
    }
    s->outblk = b;
    return PT_ERR_OK;
}

/* ---- sealing ------------------------------------------------------------ */

static int seal_ctl(pt_session *s, uint8_t type, uint32_t sid, const uint8_t *pl, size_t len);
static void cover_draw(pt_session *s);

/* Count a sealed frame; send KEY_UPDATE when the keys have sealed
 * rekey_frames frames (the KEY_UPDATE being the last of them, §6.5). */
static int after_seal(pt_session *s, uint8_t type)
{
    s->frames_sent++;
    s->last_tx = s->now;
    if (type == PT_FRAME_KEY_UPDATE) {
        s->frames_since_rekey = 0;
        s->last_rekey = s->now;
        s->rekeys_sent++;
        return PT_ERR_OK;
    }
    if (++s->frames_since_rekey + 1 >= s->cfg.rekey_frames) {
        return seal_ctl(s, PT_FRAME_KEY_UPDATE, 0, NULL, 0);
    }
    return PT_ERR_OK;
}

/* seal_ctl seals one frame into the out block (control frames and DATA cut
 * by a window). Every error is fatal for the session. */
static int seal_ctl(pt_session *s, uint8_t type, uint32_t sid, const uint8_t *pl, size_t len)
{
    if (s->closed) {
        return PT_ERR_STATE;
    }
    oent *e = oent_get(s);
    if (!e) {
        return PT_ERR_NOMEM;
    }
    int rc = outblk_room(s, PT_FRAME_OVERHEAD + len + PT_FRAME_MAX_PAD);
    if (rc != PT_ERR_OK) {
        oent_put(s, e);
        return rc;
    }
    blk *b = s->outblk;
    uint8_t *dst = b->data + b->fill;
    size_t wl = 0;
    rc = pt_frame_seal(&s->tx, &s->cfg.pad, dst, s->blk_size - b->fill, &wl, type, sid, pl, len);
    if (rc != PT_ERR_OK) {
        oent_put(s, e);
        return rc;
    }
    b->fill += (uint32_t)wl;
    b->refs++;
    out_push(s, e, b, dst, wl);
    return after_seal(s, type);
}

static uint32_t half(uint32_t w)
{
    return w / 2 ? w / 2 : 1;
}

/* ---- receive-window auto-tuning (§8.2 receiver policy) -------------------
 * As Chromium's QUIC flow controller: when a window's WINDOW_UPDATE is due
 * less than two RTTs after the previous one, the application is draining
 * the window faster than the window allows per round trip, so the window
 * (not the reader) limits the stream: double it, up to |max|, and grant the
 * growth in that same WINDOW_UPDATE. Credit only ever goes out for consumed
 * bytes plus growth, and growth needs consumption, so a reader that stops
 * consuming never grows and holds at most its current window.
 * RTT: the minimum of (a) PING -> PONG and (b) the time from a WINDOW_UPDATE
 * to the arrival of the first byte the peer could not have sent without it
 * (beyond the credit granted before). (b) is exact when the sender was
 * window-limited and longer otherwise, hence the minimum. No sample, or a
 * sample of 0 ms (everything within one tick), means no growth. */
static void rtt_sample(pt_session *s, uint64_t since)
{
    uint64_t r = s->now > since ? s->now - since : 0;
    if (r < s->rtt_ms) {
        s->rtt_ms = r;
    }
}

static uint32_t tune_grow(const pt_session *s, int sent_before, uint64_t last_ms, uint32_t win,
                          uint32_t max)
{
    if (!s->cfg.window_autotune || !sent_before || s->rtt_ms == UINT64_MAX || win >= max) {
        return win;
    }
    if ((s->now - last_ms) / 2 >= s->rtt_ms) { /* now never goes back (enter) */
        return win;
    }
    return win > max / 2 ? max : win * 2;
}

/* Connection credit for bytes consumed or discarded goes back once half the
 * window is due (§8.2, §8.3), with any growth: its own (auto-tuning) or the
 * floor a grown stream window asks for. */
static int flush_conn_credit(pt_session *s)
{
    if (s->closed) {
        return PT_ERR_OK;
    }
    uint32_t win = s->conn_win;
    if (s->conn_recv_pending >= half(win)) {
        win = tune_grow(s, s->conn_wu_sent, s->conn_wu_ms, win, s->conn_win_max);
    } else if (s->conn_win_floor <= win) {
        return PT_ERR_OK;
    }
    if (s->conn_win_floor > win) {
        win = s->conn_win_floor;
    }
    uint32_t inc = s->conn_recv_pending + (win - s->conn_win);
    uint8_t pl[4];
    pt_frame_put_u32(pl, inc);
    int rc = seal_ctl(s, PT_FRAME_WINDOW_UPDATE, 0, pl, sizeof(pl));
    if (rc == PT_ERR_OK) {
        if (!s->conn_probe) {
            s->conn_probe = 1;
            s->conn_probe_limit = s->conn_recv_off + s->conn_recv_credit;
            s->conn_probe_ms = s->now;
        }
        s->conn_recv_credit += inc;
        s->conn_recv_pending = 0;
        s->conn_win = win;
        s->conn_wu_sent = 1;
        s->conn_wu_ms = s->now;
    }
    return rc;
}

/* ---- session death ------------------------------------------------------ */

static uint32_t err_to_wire(int err)
{
    switch (err) {
    case PT_ERR_OK:
        return PT_WIRE_NO_ERROR;
    case PT_ERR_PROTO:
        return PT_WIRE_PROTOCOL_ERROR;
    case PT_ERR_FRAME_SIZE:
        return PT_WIRE_FRAME_SIZE_ERROR;
    case PT_ERR_FLOW_CONTROL:
        return PT_WIRE_FLOW_CONTROL_ERROR;
    default:
        return PT_WIRE_INTERNAL_ERROR;
    }
}

static int wire_to_err(uint32_t code)
{
    switch (code) {
    case PT_WIRE_PROTOCOL_ERROR:
        return PT_ERR_PROTO;
    case PT_WIRE_FRAME_SIZE_ERROR:
        return PT_ERR_FRAME_SIZE;
    case PT_WIRE_FLOW_CONTROL_ERROR:
        return PT_ERR_FLOW_CONTROL;
    default:
        return PT_ERR_IO; /* the peer gave up on the session */
    }
}

/* Errors after which no GOAWAY is sent: the keys are not trusted or cannot
 * seal, or nobody is there to read it. */
static int sends_goaway(int err)
{
    return err != PT_ERR_DECRYPT && err != PT_ERR_TIMEOUT && err != PT_ERR_IO &&
           err != PT_ERR_CRYPTO && err != PT_ERR_NONCE_EXHAUSTED;
}

/* §10.1: unknown codes count as INTERNAL_ERROR. */
static uint32_t norm_code(uint32_t code)
{
    return code <= PT_WIRE_IDLE_TIMEOUT ? code : PT_WIRE_INTERNAL_ERROR;
}

static void stream_closed(pt_session *s, pt_stream *st, uint8_t ev, uint32_t code);

/* The final GOAWAY is sealed into a buffer of its own, so it goes out even
 * when the pool is exhausted (the usual reason to die of PT_ERR_NOMEM). */
static void queue_final_goaway(pt_session *s, uint32_t code)
{
    uint8_t pl[8];
    size_t wl = 0;
    pt_frame_put_goaway(pl, s->max_remote_sid, code);
    if (pt_frame_seal(&s->tx, &s->cfg.pad, s->final_buf, sizeof(s->final_buf), &wl, PT_FRAME_GOAWAY,
                      0, pl, sizeof(pl)) == PT_ERR_OK) {
        s->frames_sent++;
        out_push(s, &s->final_ent, NULL, s->final_buf, wl);
    }
}

/* session_close_ex: mark closed, maybe queue GOAWAY, close every stream with
 * |stream_code| (callbacks deferred to dispatch). Returns |err|. */
static int session_close_ex(pt_session *s, int err, int goaway, uint32_t stream_code)
{
    if (s->closed) {
        return err;
    }
    if (err == PT_ERR_DECRYPT) {
        out_drop_unhanded(s);
    }
    if (goaway) {
        queue_final_goaway(s, err_to_wire(err));
    }
    s->closed = 1;
    s->close_err = err;
    for (size_t i = 0; i <= s->ht_mask; i++) {
        while (s->ht[i]) {
            pt_stream *st = s->ht[i];
            stream_closed(s, st, st->state == SS_OPENING ? EV_FAILED : EV_RESET, stream_code);
        }
    }
    if (s->outblk) {
        blk_unref(s, s->outblk);
        s->outblk = NULL;
    }
    return err;
}

static int session_fail(pt_session *s, int err)
{
    uint32_t wire = err_to_wire(err);
    return session_close_ex(s, err, sends_goaway(err),
                            wire == PT_WIRE_NO_ERROR ? PT_WIRE_CANCEL : wire);
}

/* ---- stream table ------------------------------------------------------- */

static size_t st_hash(const pt_session *s, uint32_t sid)
{
    /* Keyed (SipHash): ids come from the peer, chains must not be steerable. */
    uint8_t in[4], out[crypto_shorthash_BYTES];
    uint64_t v;
    pt_frame_put_u32(in, sid);
    crypto_shorthash(out, in, sizeof(in), s->ht_key);
    memcpy(&v, out, sizeof(v));
    return (size_t)v & s->ht_mask;
}

static pt_stream *st_find(const pt_session *s, uint32_t sid)
{
    if (sid == 0) {
        return NULL;
    }
    for (pt_stream *st = s->ht[st_hash(s, sid)]; st; st = st->hnext) {
        if (st->sid == sid) {
            return st;
        }
    }
    return NULL;
}

static int ht_grow(pt_session *s)
{
    size_t n = (s->ht_mask + 1) * 2;
    pt_stream **nt = s_alloc(s, n * sizeof(*nt));
    if (!nt) {
        return PT_ERR_NOMEM;
    }
    memset(nt, 0, n * sizeof(*nt));
    pt_stream **old = s->ht;
    size_t old_n = s->ht_mask + 1;
    s->ht = nt;
    s->ht_mask = n - 1;
    for (size_t i = 0; i < old_n; i++) {
        pt_stream *st = old[i];
        while (st) {
            pt_stream *next = st->hnext;
            size_t h = st_hash(s, st->sid);
            st->hnext = nt[h];
            nt[h] = st;
            st = next;
        }
    }
    s_free(s, old, old_n * sizeof(*old));
    return PT_ERR_OK;
}

static void ht_insert(pt_session *s, pt_stream *st)
{
    size_t h = st_hash(s, st->sid);
    st->hnext = s->ht[h];
    s->ht[h] = st;
    s->nstreams++;
}

static void ht_remove(pt_session *s, pt_stream *st)
{
    pt_stream **pp = &s->ht[st_hash(s, st->sid)];
    while (*pp && *pp != st) {
        pp = &(*pp)->hnext;
    }
    if (*pp) {
        *pp = st->hnext;
        st->hnext = NULL;
        s->nstreams--;
    }
}

/* st_new returns zeroed stream storage with room reserved in the table. */
static pt_stream *st_new(pt_session *s)
{
    if (s->nstreams + 1 > s->ht_mask + 1 && ht_grow(s) != PT_ERR_OK) {
        return NULL;
    }
    pt_stream *st = s->st_free;
    if (st) {
        s->st_free = st->hnext;
        s->st_free_n--;
    } else {
        st = s_alloc(s, sizeof(*st));
        if (!st) {
            return NULL;
        }
    }
    memset(st, 0, sizeof(*st));
    return st;
}

static void st_put(pt_session *s, pt_stream *st)
{
    if (s->st_free_n < POOL_KEEP_STREAMS) {
        st->hnext = s->st_free;
        s->st_free = st;
        s->st_free_n++;
    } else {
        s_free(s, st, sizeof(*st));
    }
}

static int sid_is_local(const pt_session *s, uint32_t sid)
{
    return (sid & 1u) == (s->is_client ? 1u : 0u);
}

/* §7.3: was |sid| ever opened (so a frame for it, absent from the table, is
 * for a closed stream rather than a PROTOCOL_ERROR)? */
static int sid_used(const pt_session *s, uint32_t sid)
{
    return sid_is_local(s, sid) ? sid < s->next_local_sid : sid <= s->max_remote_sid;
}

/* ---- stream state ------------------------------------------------------- */

static void touch(pt_session *s, pt_stream *st)
{
    st->last_active = s->now;
    dl_del(&st->idle);
    dl_push(&s->idle, &st->idle);
}

static int can_send(const pt_stream *st)
{
    return (st->state == SS_OPENING || st->state == SS_OPEN) && !(st->flags & SF_FIN_SENT);
}

static int can_write(const pt_stream *st)
{
    return can_send(st) && !(st->flags & SF_FIN_QUEUED);
}

static int wants_data(const pt_stream *st)
{
    return can_send(st) && st->send_buffered > 0 && st->send_window > 0;
}

static int wants_fin(const pt_stream *st)
{
    return can_send(st) && (st->flags & SF_FIN_QUEUED) && st->send_buffered == 0;
}

static void update_ready(pt_session *s, pt_stream *st)
{
    int want = st->state != SS_CLOSED && (wants_data(st) || wants_fin(st));
    if (want && !dl_on(&st->rq)) {
        dl_push(&s->ready, &st->rq);
        s->nready++;
    } else if (!want && dl_on(&st->rq)) {
        dl_del(&st->rq);
        s->nready--;
    }
}

static void want_writable(pt_session *s, pt_stream *st)
{
    if (!dl_on(&st->ww)) {
        dl_push(&s->ww, &st->ww);
        s->nww++;
    }
}

/* What the stream may still buffer: min(stream_send_buffer, send window +
 * one frame) minus what it holds. The extra frame lets a writer fill a block
 * while the window is shut, so it is ready to go the moment credit comes. */
static size_t allowance(const pt_session *s, const pt_stream *st)
{
    int64_t lim = st->send_window + (int64_t)s->cfg.max_payload;
    if (lim > (int64_t)s->cfg.stream_send_buffer) {
        lim = (int64_t)s->cfg.stream_send_buffer;
    }
    if (lim <= (int64_t)st->send_buffered) {
        return 0;
    }
    return (size_t)(lim - (int64_t)st->send_buffered);
}

/* Room for one more byte right now (allowance and memory). */
static int write_room(pt_session *s, const pt_stream *st)
{
    if (!can_write(st) || allowance(s, st) == 0) {
        return 0;
    }
    if (st->sq_tail && st->sq_tail->fill < s->fill_max) {
        return 1;
    }
    return s->data_in_use < s->data_max;
}

static void drop_send_queue(pt_session *s, pt_stream *st)
{
    blk *b = st->sq_head;
    while (b) {
        blk *next = b->next;
        blk_unref(s, b);
        b = next;
    }
    st->sq_head = NULL;
    st->sq_tail = NULL;
    s->send_buffered -= st->send_buffered;
    st->send_buffered = 0;
    st->flags &= (uint8_t)~SF_RESERVED;
}

/* stream_closed moves |st| to CLOSED: out of the table and every list, its
 * unsent data dropped, received-but-unconsumed bytes credited back to the
 * connection (the application can no longer consume them), and |ev| plus
 * EV_CLOSED owed. Storage is freed in dispatch, after on_stream_closed. */
static void stream_closed(pt_session *s, pt_stream *st, uint8_t ev, uint32_t code)
{
    if (st->state == SS_CLOSED) {
        return;
    }
    ht_remove(s, st);
    st->state = SS_CLOSED;
    if (dl_on(&st->rq)) {
        dl_del(&st->rq);
        s->nready--;
    }
    if (dl_on(&st->ww)) {
        dl_del(&st->ww);
        s->nww--;
    }
    dl_del(&st->idle);
    drop_send_queue(s, st);
    if (st->flags & SF_LOCAL) {
        s->local_open--;
    } else {
        s->remote_open--;
    }
    s->conn_recv_pending += st->unconsumed;
    st->unconsumed = 0;
    st->ev |= (uint8_t)(ev | EV_CLOSED);
    st->ev_code = code;
    dl_push(&s->events, &st->evl);
}

/* stream_abort: STREAM_CLOSE(|code|) if |send|, then CLOSED; |notify| owes
 * on_stream_failed (not yet opened) or on_stream_reset. */
static int stream_abort(pt_session *s, pt_stream *st, uint32_t code, int send, int notify)
{
    int rc = PT_ERR_OK;
    if (send) {
        uint8_t pl[4];
        pt_frame_put_u32(pl, code);
        rc = seal_ctl(s, PT_FRAME_STREAM_CLOSE, st->sid, pl, sizeof(pl));
    }
    uint8_t ev = 0;
    if (notify) {
        ev = st->state == SS_OPENING ? EV_FAILED : EV_RESET;
    }
    stream_closed(s, st, ev, code);
    return rc;
}

/* ---- scheduler ---------------------------------------------------------- */

static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2) {
        p <<= 1;
    }
    return p;
}

/* POWER_OF_TWO padding cannot reach the next power of two for large frames:
 * cut the payload so the frame itself is one (§9.1). */
static size_t pow2_cut(size_t w)
{
    size_t f = PT_FRAME_HDR_LEN + w;
    size_t p = pow2_floor(f);
    if (p == f) {
        return w;
    }
    if (2 * p - f <= PT_FRAME_MAX_PAD) {
        return w; /* padding reaches 2p */
    }
    return p - PT_FRAME_HDR_LEN;
}

/* seal_data seals one DATA frame (the quantum of one turn) for |st|. */
static int seal_data(pt_session *s, pt_stream *st)
{
    blk *b = st->sq_head;
    while (b && b->off == b->fill && b != st->sq_tail) { /* defensive: empty head */
        st->sq_head = b->next;
        blk_unref(s, b);
        b = st->sq_head;
    }
    if (!b || b->off == b->fill) {
        return PT_ERR_OK;
    }
    size_t avail = b->fill - b->off;
    size_t w = avail;
    if ((int64_t)w > st->send_window) {
        w = (size_t)st->send_window;
    }
    if ((int64_t)w > s->conn_send_window) {
        w = (size_t)s->conn_send_window;
    }
    if (s->cfg.pad.strategy == PT_PAD_POWER_OF_TWO) {
        w = pow2_cut(w);
    }
    oent *e = oent_get(s);
    if (!e) {
        return PT_ERR_NOMEM;
    }
    int reserved_tail = b == st->sq_tail && (st->flags & SF_RESERVED);
    size_t wl = 0;
    int rc;
    /* In place only for frames worth a block: a small frame sealed in a block
     * of its own would pin a whole block per few bytes of output budget. */
    if (w == avail && !reserved_tail && w >= s->fill_max / 2) {
        /* In place: the frame starts |off| bytes in, its payload is exactly
         * the unsent bytes; the block moves to the output queue. */
        uint8_t *frame = b->data + b->off;
        rc = pt_frame_seal(&s->tx, &s->cfg.pad, frame, s->blk_size - b->off, &wl, PT_FRAME_DATA,
                           st->sid, NULL, w);
        if (rc != PT_ERR_OK) {
            oent_put(s, e);
            return rc;
        }
        st->sq_head = b->next;
        if (!st->sq_head) {
            st->sq_tail = NULL;
        }
        b->next = NULL;
        out_push(s, e, b, frame, wl);
    } else {
        /* Cut by a window, small, or the tail is lent out: copy into the out
         * block (cheap for small frames; rare for large ones). */
        rc = outblk_room(s, PT_FRAME_OVERHEAD + w + PT_FRAME_MAX_PAD);
        if (rc != PT_ERR_OK) {
            oent_put(s, e);
            return rc;
        }
        blk *ob = s->outblk;
        uint8_t *dst = ob->data + ob->fill;
        rc = pt_frame_seal(&s->tx, &s->cfg.pad, dst, s->blk_size - ob->fill, &wl, PT_FRAME_DATA,
                           st->sid, b->data + PT_FRAME_PAYLOAD_OFFSET + b->off, w);
        if (rc != PT_ERR_OK) {
            oent_put(s, e);
            return rc;
        }
        ob->fill += (uint32_t)wl;
        ob->refs++;
        out_push(s, e, ob, dst, wl);
        b->off += (uint32_t)w;
        if (b->off == b->fill && !reserved_tail) {
            st->sq_head = b->next;
            if (!st->sq_head) {
                st->sq_tail = NULL;
            }
            blk_unref(s, b);
        }
    }
    st->send_window -= (int64_t)w;
    s->conn_send_window -= (int64_t)w;
    st->send_buffered -= w;
    s->send_buffered -= w;
    s->data_sent += w;
    s->ww_check = 1;
    touch(s, st);
    return after_seal(s, PT_FRAME_DATA);
}

static int seal_fin(pt_session *s, pt_stream *st)
{
    /* §7.3: an empty STREAM_CLOSE is the FIN; it follows all the data. */
    int rc = seal_ctl(s, PT_FRAME_STREAM_CLOSE, st->sid, NULL, 0);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    st->flags |= SF_FIN_SENT;
    if (st->flags & SF_FIN_RECV) {
        stream_closed(s, st, 0, PT_WIRE_NO_ERROR);
    }
    return PT_ERR_OK;
}

/* schedule: round robin over ready streams, one frame per turn, until the
 * output budget is used. Streams blocked by the connection window stay in the
 * ring; a full lap without progress ends the pass. */
static int schedule(pt_session *s)
{
    int rc = flush_conn_credit(s);
    size_t stalled = 0;
    while (rc == PT_ERR_OK && !s->closed && s->out_bytes < s->cfg.max_output_queued &&
           !dl_empty(&s->ready)) {
        pt_stream *st = CONTAINER_OF(s->ready.next, pt_stream, rq);
        dl_del(&st->rq);
        s->nready--;
        if (wants_data(st)) {
            if (s->conn_send_window <= 0) {
                dl_push(&s->ready, &st->rq);
                s->nready++;
                if (++stalled >= s->nready) {
                    break;
                }
                continue;
            }
            rc = seal_data(s, st);
        } else if (wants_fin(st)) {
            rc = seal_fin(s, st);
        }
        stalled = 0;
        update_ready(s, st); /* back to the tail of the ring if it has more */
    }
    return rc;
}

/* ---- callbacks ---------------------------------------------------------- */

static void fire_writable(pt_session *s)
{
    size_t n = s->nww; /* a callback that blocks again is not called twice */
    while (n-- > 0 && !dl_empty(&s->ww)) {
        pt_stream *st = CONTAINER_OF(s->ww.next, pt_stream, ww);
        dl_del(&st->ww);
        s->nww--;
        if (!write_room(s, st)) {
            dl_push(&s->ww, &st->ww);
            s->nww++;
            continue;
        }
        if (s->cb.on_stream_writable) {
            s->cb.on_stream_writable(s, s->user, st->sid, st->user);
        }
    }
}

/* dispatch delivers deferred callbacks. Runs at depth 1 so callbacks can call
 * back into the session; events they cause are picked up by the same loop. */
static void dispatch(pt_session *s)
{
    for (;;) {
        while (!dl_empty(&s->events)) {
            pt_stream *st = CONTAINER_OF(s->events.next, pt_stream, evl);
            dl_del(&st->evl);
            uint8_t ev = st->ev;
            st->ev = 0;
            if ((ev & EV_FAILED) && s->cb.on_stream_failed) {
                s->cb.on_stream_failed(s, s->user, st->sid, st->user, st->ev_code);
            }
            if ((ev & EV_RESET) && s->cb.on_stream_reset) {
                s->cb.on_stream_reset(s, s->user, st->sid, st->user, st->ev_code);
            }
            if (ev & EV_CLOSED) {
                if (s->cb.on_stream_closed) {
                    s->cb.on_stream_closed(s, s->user, st->sid, st->user);
                }
                st_put(s, st);
            }
        }
        if (s->ww_check && !s->closed) {
            s->ww_check = 0;
            fire_writable(s);
            continue;
        }
        /* Graceful end (§11.2, §11.3): after GOAWAY either way, no stream left
         * and everything written. */
        if (!s->closed && (s->goaway_sent || s->goaway_recv) && s->nstreams == 0 &&
            s->out_bytes == 0) {
            s->closed = 1;
            s->close_err = PT_ERR_OK;
        }
        if (s->closed && !s->closed_notified && dl_empty(&s->events)) {
            s->closed_notified = 1;
            if (s->cb.on_closed) {
                s->cb.on_closed(s, s->user, s->close_err);
            }
            continue;
        }
        break;
    }
}

static void enter(pt_session *s, uint64_t now)
{
    s->depth++;
    if (now > s->now) {
        s->now = now;
    }
}

static void leave(pt_session *s)
{
    if (s->depth == 1) {
        dispatch(s);
    }
    s->depth--;
}

/* ---- received frames ---------------------------------------------------- */

static int on_data(pt_session *s, uint32_t sid, const uint8_t *p, size_t n)
{
    /* §8.3: the connection window counts every DATA, whatever its stream. */
    if (n > s->conn_recv_credit) {
        return PT_ERR_FLOW_CONTROL;
    }
    s->conn_recv_credit -= (uint32_t)n;
    s->conn_recv_off += n;
    if (s->conn_probe && s->conn_recv_off > s->conn_probe_limit) {
        s->conn_probe = 0;
        rtt_sample(s, s->conn_probe_ms);
    }
    s->data_received += n;
    pt_stream *st = st_find(s, sid);
    if (!st) {
        if (!sid_used(s, sid)) {
            return PT_ERR_PROTO;
        }
        s->conn_recv_pending += (uint32_t)n; /* closed: credit it straight back */
        return PT_ERR_OK;
    }
    uint32_t code = PT_WIRE_NO_ERROR;
    if (st->state == SS_OPENING) {
        code = PT_WIRE_PROTOCOL_ERROR; /* data before the acceptor said yes */
    } else if (st->flags & SF_FIN_RECV) {
        code = PT_WIRE_STREAM_CLOSED; /* §7.3 */
    } else if (n > st->recv_credit) {
        code = PT_WIRE_FLOW_CONTROL_ERROR; /* §8.3 */
    }
    if (code != PT_WIRE_NO_ERROR) {
        s->conn_recv_pending += (uint32_t)n;
        return stream_abort(s, st, code, 1, 1);
    }
    st->recv_credit -= (uint32_t)n;
    st->recv_off += n;
    if ((st->tune & TUNE_PROBE) && st->recv_off > st->probe_limit) {
        st->tune &= (uint8_t)~TUNE_PROBE;
        rtt_sample(s, st->probe_ms);
    }
    if (n == 0) {
        return PT_ERR_OK;
    }
    st->unconsumed += (uint32_t)n;
    touch(s, st);
    if (s->cb.on_stream_data) {
        s->cb.on_stream_data(s, s->user, sid, st->user, p, n);
    }
    return PT_ERR_OK;
}

static int on_stream_open(pt_session *s, uint32_t sid, const uint8_t *p, size_t n)
{
    pt_addr addr;
    pt_cbs c;
    pt_cbs_init(&c, p, n);

    if (sid_is_local(s, sid)) {
        /* The acceptor's answer to our STREAM_OPEN (§7.2). */
        pt_stream *st = st_find(s, sid);
        if (!st) {
            return sid_used(s, sid) ? PT_ERR_OK : PT_ERR_PROTO;
        }
        if (st->state != SS_OPENING) {
            return PT_ERR_PROTO; /* a second STREAM_OPEN from the acceptor */
        }
        if (pt_addr_decode(&addr, &c) != PT_ERR_OK) {
            return stream_abort(s, st, PT_WIRE_PROTOCOL_ERROR, 1, 1);
        }
        st->state = SS_OPEN;
        update_ready(s, st);
        if (s->cb.on_stream_opened) {
            s->cb.on_stream_opened(s, s->user, sid, st->user, &addr);
        }
        return PT_ERR_OK;
    }

    /* The peer opens a stream (§7.1: its parity, increasing). */
    if (sid <= s->max_remote_sid) {
        return PT_ERR_PROTO;
    }
    s->max_remote_sid = sid;
    uint32_t refuse = PT_WIRE_NO_ERROR;
    if (s->is_client) {
        refuse = PT_WIRE_REFUSED_STREAM; /* §7.1: server streams are reserved */
    } else if (s->goaway_sent) {
        refuse = PT_WIRE_REFUSED_STREAM; /* §11.2: crossed our GOAWAY */
    } else if (s->remote_open >= s->local.max_streams) {
        refuse = PT_WIRE_REFUSED_STREAM; /* §7.4 */
    } else {
        int rc = pt_addr_decode(&addr, &c);
        if (rc == PT_ERR_NOTFOUND) {
            refuse = PT_WIRE_ADDRESS_NOT_SUPPORTED;
        } else if (rc != PT_ERR_OK) {
            refuse = PT_WIRE_PROTOCOL_ERROR; /* a stream error, §7.2 */
        }
    }
    pt_stream *st = NULL;
    if (refuse == PT_WIRE_NO_ERROR) {
        st = st_new(s);
        if (!st) {
            refuse = PT_WIRE_REFUSED_STREAM; /* nothing was done: retry elsewhere */
        }
    }
    if (refuse != PT_WIRE_NO_ERROR) {
        uint8_t pl[4];
        pt_frame_put_u32(pl, refuse);
        return seal_ctl(s, PT_FRAME_STREAM_CLOSE, sid, pl, sizeof(pl));
    }
    st->sid = sid;
    st->state = SS_PENDING;
    st->send_window = s->peer.stream_window;
    st->recv_credit = s->local.stream_window;
    st->recv_win = s->local.stream_window;
    ht_insert(s, st);
    s->remote_open++;
    touch(s, st);
    if (s->cb.on_stream_incoming) {
        s->cb.on_stream_incoming(s, s->user, sid, &addr, &st->user);
    }
    return PT_ERR_OK;
}

static int on_stream_close(pt_session *s, uint32_t sid, const uint8_t *p, size_t n)
{
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return sid_used(s, sid) ? PT_ERR_OK : PT_ERR_PROTO;
    }
    uint32_t code = norm_code(pt_frame_close_code(p, n));
    if (code != PT_WIRE_NO_ERROR) {
        return stream_abort(s, st, code, 0, 1); /* RST (§7.3) */
    }
    if (st->state == SS_OPENING) {
        /* A FIN instead of an answer: §7.2 allows only STREAM_OPEN or an error. */
        return stream_abort(s, st, PT_WIRE_PROTOCOL_ERROR, 1, 1);
    }
    if (st->flags & SF_FIN_RECV) {
        return stream_abort(s, st, PT_WIRE_STREAM_CLOSED, 1, 1); /* second FIN, §7.3 */
    }
    st->flags |= SF_FIN_RECV;
    if (s->cb.on_stream_fin) {
        s->cb.on_stream_fin(s, s->user, sid, st->user);
    }
    if (st->state != SS_CLOSED && (st->flags & SF_FIN_SENT)) {
        stream_closed(s, st, 0, PT_WIRE_NO_ERROR);
    }
    return PT_ERR_OK;
}

static int on_window_update(pt_session *s, uint32_t sid, const uint8_t *p)
{
    uint32_t inc = pt_frame_window_increment(p);
    if (inc > PT_MAX_CONN_WINDOW) {
        return PT_ERR_PROTO; /* §6.3: 1..2^31-1 */
    }
    if (sid == 0) {
        s->conn_send_window += inc;
        if (s->conn_send_window > (int64_t)PT_MAX_CONN_WINDOW) {
            return PT_ERR_FLOW_CONTROL; /* §8.2 */
        }
        return PT_ERR_OK;
    }
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return sid_used(s, sid) ? PT_ERR_OK : PT_ERR_PROTO;
    }
    st->send_window += inc;
    if (st->send_window > (int64_t)PT_MAX_STREAM_WINDOW) {
        return stream_abort(s, st, PT_WIRE_FLOW_CONTROL_ERROR, 1, 1);
    }
    s->ww_check = 1;
    update_ready(s, st);
    return PT_ERR_OK;
}

static int on_goaway(pt_session *s, const uint8_t *p)
{
    uint32_t last, code;
    pt_frame_goaway_fields(p, &last, &code);
    code = norm_code(code);
    if (s->goaway_recv && last > s->goaway_recv_last) {
        return PT_ERR_PROTO; /* §11.2: never a higher one */
    }
    s->goaway_recv = 1;
    s->goaway_recv_last = last;
    /* Our streams above |last| were not and will not be processed. */
    for (size_t i = 0; i <= s->ht_mask; i++) {
        pt_stream *st = s->ht[i];
        while (st) {
            pt_stream *next = st->hnext;
            if ((st->flags & SF_LOCAL) && st->sid > last) {
                stream_closed(s, st, st->state == SS_OPENING ? EV_FAILED : EV_RESET,
                              PT_WIRE_REFUSED_STREAM);
            }
            st = next;
        }
    }
    if (s->cb.on_goaway) {
        s->cb.on_goaway(s, s->user, last, code);
    }
    if (code != PT_WIRE_NO_ERROR && !s->closed) {
        /* The peer is tearing the session down (§10.2). */
        return session_close_ex(s, wire_to_err(code), 0, code);
    }
    return PT_ERR_OK;
}

static int handle_frame(pt_session *s, const pt_frame_hdr *h, const uint8_t *p)
{
    s->frames_received++;
    s->last_rx = s->now;
    s->ping_out = 0; /* any frame proves the peer alive (§11.1) */
    switch (h->type) {
    case PT_FRAME_DATA:
        return on_data(s, h->stream_id, p, h->payload_len);
    case PT_FRAME_STREAM_OPEN:
        return on_stream_open(s, h->stream_id, p, h->payload_len);
    case PT_FRAME_STREAM_CLOSE:
        return on_stream_close(s, h->stream_id, p, h->payload_len);
    case PT_FRAME_WINDOW_UPDATE:
        return on_window_update(s, h->stream_id, p);
    case PT_FRAME_PING:
        return seal_ctl(s, PT_FRAME_PONG, 0, p, 8); /* same 8 bytes, ahead of DATA */
    case PT_FRAME_PONG:
        /* Liveness already noted; unmatched ones are ignored. */
        if (s->ping_rtt && sodium_memcmp(p, s->ping_data, sizeof(s->ping_data)) == 0) {
            s->ping_rtt = 0;
            rtt_sample(s, s->ping_sent);
        }
        return PT_ERR_OK;
    case PT_FRAME_GOAWAY:
        return on_goaway(s, p);
    case PT_FRAME_PADDING:
        return PT_ERR_OK;
    case PT_FRAME_KEY_UPDATE:
        s->rekeys_received++; /* the opener has already switched keys */
        return PT_ERR_OK;
    default:
        return PT_ERR_PROTO; /* pt_frame_open rejects these already */
    }
}

static int on_bytes(pt_session *s, uint8_t *in, size_t len, uint64_t now, int inplace)
{
    if (s->depth > 0 || s->closed) {
        return PT_ERR_STATE;
    }
    enter(s, now);
    int rc = PT_ERR_OK;
    while (len > 0 && !s->closed) {
        size_t used = 0;
        pt_frame_hdr h;
        uint8_t *pl = NULL;
        if (s->rlen > 0 || !inplace) {
            /* Reassemble: first the 2-byte prefix, then the announced rest. */
            size_t take = s->rneed - s->rlen;
            if (take > len) {
                take = len;
            }
            memcpy(s->rbuf + s->rlen, in, take);
            s->rlen += take;
            in += take;
            len -= take;
            if (s->rlen < s->rneed) {
                break;
            }
            rc = pt_frame_open(&s->rx, s->rbuf, s->rlen, &used, &h, &pl);
            if (rc == PT_ERR_AGAIN) {
                s->rneed = used;
                rc = PT_ERR_OK;
                continue;
            }
            if (rc != PT_ERR_OK) {
                break;
            }
            s->rlen = 0;
            s->rneed = PT_FRAME_PREFIX_LEN;
        } else {
            rc = pt_frame_open(&s->rx, in, len, &used, &h, &pl);
            if (rc == PT_ERR_AGAIN) {
                memcpy(s->rbuf, in, len); /* the opener keeps the decoded prefix */
                s->rlen = len;
                s->rneed = used;
                rc = PT_ERR_OK;
                break;
            }
            if (rc != PT_ERR_OK) {
                break;
            }
            in += used;
            len -= used;
        }
        rc = handle_frame(s, &h, pl);
        if (rc != PT_ERR_OK) {
            break;
        }
    }
    if (rc != PT_ERR_OK) {
        session_fail(s, rc);
    }
    leave(s);
    return rc;
}

/* ---- lifetime ----------------------------------------------------------- */

void pt_session_config_default(pt_session_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    pt_pad_policy_default(&cfg->pad);
    cfg->keepalive_interval_ms = 30000;
    cfg->keepalive_timeout_ms = 30000;
    cfg->stream_idle_timeout_ms = 300000;
    cfg->rekey_frames = 1ull << 28;
    cfg->rekey_ms = 3600000;
    cfg->max_payload = PT_SESSION_DEFAULT_MAX_PAYLOAD;
    cfg->max_output_queued = 256u * 1024;
    cfg->stream_send_buffer = 256u * 1024;
    cfg->max_buffer_bytes = 32u * 1024 * 1024;
    cfg->window_autotune = 1;
}

static int settings_ok(const pt_hs_settings *st)
{
    return st->stream_window >= 1 && st->stream_window <= PT_MAX_STREAM_WINDOW &&
           st->conn_window >= 1 && st->conn_window <= PT_MAX_CONN_WINDOW &&
           st->max_streams <= PT_MAX_MAX_STREAMS;
}

static int config_ok(const pt_session_config *c)
{
    if (c->max_payload < 1 || c->max_payload > PT_FRAME_MAX_PAYLOAD) {
        return 0;
    }
    if (c->rekey_frames < 2 || c->rekey_frames > 0xffffffffull) {
        return 0; /* §6.5: MUST rekey before 2^32 frames */
    }
    if (c->keepalive_interval_ms && !c->keepalive_timeout_ms) {
        return 0;
    }
    if (c->max_output_queued < 1 || c->stream_send_buffer < 1) {
        return 0;
    }
    if (c->pad.strategy > PT_PAD_POWER_OF_TWO || c->pad.min_size > 262 ||
        (c->pad.strategy == PT_PAD_BLOCK && (c->pad.block < 1 || c->pad.block > 256))) {
        return 0;
    }
    return 1;
}

/* Take over one direction's keys: copy the key material and counter, then
 * key a fresh AEAD context on our copy (no EVP context is ever moved). */
static int take_dir(pt_frame_dir *dst, const pt_frame_dir *src)
{
    memcpy(dst->k_data, src->k_data, sizeof(dst->k_data));
    memcpy(dst->k_len, src->k_len, sizeof(dst->k_len));
    dst->n = src->n;
    return pt_aead_init(&dst->aead, src->aead.backend, dst->k_data);
}

int pt_session_new(pt_session **out, const pt_session_config *cfg, pt_hs_keys *keys, int is_client,
                   const pt_hs_settings *local, const pt_hs_settings *peer,
                   const pt_session_callbacks *cb, void *user, uint64_t now_ms)
{
    pt_session_config c;
    if (cfg) {
        c = *cfg;
    } else {
        pt_session_config_default(&c);
    }
    *out = NULL;
    if (!config_ok(&c) || !settings_ok(local) || !settings_ok(peer) || !keys->tx.aead.ready ||
        !keys->rx.dir.aead.ready) {
        return PT_ERR_CONFIG;
    }
    if (sodium_init() < 0) {
        return PT_ERR_CRYPTO;
    }
    pt_session *s = mem_alloc(&c.mem, sizeof(*s));
    if (!s) {
        return PT_ERR_NOMEM;
    }
    memset(s, 0, sizeof(*s));
    s->cfg = c;
    s->mem_bytes = sizeof(*s);
    if (cb) {
        s->cb = *cb;
    }
    s->user = user;
    s->is_client = is_client ? 1 : 0;
    s->local = *local;
    s->peer = *peer;
    s->now = now_ms;
    s->last_rx = now_ms;
    s->last_rekey = now_ms;
    s->last_tx = now_ms;
    if (s->cfg.cover_interval_ms) {
        cover_draw(s);
    }
    s->rneed = PT_FRAME_PREFIX_LEN;
    s->next_local_sid = s->is_client ? 1 : 2;
    s->conn_send_window = peer->conn_window;
    s->conn_recv_credit = local->conn_window;
    s->conn_win = local->conn_window;
    s->conn_win_max =
        local->conn_window > AUTOTUNE_CONN_MAX ? local->conn_window : AUTOTUNE_CONN_MAX;
    s->rtt_ms = UINT64_MAX;
    dl_init(&s->ready);
    dl_init(&s->idle);
    dl_init(&s->ww);
    dl_init(&s->events);
    crypto_shorthash_keygen(s->ht_key);

    size_t bs = PT_FRAME_PAYLOAD_OFFSET + c.max_payload + PT_FRAME_MAX_PAD + PT_FRAME_TAG_LEN;
    s->blk_size = bs > CTL_FRAME_ROOM ? bs : CTL_FRAME_ROOM;
    size_t blocks = c.max_buffer_bytes / s->blk_size;
    s->ctl_max = blocks / 8 > MIN_CTL_BLOCKS ? blocks / 8 : MIN_CTL_BLOCKS;
    s->data_max = blocks > s->ctl_max + MIN_DATA_BLOCKS ? blocks - s->ctl_max : MIN_DATA_BLOCKS;
    s->fill_max = c.max_payload;
    if (c.pad.strategy == PT_PAD_POWER_OF_TWO) {
        size_t p = pow2_floor(PT_FRAME_HDR_LEN + c.max_payload);
        s->fill_max = p > PT_FRAME_HDR_LEN ? p - PT_FRAME_HDR_LEN : 1;
    }

    s->rbuf = s_alloc(s, PT_FRAME_MAX_WIRE);
    s->ht = s_alloc(s, HT_INITIAL * sizeof(*s->ht));
    if (s->ht) {
        memset(s->ht, 0, HT_INITIAL * sizeof(*s->ht));
        s->ht_mask = HT_INITIAL - 1;
    }
    int rc = (s->rbuf && s->ht) ? PT_ERR_OK : PT_ERR_NOMEM;
    if (rc == PT_ERR_OK) {
        rc = take_dir(&s->tx, &keys->tx);
    }
    if (rc == PT_ERR_OK) {
        rc = take_dir(&s->rx.dir, &keys->rx.dir);
        s->rx.have_len = 0;
    }
    if (rc != PT_ERR_OK) {
        pt_session_free(s); /* wipes our copies; |keys| stays the caller's */
        return rc;
    }
    pt_hs_keys_cleanup(keys); /* ownership taken */
    *out = s;
    return PT_ERR_OK;
}

void pt_session_free(pt_session *s)
{
    if (!s) {
        return;
    }
    assert(s->depth == 0); /* not from a callback */
    for (size_t i = 0; s->ht && i <= s->ht_mask; i++) {
        while (s->ht[i]) {
            pt_stream *st = s->ht[i];
            s->ht[i] = st->hnext;
            drop_send_queue(s, st);
            s_free(s, st, sizeof(*st));
        }
    }
    while (!dl_empty(&s->events)) {
        pt_stream *st = CONTAINER_OF(s->events.next, pt_stream, evl);
        dl_del(&st->evl);
        s_free(s, st, sizeof(*st));
    }
    while (s->st_free) {
        pt_stream *st = s->st_free;
        s->st_free = st->hnext;
        s_free(s, st, sizeof(*st));
    }
    s->hand = NULL;
    s->out_handed = 0;
    free_entry_chain(s, s->oq_head);
    s->oq_head = s->oq_tail = NULL;
    if (s->outblk) {
        blk_unref(s, s->outblk);
        s->outblk = NULL;
    }
    while (s->oent_free) {
        oent *e = s->oent_free;
        s->oent_free = e->next;
        s_free(s, e, sizeof(*e));
    }
    while (s->blk_free) {
        blk *b = s->blk_free;
        s->blk_free = b->next;
        s_free(s, b, blk_bytes(s));
    }
    if (s->ht) {
        s_free(s, s->ht, (s->ht_mask + 1) * sizeof(*s->ht));
    }
    if (s->rbuf) {
        sodium_memzero(s->rbuf, PT_FRAME_MAX_WIRE); /* last plaintext frame */
        s_free(s, s->rbuf, PT_FRAME_MAX_WIRE);
    }
    pt_frame_dir_cleanup(&s->tx);
    pt_frame_opener_cleanup(&s->rx);
    pt_session_mem mem = s->cfg.mem;
    sodium_memzero(s, sizeof(*s));
    mem_release(&mem, s);
}

void *pt_session_get_user(const pt_session *s)
{
    return s->user;
}

/* ---- input / output ----------------------------------------------------- */

int pt_session_on_bytes(pt_session *s, const uint8_t *in, size_t len, uint64_t now_ms)
{
    /* The non-in-place path only reads |in| (memcpy into the reassembly buffer). */
    return on_bytes(s, (uint8_t *)(uintptr_t)in, len, now_ms, 0);
}

int pt_session_on_bytes_inplace(pt_session *s, uint8_t *in, size_t len, uint64_t now_ms)
{
    return on_bytes(s, in, len, now_ms, 1);
}

size_t pt_session_pending_output(pt_session *s, struct iovec *iov, size_t max_iov)
{
    /* Seal, deliver callbacks (writers woken by the sealing may add data), seal
     * again; a few rounds at most, the output budget bounds each. */
    for (int round = 0; round < 4; round++) {
        enter(s, s->now);
        int rc = s->closed ? PT_ERR_OK : schedule(s);
        if (rc != PT_ERR_OK) {
            session_fail(s, rc);
        }
        int more = !dl_empty(&s->events) || s->ww_check;
        leave(s);
        if (!more || s->closed) {
            break;
        }
    }
    size_t n = 0;
    while (n < max_iov && s->hand) {
        oent *e = s->hand;
        iov[n].iov_base = (void *)(uintptr_t)(e->p + s->hand_off);
        iov[n].iov_len = e->len - s->hand_off;
        s->out_handed += e->len - s->hand_off;
        n++;
        s->hand = e->next;
        s->hand_off = 0;
    }
    return n;
}

void pt_session_output_written(pt_session *s, size_t nbytes)
{
    enter(s, s->now);
    out_release(s, nbytes);
    leave(s);
}

int pt_session_want_write(const pt_session *s)
{
    if (s->hand) {
        return 1;
    }
    if (s->closed) {
        return 0;
    }
    if (s->conn_recv_pending >= half(s->conn_win) || s->conn_win_floor > s->conn_win) {
        return 1;
    }
    /* May say yes for streams that only the connection window holds back. */
    return s->nready > 0 && s->out_bytes < s->cfg.max_output_queued;
}

/* ---- timers ------------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t pt_session_next_deadline(const pt_session *s)
{
    uint64_t d = UINT64_MAX, t;
    if (s->closed) {
        return d;
    }
    if (s->cfg.keepalive_interval_ms) {
        d = s->ping_out ? add_sat(s->ping_sent, s->cfg.keepalive_timeout_ms)
                        : add_sat(s->last_rx, s->cfg.keepalive_interval_ms);
    }
    if (s->cfg.stream_idle_timeout_ms && !dl_empty(&s->idle)) {
        const pt_stream *st = CONTAINER_OF(s->idle.next, pt_stream, idle);
        t = add_sat(st->last_active, s->cfg.stream_idle_timeout_ms);
        d = t < d ? t : d;
    }
    if (s->cfg.rekey_ms) {
        t = add_sat(s->last_rekey, s->cfg.rekey_ms);
        d = t < d ? t : d;
    }
    if (s->cfg.cover_interval_ms && s->out_bytes == 0) {
        /* (with output still unwritten the tunnel is not idle; the write's
         * completion re-arms the timer) */
        t = add_sat(s->last_tx, s->cover_gap);
        d = t < d ? t : d;
    }
    return d;
}

/* A fresh idle gap, uniform in [interval/2, 3*interval/2]: a fixed period
 * would itself be a fingerprint (as a fixed keepalive is). */
static void cover_draw(pt_session *s)
{
    uint64_t iv = s->cfg.cover_interval_ms;
    uint32_t span = iv > UINT32_MAX ? UINT32_MAX : (uint32_t)iv;
    s->cover_gap = iv / 2 + (span ? randombytes_uniform(span) : 0) + (iv ? 1 : 0);
    s->cover_base = s->last_tx;
}

/* Cover traffic: once the session has sent nothing for its gap, one
 * PADDING frame of random length (zeros: the AEAD makes them random on the
 * wire, and the padding policy applies as to any frame). */
static int cover_due(pt_session *s, uint64_t now)
{
    static const uint8_t zeros[PT_SESSION_COVER_MAX_PAYLOAD];
    if (s->cover_base != s->last_tx) {
        cover_draw(s); /* something was sent: a new idle period */
    }
    if (s->out_bytes != 0 || now < add_sat(s->last_tx, s->cover_gap)) {
        return PT_ERR_OK;
    }
    int rc = seal_ctl(s, PT_FRAME_PADDING, 0, zeros,
                      randombytes_uniform(PT_SESSION_COVER_MAX_PAYLOAD + 1));
    if (rc == PT_ERR_OK) {
        s->cover_sent++;
        cover_draw(s);
    }
    return rc;
}

int pt_session_on_timer(pt_session *s, uint64_t now_ms)
{
    if (s->depth > 0 || s->closed) {
        return PT_ERR_STATE;
    }
    enter(s, now_ms);
    uint64_t now = s->now;
    int rc = PT_ERR_OK;
    if (s->cfg.keepalive_interval_ms) {
        if (s->ping_out) {
            if (now >= add_sat(s->ping_sent, s->cfg.keepalive_timeout_ms)) {
                rc = PT_ERR_TIMEOUT; /* §11.1: the session is dead */
            }
        } else if (now >= add_sat(s->last_rx, s->cfg.keepalive_interval_ms)) {
            randombytes_buf(s->ping_data, sizeof(s->ping_data));
            rc = seal_ctl(s, PT_FRAME_PING, 0, s->ping_data, sizeof(s->ping_data));
            s->ping_out = 1;
            s->ping_rtt = 1;
            s->ping_sent = now;
            s->pings_sent++;
        }
    }
    while (rc == PT_ERR_OK && s->cfg.stream_idle_timeout_ms && !dl_empty(&s->idle)) {
        pt_stream *st = CONTAINER_OF(s->idle.next, pt_stream, idle);
        if (add_sat(st->last_active, s->cfg.stream_idle_timeout_ms) > now) {
            break;
        }
        rc = stream_abort(s, st, PT_WIRE_IDLE_TIMEOUT, 1, 1); /* §7.3 */
    }
    if (rc == PT_ERR_OK && s->cfg.rekey_ms && now >= add_sat(s->last_rekey, s->cfg.rekey_ms)) {
        rc = seal_ctl(s, PT_FRAME_KEY_UPDATE, 0, NULL, 0); /* §6.5: one hour */
    }
    if (rc == PT_ERR_OK && s->cfg.cover_interval_ms) {
        rc = cover_due(s, now);
    }
    if (rc != PT_ERR_OK) {
        session_fail(s, rc);
    }
    leave(s);
    return rc;
}

/* ---- shutdown ----------------------------------------------------------- */

int pt_session_goaway(pt_session *s, uint32_t code)
{
    if (s->closed) {
        return PT_ERR_STATE;
    }
    enter(s, s->now);
    uint32_t last = s->goaway_sent ? s->goaway_sent_last : s->max_remote_sid;
    uint8_t pl[8];
    pt_frame_put_goaway(pl, last, code);
    int rc = seal_ctl(s, PT_FRAME_GOAWAY, 0, pl, sizeof(pl));
    if (rc == PT_ERR_OK) {
        s->goaway_sent = 1;
        s->goaway_sent_last = last;
    } else {
        session_fail(s, rc);
    }
    leave(s);
    return rc;
}

int pt_session_is_drained(const pt_session *s)
{
    if (s->out_bytes != 0) {
        return 0;
    }
    return s->closed || ((s->goaway_sent || s->goaway_recv) && s->nstreams == 0);
}

int pt_session_is_closed(const pt_session *s)
{
    return s->closed;
}

int pt_session_close_error(const pt_session *s)
{
    return s->close_err;
}

void pt_session_close(pt_session *s, int err)
{
    if (s->closed) {
        return;
    }
    enter(s, s->now);
    session_fail(s, err);
    leave(s);
}

/* ---- streams ------------------------------------------------------------ */

/* A fatal error in a stream call: the session dies; callbacks follow from the
 * next driver call (stream calls never call back). */
static int stream_call_fail(pt_session *s, int rc)
{
    if (pt_err_is_fatal(rc) || rc == PT_ERR_NOMEM) {
        session_fail(s, rc);
    }
    return rc;
}

int pt_session_stream_open(pt_session *s, const pt_addr *target, void *stream_user, uint32_t *sid)
{
    uint8_t buf[PT_ADDR_MAX_ENCODED];
    pt_cbb b;

    if (s->closed || s->goaway_sent || s->goaway_recv || !s->is_client ||
        s->next_local_sid > PT_STREAM_ID_MAX) {
        return PT_ERR_STATE;
    }
    if (s->local_open >= s->peer.max_streams) {
        return PT_ERR_STREAM_LIMIT; /* §7.4 */
    }
    if (s->ctl_in_use >= s->ctl_max * 3 / 4) {
        return PT_ERR_NOMEM; /* output not drained: leave room for answers */
    }
    pt_cbb_init(&b, buf, sizeof(buf));
    if (pt_addr_encode(&b, target) != PT_ERR_OK) {
        return PT_ERR_INVAL;
    }
    pt_stream *st = st_new(s);
    if (!st) {
        return PT_ERR_NOMEM; /* nothing sent: the session lives on */
    }
    uint32_t id = s->next_local_sid;
    int rc = seal_ctl(s, PT_FRAME_STREAM_OPEN, id, buf, b.len);
    if (rc != PT_ERR_OK) {
        st_put(s, st);
        return stream_call_fail(s, rc);
    }
    s->next_local_sid += 2;
    st->sid = id;
    st->state = SS_OPENING;
    st->flags = SF_LOCAL;
    st->user = stream_user;
    st->send_window = s->peer.stream_window;
    st->recv_credit = s->local.stream_window;
    st->recv_win = s->local.stream_window;
    ht_insert(s, st);
    s->local_open++;
    touch(s, st);
    *sid = id;
    if (s->next_local_sid > PT_STREAM_ID_MAX && !s->goaway_sent) {
        /* §7.1: ids used up; say so, finish these streams, open a new session. */
        uint8_t pl[8];
        pt_frame_put_goaway(pl, s->max_remote_sid, PT_WIRE_NO_ERROR);
        rc = seal_ctl(s, PT_FRAME_GOAWAY, 0, pl, sizeof(pl));
        if (rc != PT_ERR_OK) {
            /* The stream exists: it hears of the session's death by callback. */
            session_fail(s, rc);
            return PT_ERR_OK;
        }
        s->goaway_sent = 1;
        s->goaway_sent_last = s->max_remote_sid;
    }
    return PT_ERR_OK;
}

int pt_session_stream_accept(pt_session *s, uint32_t sid, const pt_addr *bound)
{
    uint8_t buf[PT_ADDR_MAX_ENCODED];
    pt_cbb b;
    pt_addr zero;

    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (st->state != SS_PENDING) {
        return PT_ERR_STATE;
    }
    if (!bound) {
        memset(&zero, 0, sizeof(zero));
        zero.type = PT_ADDR_IPV4; /* §7.2: 0.0.0.0:0 when not revealed */
        bound = &zero;
    }
    pt_cbb_init(&b, buf, sizeof(buf));
    if (pt_addr_encode(&b, bound) != PT_ERR_OK) {
        return PT_ERR_INVAL;
    }
    int rc = seal_ctl(s, PT_FRAME_STREAM_OPEN, sid, buf, b.len);
    if (rc != PT_ERR_OK) {
        return stream_call_fail(s, rc);
    }
    st->state = SS_OPEN;
    update_ready(s, st);
    return PT_ERR_OK;
}

int pt_session_stream_reject(pt_session *s, uint32_t sid, uint32_t code)
{
    if (code == PT_WIRE_NO_ERROR) {
        return PT_ERR_INVAL;
    }
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (st->state != SS_PENDING) {
        return PT_ERR_STATE;
    }
    return stream_call_fail(s, stream_abort(s, st, code, 1, 0));
}

/* The block the next written byte goes to: the tail if it has room, else a
 * new one from the pool (NULL when the pool is at its data bound). */
static blk *tail_block(pt_session *s, pt_stream *st)
{
    if (st->sq_tail && st->sq_tail->fill < s->fill_max) {
        return st->sq_tail;
    }
    blk *b = blk_get(s, 0);
    if (!b) {
        return NULL;
    }
    if (st->sq_tail) {
        st->sq_tail->next = b;
    } else {
        st->sq_head = b;
    }
    st->sq_tail = b;
    return b;
}

int pt_session_stream_write(pt_session *s, uint32_t sid, const uint8_t *data, size_t len,
                            size_t *accepted)
{
    *accepted = 0;
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (!can_write(st)) {
        return PT_ERR_STATE;
    }
    st->flags &= (uint8_t)~SF_RESERVED;
    size_t room = allowance(s, st);
    size_t done = 0;
    while (done < len && room > 0) {
        blk *b = tail_block(s, st);
        if (!b) {
            break;
        }
        size_t k = s->fill_max - b->fill;
        if (k > len - done) {
            k = len - done;
        }
        if (k > room) {
            k = room;
        }
        memcpy(b->data + PT_FRAME_PAYLOAD_OFFSET + b->fill, data + done, k);
        b->fill += (uint32_t)k;
        done += k;
        room -= k;
    }
    st->send_buffered += done;
    s->send_buffered += done;
    *accepted = done;
    if (done) {
        update_ready(s, st);
    }
    if (done < len) {
        want_writable(s, st);
        if (done == 0) {
            return PT_ERR_FLOW_BLOCKED;
        }
    }
    return PT_ERR_OK;
}

int pt_session_stream_reserve(pt_session *s, uint32_t sid, uint8_t **p, size_t *max)
{
    *p = NULL;
    *max = 0;
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (!can_write(st)) {
        return PT_ERR_STATE;
    }
    st->flags &= (uint8_t)~SF_RESERVED;
    size_t room = allowance(s, st);
    blk *b = room ? tail_block(s, st) : NULL;
    if (!b) {
        want_writable(s, st);
        return PT_ERR_FLOW_BLOCKED;
    }
    size_t k = s->fill_max - b->fill;
    *max = k < room ? k : room;
    *p = b->data + PT_FRAME_PAYLOAD_OFFSET + b->fill;
    st->reserved_max = *max;
    st->flags |= SF_RESERVED;
    return PT_ERR_OK;
}

int pt_session_stream_commit(pt_session *s, uint32_t sid, size_t n)
{
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (!(st->flags & SF_RESERVED)) {
        return PT_ERR_STATE;
    }
    if (n > st->reserved_max) {
        return PT_ERR_INVAL;
    }
    st->flags &= (uint8_t)~SF_RESERVED;
    st->sq_tail->fill += (uint32_t)n;
    st->send_buffered += n;
    s->send_buffered += n;
    update_ready(s, st);
    return PT_ERR_OK;
}

int pt_session_stream_shutdown(pt_session *s, uint32_t sid)
{
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (st->state == SS_PENDING) {
        return PT_ERR_STATE;
    }
    if (st->flags & (SF_FIN_QUEUED | SF_FIN_SENT)) {
        return PT_ERR_OK;
    }
    st->flags |= SF_FIN_QUEUED;
    st->flags &= (uint8_t)~SF_RESERVED;
    if (dl_on(&st->ww)) {
        dl_del(&st->ww);
        s->nww--;
    }
    update_ready(s, st);
    return PT_ERR_OK;
}

int pt_session_stream_reset(pt_session *s, uint32_t sid, uint32_t code)
{
    if (code == PT_WIRE_NO_ERROR) {
        return PT_ERR_INVAL;
    }
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    return stream_call_fail(s, stream_abort(s, st, code, 1, 0));
}

int pt_session_stream_consumed(pt_session *s, uint32_t sid, size_t n)
{
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    if (n > st->unconsumed) {
        return PT_ERR_INVAL;
    }
    st->unconsumed -= (uint32_t)n;
    s->conn_recv_pending += (uint32_t)n;
    int rc = PT_ERR_OK;
    /* §8.2: credit the stream once half its window is consumed; after the
     * peer's FIN no more DATA can come, so no update is needed. */
    if (!(st->flags & SF_FIN_RECV)) {
        st->recv_pending += (uint32_t)n;
        if (st->recv_pending >= half(st->recv_win)) {
            /* Auto-tuning: |s->now| is the time of the latest driver call. */
            uint32_t win = tune_grow(s, st->tune & TUNE_WU_SENT, st->wu_ms, st->recv_win,
                                     PT_MAX_STREAM_WINDOW);
            uint32_t inc = st->recv_pending + (win - st->recv_win);
            uint8_t pl[4];
            pt_frame_put_u32(pl, inc);
            rc = seal_ctl(s, PT_FRAME_WINDOW_UPDATE, sid, pl, sizeof(pl));
            if (rc == PT_ERR_OK) {
                if (!(st->tune & TUNE_PROBE)) {
                    st->tune |= TUNE_PROBE;
                    st->probe_limit = st->recv_off + st->recv_credit;
                    st->probe_ms = s->now;
                }
                st->recv_credit += inc; /* <= recv_win <= PT_MAX_STREAM_WINDOW */
                st->recv_pending = 0;
                /* After growth keep the connection window at twice the
                 * largest stream window, so one stalled grown stream cannot
                 * freeze the others. */
                uint64_t floor = 2 * (uint64_t)win;
                if (floor > s->conn_win_max) {
                    floor = s->conn_win_max;
                }
                if (win > st->recv_win && floor > s->conn_win_floor) {
                    s->conn_win_floor = (uint32_t)floor;
                }
                st->recv_win = win;
                st->tune |= TUNE_WU_SENT;
                st->wu_ms = s->now;
            }
        }
    }
    if (rc == PT_ERR_OK) {
        rc = flush_conn_credit(s);
    }
    return rc == PT_ERR_OK ? rc : stream_call_fail(s, rc);
}

int pt_session_stream_set_user(pt_session *s, uint32_t sid, void *stream_user)
{
    pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    st->user = stream_user;
    return PT_ERR_OK;
}

/* ---- introspection ------------------------------------------------------ */

int pt_session_stream_get_info(const pt_session *s, uint32_t sid, pt_session_stream_info *info)
{
    const pt_stream *st = st_find(s, sid);
    if (!st) {
        return PT_ERR_STREAM_CLOSED;
    }
    info->state = st->state;
    info->fin_sent = (st->flags & SF_FIN_SENT) != 0;
    info->fin_received = (st->flags & SF_FIN_RECV) != 0;
    info->send_window = st->send_window;
    info->recv_window = st->recv_credit;
    info->unconsumed = st->unconsumed;
    info->recv_window_size = st->recv_win;
    info->send_buffered = st->send_buffered;
    return PT_ERR_OK;
}

void pt_session_get_stats(const pt_session *s, pt_session_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->streams = s->nstreams;
    st->blocks_in_use = s->blk_in_use;
    st->block_size = s->blk_size;
    st->buffered_bytes = s->blk_in_use * s->blk_size + PT_FRAME_MAX_WIRE;
    st->mem_bytes = s->mem_bytes;
    st->send_buffered = s->send_buffered;
    st->output_queued = s->out_bytes;
    st->conn_send_window = s->conn_send_window;
    st->conn_recv_window = s->conn_recv_credit;
    st->conn_recv_window_size = s->conn_win;
    st->rtt_ms = s->rtt_ms;
    st->frames_sent = s->frames_sent;
    st->frames_received = s->frames_received;
    st->data_bytes_sent = s->data_sent;
    st->data_bytes_received = s->data_received;
    st->rekeys_sent = s->rekeys_sent;
    st->rekeys_received = s->rekeys_received;
    st->pings_sent = s->pings_sent;
    st->cover_frames_sent = s->cover_sent;
}
