/* pt_probe_client — the real client's first flight, for the probe suite:
 *
 *   genkeys SKEY SPUB CKEY CPUB      new server and client key pairs (hex)
 *   connect H:P CKEY SPUB OUT        TLS (our Chrome profile) + message 1
 *                                    through pt_link (checking the h2
 *                                    preface with ALPN h2); waits for the
 *                                    session and saves message 1 (the TLS
 *                                    record's plaintext) to OUT for replaying
 *   send H:P FILE                    TLS, then FILE's bytes as one record
 *   make OUT CKEY|- SPUB [--time-offset S]
 *                                    a message 1 (unknown random key with -),
 *                                    with the clock moved by S seconds
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_err.h"
#include "pt_handshake.h"
#include "pt_link.h"
#include "pt_probe_keys.h"
#include "pt_tcp.h"
#include "pt_tls.h"

/* ---- a pt_transport that records the first write -------------------------- */

typedef struct rec {
    pt_transport t;
    pt_transport *inner;
    uint8_t first[PT_HS_MSG_MAX + 2];
    size_t first_len;
    int recorded;
    pt_transport_close_cb close_cb;
} rec;

static void rec_inner_read(pt_transport *in, const uint8_t *d, size_t n)
{
    rec *r = in->data;
    if (r->t.on_read) {
        r->t.on_read(&r->t, d, n);
    }
}
static void rec_inner_eof(pt_transport *in, int err)
{
    rec *r = in->data;
    if (r->t.on_eof) {
        r->t.on_eof(&r->t, err);
    }
}
static int rec_read_start(pt_transport *t)
{
    return pt_transport_read_start(((rec *)t)->inner);
}
static int rec_read_stop(pt_transport *t)
{
    return pt_transport_read_stop(((rec *)t)->inner);
}

typedef struct rec_w {
    rec *r;
    pt_transport_write_cb cb;
    void *arg;
} rec_w;

static void rec_written(pt_transport *in, int status, void *arg)
{
    (void)in;
    rec_w *w = arg;
    if (w->cb) {
        w->cb(&w->r->t, status, w->arg);
    }
    free(w);
}

static int rec_write(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs,
                     pt_transport_write_cb cb, void *arg)
{
    rec *r = (rec *)t;
    if (!r->recorded) {
        r->recorded = 1;
        for (unsigned i = 0; i < nbufs && r->first_len + bufs[i].len <= sizeof(r->first); i++) {
            memcpy(r->first + r->first_len, bufs[i].base, bufs[i].len);
            r->first_len += bufs[i].len;
        }
    }
    rec_w *w = malloc(sizeof(*w));
    if (!w) {
        return UV_ENOMEM;
    }
    w->r = r;
    w->cb = cb;
    w->arg = arg;
    int rc = pt_transport_write(r->inner, bufs, nbufs, rec_written, w);
    if (rc != 0) {
        free(w);
    }
    return rc;
}
static int rec_shutdown(pt_transport *t)
{
    return pt_transport_shutdown(((rec *)t)->inner);
}
static void rec_inner_closed(pt_transport *in)
{
    rec *r = in->data;
    if (r->close_cb) {
        r->close_cb(&r->t);
    }
    free(r);
}
static void rec_close(pt_transport *t, pt_transport_close_cb cb)
{
    rec *r = (rec *)t;
    r->close_cb = cb;
    pt_transport_close(r->inner, rec_inner_closed);
}
static size_t rec_wqs(const pt_transport *t)
{
    return pt_transport_write_queue_size(((const rec *)t)->inner);
}
static const pt_transport_ops kRecOps = {"rec",        rec_read_start, rec_read_stop, rec_write,
                                         rec_shutdown, rec_close,      rec_wqs};

/* ---- commands ------------------------------------------------------------------ */

static int parse_hostport(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *c = strrchr(s, ':');
    if (!c || (size_t)(c - s) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, (size_t)(c - s));
    host[c - s] = '\0';
    return uv_ip4_addr(host, (int)strtol(c + 1, NULL, 10), sa);
}

typedef struct job {
    int mode; /* 0 connect, 1 send */
    uv_loop_t *loop;
    pt_tls_client_ctx *ctx;
    pt_link_config cfg;
    const char *out;
    uint8_t *payload;
    size_t payload_len;
    rec *r;
    pt_link *link;
    int result;
    uv_timer_t timer;
} job;

static void done(job *j, int result)
{
    j->result = result;
    uv_stop(j->loop);
}

static void on_up(pt_link *l, void *user)
{
    job *j = user;
    FILE *f = fopen(j->out, "wb");
    int ok = f && fwrite(j->r->first, 1, j->r->first_len, f) == j->r->first_len;
    if (f) {
        fclose(f);
    }
    fprintf(stderr, "pt_probe_client: session up; message 1 (%zu bytes) saved\n", j->r->first_len);
    pt_link_close(l, PT_ERR_OK);
    done(j, ok ? 0 : 1);
}
static void on_down(pt_link *l, void *user, int err)
{
    (void)l;
    job *j = user;
    if (j->result < 0) {
        fprintf(stderr, "pt_probe_client: link down: %s\n", pt_strerror(err));
        done(j, 1);
    }
}

static void on_timeout(uv_timer_t *h)
{
    job *j = h->data;
    done(j, j->mode == 1 ? 0 : 1);
}

static void on_tls(pt_transport *t, int status, void *arg)
{
    job *j = arg;
    if (status != 0) {
        fprintf(stderr, "pt_probe_client: TLS failed: %s\n", pt_tls_error_string(t));
        done(j, 1);
        return;
    }
    if (j->mode == 1) {
        uv_buf_t b = uv_buf_init((char *)j->payload, (unsigned)j->payload_len);
        pt_transport_write(t, &b, 1, NULL, NULL);
        pt_transport_read_start(t);
        uv_timer_start(&j->timer, on_timeout, 1500, 0);
        return;
    }
    /* As pt_client: message 1 right after the handshake, and with ALPN h2
     * the server's HTTP/2 preface expected before message 2 (§5.3). */
    rec *r = calloc(1, sizeof(*r));
    if (!r) {
        done(j, 1);
        return;
    }
    r->t.ops = &kRecOps;
    r->t.loop = j->loop;
    r->inner = t;
    t->data = r;
    t->on_read = rec_inner_read;
    t->on_eof = rec_inner_eof;
    j->r = r;
    const uint8_t *alpn;
    size_t alen = pt_tls_alpn(t, &alpn);
    j->cfg.h2_preface = alen == 2 && memcmp(alpn, "h2", 2) == 0;
    pt_link_callbacks cb = {on_up, on_down, NULL};
    if (pt_link_client_new(&j->link, j->loop, &r->t, &j->cfg, &cb, j) != PT_ERR_OK) {
        done(j, 1);
    }
}

static void on_connected(pt_transport *tcp, int status, void *arg)
{
    job *j = arg;
    if (status != 0) {
        fprintf(stderr, "pt_probe_client: connect: %s\n", uv_strerror(status));
        done(j, 1);
        return;
    }
    pt_transport *tls;
    if (pt_tls_client_new(&tls, j->ctx, tcp, "localhost", on_tls, j) != 0) {
        done(j, 1);
        return;
    }
    (void)tls; /* on_tls goes on */
}

static int run_net(job *j, const char *hostport)
{
    struct sockaddr_in sa;
    if (parse_hostport(hostport, &sa) != 0) {
        return 2;
    }
    j->loop = uv_default_loop();
    j->result = -1;
    uv_timer_init(j->loop, &j->timer);
    j->timer.data = j;
    uv_timer_start(&j->timer, on_timeout, 15000, 0);
    pt_tls_client_config tc;
    memset(&tc, 0, sizeof(tc));
    tc.verify = PT_TLS_VERIFY_NONE;
    tc.no_session_cache = 1;
    if (pt_tls_client_ctx_new(&j->ctx, &tc) != 0) {
        return 1;
    }
    if (pt_tcp_connect(j->loop, (const struct sockaddr *)&sa, on_connected, j) != 0) {
        return 1;
    }
    uv_run(j->loop, UV_RUN_DEFAULT);
    /* The process ends here: the OS closes what is left. */
    return j->result < 0 ? 1 : j->result;
}

static int make_msg(const char *out, const char *ckey, const char *spub, long offset)
{
    uint8_t cpriv[32], sp[32], msg[PT_HS_MSG_MAX + 2];
    if (strcmp(ckey, "-") == 0) {
        randombytes_buf(cpriv, sizeof(cpriv));
    } else if (probe_key_read(cpriv, ckey) != 0) {
        return 1;
    }
    if (probe_key_read(sp, spub) != 0) {
        return 1;
    }
    pt_hs hs;
    pt_hs_payload p;
    memset(&p, 0, sizeof(p));
    p.version = PT_PROTOCOL_VERSION;
    p.flags = PT_HS_FLAG_PADDING;
    p.timestamp = (uint64_t)((long)time(NULL) + offset);
    randombytes_buf(p.random, sizeof(p.random));
    pt_link_config lc;
    pt_link_config_default(&lc);
    p.settings = lc.settings;
    size_t len = 0;
    if (pt_hs_client_create(&hs, msg, sizeof(msg), &len, cpriv, sp, PT_TRANSPORT_TLS, &p,
                            pt_hs_pick_len(1), NULL, NULL) != PT_ERR_OK) {
        return 1;
    }
    pt_hs_cleanup(&hs);
    sodium_memzero(cpriv, sizeof(cpriv));
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(msg, 1, len, f) != len) {
        return 1;
    }
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && strcmp(argv[1], "genkeys") == 0) {
        uint8_t sk[32], pk[32];
        for (int k = 0; k < 2; k++) {
            randombytes_buf(sk, 32);
            crypto_scalarmult_base(pk, sk);
            if (probe_key_write(argv[2 + 2 * k], sk) != 0 ||
                probe_key_write(argv[3 + 2 * k], pk) != 0) {
                return 1;
            }
        }
        sodium_memzero(sk, 32);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "connect") == 0) {
        static job j;
        pt_link_config_default(&j.cfg);
        if (probe_key_read(j.cfg.local_priv, argv[3]) != 0 ||
            probe_key_read(j.cfg.server_pub, argv[4]) != 0) {
            return 1;
        }
        j.out = argv[5];
        return run_net(&j, argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "send") == 0) {
        static job j;
        static uint8_t buf[16384];
        FILE *f = fopen(argv[3], "rb");
        if (!f) {
            return 1;
        }
        j.payload_len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        j.payload = buf;
        j.mode = 1;
        return run_net(&j, argv[2]);
    }
    if ((argc == 5 || argc == 7) && strcmp(argv[1], "make") == 0) {
        long off = 0;
        if (argc == 7 && strcmp(argv[5], "--time-offset") == 0) {
            off = strtol(argv[6], NULL, 10);
        }
        return make_msg(argv[2], argv[3], argv[4], off);
    }
    fprintf(stderr, "usage: see the comment at the top of pt_probe_client.c\n");
    return 2;
}
