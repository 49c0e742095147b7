/* pt_pipe.c — in-memory transport pair; see pt_pipe.h. */
#include "pt_pipe.h"

#include <stdlib.h>
#include <string.h>

typedef struct pipe_end pipe_end;

typedef struct pipe_write {
    struct pipe_write *next;
    pt_transport_write_cb cb;
    void *arg;
    unsigned nbufs, next_buf;
    size_t left; /* bytes not yet delivered */
    uv_buf_t bufs[];
} pipe_write;

struct pipe_end {
    pt_transport t; /* first */
    pipe_end *peer;
    uv_idle_t idle; /* delivers this end's queued writes to the peer */
    pipe_write *head, *tail;
    size_t queued;
    int reading, shut, eof_sent, closing, delivering;
    pt_transport_close_cb close_cb;
};

static const pt_transport_ops pipe_ops;

static void deliver(uv_idle_t *idle);

/* Fail every queued write of |e| (closing, or the peer is gone). */
static void cancel_writes(pipe_end *e)
{
    while (e->head) {
        pipe_write *w = e->head;
        e->head = w->next;
        e->queued -= w->left;
        if (w->cb) {
            w->cb(&e->t, UV_ECANCELED, w->arg);
        }
        free(w);
    }
    e->tail = NULL;
}

static void arm(pipe_end *e)
{
    if (!e->closing) {
        uv_idle_start(&e->idle, deliver);
    }
}

/* Move queued writes of |e| into |e->peer|'s on_read while it reads. */
static void deliver(uv_idle_t *idle)
{
    pipe_end *e = idle->data;
    pipe_end *p = e->peer;
    if (!p) {
        /* The other end was closed: our unsent writes fail, and a reader
         * sees the reset, as over TCP. */
        uv_idle_stop(&e->idle);
        cancel_writes(e);
        if (e->reading && !e->eof_sent && !e->closing) {
            e->eof_sent = 1;
            if (e->t.on_eof) {
                e->t.on_eof(&e->t, UV_ECONNRESET);
            }
        }
        return;
    }
    e->delivering = 1;
    while (e->head && p && p->reading && !p->closing) {
        pipe_write *w = e->head;
        while (w->next_buf < w->nbufs && p->reading && !p->closing && !e->closing) {
            uv_buf_t b = w->bufs[w->next_buf++];
            if (b.len) {
                w->left -= b.len;
                e->queued -= b.len;
                p->t.on_read(&p->t, (const uint8_t *)b.base, b.len);
            }
        }
        if (e->closing) {
            break; /* the reader closed the writer from on_read */
        }
        if (w->next_buf < w->nbufs) {
            break; /* the peer stopped reading inside on_read */
        }
        e->head = w->next;
        if (!e->head) {
            e->tail = NULL;
        }
        if (w->cb) {
            w->cb(&e->t, 0, w->arg);
        }
        free(w);
        if (e->closing) {
            break;
        }
        p = e->peer;
    }
    e->delivering = 0;
    if (e->closing) {
        cancel_writes(e);
        return;
    }
    if (!e->head && e->shut && p && !p->eof_sent && p->reading && !p->closing) {
        p->eof_sent = 1;
        if (p->t.on_eof) {
            p->t.on_eof(&p->t, 0);
        }
    }
    if (!e->head || !p || !p->reading) {
        uv_idle_stop(&e->idle);
    }
}

static int pipe_read_start(pt_transport *t)
{
    pipe_end *e = (pipe_end *)t;
    if (e->closing) {
        return UV_EINVAL;
    }
    e->reading = 1;
    if (e->peer) {
        arm(e->peer);
    } else if (!e->eof_sent) {
        arm(e); /* the peer is gone: report the reset from the loop */
    }
    return 0;
}

static int pipe_read_stop(pt_transport *t)
{
    ((pipe_end *)t)->reading = 0;
    return 0;
}

static int pipe_write_fn(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs,
                         pt_transport_write_cb cb, void *arg)
{
    pipe_end *e = (pipe_end *)t;
    if (e->closing || e->shut || !e->peer) {
        return UV_EPIPE;
    }
    pipe_write *w = malloc(sizeof(*w) + nbufs * sizeof(uv_buf_t));
    if (!w) {
        return UV_ENOMEM;
    }
    w->next = NULL;
    w->cb = cb;
    w->arg = arg;
    w->nbufs = nbufs;
    w->next_buf = 0;
    w->left = 0;
    memcpy(w->bufs, bufs, nbufs * sizeof(uv_buf_t));
    for (unsigned i = 0; i < nbufs; i++) {
        w->left += bufs[i].len;
    }
    e->queued += w->left;
    if (e->tail) {
        e->tail->next = w;
    } else {
        e->head = w;
    }
    e->tail = w;
    arm(e);
    return 0;
}

static int pipe_shutdown(pt_transport *t)
{
    pipe_end *e = (pipe_end *)t;
    if (e->closing) {
        return UV_EINVAL;
    }
    e->shut = 1;
    arm(e);
    return 0;
}

static void on_idle_closed(uv_handle_t *h)
{
    pipe_end *e = h->data;
    if (e->close_cb) {
        e->close_cb(&e->t);
    }
    free(e);
}

static void pipe_close(pt_transport *t, pt_transport_close_cb cb)
{
    pipe_end *e = (pipe_end *)t;
    if (e->closing) {
        return;
    }
    e->closing = 1;
    e->close_cb = cb;
    /* Cancel what the peer never read (deliver() does it if it is running). */
    if (!e->delivering) {
        cancel_writes(e);
    }
    pipe_end *p = e->peer;
    if (p) {
        p->peer = NULL;
        e->peer = NULL;
        if (!p->eof_sent && !p->closing) {
            /* Like a TCP reset seen by the other end, from its own loop turn. */
            uv_idle_start(&p->idle, deliver);
        }
    }
    uv_idle_stop(&e->idle);
    uv_close((uv_handle_t *)&e->idle, on_idle_closed);
}

static size_t pipe_queue_size(const pt_transport *t) { return ((const pipe_end *)t)->queued; }

static const pt_transport_ops pipe_ops = {
    .name = "pipe",
    .read_start = pipe_read_start,
    .read_stop = pipe_read_stop,
    .write = pipe_write_fn,
    .shutdown = pipe_shutdown,
    .close = pipe_close,
    .write_queue_size = pipe_queue_size,
};

static pipe_end *end_new(uv_loop_t *loop)
{
    pipe_end *e = calloc(1, sizeof(*e));
    if (!e) {
        return NULL;
    }
    e->t.ops = &pipe_ops;
    e->t.loop = loop;
    uv_idle_init(loop, &e->idle);
    e->idle.data = e;
    return e;
}

int pt_pipe_pair(uv_loop_t *loop, pt_transport **a, pt_transport **b)
{
    pipe_end *x = end_new(loop), *y = x ? end_new(loop) : NULL;
    if (!y) {
        if (x) {
            pipe_close(&x->t, NULL);
        }
        return UV_ENOMEM;
    }
    x->peer = y;
    y->peer = x;
    *a = &x->t;
    *b = &y->t;
    return 0;
}
