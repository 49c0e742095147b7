/* pt_daemon.c — see pt_daemon.h. */
#include "pt_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "pt_client.h"
#include "pt_config.h"
#include "pt_decoy_site.h"
#include "pt_err.h"
#include "pt_invite.h"
#include "pt_log.h"
#include "pt_noise.h"
#include "pt_server.h"
#include "pt_tls.h"

/* ---- shared ---------------------------------------------------------------------- */

typedef struct daemon_ctx {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    int signals;
    pt_server *server;
    pt_client *client;
    const char *conf_path;
} daemon_ctx;

static void stop_signals(daemon_ctx *d)
{
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    if (d->server) {
        uv_close((uv_handle_t *)&d->sighup, NULL);
    }
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    daemon_ctx *d = h->data;
    if (++d->signals > 1) {
        pt_log_warn("second signal: exiting without draining");
        _exit(1);
    }
    pt_log_info("%s: draining (GOAWAY); again to exit at once",
                signum == SIGINT ? "SIGINT" : "SIGTERM");
    stop_signals(d);
    if (d->server) {
        pt_server_stop(d->server);
    }
    if (d->client) {
        pt_client_stop(d->client);
    }
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    daemon_ctx *d = h->data;
    pt_config_peer *peers = NULL;
    size_t n = 0;
    char err[1024];
    if (pt_config_server_reload_peers(&peers, &n, d->conf_path, err, sizeof(err)) != PT_ERR_OK) {
        pt_log_error("SIGHUP: %s (keeping the current clients)", err);
        return;
    }
    pt_server_client *cl = calloc(n ? n : 1, sizeof(*cl));
    if (!cl) {
        free(peers);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(cl[i].pub, peers[i].public_key, 32);
        snprintf(cl[i].name, sizeof(cl[i].name), "%s", peers[i].name);
        cl[i].max_streams = peers[i].max_streams;
    }
    free(peers);
    if (pt_server_set_clients(d->server, cl, n) == PT_ERR_OK) {
        pt_log_info("SIGHUP: %zu authorized clients", n);
    } else {
        pt_log_error("SIGHUP: too many clients; keeping the current list");
    }
    free(cl);
}

static void setup_signals(daemon_ctx *d, int with_hup)
{
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;
    uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
    if (with_hup) {
        uv_signal_init(&d->loop, &d->sighup);
        d->sighup.data = d;
        uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    }
}

static void set_log_level(pt_config_log_level l) { pt_log_set_level((pt_log_level)l); }

/* "--flag value" pairs after -c FILE; |override| applies one. Returns 0,
 * or the exit status after printing why. */
typedef int (*override_fn)(void *cfg, const char *flag, const char *value, char *err, size_t cap);

static int apply_flags(const char *cmd, int argc, char **argv, int first, void *cfg, override_fn fn)
{
    char err[1024];
    for (int i = first; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "phantom %s: unexpected argument '%s' (flags are --name value)\n", cmd,
                    argv[i]);
            return 2;
        }
        int rc = fn(cfg, argv[i] + 2, argv[i + 1], err, sizeof(err));
        if (rc == PT_ERR_NOTFOUND) {
            fprintf(stderr, "phantom %s: unknown flag '%s'\n", cmd, argv[i]);
            return 2;
        }
        if (rc != PT_ERR_OK) {
            fprintf(stderr, "phantom %s: %s\n", cmd, err);
            return 1;
        }
    }
    return 0;
}

static int srv_override(void *cfg, const char *f, const char *v, char *err, size_t cap)
{
    return pt_config_server_override(cfg, f, v, err, cap);
}

static int cli_override(void *cfg, const char *f, const char *v, char *err, size_t cap)
{
    return pt_config_client_override(cfg, f, v, err, cap);
}

/* "phantom CMD -c FILE [--flag value ...]": the config path, or NULL. */
static const char *conf_arg(const char *cmd, int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "-c") == 0) {
        return argv[2];
    }
    fprintf(stderr, "phantom %s: usage: phantom %s -c FILE [--flag value ...]\n", cmd, cmd);
    return NULL;
}

static int addr_to_sockaddr(const pt_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->type == PT_ADDR_IPV4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a->u.ipv4, 4);
        s4->sin_port = htons(a->port);
        return 0;
    }
    if (a->type == PT_ADDR_IPV6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a->u.ipv6, 16);
        s6->sin6_port = htons(a->port);
        return 0;
    }
    return -1;
}

/* ---- server ----------------------------------------------------------------------- */

int pt_daemon_server(int argc, char **argv)
{
    const char *path = conf_arg("server", argc, argv);
    if (!path) {
        return 2;
    }
    char err[1024];
    pt_config_server *cfg = NULL;
    if (pt_config_server_load(&cfg, path, 0, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom server: %s\n", err);
        return 1;
    }
    int st = apply_flags("server", argc, argv, 3, cfg, srv_override);
    if (st == 0 && pt_config_server_validate(cfg, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom server: %s\n", err);
        st = 1;
    }
    if (st != 0) {
        pt_config_server_free(cfg);
        return st;
    }
    set_log_level(cfg->log_level);
    if (cfg->self_signed && access(cfg->certificate, F_OK) != 0) {
        if (pt_tls_selfsigned_generate(cfg->certificate, cfg->certificate_key, cfg->hostname) !=
            0) {
            fprintf(stderr, "phantom server: cannot create a self-signed certificate at %s\n",
                    cfg->certificate);
            pt_config_server_free(cfg);
            return 1;
        }
        pt_log_info("created a self-signed certificate for %s: %s", cfg->hostname,
                    cfg->certificate);
    }

    pt_decoy_site *dir_site = NULL;
    if (cfg->decoy == PT_CONFIG_DECOY_DIRECTORY &&
        pt_decoy_site_dir_new(&dir_site, cfg->decoy_directory) != PT_ERR_OK) {
        fprintf(stderr, "phantom server: %s: decoy directory %s cannot be served\n", path,
                cfg->decoy_directory);
        pt_config_server_free(cfg);
        return 1;
    }

    pt_server_config sc;
    memset(&sc, 0, sizeof(sc));
    pt_front_config_default(&sc.front);
    char listen[PT_CONFIG_MAX_LISTEN][80], upstream[300], upstream_h2[300];
    for (size_t i = 0; i < cfg->n_listen; i++) {
        pt_addr_format(&cfg->listen[i], listen[i], sizeof(listen[i]));
        sc.front.listen[i] = listen[i];
    }
    sc.front.n_listen = cfg->n_listen;
    _Static_assert(PT_CONFIG_MAX_LISTEN <= PT_FRONT_MAX_LISTEN, "every Listen fits the front");
    sc.front.tls.cert_file = cfg->certificate;
    sc.front.tls.key_file = cfg->certificate_key;
    memcpy(sc.front.link.local_priv, cfg->private_key, 32);
    sc.front.link.handshake_timeout_ms = (uint64_t)cfg->handshake_timeout * 1000;
    sc.front.link.session.pad = cfg->padding;
    sc.front.link.session.cover_interval_ms = (uint64_t)cfg->cover_traffic * 1000;
    sc.front.link.jitter_max_ms = cfg->jitter;
    sc.front.link.settings.max_streams = cfg->max_streams_per_client;
    if (dir_site) {
        sc.front.decoy.site = dir_site;
    }
    if (cfg->decoy_identity == PT_CONFIG_IDENTITY_NGINX) {
        sc.front.decoy.server = "nginx/1.22.1";
    }
    if (cfg->decoy == PT_CONFIG_DECOY_UPSTREAM) {
        pt_addr_format(&cfg->decoy_upstream, upstream, sizeof(upstream));
        sc.front.upstream = upstream;
    }
    if (cfg->has_decoy_upstream_h2) {
        pt_addr_format(&cfg->decoy_upstream_h2, upstream_h2, sizeof(upstream_h2));
        sc.front.upstream_h2 = upstream_h2;
    }
    pt_egress_policy_default(&sc.egress);
    sc.egress.allow_private = cfg->allow_private_targets;
    sc.egress.connect_timeout_ms = (uint64_t)cfg->connect_timeout * 1000;
    sc.max_sessions = cfg->max_clients;
    pt_server_client *cl = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*cl));
    if (!cl) {
        pt_config_server_free(cfg);
        return 1;
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        memcpy(cl[i].pub, cfg->peers[i].public_key, 32);
        snprintf(cl[i].name, sizeof(cl[i].name), "%s", cfg->peers[i].name);
        cl[i].max_streams = cfg->peers[i].max_streams;
    }
    sc.clients = cl;
    sc.n_clients = cfg->n_peers;

    daemon_ctx d;
    memset(&d, 0, sizeof(d));
    d.conf_path = path;
    uv_loop_init(&d.loop);
    int rc = pt_server_start(&d.server, &d.loop, &sc, err, sizeof(err));
    sodium_memzero(sc.front.link.local_priv, 32);
    free(cl);
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "phantom server: %s\n", err);
        pt_config_server_free(cfg);
        pt_decoy_site_free(dir_site);
        uv_run(&d.loop, UV_RUN_DEFAULT); /* let closed handles finish */
        uv_loop_close(&d.loop);
        return 1;
    }
    setup_signals(&d, 1);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    pt_log_info("server stopped");
    uv_loop_close(&d.loop);
    pt_decoy_site_free(dir_site);
    pt_config_server_free(cfg);
    return 0;
}

/* ---- client ------------------------------------------------------------------------ */

static int write_secret_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "phantom: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int bad = n < 0 || (size_t)n != len;
    if (close(fd) != 0 || bad) {
        fprintf(stderr, "phantom: %s: write failed\n", path);
        return 1;
    }
    return 0;
}

/* phantom client --import URI [-o FILE] */
static int client_import(int argc, char **argv)
{
    const char *uri = argv[2], *out = "client.conf";
    if (argc == 5 && strcmp(argv[3], "-o") == 0) {
        out = argv[4];
    } else if (argc != 3) {
        fprintf(stderr, "phantom client: usage: phantom client --import URI [-o FILE]\n");
        return 2;
    }
    char err[1024];
    pt_config_client *c = NULL;
    if (pt_invite_uri_parse(&c, uri, "client.key", err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom client: %s\n", err);
        return 1;
    }
    char *text = NULL;
    int st = 1;
    if (pt_invite_client_conf_text(&text, c) == PT_ERR_OK && write_secret_file(out, text) == 0) {
        printf("wrote %s; start with: phantom client -c %s\n", out, out);
        st = 0;
    }
    pt_invite_free_text(text);
    pt_config_client_free(c);
    return st;
}

int pt_daemon_client(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--import") == 0) {
        return client_import(argc, argv);
    }
    const char *path = conf_arg("client", argc, argv);
    if (!path) {
        return 2;
    }
    char err[1024];
    pt_config_client *cfg = NULL;
    if (pt_config_client_load(&cfg, path, 0, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom client: %s\n", err);
        return 1;
    }
    int st = apply_flags("client", argc, argv, 3, cfg, cli_override);
    if (st == 0 && pt_config_client_validate(cfg, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom client: %s\n", err);
        st = 1;
    }
    if (st != 0) {
        pt_config_client_free(cfg);
        return st;
    }
    set_log_level(cfg->log_level);

    pt_client_config cc;
    pt_client_config_default(&cc);
    char host[300];
    pt_addr_format(&cfg->endpoint, host, sizeof(host));
    /* pt_addr_format gives "host:port" / "[v6]:port": keep the host part. */
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = 0;
    }
    const char *h = host;
    if (host[0] == '[') {
        h = host + 1;
        host[strlen(host) - 1] = 0;
    }
    snprintf(cc.endpoint_host, sizeof(cc.endpoint_host), "%.255s", h);
    cc.endpoint_port = cfg->endpoint.port;
    snprintf(cc.server_name, sizeof(cc.server_name), "%s", cfg->server_name);
    memcpy(cc.server_pub, cfg->server_public_key, 32);
    memcpy(cc.client_priv, cfg->private_key, 32);
    cc.tls.verify = (pt_tls_verify_mode)cfg->verify;
    memcpy(cc.tls.pins, cfg->pins, sizeof(cfg->pins));
    cc.tls.n_pins = cfg->n_pins;
    cc.socks_enabled = cfg->socks_enabled;
    cc.http_enabled = cfg->http_enabled;
    if (cfg->socks_enabled) {
        addr_to_sockaddr(&cfg->socks_listen, &cc.socks_addr);
    }
    if (cfg->http_enabled) {
        addr_to_sockaddr(&cfg->http_listen, &cc.http_addr);
    }
    pt_proxy_cred cred;
    if (cfg->socks_username[0]) {
        cred.user = (const uint8_t *)cfg->socks_username;
        cred.user_len = strlen(cfg->socks_username);
        cred.pass = (const uint8_t *)cfg->socks_password;
        cred.pass_len = strlen(cfg->socks_password);
        cc.cred = &cred;
    }
    cc.pad = cfg->padding;
    cc.cover_interval_ms = (uint64_t)cfg->cover_traffic * 1000;
    cc.optimistic = cfg->optimistic_connect;
    cc.jitter_ms = cfg->jitter;
    cc.reconnect_max_ms = (uint64_t)cfg->reconnect_max * 1000;

    daemon_ctx d;
    memset(&d, 0, sizeof(d));
    uv_loop_init(&d.loop);
    int rc = pt_client_start(&d.client, &d.loop, &cc, err, sizeof(err));
    sodium_memzero(cc.client_priv, 32);
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "phantom client: %s\n", err);
        pt_config_client_free(cfg);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        uv_loop_close(&d.loop);
        return 1;
    }
    if (cfg->socks_enabled) {
        pt_log_info("SOCKS5 proxy on 127.0.0.1:%d", pt_client_socks_port(d.client));
    }
    if (cfg->http_enabled) {
        pt_log_info("HTTP proxy on 127.0.0.1:%d", pt_client_http_port(d.client));
    }
    setup_signals(&d, 0);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    pt_log_info("client stopped");
    uv_loop_close(&d.loop);
    pt_config_client_free(cfg);
    return 0;
}

/* ---- invite ------------------------------------------------------------------------ */

int pt_daemon_invite(int argc, char **argv)
{
    const char *path = conf_arg("invite", argc, argv);
    if (!path) {
        return 2;
    }
    const char *endpoint = NULL, *sni = NULL, *verify = NULL, *name = NULL, *pubkey = NULL;
    for (int i = 3; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "phantom invite: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--endpoint") == 0) {
            endpoint = v;
        } else if (strcmp(argv[i], "--server-name") == 0) {
            sni = v;
        } else if (strcmp(argv[i], "--verify") == 0) {
            verify = v;
        } else if (strcmp(argv[i], "--name") == 0) {
            name = v;
        } else if (strcmp(argv[i], "--public-key") == 0) {
            pubkey = v;
        } else {
            fprintf(stderr, "phantom invite: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    char err[1024];
    pt_config_server *cfg = NULL;
    if (pt_config_server_load(&cfg, path, 0, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom invite: %s\n", err);
        return 1;
    }
    uint8_t cpriv[32], cpub[32], pin[32];
    int generated = 0;
    if (pubkey) {
        if (pt_key_from_base64(cpub, pubkey, strlen(pubkey)) != PT_ERR_OK) {
            fprintf(stderr, "phantom invite: --public-key is not a key (44 characters of base64)\n");
            pt_config_server_free(cfg);
            return 1;
        }
    } else {
        pt_noise_keypair(cpriv, cpub);
        generated = 1;
    }
    int have_pin = pt_tls_spki_sha256_file(pin, cfg->certificate) == 0;
    pt_invite_request r = {
        .server = cfg,
        .pin = have_pin ? pin : NULL,
        .endpoint = endpoint,
        .server_name = sni,
        .verify = verify,
        .name = name,
        .client_private_key = generated ? cpriv : NULL,
        .client_public_key = cpub,
    };
    pt_invite inv;
    int st = 0;
    if (pt_invite_create(&inv, &r, err, sizeof(err)) != PT_ERR_OK) {
        fprintf(stderr, "phantom invite: %s\n", err);
        st = 1;
    } else {
        printf("# ---- client.conf (give this to the client; it holds a secret: keep it 0600) ----\n"
               "%s\n"
               "# ---- or the same as one line: phantom client --import '<uri>' ----\n%s\n\n"
               "# ---- append to %s on the server, then: kill -HUP <server pid> ----\n%s",
               inv.client_conf, inv.uri, path, inv.server_stanza);
        pt_invite_cleanup(&inv);
    }
    sodium_memzero(cpriv, sizeof(cpriv));
    pt_config_server_free(cfg);
    return st;
}
