/* pt_splice.c — stream <-> transport pump; see pt_splice.h. */
#include "pt_splice.h"

#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_frame.h"

typedef struct chunk {
    pt_splice *sp;
    size_t len;
    uint8_t data[];
} chunk;

struct pt_splice {
    pt_link *link;
    uint32_t sid;
    pt_transport *t;
    int t_open;           /* transport not yet closed */
    int t_eof;            /* transport read side ended */
    int fin_to_send;      /* transport EOF seen, STREAM_CLOSE waits for |pending| */
    int stream_closed;    /* on_stream_closed happened */
    int reset;            /* aborted */
    unsigned writes;      /* transport writes in flight */
    uint8_t *pending;     /* transport bytes the stream has not taken yet */
    size_t pending_len, pending_off;
    uint64_t up, down;
};

static pt_session *sess(pt_splice *sp) { return pt_link_session(sp->link); }

static void on_t_closed(pt_transport *t)
{
    pt_splice *sp = t->data;
    sp->t_open = 0;
    if (sp->stream_closed) {
        free(sp->pending);
        free(sp);
    }
}

static void close_transport(pt_splice *sp)
{
    if (sp->t_open == 1) {
        sp->t->on_read = NULL;
        sp->t->on_eof = NULL;
        pt_transport_close(sp->t, on_t_closed);
        sp->t_open = 2; /* closing */
    }
}

/* Close the transport once the stream is over and our writes are done. */
static void maybe_finish(pt_splice *sp)
{
    if (sp->stream_closed && sp->writes == 0 && sp->t_open == 1) {
        close_transport(sp);
    }
}

/* Abort: the stream (if still alive) and the transport. */
static void abort_both(pt_splice *sp, uint32_t code)
{
    if (!sp->reset && !sp->stream_closed) {
        sp->reset = 1;
        pt_session *s = sess(sp);
        if (s) {
            pt_session_stream_reset(s, sp->sid, code);
        }
    }
    if (sp->t_open == 1) {
        close_transport(sp);
    }
}

/* Push |pending| into the stream; returns 1 when all of it went. */
static int push_pending(pt_splice *sp)
{
    pt_session *s = sess(sp);
    while (sp->pending_off < sp->pending_len && s) {
        size_t acc = 0;
        int rc = pt_session_stream_write(s, sp->sid, sp->pending + sp->pending_off,
                                         sp->pending_len - sp->pending_off, &acc);
        sp->pending_off += acc;
        sp->up += acc;
        if (rc == PT_ERR_FLOW_BLOCKED || (rc == PT_ERR_OK && acc == 0)) {
            return 0;
        }
        if (rc != PT_ERR_OK) {
            abort_both(sp, PT_WIRE_CANCEL);
            return 0;
        }
    }
    free(sp->pending);
    sp->pending = NULL;
    sp->pending_len = sp->pending_off = 0;
    return 1;
}

static void send_fin(pt_splice *sp)
{
    pt_session *s = sess(sp);
    sp->fin_to_send = 0;
    if (s && !sp->stream_closed && !sp->reset) {
        pt_session_stream_shutdown(s, sp->sid);
    }
}

static void t_on_read(pt_transport *t, const uint8_t *data, size_t len)
{
    pt_splice *sp = t->data;
    pt_session *s = sess(sp);
    if (!s || sp->reset || sp->stream_closed) {
        return;
    }
    size_t acc = 0;
    int rc = pt_session_stream_write(s, sp->sid, data, len, &acc);
    sp->up += acc;
    if (rc != PT_ERR_OK && rc != PT_ERR_FLOW_BLOCKED) {
        abort_both(sp, PT_WIRE_CANCEL);
    } else if (acc < len) {
        /* Keep the rest and stop reading: backpressure from the tunnel. */
        sp->pending = malloc(len - acc);
        if (!sp->pending) {
            abort_both(sp, PT_WIRE_INTERNAL_ERROR);
        } else {
            memcpy(sp->pending, data + acc, len - acc);
            sp->pending_len = len - acc;
            sp->pending_off = 0;
            pt_transport_read_stop(t);
        }
    }
    pt_link_flush(sp->link);
}

static void t_on_eof(pt_transport *t, int err)
{
    pt_splice *sp = t->data;
    sp->t_eof = 1;
    if (err != 0) {
        abort_both(sp, PT_WIRE_CANCEL);
    } else if (sp->pending) {
        sp->fin_to_send = 1; /* after the kept bytes */
    } else {
        send_fin(sp);
    }
    pt_link_flush(sp->link);
}

int pt_splice_new(pt_splice **out, pt_link *link, uint32_t sid, pt_transport *t,
                  const uint8_t *initial, size_t initial_len)
{
    pt_splice *sp = calloc(1, sizeof(*sp));
    if (!sp) {
        return PT_ERR_NOMEM;
    }
    sp->link = link;
    sp->sid = sid;
    sp->t = t;
    sp->t_open = 1;
    t->data = sp;
    t->on_read = t_on_read;
    t->on_eof = t_on_eof;
    if (initial_len) {
        sp->pending = malloc(initial_len);
        if (!sp->pending) {
            t->data = NULL;
            t->on_read = NULL;
            t->on_eof = NULL;
            free(sp);
            return PT_ERR_NOMEM;
        }
        memcpy(sp->pending, initial, initial_len);
        sp->pending_len = initial_len;
    }
    if (!sp->pending || push_pending(sp)) {
        pt_transport_read_start(t);
    }
    *out = sp;
    return PT_ERR_OK;
}

static void on_t_written(pt_transport *t, int status, void *arg)
{
    chunk *c = arg;
    pt_splice *sp = c->sp;
    (void)t;
    sp->writes--;
    pt_session *s = sess(sp);
    if (status == 0 && s && !sp->stream_closed) {
        /* Credit back only what really left: the window bounds our memory. */
        pt_session_stream_consumed(s, sp->sid, c->len);
    }
    free(c);
    if (status != 0 && status != UV_ECANCELED) {
        abort_both(sp, PT_WIRE_CANCEL);
    }
    if (sp->t_open == 1) {
        pt_link_flush(sp->link);
    }
    maybe_finish(sp);
}

void pt_splice_on_data(pt_splice *sp, const uint8_t *data, size_t len)
{
    if (sp->t_open != 1 || sp->reset) {
        return; /* dropped: the stream is being torn down */
    }
    chunk *c = malloc(sizeof(*c) + len);
    if (!c) {
        abort_both(sp, PT_WIRE_INTERNAL_ERROR);
        return;
    }
    c->sp = sp;
    c->len = len;
    memcpy(c->data, data, len);
    uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)len);
    if (pt_transport_write(sp->t, &b, 1, on_t_written, c) != 0) {
        free(c);
        abort_both(sp, PT_WIRE_CANCEL);
        return;
    }
    sp->writes++;
    sp->down += len;
}

void pt_splice_on_fin(pt_splice *sp)
{
    /* shutdown() goes out after the writes already queued. */
    if (sp->t_open == 1) {
        pt_transport_shutdown(sp->t);
    }
}

void pt_splice_on_reset(pt_splice *sp, uint32_t code)
{
    (void)code;
    sp->reset = 1;
    if (sp->t_open == 1) {
        close_transport(sp);
    }
}

void pt_splice_on_writable(pt_splice *sp)
{
    if (!sp->pending || sp->reset) {
        return;
    }
    if (push_pending(sp)) {
        if (sp->fin_to_send) {
            send_fin(sp);
        } else if (sp->t_open == 1 && !sp->t_eof) {
            pt_transport_read_start(sp->t);
        }
    }
}

void pt_splice_on_closed(pt_splice *sp)
{
    sp->stream_closed = 1;
    if (sp->t_open == 0) {
        free(sp->pending);
        free(sp);
        return;
    }
    maybe_finish(sp);
}

uint64_t pt_splice_bytes_up(const pt_splice *sp) { return sp->up; }
uint64_t pt_splice_bytes_down(const pt_splice *sp) { return sp->down; }
