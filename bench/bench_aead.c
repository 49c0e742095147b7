/* bench_aead.c — how fast the crypto on the hot path is, on one core.
 *
 *   bench_aead [seconds-per-row]     (default 0.25; the whole run ~4 s)
 *
 * Rows: pt_aead_seal through each backend at 16 KiB and 1 KiB; X25519 key
 * generation (pt_noise_keypair) and Diffie-Hellman (crypto_scalarmult);
 * pt_frame_seal + pt_frame_open of one frame, in place, at 16 KiB and the
 * largest payload (PT_FRAME_MAX_PAYLOAD, ~64 KiB). MB/s counts payload
 * bytes (10^6 bytes per second). "cpu%" is process CPU time (getrusage)
 * over wall time (CLOCK_MONOTONIC): ~100 means one busy core.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "pt_aead.h"
#include "pt_err.h"
#include "pt_frame.h"
#include "pt_noise.h"

static double row_seconds = 0.25;
static volatile uint8_t sink; /* keeps results alive */

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
    fprintf(stderr, "bench_aead: %s failed: %s\n", what, pt_err_name(rc));
    exit(1);
}

typedef struct meter {
    double wall0, cpu0;
    uint64_t ops;
} meter;

static void meter_start(meter *m)
{
    m->ops = 0;
    m->cpu0 = now_cpu();
    m->wall0 = now_wall();
}

/* Checks the clock every |batch| operations; returns 1 while time is left. */
static int meter_running(meter *m, uint64_t batch)
{
    m->ops += batch;
    return now_wall() - m->wall0 < row_seconds;
}

static void meter_print(const meter *m, const char *op, const char *backend, size_t bytes)
{
    double wall = now_wall() - m->wall0, cpu = now_cpu() - m->cpu0;
    double ops = (double)m->ops / wall;
    char size[24] = "-", mbs[24] = "-";
    if (bytes) {
        snprintf(size, sizeof(size), "%zu", bytes);
        snprintf(mbs, sizeof(mbs), "%.0f", ops * (double)bytes / 1e6);
    }
    printf("%-24s %-10s %8s %10s %12.0f %6.0f\n", op, backend, size, mbs, ops, 100.0 * cpu / wall);
}

static const char *backend_name(pt_aead_backend b)
{
    return b == PT_AEAD_SODIUM ? "libsodium" : "boringssl";
}

static void bench_aead_seal(pt_aead_backend backend, size_t len)
{
    uint8_t key[32], nonce[12], ad[2] = {0x12, 0x34};
    randombytes_buf(key, sizeof(key));
    uint8_t *buf = malloc(len + PT_AEAD_TAG_LEN);
    if (!buf) {
        exit(1);
    }
    randombytes_buf(buf, len);
    pt_aead a;
    int rc = pt_aead_init(&a, backend, key);
    if (rc != PT_ERR_OK) {
        die("pt_aead_init", rc);
    }
    meter m;
    uint64_t n = 0;
    const uint64_t batch = len >= 8192 ? 16 : 256;
    meter_start(&m);
    do {
        for (uint64_t i = 0; i < batch; i++) {
            pt_aead_nonce(nonce, n++);
            /* In place, as the frame layer does. */
            rc = pt_aead_seal(&a, buf, nonce, ad, sizeof(ad), buf, len);
            if (rc != PT_ERR_OK) {
                die("pt_aead_seal", rc);
            }
        }
    } while (meter_running(&m, batch));
    meter_print(&m, "aead seal", backend_name(backend), len);
    sink ^= buf[0];
    pt_aead_cleanup(&a);
    free(buf);
}

static void bench_x25519(void)
{
    uint8_t priv[32], pub[32], peer_priv[32], peer_pub[32], shared[32];
    meter m;
    meter_start(&m);
    do {
        for (int i = 0; i < 32; i++) {
            int rc = pt_noise_keypair(priv, pub);
            if (rc != PT_ERR_OK) {
                die("pt_noise_keypair", rc);
            }
        }
    } while (meter_running(&m, 32));
    meter_print(&m, "x25519 keypair", "libsodium", 0);
    sink ^= pub[0];

    if (pt_noise_keypair(peer_priv, peer_pub) != PT_ERR_OK) {
        die("pt_noise_keypair", PT_ERR_CRYPTO);
    }
    meter_start(&m);
    do {
        for (int i = 0; i < 32; i++) {
            if (crypto_scalarmult(shared, priv, peer_pub) != 0) {
                die("crypto_scalarmult", PT_ERR_CRYPTO);
            }
        }
    } while (meter_running(&m, 32));
    meter_print(&m, "x25519 scalarmult (DH)", "libsodium", 0);
    sink ^= shared[0];
}

static void bench_frame(pt_aead_backend backend, size_t payload_len)
{
    uint8_t k[32];
    randombytes_buf(k, sizeof(k));
    pt_frame_dir s;
    pt_frame_opener o;
    int rc = pt_frame_dir_init(&s, backend, k);
    if (rc == PT_ERR_OK) {
        rc = pt_frame_opener_init(&o, backend, k);
    }
    if (rc != PT_ERR_OK) {
        die("frame init", rc);
    }
    pt_pad_policy pol;
    pt_pad_policy_default(&pol);
    size_t cap = PT_FRAME_OVERHEAD + payload_len + PT_FRAME_MAX_PAD;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        exit(1);
    }
    randombytes_buf(buf + PT_FRAME_PAYLOAD_OFFSET, payload_len);

    meter m;
    const uint64_t batch = 8;
    meter_start(&m);
    do {
        for (uint64_t i = 0; i < batch; i++) {
            size_t wire_len, consumed;
            pt_frame_hdr h;
            uint8_t *pl;
            /* Payload in place (NULL): the zero-copy path DATA uses. Opening
             * decrypts in place, leaving it there for the next round. */
            rc = pt_frame_seal(&s, &pol, buf, cap, &wire_len, PT_FRAME_DATA, 1, NULL, payload_len);
            if (rc != PT_ERR_OK) {
                die("pt_frame_seal", rc);
            }
            rc = pt_frame_open(&o, buf, wire_len, &consumed, &h, &pl);
            if (rc != PT_ERR_OK || consumed != wire_len || h.payload_len != payload_len) {
                die("pt_frame_open", rc);
            }
        }
    } while (meter_running(&m, batch));
    meter_print(&m, "frame seal+open", backend_name(backend), payload_len);
    sink ^= buf[PT_FRAME_PAYLOAD_OFFSET];
    free(buf);
    pt_frame_opener_cleanup(&o);
    pt_frame_dir_cleanup(&s);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end = NULL;
        double v = strtod(argv[1], &end);
        if (!end || *end || v <= 0 || v > 60) {
            fprintf(stderr, "usage: %s [seconds-per-row (0..60]]\n", argv[0]);
            return 2;
        }
        row_seconds = v;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_aead: sodium_init failed\n");
        return 1;
    }
    static const pt_aead_backend backends[] = {PT_AEAD_BORINGSSL, PT_AEAD_SODIUM};

    printf("bench_aead: %.2f s per row, one thread\n", row_seconds);
    printf("%-24s %-10s %8s %10s %12s %6s\n", "operation", "backend", "bytes", "MB/s", "ops/s",
           "cpu%");
    for (int b = 0; b < 2; b++) {
        bench_aead_seal(backends[b], 16384);
        bench_aead_seal(backends[b], 1024);
    }
    bench_x25519();
    for (int b = 0; b < 2; b++) {
        bench_frame(backends[b], 16384);
        bench_frame(backends[b], PT_FRAME_MAX_PAYLOAD);
    }
    return 0;
}
