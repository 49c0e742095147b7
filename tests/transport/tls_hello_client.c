/* tls_hello_client.c — makes TLS connections to 127.0.0.1:PORT with our
 * Chrome client profile (transport/pt_tls.c), for the fingerprint test
 * (test_fingerprint.sh runs it under ../shared/fingerprint/capture_ja4.py).
 *
 *   tls_hello_client PORT [--sni NAME] [--count N] [--reuse-ctx]
 *   tls_hello_client --print-ja4 | --print-profile
 *
 * Each connection completes the handshake (certificates are not verified:
 * the capture's server is a throwaway self-signed openssl s_server), sends
 * close_notify and closes; connections run one after the other. A fresh
 * client context per connection (no session to resume) unless --reuse-ctx
 * (then it waits 300 ms for the server's tickets before closing, and the
 * next connection resumes as a browser would). --sni '' sends no SNI.
 * Exit status: 0 if every handshake succeeded, 1 otherwise, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_tcp.h"
#include "pt_tls.h"

typedef struct run {
    uv_loop_t *loop;
    struct sockaddr_in addr;
    const char *sni;
    int count, done, failed, reuse;
    pt_tls_client_ctx *ctx;
    pt_transport *t;
    uv_timer_t timeout, linger;
} run;

static void next_connection(run *r);

static void on_closed(pt_transport *t)
{
    run *r = t->data;
    r->done++;
    next_connection(r);
}

static void on_eof(pt_transport *t, int err)
{
    (void)err;
    pt_transport_close(t, on_closed);
}

static void on_read(pt_transport *t, const uint8_t *p, size_t n)
{
    (void)t;
    (void)p;
    (void)n;
}

static void on_linger(uv_timer_t *tm)
{
    run *r = tm->data;
    if (pt_transport_shutdown(r->t) != 0) {
        pt_transport_close(r->t, on_closed);
    }
}

static void on_handshake(pt_transport *t, int status, void *arg)
{
    run *r = arg;
    if (status != 0) {
        fprintf(stderr, "tls_hello_client: handshake failed: %s\n", pt_tls_error_string(t));
        r->failed++;
        return; /* on_eof follows and closes */
    }
    const uint8_t *alpn;
    size_t alpn_len = pt_tls_alpn(t, &alpn);
    printf("connection %d: version 0x%04x cipher 0x%04x group 0x%04x alpn '%.*s' resumed %d\n",
           r->done + 1, pt_tls_version(t), pt_tls_cipher(t), pt_tls_group(t), (int)alpn_len,
           alpn ? (const char *)alpn : "", pt_tls_session_reused(t));
    fflush(stdout);
    if (r->reuse) {
        /* TLS 1.3 tickets come after the handshake, and BoringSSL ignores
         * those that arrive after our close_notify: give them a moment. */
        r->t = t;
        uv_timer_start(&r->linger, on_linger, 300, 0);
        return;
    }
    if (pt_transport_shutdown(t) != 0) {
        pt_transport_close(t, on_closed);
    }
}

static void on_connect(pt_transport *lower, int status, void *arg)
{
    run *r = arg;
    if (status != 0) {
        fprintf(stderr, "tls_hello_client: connect: %s\n", uv_strerror(status));
        r->failed++;
        r->done++;
        next_connection(r);
        return;
    }
    if (!r->ctx) {
        pt_tls_client_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.verify = PT_TLS_VERIFY_NONE;
        if (pt_tls_client_ctx_new(&r->ctx, &cfg) != 0) {
            fprintf(stderr, "tls_hello_client: cannot make a client context\n");
            exit(1);
        }
    }
    pt_transport *t;
    int rc = pt_tls_client_new(&t, r->ctx, lower, r->sni, on_handshake, r);
    if (!r->reuse) {
        pt_tls_client_ctx_free(r->ctx); /* the connection keeps it alive */
        r->ctx = NULL;
    }
    if (rc != 0) {
        fprintf(stderr, "tls_hello_client: %s\n", uv_strerror(rc));
        exit(1);
    }
    t->data = r;
    t->on_read = on_read;
    t->on_eof = on_eof;
    pt_transport_read_start(t);
}

static void next_connection(run *r)
{
    if (r->done >= r->count) {
        uv_timer_stop(&r->timeout);
        uv_close((uv_handle_t *)&r->timeout, NULL);
        uv_close((uv_handle_t *)&r->linger, NULL);
        pt_tls_client_ctx_free(r->ctx);
        r->ctx = NULL;
        return;
    }
    int rc = pt_tcp_connect(r->loop, (const struct sockaddr *)&r->addr, on_connect, r);
    if (rc != 0) {
        fprintf(stderr, "tls_hello_client: connect: %s\n", uv_strerror(rc));
        exit(1);
    }
}

static void on_timeout(uv_timer_t *tm)
{
    (void)tm;
    fprintf(stderr, "tls_hello_client: timed out\n");
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: tls_hello_client PORT [--sni NAME] [--count N] [--reuse-ctx]\n"
                    "       tls_hello_client --print-ja4 | --print-profile\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print-ja4") == 0) {
        printf("%s\n", pt_tls_client_profile_ja4());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--print-profile") == 0) {
        printf("%s\n", pt_tls_client_profile_name());
        return 0;
    }
    if (argc < 2) {
        usage();
    }
    run r;
    memset(&r, 0, sizeof(r));
    r.count = 1;
    r.sni = "www.example.com";
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port <= 0 || port > 65535) {
        usage();
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--sni") == 0 && i + 1 < argc) {
            r.sni = argv[++i];
            if (!*r.sni) {
                r.sni = NULL; /* no SNI at all */
            }
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 100) {
                usage();
            }
            r.count = (int)n;
        } else if (strcmp(argv[i], "--reuse-ctx") == 0) {
            r.reuse = 1;
        } else {
            usage();
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    r.loop = &loop;
    uv_ip4_addr("127.0.0.1", (int)port, &r.addr);
    uv_timer_init(&loop, &r.timeout);
    uv_timer_init(&loop, &r.linger);
    r.linger.data = &r;
    uv_timer_start(&r.timeout, on_timeout, 20000, 0);
    next_connection(&r);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return r.failed ? 1 : 0;
}
