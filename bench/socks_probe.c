/* socks_probe.c — SOCKS5 client for the comparison benchmark (bench/compare.py).
 *
 *   bench_socks latency PROXY_PORT ORIGIN_PORT N
 *       N sequential new connections, each: TCP connect to the proxy on
 *       127.0.0.1, SOCKS5 greeting (no auth), CONNECT 127.0.0.1:ORIGIN_PORT,
 *       "GET /ping", and wait for the first byte of the answer. The time from
 *       before connect() to that first byte is one sample. PROXY_PORT 0 goes
 *       straight to the origin (no SOCKS5), as a reference. Prints
 *       "ok=N fail=F median_ms=.. p95_ms=.. min_ms=.. max_ms=.. mean_ms=..",
 *       preceded by "samples_ms=a,b,..." when BENCH_SAMPLES is set.
 *
 *   bench_socks hold PROXY_PORT ORIGIN_PORT N
 *       Opens N SOCKS5 connections to the origin's /hold (each one complete
 *       end to end: the origin's response headers have arrived), prints
 *       "READY ok=N fail=F secs=T", then keeps them open until stdin reaches
 *       EOF, and exits.
 *
 * Everything is on 127.0.0.1. Blocking sockets with 15 s timeouts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_exact(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = 15, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* SOCKS5 no-auth CONNECT to 127.0.0.1:origin_port on a connected socket. */
static int socks5_connect(int fd, int origin_port)
{
    static const unsigned char hello[3] = {5, 1, 0};
    unsigned char r[10];
    if (write_all(fd, hello, sizeof(hello)) != 0 || read_exact(fd, r, 2) != 0 || r[0] != 5 ||
        r[1] != 0) {
        return -1;
    }
    unsigned char req[10] = {5, 1, 0, 1, 127, 0, 0, 1, 0, 0};
    req[8] = (unsigned char)(origin_port >> 8);
    req[9] = (unsigned char)(origin_port & 0xff);
    if (write_all(fd, req, sizeof(req)) != 0 || read_exact(fd, r, 4) != 0 || r[0] != 5 ||
        r[1] != 0) {
        return -1;
    }
    size_t rest;
    if (r[3] == 1) {
        rest = 4 + 2;
    } else if (r[3] == 4) {
        rest = 16 + 2;
    } else if (r[3] == 3) {
        unsigned char l;
        if (read_exact(fd, &l, 1) != 0) {
            return -1;
        }
        rest = (size_t)l + 2;
    } else {
        return -1;
    }
    unsigned char skip[258];
    return read_exact(fd, skip, rest);
}

/* Opens a stream to |path| on the origin, through the proxy unless proxy_port
 * is 0, and waits for the first byte of the answer. Returns the fd. */
static int open_stream(int proxy_port, int origin_port, const char *path)
{
    int fd = tcp_connect(proxy_port ? proxy_port : origin_port);
    if (fd < 0) {
        return -1;
    }
    if (proxy_port && socks5_connect(fd, origin_port) != 0) {
        close(fd);
        return -1;
    }
    char req[128];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    unsigned char b;
    if (write_all(fd, req, (size_t)n) != 0 || read_exact(fd, &b, 1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_latency(int proxy_port, int origin_port, int n)
{
    double *s = calloc((size_t)n, sizeof(*s));
    if (!s) {
        return 1;
    }
    int ok = 0, fail = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        int fd = open_stream(proxy_port, origin_port, "/ping");
        double t1 = now_ms();
        if (fd < 0) {
            fail++;
            continue;
        }
        /* Read the rest of the tiny answer (it ends with "pong") so the
         * close is an orderly one. */
        char buf[512];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
            ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            buf[got] = 0;
            if (strstr(buf, "pong")) {
                break;
            }
        }
        close(fd);
        s[ok++] = t1 - t0;
        sum += t1 - t0;
    }
    if (ok == 0) {
        printf("ok=0 fail=%d\n", fail);
        free(s);
        return 1;
    }
    if (getenv("BENCH_SAMPLES")) { /* every sample, in order, for compare.py */
        printf("samples_ms=");
        for (int i = 0; i < ok; i++) {
            printf("%s%.4f", i ? "," : "", s[i]);
        }
        printf("\n");
    }
    qsort(s, (size_t)ok, sizeof(*s), cmp_double);
    double median = ok % 2 ? s[ok / 2] : (s[ok / 2 - 1] + s[ok / 2]) / 2;
    int i95 = (int)(0.95 * (ok - 1) + 0.5);
    printf("ok=%d fail=%d median_ms=%.3f p95_ms=%.3f min_ms=%.3f max_ms=%.3f mean_ms=%.3f\n", ok,
           fail, median, s[i95], s[0], s[ok - 1], sum / ok);
    free(s);
    return 0;
}

static int run_hold(int proxy_port, int origin_port, int n)
{
    int *fds = calloc((size_t)n, sizeof(*fds));
    if (!fds) {
        return 1;
    }
    int ok = 0, fail = 0;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        int fd = open_stream(proxy_port, origin_port, "/hold");
        if (fd < 0) {
            fail++;
            if (fail > 20 && ok == 0) {
                break;
            }
            continue;
        }
        fds[ok++] = fd;
    }
    printf("READY ok=%d fail=%d secs=%.3f\n", ok, fail, (now_ms() - t0) / 1e3);
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof(b)) > 0) {
    }
    for (int i = 0; i < ok; i++) {
        close(fds[i]);
    }
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_socks latency|hold PROXY_PORT ORIGIN_PORT N\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    int proxy_port = atoi(argv[2]), origin_port = atoi(argv[3]), n = atoi(argv[4]);
    if (n <= 0 || origin_port <= 0 || proxy_port < 0) {
        fprintf(stderr, "bench_socks: bad arguments\n");
        return 2;
    }
    if (strcmp(argv[1], "latency") == 0) {
        return run_latency(proxy_port, origin_port, n);
    }
    if (strcmp(argv[1], "hold") == 0) {
        return run_hold(proxy_port, origin_port, n);
    }
    fprintf(stderr, "bench_socks: unknown mode %s\n", argv[1]);
    return 2;
}
