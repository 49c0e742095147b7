/* socks_relay.c — a plain SOCKS5 relay with no encryption, the "floor" of the
 * comparison benchmark (bench/run.sh, bench/compare.py).
 *
 * Single-threaded, epoll, like our own client and server (libuv): SOCKS5
 * without authentication, CONNECT only (IPv4, IPv6 or a domain name, resolved
 * with a blocking getaddrinfo), then read()/write() through one 64 KiB buffer
 * per direction, allocated when the stream starts relaying. Half-closes are
 * passed on. It exists because microsocks, the Debian plain SOCKS5 server,
 * copies 1 KiB per system call and so is no floor at all.
 *
 * Usage: bench_relay PORT   (listens on 127.0.0.1:PORT only; 0: any free port,
 * printed as "PORT <n>"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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

#define BUF_LEN (64u * 1024u)
#define HS_LEN 600

enum { ST_GREET, ST_REQUEST, ST_CONNECTING, ST_RELAY };

typedef struct pipe_dir {
    unsigned char *buf;
    size_t len, off;
    int eof;      /* source said EOF */
    int shut;     /* EOF passed on with shutdown(SHUT_WR) */
} pipe_dir;

struct pair;
typedef struct end {
    int fd;
    int is_a;
    int gone;        /* hung up and taken out of epoll */
    uint32_t events; /* registered epoll events */
    struct pair *p;
} end;

typedef struct pair {
    end a, b; /* a: the SOCKS client, b: the target */
    int state;
    unsigned char hs[HS_LEN];
    size_t hs_len;
    pipe_dir ab, ba; /* a->b, b->a */
} pair;

static int ep;

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void pair_free(pair *p)
{
    if (p->a.fd >= 0) {
        close(p->a.fd);
    }
    if (p->b.fd >= 0) {
        close(p->b.fd);
    }
    free(p->ab.buf);
    free(p->ba.buf);
    free(p);
}

static void want(end *e, uint32_t ev)
{
    if (e->fd < 0 || e->gone || e->events == ev) {
        return;
    }
    struct epoll_event x = {.events = ev, .data.ptr = e};
    epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &x);
    e->events = ev;
}

static void add(end *e, uint32_t ev)
{
    struct epoll_event x = {.events = ev, .data.ptr = e};
    epoll_ctl(ep, EPOLL_CTL_ADD, e->fd, &x);
    e->events = ev;
}

/* Moves bytes src -> dst through |d|. Returns -1 on a fatal error. */
static int flow(pipe_dir *d, int src, int dst)
{
    for (;;) {
        if (d->len > d->off) {
            ssize_t w = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
            }
            d->off += (size_t)w;
            if (d->off < d->len) {
                continue;
            }
            d->off = d->len = 0;
        }
        if (d->eof) {
            if (!d->shut) {
                shutdown(dst, SHUT_WR);
                d->shut = 1;
            }
            return 0;
        }
        ssize_t r = recv(src, d->buf, BUF_LEN, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        if (r == 0) {
            d->eof = 1;
            continue;
        }
        d->len = (size_t)r;
        d->off = 0;
    }
}

/* Registers what each end waits for in the relay state. */
static void relay_interest(pair *p)
{
    uint32_t ea = 0, eb = 0;
    if (!p->ab.eof && p->ab.len == 0) {
        ea |= EPOLLIN;
    }
    if (p->ab.len > 0) {
        eb |= EPOLLOUT;
    }
    if (!p->ba.eof && p->ba.len == 0) {
        eb |= EPOLLIN;
    }
    if (p->ba.len > 0) {
        ea |= EPOLLOUT;
    }
    want(&p->a, ea);
    want(&p->b, eb);
}

static int relay(pair *p)
{
    if (flow(&p->ab, p->a.fd, p->b.fd) < 0 || flow(&p->ba, p->b.fd, p->a.fd) < 0) {
        return -1;
    }
    if (p->ab.shut && p->ba.shut) {
        return -1; /* both directions finished */
    }
    relay_interest(p);
    return 0;
}

static int reply(pair *p, unsigned char code)
{
    unsigned char r[10] = {5, code, 0, 1, 0, 0, 0, 0, 0, 0};
    return send(p->a.fd, r, sizeof(r), MSG_NOSIGNAL) == (ssize_t)sizeof(r) ? 0 : -1;
}

/* A complete CONNECT request is in p->hs: start the outgoing connect. */
static int start_connect(pair *p, size_t req_len)
{
    unsigned char *q = p->hs;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    uint16_t port = (uint16_t)((q[req_len - 2] << 8) | q[req_len - 1]);
    if (q[3] == 1) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, q + 4, 4);
        s4->sin_port = htons(port);
        sl = sizeof(*s4);
    } else if (q[3] == 4) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, q + 4, 16);
        s6->sin6_port = htons(port);
        sl = sizeof(*s6);
    } else {
        char host[256];
        memcpy(host, q + 5, q[4]);
        host[q[4]] = 0;
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
            reply(p, 4);
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sl = res->ai_addrlen;
        freeaddrinfo(res);
        if (ss.ss_family == AF_INET) {
            ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        } else {
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        }
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        reply(p, 1);
        return -1;
    }
    set_nonblock(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    p->b.fd = fd;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
        reply(p, 5);
        return -1;
    }
    p->state = ST_CONNECTING;
    /* Bytes after the request (an optimistic client) wait in hs. */
    memmove(p->hs, p->hs + req_len, p->hs_len - req_len);
    p->hs_len -= req_len;
    want(&p->a, 0);
    add(&p->b, EPOLLOUT);
    return 0;
}

static int on_handshake(pair *p)
{
    for (;;) {
        ssize_t r = recv(p->a.fd, p->hs + p->hs_len, HS_LEN - p->hs_len, 0);
        if (r == 0) {
            return -1;
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return -1;
            }
            break;
        }
        p->hs_len += (size_t)r;
        if (p->hs_len == HS_LEN) {
            break;
        }
    }
    if (p->state == ST_GREET) {
        if (p->hs_len < 2 || p->hs_len < 2u + p->hs[1]) {
            return 0;
        }
        if (p->hs[0] != 5 || !memchr(p->hs + 2, 0, p->hs[1])) {
            return -1;
        }
        size_t n = 2u + p->hs[1];
        static const unsigned char ok[2] = {5, 0};
        if (send(p->a.fd, ok, 2, MSG_NOSIGNAL) != 2) {
            return -1;
        }
        memmove(p->hs, p->hs + n, p->hs_len - n);
        p->hs_len -= n;
        p->state = ST_REQUEST;
    }
    if (p->state == ST_REQUEST) {
        if (p->hs_len < 5) {
            return 0;
        }
        unsigned char *q = p->hs;
        if (q[0] != 5 || q[1] != 1) {
            reply(p, 7);
            return -1;
        }
        size_t need = q[3] == 1 ? 10 : q[3] == 4 ? 22 : q[3] == 3 ? 7u + q[4] : 0;
        if (need == 0) {
            reply(p, 8);
            return -1;
        }
        if (p->hs_len < need) {
            return 0;
        }
        return start_connect(p, need);
    }
    return 0;
}

static int on_connected(pair *p)
{
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(p->b.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) {
        reply(p, 5);
        return -1;
    }
    if (reply(p, 0) != 0) {
        return -1;
    }
    p->ab.buf = malloc(BUF_LEN);
    p->ba.buf = malloc(BUF_LEN);
    if (!p->ab.buf || !p->ba.buf) {
        return -1;
    }
    if (p->hs_len > 0) { /* early data from the client */
        memcpy(p->ab.buf, p->hs, p->hs_len);
        p->ab.len = p->hs_len;
    }
    p->state = ST_RELAY;
    return relay(p);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 4096) != 0) {
        perror("bench_relay: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    set_nonblock(ls);
    ep = epoll_create1(0);
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
            return 1;
        }
        /* A pair freed during this batch must not be touched again: defer. */
        pair *dead[256];
        int ndead = 0;
        for (int i = 0; i < n; i++) {
            end *e = evs[i].data.ptr;
            if (!e) {
                for (;;) {
                    int fd = accept(ls, NULL, NULL);
                    if (fd < 0) {
                        break;
                    }
                    set_nonblock(fd);
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    pair *p = calloc(1, sizeof(*p));
                    if (!p) {
                        close(fd);
                        continue;
                    }
                    p->a.fd = fd;
                    p->a.is_a = 1;
                    p->a.p = p;
                    p->b.fd = -1;
                    p->b.p = p;
                    p->state = ST_GREET;
                    add(&p->a, EPOLLIN);
                }
                continue;
            }
            pair *p = e->p;
            int skip = 0;
            for (int k = 0; k < ndead; k++) {
                skip |= dead[k] == p;
            }
            if (skip) {
                continue;
            }
            int rc;
            if (p->state == ST_GREET || p->state == ST_REQUEST) {
                rc = on_handshake(p);
            } else if (p->state == ST_CONNECTING) {
                rc = e->is_a ? 0 : on_connected(p);
                if (e->is_a && (evs[i].events & (EPOLLHUP | EPOLLERR))) {
                    rc = -1;
                }
            } else {
                rc = relay(p);
                if (rc == 0 && (evs[i].events & EPOLLERR)) {
                    rc = -1;
                }
                if (rc == 0 && (evs[i].events & EPOLLHUP) && !e->gone) {
                    /* Nothing more can go into this end; what it sent was
                     * read above (or waits for the other end's EPOLLOUT).
                     * Stop watching it, or level-triggered HUP spins. */
                    pipe_dir *into = e->is_a ? &p->ba : &p->ab;
                    into->eof = into->shut = 1;
                    into->len = into->off = 0;
                    epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
                    e->gone = 1;
                    rc = relay(p);
                }
            }
            if (rc < 0) {
                if (p->a.fd >= 0 && !p->a.gone) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, p->a.fd, NULL);
                }
                if (p->b.fd >= 0 && !p->b.gone) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, p->b.fd, NULL);
                }
                dead[ndead++] = p;
            }
        }
        for (int k = 0; k < ndead; k++) {
            pair_free(dead[k]);
        }
    }
}
