/* pt_transport.h — one small interface for every byte transport the session
 * runs over: plain TCP (tests, benchmarks), an in-memory pipe (tests), and
 * TLS, QUIC and WebSocket (which wrap or replace TCP). All asynchronous on
 * libuv; nothing blocks.
 *
 * Contract (libuv's, extended):
 *  - Received bytes arrive through on_read(t, data, len) with len > 0; |data|
 *    is valid only during the call (the transport reuses its read buffer).
 *  - End of input arrives once through on_eof(t, err): 0 for an orderly end
 *    (FIN, close_notify), a negative libuv error otherwise. No on_read after.
 *  - write() takes an array of buffers that must stay valid until its
 *    callback; several frames go out in one call (writev underneath). The
 *    callback is called exactly once, also when the transport is closed
 *    first (status UV_ECANCELED). A function that returns an error never
 *    calls its callback.
 *  - shutdown() sends an orderly end after the queued writes.
 *  - close() is the end of the object: callbacks stop, pending writes are
 *    cancelled, and the memory is freed after close_cb (which may be NULL).
 */
#ifndef PT_TRANSPORT_TRANSPORT_H
#define PT_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pt_transport pt_transport;

typedef void (*pt_transport_read_cb)(pt_transport *t, const uint8_t *data, size_t len);
typedef void (*pt_transport_eof_cb)(pt_transport *t, int err);
typedef void (*pt_transport_write_cb)(pt_transport *t, int status, void *arg);
typedef void (*pt_transport_close_cb)(pt_transport *t);

typedef struct pt_transport_ops {
    const char *name;
    int (*read_start)(pt_transport *t);
    int (*read_stop)(pt_transport *t);
    int (*write)(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs, pt_transport_write_cb cb,
                 void *arg);
    int (*shutdown)(pt_transport *t);
    void (*close)(pt_transport *t, pt_transport_close_cb cb);
    /* Bytes accepted by write() and not yet handed to the kernel/peer. */
    size_t (*write_queue_size)(const pt_transport *t);
} pt_transport_ops;

struct pt_transport {
    const pt_transport_ops *ops;
    uv_loop_t *loop;
    void *data; /* the owner's */
    pt_transport_read_cb on_read;
    pt_transport_eof_cb on_eof;
};

static inline int pt_transport_read_start(pt_transport *t) { return t->ops->read_start(t); }
static inline int pt_transport_read_stop(pt_transport *t) { return t->ops->read_stop(t); }
static inline int pt_transport_write(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs,
                                     pt_transport_write_cb cb, void *arg)
{
    return t->ops->write(t, bufs, nbufs, cb, arg);
}
static inline int pt_transport_shutdown(pt_transport *t) { return t->ops->shutdown(t); }
static inline void pt_transport_close(pt_transport *t, pt_transport_close_cb cb)
{
    t->ops->close(t, cb);
}
static inline size_t pt_transport_write_queue_size(const pt_transport *t)
{
    return t->ops->write_queue_size(t);
}

#endif /* PT_TRANSPORT_TRANSPORT_H */
