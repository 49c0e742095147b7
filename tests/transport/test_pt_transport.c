/* test_pt_transport.c — the transport contract (pt_transport.h) for TCP on
 * 127.0.0.1 and the in-memory pipe: ordered bytes, several buffers per
 * write, write callbacks exactly once, shutdown -> orderly EOF with the
 * other direction still open, close -> reset at the peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pt_pipe.h"
#include "pt_tcp.h"

#define TOTAL (4u << 20) /* 4 MiB each way */
#define CHUNK 10000

typedef struct side {
    pt_transport *t;
    uint8_t *expect; /* what the peer sends */
    size_t got;
    int eof, eof_err;
    int writes_done, writes_started;
    crypto_generichash_state hs;
} side;

typedef struct harness {
    uv_loop_t loop;
    side a, b;
    uint8_t *data_a, *data_b; /* a sends data_a, b sends data_b */
    int closed;
    pt_tcp_listener *l;
} harness;

static void on_read(pt_transport *t, const uint8_t *p, size_t n)
{
    side *s = t->data;
    assert_true(s->got + n <= TOTAL);
    assert_memory_equal(p, s->expect + s->got, n);
    s->got += n;
}

static void on_eof(pt_transport *t, int err)
{
    side *s = t->data;
    s->eof++;
    s->eof_err = err;
}

static void on_written(pt_transport *t, int status, void *arg)
{
    (void)arg;
    side *s = t->data;
    assert_int_equal(status, 0);
    s->writes_done++;
    if (s->writes_done == s->writes_started) {
        /* Everything written: half-close; the other direction keeps going. */
        assert_int_equal(pt_transport_shutdown(t), 0);
    }
}

/* Write |data| in writes of 3 buffers each. */
static void send_all(side *s, const uint8_t *data)
{
    static uv_buf_t bufs[TOTAL / CHUNK + 1][3];
    size_t off = 0;
    unsigned i = 0;
    while (off < TOTAL) {
        size_t n = TOTAL - off < CHUNK ? TOTAL - off : CHUNK;
        size_t a = n / 3, b = n / 3, c = n - a - b;
        bufs[i][0] = uv_buf_init((char *)data + off, (unsigned)a);
        bufs[i][1] = uv_buf_init((char *)data + off + a, (unsigned)b);
        bufs[i][2] = uv_buf_init((char *)data + off + a + b, (unsigned)c);
        s->writes_started++;
        assert_int_equal(pt_transport_write(s->t, bufs[i], 3, on_written, NULL), 0);
        off += n;
        i++;
    }
}

static void setup_side(side *s, pt_transport *t, uint8_t *expect)
{
    s->t = t;
    s->expect = expect;
    t->data = s;
    t->on_read = on_read;
    t->on_eof = on_eof;
    assert_int_equal(pt_transport_read_start(t), 0);
}

static void run_exchange(harness *h)
{
    send_all(&h->a, h->data_a);
    send_all(&h->b, h->data_b);
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

static void harness_init(harness *h)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->data_a = malloc(TOTAL);
    h->data_b = malloc(TOTAL);
    randombytes_buf(h->data_a, TOTAL);
    randombytes_buf(h->data_b, TOTAL);
}

static void harness_check_and_free(harness *h)
{
    assert_int_equal(h->a.got, TOTAL);
    assert_int_equal(h->b.got, TOTAL);
    assert_int_equal(h->a.eof, 1);
    assert_int_equal(h->b.eof, 1);
    assert_int_equal(h->a.eof_err, 0);
    assert_int_equal(h->b.eof_err, 0);
    assert_int_equal(h->a.writes_done, h->a.writes_started);
    assert_int_equal(h->b.writes_done, h->b.writes_started);
    free(h->data_a);
    free(h->data_b);
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

/* Close both ends once both saw EOF (checked from an idle turn). */
static void closer(uv_idle_t *idle)
{
    harness *h = idle->data;
    if (h->a.eof && h->b.eof && h->a.writes_done == h->a.writes_started &&
        h->b.writes_done == h->b.writes_started) {
        pt_transport_close(h->a.t, NULL);
        pt_transport_close(h->b.t, NULL);
        if (h->l) {
            pt_tcp_listener_close(h->l);
        }
        uv_idle_stop(idle);
        uv_close((uv_handle_t *)idle, NULL);
    }
}

static void test_pipe_exchange(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    pt_transport *x, *y;
    assert_int_equal(pt_pipe_pair(&h.loop, &x, &y), 0);
    setup_side(&h.a, x, h.data_b);
    setup_side(&h.b, y, h.data_a);
    uv_idle_t idle;
    uv_idle_init(&h.loop, &idle);
    idle.data = &h;
    uv_idle_start(&idle, closer);
    run_exchange(&h);
    harness_check_and_free(&h);
}

static void on_accept(pt_tcp_listener *l, pt_transport *t, void *arg)
{
    (void)l;
    harness *h = arg;
    setup_side(&h->b, t, h->data_a);
    send_all(&h->b, h->data_b);
}

static void on_connect(pt_transport *t, int status, void *arg)
{
    harness *h = arg;
    assert_int_equal(status, 0);
    setup_side(&h->a, t, h->data_b);
    send_all(&h->a, h->data_a);
}

static void test_tcp_exchange(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(pt_tcp_listen(&h.loop, (struct sockaddr *)&sa, 16, on_accept, &h, &h.l), 0);
    sa.sin_port = htons((uint16_t)pt_tcp_listener_port(h.l));
    assert_int_equal(pt_tcp_connect(&h.loop, (struct sockaddr *)&sa, on_connect, &h), 0);
    uv_idle_t idle;
    uv_idle_init(&h.loop, &idle);
    idle.data = &h;
    uv_idle_start(&idle, closer);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    harness_check_and_free(&h);
}

/* Closing one pipe end: the peer sees a reset, pending writes are cancelled. */
static int cancelled;
static void count_cancel(pt_transport *t, int status, void *arg)
{
    (void)t;
    (void)arg;
    if (status == UV_ECANCELED) {
        cancelled++;
    }
}

static void test_pipe_close_resets_peer(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pt_transport *x, *y;
    assert_int_equal(pt_pipe_pair(&loop, &x, &y), 0);
    side sx, sy;
    memset(&sx, 0, sizeof(sx));
    memset(&sy, 0, sizeof(sy));
    static uint8_t junk[100];
    setup_side(&sy, y, junk);
    x->data = &sx;
    /* x writes but y's data goes nowhere: x closes before delivery. */
    uv_buf_t b = uv_buf_init((char *)junk, sizeof(junk));
    cancelled = 0;
    assert_int_equal(pt_transport_write(x, &b, 1, count_cancel, NULL), 0);
    pt_transport_close(x, NULL);
    assert_int_equal(cancelled, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(sy.eof, 1);
    assert_int_equal(sy.eof_err, UV_ECONNRESET);
    assert_int_equal(sy.got, 0);
    pt_transport_close(y, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int refused_status;
static void on_refused(pt_transport *t, int status, void *arg)
{
    (void)arg;
    assert_null(t);
    refused_status = status;
}

static void test_tcp_connect_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* Bind a port, close it, then connect to it: refused. */
    pt_tcp_listener *l;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(pt_tcp_listen(&loop, (struct sockaddr *)&sa, 1, NULL, NULL, &l), 0);
    sa.sin_port = htons((uint16_t)pt_tcp_listener_port(l));
    pt_tcp_listener_close(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    refused_status = 1;
    assert_int_equal(pt_tcp_connect(&loop, (struct sockaddr *)&sa, on_refused, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(refused_status, UV_ECONNREFUSED);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_exchange),
        cmocka_unit_test(test_tcp_exchange),
        cmocka_unit_test(test_pipe_close_resets_peer),
        cmocka_unit_test(test_tcp_connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
