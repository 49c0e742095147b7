/* bench_session.c — throughput of one session pair in memory (core/pt_session.c).
 *
 *   bench_session [total-bytes]      (default 1 GiB; or PT_BENCH_SESSION_BYTES)
 *
 * A client and a server session from a real handshake; the client's
 * application writes 16 KiB at a time on 1 or 64 streams, the server's
 * consumes every byte at once (WINDOW_UPDATEs flow back). Each round the
 * client's pending output is copied into a "socket buffer" (the copy a
 * kernel would make) and handed to the server, through either input path:
 *   copy     pt_session_on_bytes: each frame copied into the reassembly buffer
 *   inplace  pt_session_on_bytes_inplace: frames decrypted where they lie
 * Windows: stream 256 KiB (the protocol default), connection 16 MiB.
 * Padding RANDOM (the default policy). One core, both sides in one thread.
 *
 * Columns: MB/s of payload (10^6 bytes per second of wall time), CPU seconds
 * per GiB of payload (getrusage, user + system; both sides together), and
 * frames per second. No timing is asserted anywhere; the exit code only says
 * whether every byte arrived.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>

#include <sodium.h>

#include "pt_err.h"
#include "pt_handshake.h"
#include "pt_session.h"

#define WRITE_SIZE (16u * 1024)
#define MAX_STREAMS 64

static uint8_t g_data[WRITE_SIZE];

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_session: %s failed: %s\n", what, pt_err_name(rc));
    exit(1);
}

typedef struct bench {
    pt_session *c, *s;
    uint32_t sids[MAX_STREAMS];
    uint64_t left[MAX_STREAMS];
    size_t nstreams;
    uint64_t received;
    uint8_t *sock;
    size_t sock_cap;
} bench;

static void on_data(pt_session *s, void *user, uint32_t sid, void *su, const uint8_t *p, size_t n)
{
    bench *b = user;
    b->received += n;
    int rc = pt_session_stream_consumed(s, sid, n);
    if (rc != PT_ERR_OK) {
        die("consumed", rc);
    }
}

static void on_incoming(pt_session *s, void *user, uint32_t sid, const pt_addr *t, void **su)
{
    int rc = pt_session_stream_accept(s, sid, NULL);
    if (rc != PT_ERR_OK) {
        die("accept", rc);
    }
}

static void handshake(pt_hs_keys *ck, pt_hs_keys *sk, const pt_hs_settings *st)
{
    uint8_t c_priv[32], c_pub[32], s_priv[32], s_pub[32], got[32];
    uint8_t m1[PT_HS_MSG_MAX + 2], m2[PT_HS_MSG_MAX + 2];
    size_t m1_len, m2_len, used;
    pt_hs c, s;
    pt_hs_payload p, rp;
    int rc;

    memset(&p, 0, sizeof(p));
    p.version = PT_PROTOCOL_VERSION;
    p.settings = *st;
    pt_noise_keypair(c_priv, c_pub);
    pt_noise_keypair(s_priv, s_pub);
    if ((rc = pt_hs_client_create(&c, m1, sizeof(m1), &m1_len, c_priv, s_pub, PT_TRANSPORT_TCP, &p,
                                  0, NULL, NULL)) != PT_ERR_OK ||
        (rc = pt_hs_server_read(&s, m1, m1_len, &used, s_priv, PT_TRANSPORT_TCP, got, &rp)) !=
            PT_ERR_OK ||
        (rc = pt_hs_server_respond(&s, m2, sizeof(m2), &m2_len, &p, 0, NULL, NULL, sk,
                                   PT_AEAD_BORINGSSL)) != PT_ERR_OK ||
        (rc = pt_hs_client_finish(&c, m2, m2_len, &used, &rp, ck, PT_AEAD_BORINGSSL)) !=
            PT_ERR_OK) {
        die("handshake", rc);
    }
    pt_hs_cleanup(&c);
    pt_hs_cleanup(&s);
}

/* Move |from|'s output into the socket buffer, then into |to|. */
static size_t move(bench *b, pt_session *from, pt_session *to, int inplace)
{
    struct iovec iov[64];
    size_t len = 0, n;
    while ((n = pt_session_pending_output(from, iov, 64)) > 0) {
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            if (len + iov[i].iov_len > b->sock_cap) {
                b->sock_cap = 2 * (len + iov[i].iov_len);
                b->sock = realloc(b->sock, b->sock_cap);
                if (!b->sock) {
                    die("realloc", PT_ERR_NOMEM);
                }
            }
            memcpy(b->sock + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            bytes += iov[i].iov_len;
        }
        pt_session_output_written(from, bytes);
    }
    if (len) {
        int rc = inplace ? pt_session_on_bytes_inplace(to, b->sock, len, 0)
                         : pt_session_on_bytes(to, b->sock, len, 0);
        if (rc != PT_ERR_OK) {
            die("on_bytes", rc);
        }
    }
    return len;
}

static void run(size_t nstreams, uint64_t total, int inplace)
{
    bench b;
    pt_hs_settings st;
    pt_hs_keys ck, sk;
    pt_session_callbacks ccb, scb;
    int rc;

    memset(&b, 0, sizeof(b));
    memset(&ccb, 0, sizeof(ccb));
    memset(&scb, 0, sizeof(scb));
    scb.on_stream_incoming = on_incoming;
    scb.on_stream_data = on_data;
    pt_hs_settings_default(&st);
    st.conn_window = 16u << 20;
    handshake(&ck, &sk, &st);
    if ((rc = pt_session_new(&b.c, NULL, &ck, 1, &st, &st, &ccb, &b, 0)) != PT_ERR_OK ||
        (rc = pt_session_new(&b.s, NULL, &sk, 0, &st, &st, &scb, &b, 0)) != PT_ERR_OK) {
        die("session_new", rc);
    }
    b.nstreams = nstreams;
    pt_addr t;
    pt_addr_set_domain(&t, "bench.example", 443);
    for (size_t i = 0; i < nstreams; i++) {
        if ((rc = pt_session_stream_open(b.c, &t, NULL, &b.sids[i])) != PT_ERR_OK) {
            die("stream_open", rc);
        }
        b.left[i] = total / nstreams;
    }
    uint64_t want = (total / nstreams) * nstreams;

    double w0 = now_wall(), c0 = now_cpu();
    for (;;) {
        int any = 0;
        for (size_t i = 0; i < nstreams; i++) {
            while (b.left[i] > 0) {
                size_t n = b.left[i] < WRITE_SIZE ? (size_t)b.left[i] : WRITE_SIZE;
                size_t acc = 0;
                rc = pt_session_stream_write(b.c, b.sids[i], g_data, n, &acc);
                b.left[i] -= acc;
                if (rc == PT_ERR_FLOW_BLOCKED || acc < n) {
                    break;
                }
                if (rc != PT_ERR_OK) {
                    die("write", rc);
                }
            }
            any |= b.left[i] > 0;
        }
        size_t moved = move(&b, b.c, b.s, inplace);
        moved += move(&b, b.s, b.c, inplace);
        if (!any && moved == 0) {
            break;
        }
    }
    double wall = now_wall() - w0, cpu = now_cpu() - c0;

    pt_session_stats cs;
    pt_session_get_stats(b.c, &cs);
    double gib = (double)want / (double)(1u << 30);
    printf("%-8s %7zu %10.0f %12.2f %12.0f %10zu\n", inplace ? "inplace" : "copy", nstreams,
           (double)want / wall / 1e6, cpu / gib, (double)cs.frames_sent / wall, cs.blocks_in_use);
    if (b.received != want) {
        fprintf(stderr, "bench_session: received %llu of %llu bytes\n",
                (unsigned long long)b.received, (unsigned long long)want);
        exit(1);
    }
    pt_session_free(b.c);
    pt_session_free(b.s);
    free(b.sock);
}

int main(int argc, char **argv)
{
    uint64_t total = 1ull << 30;
    const char *env = getenv("PT_BENCH_SESSION_BYTES");
    const char *arg = argc > 1 ? argv[1] : env;
    if (arg && *arg) {
        char *end = NULL;
        unsigned long long v = strtoull(arg, &end, 10);
        if (!end || *end || v < WRITE_SIZE * MAX_STREAMS) {
            fprintf(stderr, "usage: bench_session [total-bytes >= %u]\n", WRITE_SIZE * MAX_STREAMS);
            return 2;
        }
        total = v;
    }
    if (sodium_init() < 0) {
        return 1;
    }
    randombytes_buf(g_data, sizeof(g_data));
    printf("bench_session: %llu bytes per row, %u-byte writes, client -> server\n",
           (unsigned long long)total, WRITE_SIZE);
    printf("%-8s %7s %10s %12s %12s %10s\n", "input", "streams", "MB/s", "cpu-s/GiB", "frames/s",
           "blk-left");
    static const size_t streams[] = {1, 64};
    for (size_t i = 0; i < 2; i++) {
        run(streams[i], total, 0);
        run(streams[i], total, 1);
    }
    return 0;
}
