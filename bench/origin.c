/* origin.c — the benchmark's origin web server (bench/run.sh, bench/compare.py).
 *
 * A single-threaded epoll HTTP/1.1 server on 127.0.0.1 that is fast enough not
 * to be the bottleneck of a tunnel benchmark (Python's http.server is not):
 *
 *   GET /bytes/N   200, N bytes of zeros, sent from one static buffer
 *   GET /ping      200, "pong" (4 bytes); the connection stays open for more
 *   GET /hold      200 headers, then nothing: the connection is held open until
 *                  the client closes it (for "1000 open streams")
 *   anything else  404
 *
 * Usage: bench_origin [PORT]   (0 or nothing: any free port). Prints
 * "PORT <n>" on stdout once listening. Listens on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ZBUF_LEN (1u << 20)
#define REQ_MAX 2048
#define HDR_MAX 256

static unsigned char zbuf[ZBUF_LEN];

typedef struct conn {
    int fd;
    size_t req_len;
    char req[REQ_MAX];
    char hdr[HDR_MAX];
    size_t hdr_len, hdr_off;
    uint64_t body_left; /* zeros still to send */
    const char *tail;   /* small fixed body (/ping) */
    size_t tail_len, tail_off;
    int holding;        /* /hold: nothing more to send */
    int want_out;
} conn;

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void conn_close(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void set_out(int ep, conn *c, int on)
{
    if (c->want_out == on) {
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

/* Parses one complete request in c->req (ends with CRLFCRLF at |end|). */
static void start_response(conn *c, size_t end)
{
    static const char pong[] = "pong";
    char path[128] = "";
    int n = 0;
    if (sscanf(c->req, "GET %127s HTTP/1.%*d%n", path, &n) < 1 || n == 0) {
        path[0] = 0;
    }
    c->hdr_off = 0;
    c->tail = NULL;
    c->tail_len = c->tail_off = 0;
    c->body_left = 0;
    if (strncmp(path, "/bytes/", 7) == 0) {
        char *e = NULL;
        unsigned long long len = strtoull(path + 7, &e, 10);
        c->body_left = len;
        c->hdr_len = (size_t)snprintf(c->hdr, HDR_MAX,
                                      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                      "Content-Length: %llu\r\n\r\n",
                                      len);
    } else if (strcmp(path, "/ping") == 0) {
        c->tail = pong;
        c->tail_len = 4;
        c->hdr_len = (size_t)snprintf(c->hdr, HDR_MAX,
                                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 4\r\n\r\n");
    } else if (strcmp(path, "/hold") == 0) {
        c->holding = 1;
        c->hdr_len = (size_t)snprintf(c->hdr, HDR_MAX,
                                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n");
    } else {
        c->hdr_len = (size_t)snprintf(c->hdr, HDR_MAX,
                                      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    /* Keep any pipelined bytes after this request. */
    memmove(c->req, c->req + end, c->req_len - end);
    c->req_len -= end;
}

static int pending(const conn *c)
{
    return c->hdr_off < c->hdr_len || c->body_left > 0 || c->tail_off < c->tail_len;
}

/* Sends what it can. Returns -1 when the connection is dead. */
static int pump(int ep, conn *c)
{
    while (pending(c)) {
        ssize_t w;
        if (c->hdr_off < c->hdr_len) {
            w = send(c->fd, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off, MSG_NOSIGNAL);
            if (w > 0) {
                c->hdr_off += (size_t)w;
            }
        } else if (c->body_left > 0) {
            size_t n = c->body_left < ZBUF_LEN ? (size_t)c->body_left : ZBUF_LEN;
            w = send(c->fd, zbuf, n, MSG_NOSIGNAL);
            if (w > 0) {
                c->body_left -= (uint64_t)w;
            }
        } else {
            w = send(c->fd, c->tail + c->tail_off, c->tail_len - c->tail_off, MSG_NOSIGNAL);
            if (w > 0) {
                c->tail_off += (size_t)w;
            }
        }
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_out(ep, c, 1);
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
    }
    set_out(ep, c, 0);
    return 0;
}

/* Reads requests; answers each complete one when nothing is pending. */
static int on_readable(int ep, conn *c)
{
    for (;;) {
        if (c->req_len >= REQ_MAX - 1) {
            return -1;
        }
        ssize_t r = recv(c->fd, c->req + c->req_len, REQ_MAX - 1 - c->req_len, 0);
        if (r == 0) {
            return -1;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c->req_len += (size_t)r;
        c->req[c->req_len] = 0;
    }
    while (!pending(c) && !c->holding) {
        char *e = strstr(c->req, "\r\n\r\n");
        if (!e) {
            break;
        }
        start_response(c, (size_t)(e - c->req) + 4);
        c->req[c->req_len] = 0;
        if (pump(ep, c) < 0) {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 4096) != 0) {
        perror("bench_origin: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    set_nonblock(ls);
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("bench_origin: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept(ls, NULL, NULL);
                    if (fd < 0) {
                        break;
                    }
                    set_nonblock(fd);
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    conn *nc = calloc(1, sizeof(*nc));
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                dead = 1;
            }
            if (!dead && (evs[i].events & EPOLLOUT)) {
                dead = pump(ep, c) < 0;
                if (!dead && !pending(c)) {
                    dead = on_readable(ep, c) < 0; /* pipelined requests */
                }
            }
            if (!dead && (evs[i].events & EPOLLIN)) {
                dead = on_readable(ep, c) < 0;
            }
            if (dead) {
                conn_close(ep, c);
            }
        }
    }
}
