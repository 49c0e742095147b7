/* test_pt_link.c — handshake + session over real TCP on 127.0.0.1
 * (transport/pt_link.c): many streams carrying patterned data both ways
 * with half-close, a graceful GOAWAY drain, and the server's decision on
 * the first bytes (§5.7): unknown key, random bytes, silence and a replayed
 * message 1 all reach the decoy hand-off with every byte read. With
 * h2_preface (§5.3) the server's first bytes are the HTTP/2 preface, which
 * the client checks byte for byte and strips, however it is split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_link.h"
#include "pt_tcp.h"

#define N_STREAMS 100
#define PER_STREAM (256u * 1024) /* bytes each way per stream */
#define CHUNK 7000

static uint8_t pattern(uint32_t sid, int from_client, uint64_t off)
{
    return (uint8_t)((off * 7 + sid * 13 + (uint64_t)from_client * 101) ^ (off >> 9));
}

typedef struct tstream {
    uint32_t sid;
    int is_client;
    uint64_t sent, recv;
    int shut, fin, closed, opened, bad;
} tstream;

typedef struct side {
    pt_link *link;
    int is_client;
    tstream streams[N_STREAMS + 1];
    int n_streams, closed, up, down, down_err;
    int decoys;
    uint64_t jitter_holds; /* pt_link_jitter_holds when it went down */
    size_t decoy_len;
    uint8_t decoy_bytes[16384];
} side;

static struct {
    uv_loop_t loop;
    pt_tcp_listener *l;
    side client, server;
    uint8_t c_priv[32], c_pub[32], s_priv[32], s_pub[32];
    uint8_t authorized[2][32];
    pt_replay *replay;
    int h2_server, h2_client; /* h2_preface of each side's link config */
    int fake;                 /* accept with fake_server instead of a link */
    int quick;                /* the client closes as soon as it is up */
    uint64_t jitter;          /* jitter_max_ms of both links */
} g;

static void fake_accept(pt_transport *t);

/* Write as much of a stream's pattern as the session takes. */
static void pump(pt_session *s, tstream *st)
{
    uint8_t buf[CHUNK];
    while (st->sent < PER_STREAM && !st->closed) {
        size_t n = PER_STREAM - st->sent < CHUNK ? PER_STREAM - st->sent : CHUNK, acc = 0;
        for (size_t i = 0; i < n; i++) {
            buf[i] = pattern(st->sid, st->is_client, st->sent + i);
        }
        int rc = pt_session_stream_write(s, st->sid, buf, n, &acc);
        st->sent += acc;
        if (rc != PT_ERR_OK || acc < n) {
            return; /* on_stream_writable brings us back */
        }
    }
    if (st->sent == PER_STREAM && !st->shut) {
        st->shut = 1;
        assert_int_equal(pt_session_stream_shutdown(s, st->sid), PT_ERR_OK);
    }
}

static void on_incoming(pt_session *s, void *user, uint32_t sid, const pt_addr *target,
                        void **stream_user)
{
    side *sd = user;
    assert_int_equal(target->type, PT_ADDR_DOMAIN);
    assert_string_equal(target->u.domain, "example.com");
    assert_true(sd->n_streams < N_STREAMS);
    tstream *st = &sd->streams[sd->n_streams++];
    st->sid = sid;
    st->is_client = 0;
    st->opened = 1;
    *stream_user = st;
    assert_int_equal(pt_session_stream_accept(s, sid, NULL), PT_ERR_OK);
    pump(s, st);
}

static void on_opened(pt_session *s, void *user, uint32_t sid, void *su, const pt_addr *bound)
{
    (void)s;
    (void)user;
    (void)bound;
    tstream *st = su;
    assert_int_equal(st->sid, sid);
    st->opened = 1;
}

static void on_data(pt_session *s, void *user, uint32_t sid, void *su, const uint8_t *p,
                    size_t n)
{
    (void)user;
    tstream *st = su;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(sid, !st->is_client, st->recv + i)) {
            st->bad = 1;
        }
    }
    st->recv += n;
    pt_session_stream_consumed(s, sid, n);
}

static void on_fin(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)user;
    (void)sid;
    ((tstream *)su)->fin = 1;
}

static void on_writable(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)user;
    (void)sid;
    pump(s, su);
}

static void on_failed(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    (void)s;
    (void)user;
    (void)sid;
    (void)su;
    fail_msg("stream %u failed: %s", sid, pt_wire_err_name(code));
}

static void on_reset(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    (void)s;
    (void)user;
    (void)su;
    fail_msg("%s: stream %u reset: %s (session %s)", ((side *)user)->is_client ? "client" : "server", sid, pt_wire_err_name(code), pt_err_name(pt_session_close_error(s)));
}

static void on_stream_closed(pt_session *s, void *user, uint32_t sid, void *su)
{
    (void)s;
    (void)sid;
    side *sd = user;
    ((tstream *)su)->closed = 1;
    sd->closed++;
    if (sd->is_client && sd->closed == N_STREAMS) {
        pt_link_goaway(sd->link); /* all done: drain and close */
    }
}

static void on_goaway(pt_session *s, void *user, uint32_t last, uint32_t code)
{
    (void)s;
    (void)last;
    side *sd = user;
    assert_int_equal(code, PT_WIRE_NO_ERROR);
    if (!sd->is_client) {
        pt_link_goaway(sd->link);
    }
}

static void on_up(pt_link *l, void *user)
{
    side *sd = user;
    sd->up = 1;
    if (!sd->is_client) {
        assert_memory_equal(pt_link_peer_key(l), g.c_pub, 32);
        return;
    }
    if (g.quick) {
        pt_link_close(l, PT_ERR_OK);
        return;
    }
    pt_session *s = pt_link_session(l);
    pt_addr a;
    assert_int_equal(pt_addr_set_domain(&a, "example.com", 443), PT_ERR_OK);
    for (int i = 0; i < N_STREAMS; i++) {
        tstream *st = &sd->streams[i];
        st->is_client = 1;
        assert_int_equal(pt_session_stream_open(s, &a, st, &st->sid), PT_ERR_OK);
        assert_int_equal(st->sid, (uint32_t)(2 * i + 1)); /* odd, increasing */
        sd->n_streams++;
        pump(s, st); /* optimistic data (§7.2) */
    }
}

static void on_down(pt_link *l, void *user, int err)
{
    side *sd = user;
    sd->down++;
    sd->down_err = err;
    sd->jitter_holds = pt_link_jitter_holds(l);
    if (!sd->is_client && g.l) {
        pt_tcp_listener_close(g.l);
        g.l = NULL;
    }
}

static void on_decoy(pt_transport *t, const uint8_t *data, size_t len, void *user)
{
    side *sd = user;
    sd->decoys++;
    assert_true(len <= sizeof(sd->decoy_bytes));
    memcpy(sd->decoy_bytes, data, len);
    sd->decoy_len = len;
    pt_transport_close(t, NULL); /* a real server would serve its website */
    if (g.l) {
        pt_tcp_listener_close(g.l);
        g.l = NULL;
    }
}

static const pt_link_callbacks link_cb = {on_up, on_down, on_decoy};

static void base_config(pt_link_config *c, side *sd)
{
    pt_link_config_default(c);
    c->transport_id = PT_TRANSPORT_TCP;
    c->jitter_max_ms = g.jitter;
    c->session_cb = (pt_session_callbacks){
        .on_stream_incoming = on_incoming,
        .on_stream_opened = on_opened,
        .on_stream_failed = on_failed,
        .on_stream_data = on_data,
        .on_stream_fin = on_fin,
        .on_stream_reset = on_reset,
        .on_stream_writable = on_writable,
        .on_stream_closed = on_stream_closed,
        .on_goaway = on_goaway,
    };
    (void)sd;
}

static void on_accept(pt_tcp_listener *l, pt_transport *t, void *arg)
{
    (void)l;
    (void)arg;
    if (g.fake) {
        fake_accept(t);
        return;
    }
    pt_link_config c;
    base_config(&c, &g.server);
    c.h2_preface = g.h2_server;
    memcpy(c.local_priv, g.s_priv, 32);
    c.authorized = (const uint8_t(*)[32])g.authorized;
    c.n_authorized = 2;
    c.replay = g.replay;
    c.handshake_timeout_ms = 300;
    assert_int_equal(pt_link_server_new(&g.server.link, &g.loop, t, &c, &link_cb, &g.server),
                     PT_ERR_OK);
}

static void on_connect(pt_transport *t, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    pt_link_config c;
    base_config(&c, &g.client);
    memcpy(c.local_priv, g.c_priv, 32);
    memcpy(c.server_pub, g.s_pub, 32);
    c.h2_preface = g.h2_client;
    assert_int_equal(pt_link_client_new(&g.client.link, &g.loop, t, &c, &link_cb, &g.client),
                     PT_ERR_OK);
}

static struct sockaddr_in listen_addr(void)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(pt_tcp_listen(&g.loop, (struct sockaddr *)&sa, 64, on_accept, NULL, &g.l), 0);
    sa.sin_port = htons((uint16_t)pt_tcp_listener_port(g.l));
    return sa;
}

static int setup(void **state)
{
    (void)state;
    memset(&g, 0, sizeof(g));
    uv_loop_init(&g.loop);
    pt_noise_keypair(g.c_priv, g.c_pub);
    pt_noise_keypair(g.s_priv, g.s_pub);
    uint8_t other[32];
    pt_noise_keypair(other, g.authorized[0]);
    memcpy(g.authorized[1], g.c_pub, 32);
    g.replay = pt_replay_new(1000, 0);
    g.client.is_client = 1;
    return 0;
}

static int teardown_g(void **state)
{
    (void)state;
    pt_replay_free(g.replay);
    assert_int_equal(uv_loop_close(&g.loop), 0);
    return 0;
}

static void run_streams(void)
{
    struct sockaddr_in sa = listen_addr();
    assert_int_equal(pt_tcp_connect(&g.loop, (struct sockaddr *)&sa, on_connect, NULL), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);

    assert_int_equal(g.client.up, 1);
    assert_int_equal(g.server.up, 1);
    assert_int_equal(g.client.closed, N_STREAMS);
    assert_int_equal(g.server.closed, N_STREAMS);
    for (int i = 0; i < N_STREAMS; i++) {
        for (int k = 0; k < 2; k++) {
            tstream *st = k ? &g.server.streams[i] : &g.client.streams[i];
            assert_int_equal(st->sent, PER_STREAM);
            assert_int_equal(st->recv, PER_STREAM);
            assert_true(st->fin);
            assert_false(st->bad);
        }
    }
    assert_int_equal(g.client.down, 1);
    assert_int_equal(g.server.down, 1);
    assert_int_equal(g.client.down_err, PT_ERR_OK);
    assert_int_equal(g.server.decoys, 0);
}

static void test_streams_over_tcp(void **state)
{
    (void)state;
    run_streams();
}

/* Timing jitter on both sides: every byte still arrives, and only burst
 * starts are held — a bulk transfer of 2 x 25 MiB is one burst or a few
 * (stalls of 50 ms under load start new ones), never one hold per write. */
static void test_streams_with_jitter(void **state)
{
    (void)state;
    g.jitter = 50;
    run_streams();
    assert_true(g.client.jitter_holds >= 1); /* the first output after the handshake */
    assert_true(g.server.jitter_holds >= 1);
    assert_true(g.client.jitter_holds <= 50);
    assert_true(g.server.jitter_holds <= 50);
    print_message("jitter: %llu bursts held by the client, %llu by the server\n",
                  (unsigned long long)g.client.jitter_holds,
                  (unsigned long long)g.server.jitter_holds);
}

/* §5.3: the server writes the HTTP/2 preface first; the client strips it
 * and the session is the same. */
static void test_streams_after_h2_preface(void **state)
{
    (void)state;
    g.h2_server = g.h2_client = 1;
    run_streams();
}

/* ---- first-message decisions ------------------------------------------------ */

static uint8_t raw_bytes[16384];
static size_t raw_len;
static int raw_eof;
static uint8_t raw_got[16384]; /* what the server sent the raw client */
static size_t raw_got_len;
static void raw_read(pt_transport *t, const uint8_t *d, size_t n)
{
    (void)t;
    if (n > sizeof(raw_got) - raw_got_len) {
        n = sizeof(raw_got) - raw_got_len;
    }
    memcpy(raw_got + raw_got_len, d, n);
    raw_got_len += n;
}
static void raw_eof_cb(pt_transport *t, int err)
{
    (void)err;
    raw_eof = 1;
    pt_transport_close(t, NULL);
}
static void raw_connect(pt_transport *t, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    t->on_read = raw_read;
    t->on_eof = raw_eof_cb;
    pt_transport_read_start(t);
    if (raw_len) {
        uv_buf_t b = uv_buf_init((char *)raw_bytes, (unsigned)raw_len);
        assert_int_equal(pt_transport_write(t, &b, 1, NULL, NULL), 0);
    }
}

static void run_raw_probe(void)
{
    struct sockaddr_in sa = listen_addr();
    raw_eof = 0;
    raw_got_len = 0;
    assert_int_equal(pt_tcp_connect(&g.loop, (struct sockaddr *)&sa, raw_connect, NULL), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    assert_int_equal(g.server.decoys, 1);
    assert_int_equal(g.server.up, 0);
    assert_true(raw_eof);
}

static void test_random_bytes_reach_decoy(void **state)
{
    (void)state;
    raw_len = 300;
    randombytes_buf(raw_bytes, raw_len);
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, raw_len);
    assert_memory_equal(g.server.decoy_bytes, raw_bytes, raw_len);
}

/* More than the largest first message in one read (here, over TCP): the
 * decoy still gets every byte, not just the first PT_HS_MSG_MAX + 2. */
static void test_long_first_read_reaches_decoy_whole(void **state)
{
    (void)state;
    raw_len = 9000;
    memset(raw_bytes, 'A', raw_len);
    memcpy(raw_bytes, "GET /", 5);
    run_raw_probe();
    assert_true(g.server.decoy_len >= PT_HS_MSG_MAX + 2); /* beyond one message */
    assert_memory_equal(g.server.decoy_bytes, raw_bytes, g.server.decoy_len);
}

static void test_http_request_reaches_decoy(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    raw_len = sizeof(req) - 1;
    memcpy(raw_bytes, req, raw_len);
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, raw_len);
    assert_memory_equal(g.server.decoy_bytes, req, raw_len);
}

static void test_silence_reaches_decoy_after_timeout(void **state)
{
    (void)state;
    raw_len = 0;
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, 0);
}

/* A message 1 from a key the server does not know: decoy, with the whole
 * message. Then the same genuine message twice: the second is a replay. */
static void make_msg1(uint8_t *out, size_t *len, const uint8_t *priv)
{
    pt_hs hs;
    pt_hs_payload p;
    memset(&p, 0, sizeof(p));
    p.version = 1;
    p.timestamp = (uint64_t)time(NULL);
    pt_hs_settings_default(&p.settings);
    assert_int_equal(pt_hs_client_create(&hs, out, 4096, len, priv, g.s_pub, PT_TRANSPORT_TCP, &p,
                                         300, NULL, NULL),
                     PT_ERR_OK);
    pt_hs_cleanup(&hs);
}

static void test_unknown_key_reaches_decoy(void **state)
{
    (void)state;
    uint8_t priv[32], pub[32];
    pt_noise_keypair(priv, pub);
    make_msg1(raw_bytes, &raw_len, priv);
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, raw_len);
    assert_memory_equal(g.server.decoy_bytes, raw_bytes, raw_len);
}

static void test_replayed_first_message_reaches_decoy(void **state)
{
    (void)state;
    make_msg1(raw_bytes, &raw_len, g.c_priv);
    /* First time: a real client message; the server answers and the raw
     * client (which cannot finish) just closes. */
    struct sockaddr_in sa = listen_addr();
    assert_int_equal(pt_tcp_connect(&g.loop, (struct sockaddr *)&sa, raw_connect, NULL), 0);
    uv_run(&g.loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 200 && !g.server.up; i++) {
        uv_run(&g.loop, UV_RUN_ONCE);
    }
    assert_int_equal(g.server.up, 1);
    assert_int_equal(g.server.decoys, 0);
    pt_link_close(g.server.link, PT_ERR_OK);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    /* Second time, the same bytes: a replay. */
    g.server.up = 0;
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, raw_len);
    assert_memory_equal(g.server.decoy_bytes, raw_bytes, raw_len);
}

/* §5.3 on the server: with h2_preface a prober sees the preface at once,
 * then whatever the decoy does (here: the raw bytes reach the decoy whole,
 * and the test's decoy closes). Without it, nothing precedes the decoy. */
static void test_h2_preface_sent_before_decoy(void **state)
{
    (void)state;
    g.h2_server = 1;
    raw_len = 300;
    randombytes_buf(raw_bytes, raw_len);
    run_raw_probe();
    assert_int_equal(g.server.decoy_len, raw_len);
    assert_memory_equal(g.server.decoy_bytes, raw_bytes, raw_len);
    assert_int_equal(raw_got_len, PT_HS_H2_PREFACE_LEN);
    assert_memory_equal(raw_got, pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN);
}

static void test_no_preface_without_h2(void **state)
{
    (void)state;
    raw_len = 0;
    run_raw_probe(); /* silence: the decoy after the 300 ms handshake timeout */
    assert_int_equal(raw_got_len, 0);
}

/* ---- the client's side of §5.3, against a hand-made server ---------------------- */

/* A server that sends |fake_preface| in two writes, [0, 7) at accept and
 * the rest with a genuine message 2 once message 1 is in: the client sees
 * a partial preface, then the end of it and message 2 in one read. */
static struct {
    pt_transport *t;
    uint8_t preface[PT_HS_H2_PREFACE_LEN];
    uint8_t in[PT_HS_MSG_MAX + 2];
    size_t in_len;
    uint8_t out[PT_HS_H2_PREFACE_LEN + PT_HS_MSG_MAX + 2];
    size_t out_len;
    int answered;
} fk;

static void fake_eof(pt_transport *t, int err)
{
    (void)err;
    pt_transport_close(t, NULL);
    if (g.l) {
        pt_tcp_listener_close(g.l);
        g.l = NULL;
    }
}

static void fake_read(pt_transport *t, const uint8_t *d, size_t n)
{
    if (fk.answered) {
        return;
    }
    assert_true(n <= sizeof(fk.in) - fk.in_len);
    memcpy(fk.in + fk.in_len, d, n);
    fk.in_len += n;
    pt_hs hs;
    size_t used = 0;
    uint8_t cpub[32];
    pt_hs_payload p;
    int rc = pt_hs_server_read(&hs, fk.in, fk.in_len, &used, g.s_priv, PT_TRANSPORT_TCP, cpub, &p);
    if (rc == PT_ERR_AGAIN) {
        return;
    }
    assert_int_equal(rc, PT_ERR_OK);
    assert_memory_equal(cpub, g.c_pub, 32);
    pt_hs_payload mine;
    memset(&mine, 0, sizeof(mine));
    mine.version = PT_PROTOCOL_VERSION;
    mine.timestamp = (uint64_t)time(NULL);
    pt_hs_settings_default(&mine.settings);
    mine.settings.conn_window = 16u << 20;
    pt_hs_keys keys;
    size_t m2 = 0;
    memcpy(fk.out, fk.preface + 7, PT_HS_H2_PREFACE_LEN - 7);
    assert_int_equal(pt_hs_server_respond(&hs, fk.out + PT_HS_H2_PREFACE_LEN - 7,
                                          sizeof(fk.out) - PT_HS_H2_PREFACE_LEN, &m2, &mine, 300,
                                          NULL, NULL, &keys, PT_AEAD_BORINGSSL),
                     PT_ERR_OK);
    pt_hs_keys_cleanup(&keys);
    pt_hs_cleanup(&hs);
    fk.out_len = PT_HS_H2_PREFACE_LEN - 7 + m2;
    fk.answered = 1;
    uv_buf_t b = uv_buf_init((char *)fk.out, (unsigned)fk.out_len);
    (void)pt_transport_write(t, &b, 1, NULL, NULL); /* the client may be gone */
}

static void fake_accept(pt_transport *t)
{
    fk.t = t;
    t->on_read = fake_read;
    t->on_eof = fake_eof;
    uv_buf_t b = uv_buf_init((char *)fk.preface, 7);
    assert_int_equal(pt_transport_write(t, &b, 1, NULL, NULL), 0);
    assert_int_equal(pt_transport_read_start(t), 0);
}

static void run_fake(void)
{
    g.fake = 1;
    g.quick = 1;
    g.h2_client = 1;
    struct sockaddr_in sa = listen_addr();
    assert_int_equal(pt_tcp_connect(&g.loop, (struct sockaddr *)&sa, on_connect, NULL), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    assert_int_equal(g.client.down, 1);
}

static void test_client_strips_split_preface(void **state)
{
    (void)state;
    memset(&fk, 0, sizeof(fk));
    memcpy(fk.preface, pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN);
    run_fake();
    assert_int_equal(g.client.up, 1);
    assert_int_equal(g.client.down_err, PT_ERR_OK);
}

/* One byte off (MAX_CONCURRENT_STREAMS 100 instead of nginx's 128, in the
 * second part): not our server, a handshake failure. */
static void test_client_rejects_wrong_preface(void **state)
{
    (void)state;
    memset(&fk, 0, sizeof(fk));
    memcpy(fk.preface, pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN);
    assert_int_equal(fk.preface[14], 0x80);
    fk.preface[14] = 100;
    run_fake();
    assert_int_equal(g.client.up, 0);
    assert_int_equal(g.client.down_err, PT_ERR_HANDSHAKE);
}

/* The client expects the preface (ALPN h2) but the server sends message 2
 * straight away: a handshake failure too. */
static void test_client_rejects_missing_preface(void **state)
{
    (void)state;
    g.h2_client = 1;
    g.quick = 1;
    struct sockaddr_in sa = listen_addr();
    assert_int_equal(pt_tcp_connect(&g.loop, (struct sockaddr *)&sa, on_connect, NULL), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    assert_int_equal(g.client.up, 0);
    assert_int_equal(g.client.down, 1);
    assert_int_equal(g.client.down_err, PT_ERR_HANDSHAKE);
    assert_int_equal(g.server.decoys, 0);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams_over_tcp, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_streams_with_jitter, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_random_bytes_reach_decoy, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_http_request_reaches_decoy, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_long_first_read_reaches_decoy_whole, setup,
                                        teardown_g),
        cmocka_unit_test_setup_teardown(test_silence_reaches_decoy_after_timeout, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_unknown_key_reaches_decoy, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_replayed_first_message_reaches_decoy, setup,
                                        teardown_g),
        cmocka_unit_test_setup_teardown(test_streams_after_h2_preface, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_h2_preface_sent_before_decoy, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_no_preface_without_h2, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_client_strips_split_preface, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_client_rejects_wrong_preface, setup, teardown_g),
        cmocka_unit_test_setup_teardown(test_client_rejects_missing_preface, setup, teardown_g),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
