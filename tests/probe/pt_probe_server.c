/* pt_probe_server — pt_front on loopback for tests/probe/run_probes.py:
 * the server a prober meets, with the built-in decoy or relaying to an
 * upstream web server. Sessions that come up are kept until the client
 * leaves (they carry no streams here). The lead's `phantom server` will
 * replace this program; run_probes.py takes the command as a template.
 *
 *   pt_probe_server --listen 127.0.0.1:PORT --cert C --key K
 *                   --server-key FILE --authorized FILE
 *                   [--upstream H:P] [--upstream-h2 H:P] [--site-dir DIR]
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_err.h"
#include "pt_front.h"
#include "pt_probe_keys.h"

static uv_signal_t g_sig;
#define MAX_SESSIONS 256
static pt_link *g_sessions[MAX_SESSIONS];

static void on_session(pt_link *l, pt_front_conn *fc, void *user)
{
    (void)fc;
    (void)user;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (!g_sessions[i]) {
            g_sessions[i] = l;
            return;
        }
    }
    pt_link_close(l, PT_ERR_OK);
}

static void on_session_down(pt_link *l, pt_front_conn *fc, void *user, int err)
{
    (void)fc;
    (void)user;
    (void)err;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g_sessions[i] == l) {
            g_sessions[i] = NULL;
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void usage(void)
{
    fprintf(stderr, "usage: pt_probe_server --listen H:P --cert C --key K --server-key F "
                    "--authorized F [--upstream H:P] [--upstream-h2 H:P] [--site-dir D]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    pt_front_config cfg;
    pt_front_config_default(&cfg);
    const char *skey = NULL, *auth = NULL, *site_dir = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
        }
        if (strcmp(a, "--listen") == 0) {
            cfg.listen = v;
        } else if (strcmp(a, "--cert") == 0) {
            cfg.tls.cert_file = v;
        } else if (strcmp(a, "--key") == 0) {
            cfg.tls.key_file = v;
        } else if (strcmp(a, "--server-key") == 0) {
            skey = v;
        } else if (strcmp(a, "--authorized") == 0) {
            auth = v;
        } else if (strcmp(a, "--upstream") == 0) {
            cfg.upstream = v;
        } else if (strcmp(a, "--upstream-h2") == 0) {
            cfg.upstream_h2 = v;
        } else if (strcmp(a, "--site-dir") == 0) {
            site_dir = v;
        } else {
            usage();
        }
    }
    if (!cfg.listen || !cfg.tls.cert_file || !cfg.tls.key_file || !skey || !auth) {
        usage();
    }
    static uint8_t authorized[1][32];
    if (probe_key_read(cfg.link.local_priv, skey) != 0 ||
        probe_key_read(authorized[0], auth) != 0) {
        fprintf(stderr, "pt_probe_server: cannot read the key files\n");
        return 1;
    }
    cfg.link.authorized = (const uint8_t(*)[32])authorized;
    cfg.link.n_authorized = 1;
    cfg.link.replay = pt_replay_new(4096, (uint64_t)time(NULL));
    pt_decoy_site *site = NULL;
    if (site_dir) {
        if (pt_decoy_site_dir_new(&site, site_dir) != PT_ERR_OK) {
            fprintf(stderr, "pt_probe_server: bad --site-dir\n");
            return 1;
        }
        cfg.decoy.site = site;
    }
    cfg.on_session = on_session;
    cfg.on_session_down = on_session_down;
    uv_loop_t *loop = uv_default_loop();
    pt_front *f;
    int rc = pt_front_new(&f, loop, &cfg);
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "pt_probe_server: %s\n", pt_strerror(rc));
        pt_replay_free(cfg.link.replay);
        pt_decoy_site_free(site);
        return 1;
    }
    fprintf(stderr, "pt_probe_server: listening on %s (port %d)\n", cfg.listen, pt_front_port(f));
    uv_signal_init(loop, &g_sig);
    uv_signal_start(&g_sig, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    pt_front_stats st;
    pt_front_get_stats(f, &st);
    fprintf(stderr,
            "pt_probe_server: accepted %llu sessions %llu decoys %llu upstream %llu plain %llu "
            "tls_failed %llu\n",
            (unsigned long long)st.accepted, (unsigned long long)st.sessions,
            (unsigned long long)st.decoys, (unsigned long long)st.upstream,
            (unsigned long long)st.plain, (unsigned long long)st.tls_failed);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g_sessions[i]) {
            pt_link_close(g_sessions[i], PT_ERR_OK);
        }
    }
    pt_front_free(f);
    uv_close((uv_handle_t *)&g_sig, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    pt_replay_free(cfg.link.replay);
    pt_decoy_site_free(site);
    sodium_memzero(cfg.link.local_priv, 32);
    return 0;
}
