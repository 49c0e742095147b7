/* test_pt_config.c — server and client configuration files (app/pt_config.c,
 * docs/CONFIG.md): every option, every error message exactly, overrides,
 * SIGHUP reloads, key files and the example files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_config.h"
#include "pt_err.h"
#include "pt_key.h"
#include "pt_noise.h"
#include "testutil.h"

/* ---- keys and templates ------------------------------------------------------ */

/* {SK} server private key, {SP} its public key; {CK}/{CP} a client's; {C1},
 * {C2}, {C3} more client public keys. */
static char SK[45], SP[45], CK[45], CP[45], C1[45], C2[45], C3[45];
static uint8_t sk_bin[32], sp_bin[32], ck_bin[32], cp_bin[32], c1_bin[32], c2_bin[32];

static void make_key(uint8_t seed, uint8_t priv[32], uint8_t pub[32], char *priv_b64, char *pub_b64)
{
    for (int i = 0; i < 32; i++) {
        priv[i] = (uint8_t)(seed * 31 + i);
    }
    assert_int_equal(pt_noise_pubkey(pub, priv), PT_ERR_OK);
    if (priv_b64) {
        pt_key_to_base64(priv_b64, priv);
    }
    pt_key_to_base64(pub_b64, pub);
}

static int setup_keys(void **state)
{
    (void)state;
    uint8_t p[32], q[32];
    make_key(1, sk_bin, sp_bin, SK, SP);
    make_key(2, ck_bin, cp_bin, CK, CP);
    make_key(3, p, c1_bin, NULL, C1);
    make_key(4, p, c2_bin, NULL, C2);
    make_key(5, p, q, NULL, C3);
    return 0;
}

/* expand: the template with {XX} replaced; the caller frees. */
static char *expand(const char *t)
{
    size_t cap = strlen(t) * 2 + 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    while (*t) {
        const char *rep = NULL;
        if (t[0] == '{' && t[1] && t[2] && t[3] == '}') {
            static const struct {
                const char *tag;
                const char *val;
            } tags[] = {{"SK", SK}, {"SP", SP}, {"CK", CK}, {"CP", CP},
                        {"C1", C1}, {"C2", C2}, {"C3", C3}};
            for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
                if (strncmp(t + 1, tags[i].tag, 2) == 0) {
                    rep = tags[i].val;
                }
            }
        }
        if (rep) {
            size_t l = strlen(rep);
            assert_true(n + l < cap);
            memcpy(out + n, rep, l);
            n += l;
            t += 4;
        } else {
            assert_true(n + 1 < cap);
            out[n++] = *t++;
        }
    }
    out[n] = 0;
    return out;
}

static int parse_server(pt_config_server **s, const char *tmpl, const char *name, char *err,
                        size_t cap)
{
    char *text = expand(tmpl);
    int rc = pt_config_server_parse(s, text, strlen(text), name, PT_CONFIG_NO_KEYFILE, err, cap);
    free(text);
    return rc;
}

static int parse_client(pt_config_client **c, const char *tmpl, const char *name, char *err,
                        size_t cap)
{
    char *text = expand(tmpl);
    int rc = pt_config_client_parse(c, text, strlen(text), name, PT_CONFIG_NO_KEYFILE, err, cap);
    free(text);
    return rc;
}

static pt_config_server *server_ok(const char *tmpl)
{
    pt_config_server *s = NULL;
    char err[1024] = "";
    int rc = parse_server(&s, tmpl, "server.conf", err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("unexpected error: %s\n---\n%s", err, tmpl);
    }
    assert_non_null(s);
    return s;
}

static pt_config_client *client_ok(const char *tmpl)
{
    pt_config_client *c = NULL;
    char err[1024] = "";
    int rc = parse_client(&c, tmpl, "client.conf", err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("unexpected error: %s\n---\n%s", err, tmpl);
    }
    assert_non_null(c);
    return c;
}

static void server_err(const char *tmpl, const char *expected)
{
    pt_config_server *s = (pt_config_server *)1;
    char err[1024] = "";
    int rc = parse_server(&s, tmpl, "server.conf", err, sizeof(err));
    if (rc == PT_ERR_OK || strcmp(err, expected) != 0) {
        fail_msg("rc %d\n got: %s\nwant: %s\n---\n%s", rc, err, expected, tmpl);
    }
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_null(s);
}

static void client_err(const char *tmpl, const char *expected)
{
    pt_config_client *c = (pt_config_client *)1;
    char err[1024] = "";
    int rc = parse_client(&c, tmpl, "client.conf", err, sizeof(err));
    if (rc == PT_ERR_OK || strcmp(err, expected) != 0) {
        fail_msg("rc %d\n got: %s\nwant: %s\n---\n%s", rc, err, expected, tmpl);
    }
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_null(c);
}

static void addr_is(const pt_addr *a, const char *want)
{
    char buf[300];
    pt_addr_format(a, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* The smallest valid server file; its [Client] starts at line 5. */
#define SERVER_HEAD                                                                                \
    "[Server]\n"                                                                                   \
    "PrivateKey = {SK}\n"                                                                          \
    "Certificate = /etc/phantom/cert.pem\n"                                                        \
    "CertificateKey = /etc/phantom/cert.key\n"
#define ONE_CLIENT "[Client]\nPublicKey = {C1}\n"

/* The smallest valid client file; [Server] starts at line 3. */
#define CLIENT_HEAD "[Client]\nPrivateKey = {CK}\n"
#define CLIENT_SERVER "[Server]\nPublicKey = {SP}\nEndpoint = vps.example.com:443\n"

/* ---- server: values ---------------------------------------------------------- */

static void test_server_every_option(void **state)
{
    (void)state;
    pt_config_server *s = server_ok("# A server file with every option\n"
                                    "[Server]\n"
                                    "PrivateKey = {SK}\n"
                                    "Listen = 0.0.0.0:443\n"
                                    "Listen = [::]:8443\n"
                                    "Certificate = /etc/phantom/cert.pem\n"
                                    "CertificateKey = /etc/phantom/cert.key\n"
                                    "SelfSigned = false\n"
                                    "Hostname = example.com\n"
                                    "Decoy = upstream:127.0.0.1:8080\n"
                                    "DecoyIdentity = apache\n"
                                    "DecoyUpstreamH2 = 127.0.0.1:8081\n"
                                    "AllowPrivateTargets = true\n"
                                    "ConnectTimeout = 5\n"
                                    "HandshakeTimeout = 20\n"
                                    "MaxStreamsPerClient = 2048\n"
                                    "MaxClients = 16\n"
                                    "Padding = block\n"
                                    "PaddingBlock = 128\n"
                                    "PaddingMinSize = 100\n"
                                    "CoverTraffic = 15\n"
                                    "Jitter = 30\n"
                                    "LogLevel = debug\n"
                                    "\n"
                                    "[Client]\n"
                                    "Name = laptop\n"
                                    "PublicKey = {C1}\n"
                                    "MaxStreams = 256\n"
                                    "[Client]\n"
                                    "PublicKey = {C2}\n");
    assert_true(s->has_private_key);
    assert_memory_equal(s->private_key, sk_bin, 32);
    assert_string_equal(s->private_key_file, "");
    assert_int_equal(s->n_listen, 2);
    addr_is(&s->listen[0], "0.0.0.0:443");
    addr_is(&s->listen[1], "[::]:8443");
    assert_string_equal(s->certificate, "/etc/phantom/cert.pem");
    assert_string_equal(s->certificate_key, "/etc/phantom/cert.key");
    assert_false(s->self_signed);
    assert_string_equal(s->hostname, "example.com");
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_UPSTREAM);
    addr_is(&s->decoy_upstream, "127.0.0.1:8080");
    assert_int_equal(s->decoy_identity, PT_CONFIG_IDENTITY_APACHE);
    assert_true(s->has_decoy_upstream_h2);
    addr_is(&s->decoy_upstream_h2, "127.0.0.1:8081");
    assert_true(s->allow_private_targets);
    assert_int_equal(s->connect_timeout, 5);
    assert_int_equal(s->handshake_timeout, 20);
    assert_int_equal(s->max_streams_per_client, 2048);
    assert_int_equal(s->max_clients, 16);
    assert_int_equal(s->padding.strategy, PT_PAD_BLOCK);
    assert_int_equal(s->padding.block, 128);
    assert_int_equal(s->padding.min_size, 100);
    assert_int_equal(s->cover_traffic, 15);
    assert_int_equal(s->jitter, 30);
    assert_int_equal(s->log_level, PT_CONFIG_LOG_DEBUG);
    assert_int_equal(s->n_peers, 2);
    assert_string_equal(s->peers[0].name, "laptop");
    assert_memory_equal(s->peers[0].public_key, c1_bin, 32);
    assert_int_equal(s->peers[0].max_streams, 256);
    assert_int_equal(s->peers[0].line, 25);
    /* Without Name: the first 8 characters of the key; MaxStreams: the server's. */
    assert_memory_equal(s->peers[1].name, C2, 8);
    assert_int_equal(strlen(s->peers[1].name), 8);
    assert_int_equal(s->peers[1].max_streams, 2048);
    assert_string_equal(s->source, "server.conf");
    pt_config_server_free(s);
}

static void test_server_defaults(void **state)
{
    (void)state;
    pt_config_server *s = server_ok(SERVER_HEAD ONE_CLIENT);
    assert_int_equal(s->n_listen, 1);
    addr_is(&s->listen[0], "0.0.0.0:443");
    assert_false(s->self_signed);
    assert_string_equal(s->hostname, "");
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_BUILTIN);
    assert_int_equal(s->decoy_identity, PT_CONFIG_IDENTITY_NGINX);
    assert_false(s->has_decoy_upstream_h2);
    assert_false(s->allow_private_targets);
    assert_int_equal(s->connect_timeout, 10);
    assert_int_equal(s->handshake_timeout, 30);
    assert_int_equal(s->max_streams_per_client, 1024);
    assert_int_equal(s->max_clients, 256);
    assert_int_equal(s->padding.strategy, PT_PAD_RANDOM);
    assert_int_equal(s->padding.block, 64);
    assert_int_equal(s->padding.min_size, 64);
    assert_int_equal(s->log_level, PT_CONFIG_LOG_INFO);
    assert_int_equal(s->n_peers, 1);
    assert_int_equal(s->peers[0].max_streams, 1024);
    pt_config_server_free(s);
}

static void test_syntax_comments_case_crlf(void **state)
{
    (void)state;
    pt_config_server *s = server_ok("\xef\xbb\xbf; a BOM, then comments of both kinds\r\n"
                                    "  # indented comment\r\n"
                                    "\r\n"
                                    "[ server ]   # trailing comment\r\n"
                                    "privatekey={SK}\r\n"
                                    "\tCERTIFICATE\t=\t/srv/a#b.pem   # '#' inside stays\r\n"
                                    "certificatekey = /srv/key.pem;x ; comment\r\n"
                                    "listen = 127.0.0.1:8443\r\n"
                                    "PADDING = Power-Of-Two\r\n"
                                    "selfsigned = YES\r\n"
                                    "hostname = localhost\r\n"
                                    "[CLIENT]\r\n"
                                    "publickey = {C1} ; laptop\r\n"
                                    "name = phone\r\n");
    assert_string_equal(s->certificate, "/srv/a#b.pem");
    assert_string_equal(s->certificate_key, "/srv/key.pem;x");
    addr_is(&s->listen[0], "127.0.0.1:8443");
    assert_int_equal(s->padding.strategy, PT_PAD_POWER_OF_TWO);
    assert_true(s->self_signed);
    assert_string_equal(s->peers[0].name, "phone");
    pt_config_server_free(s);

    /* A last line without a newline is fine. */
    s = server_ok(SERVER_HEAD "[Client]\nPublicKey = {C1}");
    pt_config_server_free(s);
}

static void test_booleans_and_numbers(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE"};
    static const char *const no[] = {"false", "no", "off", "0", "False"};
    char t[512];
    for (size_t i = 0; i < 5; i++) {
        snprintf(t, sizeof(t), SERVER_HEAD "AllowPrivateTargets = %s\n" ONE_CLIENT, yes[i]);
        pt_config_server *s = server_ok(t);
        assert_true(s->allow_private_targets);
        pt_config_server_free(s);
        snprintf(t, sizeof(t), SERVER_HEAD "AllowPrivateTargets = %s\n" ONE_CLIENT, no[i]);
        s = server_ok(t);
        assert_false(s->allow_private_targets);
        pt_config_server_free(s);
    }
    server_err(SERVER_HEAD "AllowPrivateTargets = maybe\n" ONE_CLIENT,
               "server.conf:5: AllowPrivateTargets must be true or false");

    /* Range ends are accepted; everything else is not. */
    pt_config_server *s = server_ok(SERVER_HEAD "ConnectTimeout = 1\nHandshakeTimeout = 3600\n"
                                                "MaxStreamsPerClient = 8388608\nMaxClients = "
                                                "65535\nPaddingMinSize = 0\nPaddingBlock = 256\n"
                                                "[Client]\nPublicKey = {C1}\nMaxStreams = 1\n");
    assert_int_equal(s->connect_timeout, 1);
    assert_int_equal(s->handshake_timeout, 3600);
    assert_int_equal(s->max_streams_per_client, 8388608);
    assert_int_equal(s->max_clients, 65535);
    assert_int_equal(s->padding.min_size, 0);
    assert_int_equal(s->padding.block, 256);
    assert_int_equal(s->peers[0].max_streams, 1);
    pt_config_server_free(s);

    static const char *const bad[] = {"0",  "3601", "10s",         "-1",
                                      "+5", " 1 0", "99999999999", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(t, sizeof(t), SERVER_HEAD "ConnectTimeout = %s\n" ONE_CLIENT, bad[i]);
        server_err(t, "server.conf:5: ConnectTimeout must be a whole number from 1 to 3600");
    }
    server_err(SERVER_HEAD "HandshakeTimeout = 0\n" ONE_CLIENT,
               "server.conf:5: HandshakeTimeout must be a whole number from 1 to 3600");
    server_err(SERVER_HEAD "MaxStreamsPerClient = 8388609\n" ONE_CLIENT,
               "server.conf:5: MaxStreamsPerClient must be a whole number from 1 to 8388608");
    server_err(SERVER_HEAD "MaxClients = 65536\n" ONE_CLIENT,
               "server.conf:5: MaxClients must be a whole number from 1 to 65535");
    server_err(SERVER_HEAD "PaddingBlock = 0\n" ONE_CLIENT,
               "server.conf:5: PaddingBlock must be a whole number from 1 to 256");
    server_err(SERVER_HEAD "PaddingMinSize = 263\n" ONE_CLIENT,
               "server.conf:5: PaddingMinSize must be a whole number from 0 to 262");
    server_err(SERVER_HEAD "CoverTraffic = 3601\n" ONE_CLIENT,
               "server.conf:5: CoverTraffic must be a whole number from 0 to 3600");
    server_err(SERVER_HEAD "Jitter = 1001\n" ONE_CLIENT,
               "server.conf:5: Jitter must be a whole number from 0 to 1000");
    server_err(SERVER_HEAD ONE_CLIENT "MaxStreams = 0\n",
               "server.conf:7: MaxStreams must be a whole number from 1 to 8388608");
}

static void test_enums(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        pt_pad_strategy want;
    } pads[] = {{"none", PT_PAD_NONE},
                {"block", PT_PAD_BLOCK},
                {"random", PT_PAD_RANDOM},
                {"power-of-two", PT_PAD_POWER_OF_TWO}};
    char t[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(t, sizeof(t), SERVER_HEAD "Padding = %s\n" ONE_CLIENT, pads[i].v);
        pt_config_server *s = server_ok(t);
        assert_int_equal(s->padding.strategy, pads[i].want);
        pt_config_server_free(s);
    }
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(t, sizeof(t), SERVER_HEAD "LogLevel = %s\n" ONE_CLIENT, levels[i]);
        pt_config_server *s = server_ok(t);
        assert_int_equal(s->log_level, (pt_config_log_level)i);
        assert_string_equal(pt_config_log_level_name(s->log_level), levels[i]);
        pt_config_server_free(s);
    }
    server_err(SERVER_HEAD "Padding = rand\n" ONE_CLIENT,
               "server.conf:5: Padding: unknown value 'rand' (expected none, block, random or "
               "power-of-two)");
    server_err(SERVER_HEAD "LogLevel = verbose\n" ONE_CLIENT,
               "server.conf:5: LogLevel: unknown value 'verbose' (expected error, warn, info or "
               "debug)");
    server_err(SERVER_HEAD "DecoyIdentity = iis\n" ONE_CLIENT,
               "server.conf:5: DecoyIdentity: unknown value 'iis' (expected nginx or apache)");

    /* Decoy forms. */
    pt_config_server *s = server_ok(SERVER_HEAD "Decoy = directory:/var/www/site\n" ONE_CLIENT);
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_DIRECTORY);
    assert_string_equal(s->decoy_directory, "/var/www/site");
    pt_config_server_free(s);
    s = server_ok(SERVER_HEAD "Decoy = upstream:localhost:8080\n" ONE_CLIENT);
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_UPSTREAM);
    addr_is(&s->decoy_upstream, "localhost:8080");
    pt_config_server_free(s);
    s = server_ok(SERVER_HEAD "Decoy = BUILTIN\n" ONE_CLIENT);
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_BUILTIN);
    pt_config_server_free(s);
    server_err(SERVER_HEAD "Decoy = website\n" ONE_CLIENT,
               "server.conf:5: Decoy: unknown value 'website' (expected builtin, "
               "directory:<path> or upstream:<host:port>)");
    server_err(SERVER_HEAD "Decoy = directory:\n" ONE_CLIENT,
               "server.conf:5: Decoy: unknown value 'directory:' (expected builtin, "
               "directory:<path> or upstream:<host:port>)");
    server_err(SERVER_HEAD "Decoy = upstream:127.0.0.1\n" ONE_CLIENT,
               "server.conf:5: Decoy: '127.0.0.1' is not a valid address: port missing "
               "(host:port)");
    server_err(SERVER_HEAD "Listen = 127.0.0.1:8443\nDecoy = upstream:127.0.0.1:8443\n" ONE_CLIENT,
               "server.conf:6: Decoy upstream is one of this server's own Listen addresses (it "
               "would loop)");
}

/* DecoyUpstreamH2: HTTP/2 decoy connections to an h2c listener, only next
 * to an upstream Decoy, never the upstream itself or a Listen address. */
static void test_decoy_upstream_h2(void **state)
{
    (void)state;
    char err[512];
    pt_config_server *s = server_ok(SERVER_HEAD "Decoy = upstream:127.0.0.1:8080\n"
                                                "decoyupstreamh2 = [::1]:8081\n" ONE_CLIENT);
    assert_true(s->has_decoy_upstream_h2);
    addr_is(&s->decoy_upstream_h2, "[::1]:8081");
    pt_config_server_free(s);

    server_err(SERVER_HEAD "DecoyUpstreamH2 = 127.0.0.1:8081\n" ONE_CLIENT,
               "server.conf:5: DecoyUpstreamH2 needs Decoy = upstream:<host:port> (HTTP/2 goes "
               "to the built-in decoy otherwise)");
    server_err(SERVER_HEAD
               "Decoy = upstream:127.0.0.1:8080\nDecoyUpstreamH2 = 127.0.0.1:8080\n" ONE_CLIENT,
               "server.conf:6: DecoyUpstreamH2 is the Decoy upstream itself: HTTP/2 needs a "
               "listener of its own (nginx: listen ... http2)");
    server_err(SERVER_HEAD "Listen = 127.0.0.1:8443\nDecoy = upstream:127.0.0.1:8080\n"
                           "DecoyUpstreamH2 = 127.0.0.1:8443\n" ONE_CLIENT,
               "server.conf:7: DecoyUpstreamH2 is one of this server's own Listen addresses (it "
               "would loop)");
    server_err(SERVER_HEAD
               "Decoy = upstream:127.0.0.1:8080\nDecoyUpstreamH2 = 127.0.0.1\n" ONE_CLIENT,
               "server.conf:6: DecoyUpstreamH2: '127.0.0.1' is not a valid address: port missing "
               "(host:port)");
    server_err(SERVER_HEAD "Decoy = upstream:127.0.0.1:8080\nDecoyUpstreamH2 = 127.0.0.1:8081\n"
                           "DecoyUpstreamH2 = 127.0.0.1:8082\n" ONE_CLIENT,
               "server.conf:7: DecoyUpstreamH2 given twice in [Server] (first at line 6)");
    server_err(SERVER_HEAD ONE_CLIENT "DecoyUpstreamH2 = 127.0.0.1:8081\n",
               "server.conf:7: 'DecoyUpstreamH2' does not belong in [Client] (it goes in "
               "[Server])");

    /* The option, and the checks across keys in validate. */
    s = server_ok(SERVER_HEAD "Decoy = upstream:127.0.0.1:8080\n" ONE_CLIENT);
    assert_int_equal(
        pt_config_server_override(s, "--decoy-upstream-h2", "127.0.0.1:8081", err, sizeof(err)),
        PT_ERR_OK);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_OK);
    assert_true(s->has_decoy_upstream_h2);
    addr_is(&s->decoy_upstream_h2, "127.0.0.1:8081");
    assert_int_equal(pt_config_server_override(s, "decoy-upstream-h2", "nope", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--decoy-upstream-h2: 'nope' is not a valid address: port missing "
                             "(host:port)");
    addr_is(&s->decoy_upstream_h2, "127.0.0.1:8081"); /* unchanged */
    assert_int_equal(pt_config_server_override(s, "--decoy", "builtin", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: DecoyUpstreamH2 needs Decoy = upstream:<host:port> "
                             "(HTTP/2 goes to the built-in decoy otherwise)");
    pt_config_server_free(s);
}

static void test_addresses(void **state)
{
    (void)state;
    pt_config_server *s =
        server_ok(SERVER_HEAD "Listen = 192.0.2.1:1\nListen = [2001:db8::1]:65535\n"
                              "Listen = [::ffff:127.0.0.1]:80\n" ONE_CLIENT);
    assert_int_equal(s->n_listen, 3);
    assert_int_equal(s->listen[0].type, PT_ADDR_IPV4);
    assert_int_equal(s->listen[0].port, 1);
    assert_int_equal(s->listen[1].type, PT_ADDR_IPV6);
    addr_is(&s->listen[1], "[2001:db8::1]:65535");
    pt_config_server_free(s);

    static const struct {
        const char *v, *why;
    } bad[] = {
        {"0.0.0.0:0", "port must be from 1 to 65535"},
        {"0.0.0.0:65536", "port must be from 1 to 65535"},
        {"0.0.0.0:", "port must be from 1 to 65535"},
        {"0.0.0.0:44a", "port must be from 1 to 65535"},
        {"0.0.0.0", "port missing (host:port)"},
        {"::1:443", "IPv6 addresses need brackets, as in [::1]:443"},
        {"[::1:443", "missing ']' after the IPv6 address"},
        {"[::1]443", "expected ':port' after ']'"},
        {"[zz::1]:443", "invalid IPv6 address"},
        {"[]:443", "invalid IPv6 address"},
        {":443", "host missing"},
        {"example.com:443",
         "an IP address is needed here (0.0.0.0 for every IPv4 address, [::] for every IPv6 "
         "address)"},
        {"256.1.1.1:443",
         "an IP address is needed here (0.0.0.0 for every IPv4 address, [::] for every IPv6 "
         "address)"},
    };
    char t[512], want[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(t, sizeof(t), SERVER_HEAD "Listen = %s\n" ONE_CLIENT, bad[i].v);
        snprintf(want, sizeof(want), "server.conf:5: Listen: '%s' is not a valid address: %s",
                 bad[i].v, bad[i].why);
        server_err(t, want);
    }
    server_err(SERVER_HEAD "Listen = 0.0.0.0:443\nListen = 0.0.0.0:443\n" ONE_CLIENT,
               "server.conf:6: Listen: '0.0.0.0:443' is listed twice");
    server_err(SERVER_HEAD
               "Listen = 127.0.0.1:1\nListen = 127.0.0.1:2\nListen = 127.0.0.1:3\n"
               "Listen = 127.0.0.1:4\nListen = 127.0.0.1:5\nListen = 127.0.0.1:6\n"
               "Listen = 127.0.0.1:7\nListen = 127.0.0.1:8\nListen = 127.0.0.1:9\n" ONE_CLIENT,
               "server.conf:13: Listen: too many addresses (at most 8)");

    /* Host names: where a name is allowed. */
    static const char *const good_hosts[] = {
        "example.com", "localhost", "a-b.c0", "x", "1.2.3.4", "::1", "xn--bcher-kva.example"};
    static const char *const bad_hosts[] = {"-a.com", "a-.com",  "a..com", ".a",  "a.",
                                            "1.2.3",  "a_b.com", "a b",    "123", "ex!ample.com"};
    for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
        assert_true(pt_config_host_valid(good_hosts[i]));
    }
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        assert_false(pt_config_host_valid(bad_hosts[i]));
    }
    char longname[300];
    memset(longname, 'a', 63);
    longname[63] = 0;
    assert_true(pt_config_host_valid(longname));
    memset(longname, 'a', 64);
    longname[64] = 0;
    assert_false(pt_config_host_valid(longname)); /* a label of 64 */
    server_err(SERVER_HEAD "Hostname = bad_name\n" ONE_CLIENT,
               "server.conf:5: Hostname: 'bad_name' is not a valid host name or IP address");
}

/* ---- server: structure errors --------------------------------------------------- */

static void test_server_structure_errors(void **state)
{
    (void)state;
    server_err(SERVER_HEAD "Listn = 0.0.0.0:443\n" ONE_CLIENT,
               "server.conf:5: unknown key 'Listn' in [Server] (did you mean 'Listen'?)");
    server_err(SERVER_HEAD "certifcatekey = x\n" ONE_CLIENT,
               "server.conf:5: unknown key 'certifcatekey' in [Server] (did you mean "
               "'CertificateKey'?)");
    server_err(SERVER_HEAD "Colour = blue\n" ONE_CLIENT,
               "server.conf:5: unknown key 'Colour' in [Server]");
    server_err(SERVER_HEAD "PublicKey = {C1}\n" ONE_CLIENT,
               "server.conf:5: 'PublicKey' does not belong in [Server] (it goes in [Client])");
    server_err(SERVER_HEAD "[Client]\nPublicKey = {C1}\nListen = 0.0.0.0:443\n",
               "server.conf:7: 'Listen' does not belong in [Client] (it goes in [Server])");
    server_err(SERVER_HEAD "Endpoint = vps.example.com:443\n" ONE_CLIENT,
               "server.conf:5: 'Endpoint' is a client-file key, not valid in a server file");
    server_err(SERVER_HEAD "Hostname = a.com\nhostname = b.com\n" ONE_CLIENT,
               "server.conf:6: Hostname given twice in [Server] (first at line 5)");
    server_err(SERVER_HEAD ONE_CLIENT "Name = a\nName = b\n",
               "server.conf:8: Name given twice in [Client] (first at line 7)");
    /* ... but every [Client] has its own keys. */
    pt_config_server *s = server_ok(SERVER_HEAD ONE_CLIENT "Name = a\n[Client]\nName = b\n"
                                                           "PublicKey = {C2}\n");
    pt_config_server_free(s);

    server_err("PrivateKey = {SK}\n[Server]\n",
               "server.conf:1: 'PrivateKey' is outside any section (start with [Server] or "
               "[Client])");
    server_err(SERVER_HEAD "[Peer]\nPublicKey = {C1}\n",
               "server.conf:5: unknown section [Peer] (did you mean [Client]?)");
    server_err("[Interface]\n",
               "server.conf:1: unknown section [Interface] (did you mean [Server]?)");
    server_err("[Sever]\n", "server.conf:1: unknown section [Sever] (did you mean [Server]?)");
    server_err("[Options]\n",
               "server.conf:1: unknown section [Options] (a server file has [Server] and [Client] "
               "sections)");
    server_err(SERVER_HEAD ONE_CLIENT "[Server]\n",
               "server.conf:7: second [Server] section (the first is at line 1)");
    server_err("[Server\n", "server.conf:1: missing ']' in section header");
    server_err("[Server] x\n", "server.conf:1: unexpected text after the section header");
    server_err("[]\n", "server.conf:1: empty section name");
    server_err("[Ser ver]\n", "server.conf:1: invalid section name");
    server_err("[Server]\nPrivateKey\n",
               "server.conf:2: expected 'Key = Value' or a [Section] header");
    server_err("[Server]\n= x\n", "server.conf:2: missing key name before '='");
    server_err("[Server]\nPrivate Key = x\n",
               "server.conf:2: invalid key name before '=' (keys are letters and digits)");
    server_err("[Server]\nHostname =   # only a comment\n", "server.conf:2: Hostname has no value");
    server_err("[Server]\nHostname = a\x01\n",
               "server.conf:2: control character (byte 0x01) in line");

    /* Missing pieces: no line number. */
    server_err("", "server.conf: missing [Server] section");
    server_err(ONE_CLIENT, "server.conf: missing [Server] section");
    server_err("[Server]\nCertificate = c\nCertificateKey = k\n" ONE_CLIENT,
               "server.conf: missing 'PrivateKey' (or 'PrivateKeyFile') in [Server]");
    server_err("[Server]\nPrivateKey = {SK}\nCertificateKey = k\n" ONE_CLIENT,
               "server.conf: missing 'Certificate' in [Server] (or set SelfSigned = true for a "
               "demo)");
    server_err("[Server]\nPrivateKey = {SK}\nCertificate = c\n" ONE_CLIENT,
               "server.conf: missing 'CertificateKey' in [Server]");
    server_err(SERVER_HEAD, "server.conf: no [Client] sections: nobody could connect (add one "
                            "with phantom invite)");
    server_err(SERVER_HEAD "[Client]\nName = laptop\n[Client]\nPublicKey = {C1}\n",
               "server.conf:5: missing 'PublicKey' in [Client]");
    server_err(SERVER_HEAD "[Client]\nName = laptop\n",
               "server.conf:5: missing 'PublicKey' in [Client]");
    server_err(SERVER_HEAD "PrivateKeyFile = /k\n" ONE_CLIENT,
               "server.conf:5: both PrivateKey and PrivateKeyFile are set; keep one");
}

static void test_lines_and_size_limits(void **state)
{
    (void)state;
    size_t n = 4096;
    char *t = malloc(n + 64);
    /* A line of exactly 4096 bytes is fine (here: a comment). */
    t[0] = '#';
    memset(t + 1, 'x', n - 1);
    strcpy(t + n, "\n");
    pt_config_server *s = NULL;
    char err[256];
    int rc = pt_config_server_parse(&s, t, strlen(t), "server.conf", 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "server.conf: missing [Server] section");
    /* 4097 bytes is not, even with CRLF counted apart. */
    t[n] = 'x';
    strcpy(t + n + 1, "\r\n");
    rc = pt_config_server_parse(&s, t, strlen(t), "server.conf", 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "server.conf:1: line too long (more than 4096 bytes)");
    free(t);

    /* A NUL byte is a control character. */
    static const char nul[] = "[Server]\nHostname = a\0b\n";
    rc = pt_config_server_parse(&s, nul, sizeof(nul) - 1, "server.conf", 0, err, sizeof(err));
    assert_string_equal(err, "server.conf:2: control character (byte 0x00) in line");

    /* More than 1 MiB: refused before parsing. */
    size_t big = PT_CONFIG_MAX_FILE + 1;
    t = malloc(big);
    memset(t, '\n', big);
    rc = pt_config_server_parse(&s, t, big, "server.conf", 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "server.conf: file too large (more than 1 MiB)");
    /* 1 MiB of blank lines is only "missing [Server]". */
    rc = pt_config_server_parse(&s, t, big - 1, "server.conf", 0, err, sizeof(err));
    assert_string_equal(err, "server.conf: missing [Server] section");
    free(t);

    /* A small error buffer gets a truncated message, never an overflow. */
    char tiny[8];
    rc = parse_server(&s, SERVER_HEAD, "server.conf", tiny, sizeof(tiny));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(tiny, "server.");
}

static void test_keys_and_secrets(void **state)
{
    (void)state;
    /* A wrong private key is never echoed. */
    pt_config_server *s = NULL;
    char err[1024];
    const char *secretish = "[Server]\nPrivateKey = SECRETSECRETSECRETSECRETSECRETSECRETSECRET=x\n";
    int rc = parse_server(&s, secretish, "server.conf", err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "server.conf:2: PrivateKey: invalid private key (expected 44 "
                             "characters of base64, as written by phantom genkey)");
    assert_null(strstr(err, "SECRET"));

    /* 43 characters, a bad character, non-canonical padding. */
    char t[512], bad[64];
    snprintf(bad, sizeof(bad), "%.43s", C1);
    snprintf(t, sizeof(t), SERVER_HEAD "[Client]\nPublicKey = %s\n", bad);
    server_err(t, "server.conf:6: PublicKey: invalid public key (expected 44 characters of base64, "
                  "as printed by phantom pubkey)");
    snprintf(bad, sizeof(bad), "%s", C1);
    bad[5] = '*';
    snprintf(t, sizeof(t), SERVER_HEAD "[Client]\nPublicKey = %s\n", bad);
    server_err(t, "server.conf:6: PublicKey: invalid public key (expected 44 characters of base64, "
                  "as printed by phantom pubkey)");

    server_err(SERVER_HEAD "[Client]\nPublicKey = {SP}\n",
               "server.conf:5: PublicKey of [Client] is this server's own public key (give the "
               "client's key: phantom pubkey < client.key)");
    server_err(SERVER_HEAD "[Client]\nPublicKey = {C1}\n[Client]\nPublicKey = {C2}\n"
                           "[Client]\nPublicKey = {C1}\n",
               "server.conf:9: duplicate PublicKey: the same client as [Client] at line 5");
    server_err(SERVER_HEAD "[Client]\nName = a\nPublicKey = {C1}\n[Client]\nName = a\n"
                           "PublicKey = {C2}\n",
               "server.conf:8: duplicate Name 'a': [Client] at line 5 has it too");
    server_err(SERVER_HEAD "[Client]\nName = my laptop\nPublicKey = {C1}\n",
               "server.conf:6: Name: 'my laptop' is not a valid name (1 to 64 printable "
               "characters, no spaces, '#' or ';')");
}

static void test_self_signed_and_paths(void **state)
{
    (void)state;
    pt_config_server *s = NULL;
    char err[1024];
    /* Relative paths are relative to the file's directory. */
    int rc = parse_server(&s,
                          "[Server]\nPrivateKeyFile = keys/server.key\nSelfSigned = true\n"
                          "Hostname = 127.0.0.1\nDecoy = directory:site\n" ONE_CLIENT,
                          "/etc/phantom/server.conf", err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_false(s->has_private_key); /* PT_CONFIG_NO_KEYFILE */
    assert_string_equal(s->private_key_file, "/etc/phantom/keys/server.key");
    assert_string_equal(s->certificate, "/etc/phantom/cert.pem");
    assert_string_equal(s->certificate_key, "/etc/phantom/cert.key");
    assert_string_equal(s->decoy_directory, "/etc/phantom/site");
    assert_true(s->self_signed);
    pt_config_server_free(s);

    /* A file in the current directory: paths stay relative. */
    s = server_ok("[Server]\nPrivateKey = {SK}\nSelfSigned = on\nHostname = demo.local\n"
                  "Certificate = /abs/c.pem\n" ONE_CLIENT);
    assert_string_equal(s->certificate, "/abs/c.pem");
    assert_string_equal(s->certificate_key, "cert.key");
    pt_config_server_free(s);

    rc = parse_server(&s, "[Server]\nPrivateKey = {SK}\nSelfSigned = true\n" ONE_CLIENT,
                      "/srv/server.conf", err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "/srv/server.conf:3: SelfSigned = true needs Hostname (the name the "
                             "certificate is made for; an IP address is fine)");
    rc = parse_server(
        &s, "[Server]\nPrivateKey = {SK}\nSelfSigned = true\nHostname = x.org\n" ONE_CLIENT,
        "/server.conf", err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_string_equal(s->certificate, "/cert.pem");
    pt_config_server_free(s);
}

/* ---- key files and file loading ------------------------------------------------ */

static char tmpdir[256];

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup_tmp(void **state)
{
    setup_keys(state);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pt-config-test.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_key_files(void **state)
{
    (void)state;
    char keyp[300], confp[300], want[1024], err[1024];
    char line[64];
    snprintf(keyp, sizeof(keyp), "%s/server.key", tmpdir);
    snprintf(confp, sizeof(confp), "%s/server.conf", tmpdir);
    snprintf(line, sizeof(line), "%s\n", SK);
    write_file(keyp, line, 0644);
    char *conf = expand("[Server]\nPrivateKeyFile = server.key\nSelfSigned = true\n"
                        "Hostname = 127.0.0.1\n" ONE_CLIENT);
    write_file(confp, conf, 0644); /* no secret inside: 0644 is fine */
    free(conf);

    pt_config_server *s = NULL;
    int rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s:2: %s: key file is accessible by others (mode 644); run: chmod 600 %s", confp,
             keyp, keyp);
    assert_string_equal(err, want);

    chmod(keyp, 0600);
    rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_true(s->has_private_key);
    assert_memory_equal(s->private_key, sk_bin, 32);
    assert_string_equal(s->private_key_file, keyp);
    char certp[300];
    snprintf(certp, sizeof(certp), "%s/cert.pem", tmpdir);
    assert_string_equal(s->certificate, certp);

    /* --private-key-file on the command line: relative to the current directory. */
    rc = pt_config_server_override(s, "--private-key-file", "no-such-dir/x.key", err, sizeof(err));
    assert_int_equal(rc, PT_ERR_IO);
    assert_string_equal(err, "no-such-dir/x.key: cannot open key file: No such file or directory");
    /* ... and the key read from the file is still there. */
    assert_true(s->has_private_key);
    assert_memory_equal(s->private_key, sk_bin, 32);
    assert_string_equal(s->private_key_file, keyp);
    rc = pt_config_server_override(s, "private-key-file", keyp, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_true(s->has_private_key);
    pt_config_server_free(s);

    /* A missing key file. */
    conf = expand("[Server]\nPrivateKeyFile = /nonexistent/server.key\nSelfSigned = true\n"
                  "Hostname = 127.0.0.1\n" ONE_CLIENT);
    write_file(confp, conf, 0600);
    free(conf);
    rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_IO);
    snprintf(want, sizeof(want),
             "%s:2: /nonexistent/server.key: cannot open key file: No such file or directory",
             confp);
    assert_string_equal(err, want);
    /* ... which PT_CONFIG_NO_KEYFILE does not read. */
    rc = pt_config_server_load(&s, confp, PT_CONFIG_NO_KEYFILE, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    pt_config_server_free(s);

    /* Client files take PrivateKeyFile alike. */
    char ckeyp[300];
    snprintf(ckeyp, sizeof(ckeyp), "%s/client.key", tmpdir);
    snprintf(line, sizeof(line), "%s\n", CK);
    write_file(ckeyp, line, 0600);
    snprintf(confp, sizeof(confp), "%s/client.conf", tmpdir);
    conf = expand("[Client]\nPrivateKeyFile = client.key\n" CLIENT_SERVER);
    write_file(confp, conf, 0644);
    free(conf);
    pt_config_client *c = NULL;
    rc = pt_config_client_load(&c, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_true(c->has_private_key);
    assert_memory_equal(c->private_key, ck_bin, 32);
    pt_config_client_free(c);
}

static void test_load_files(void **state)
{
    (void)state;
    char confp[300], want[1024], err[1024];
    snprintf(confp, sizeof(confp), "%s/inline.conf", tmpdir);
    char *conf = expand(SERVER_HEAD ONE_CLIENT);
    write_file(confp, conf, 0640);
    pt_config_server *s = NULL;
    int rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_null(s);
    snprintf(want, sizeof(want),
             "%s: holds a PrivateKey but is accessible by others (mode 640); run: chmod 600 %s "
             "(or use PrivateKeyFile)",
             confp, confp);
    assert_string_equal(err, want);
    chmod(confp, 0600);
    rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_string_equal(s->source, confp);
    pt_config_server_free(s);
    free(conf);

    /* Same rule for a client file. */
    snprintf(confp, sizeof(confp), "%s/c.conf", tmpdir);
    conf = expand(CLIENT_HEAD CLIENT_SERVER);
    write_file(confp, conf, 0604);
    free(conf);
    pt_config_client *c = NULL;
    rc = pt_config_client_load(&c, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s: holds a PrivateKey but is accessible by others (mode 604); run: chmod 600 %s "
             "(or use PrivateKeyFile)",
             confp, confp);
    assert_string_equal(err, want);

    rc = pt_config_server_load(&s, "/nonexistent/server.conf", 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_IO);
    assert_string_equal(err, "/nonexistent/server.conf: cannot open: No such file or directory");
    rc = pt_config_server_load(&s, tmpdir, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_IO);
    snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
    assert_string_equal(err, want);

    /* Over 1 MiB on disk. */
    snprintf(confp, sizeof(confp), "%s/big.conf", tmpdir);
    FILE *f = fopen(confp, "w");
    for (int i = 0; i < 1024 * 1024 / 64 + 1; i++) {
        fputs("# .............................................................\n", f);
    }
    fclose(f);
    rc = pt_config_server_load(&s, confp, 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    snprintf(want, sizeof(want), "%s: file too large (more than 1 MiB)", confp);
    assert_string_equal(err, want);
}

/* ---- server overrides and reload ------------------------------------------------ */

static void test_server_overrides(void **state)
{
    (void)state;
    char err[1024];
    pt_config_server *s =
        server_ok(SERVER_HEAD "Listen = 0.0.0.0:443\nListen = [::]:443\n" ONE_CLIENT);
    assert_int_equal(s->n_listen, 2);
    /* The first --listen replaces the file's list, later ones add. */
    assert_int_equal(pt_config_server_override(s, "--listen", "127.0.0.1:8443", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(s->n_listen, 1);
    addr_is(&s->listen[0], "127.0.0.1:8443");
    assert_int_equal(pt_config_server_override(s, "listen", " [::1]:8443 ", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(s->n_listen, 2);
    addr_is(&s->listen[1], "[::1]:8443");

    assert_int_equal(pt_config_server_override(s, "--listen", "localhost:1", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--listen: 'localhost:1' is not a valid address: an IP address is "
                             "needed here (0.0.0.0 for every IPv4 address, [::] for every IPv6 "
                             "address)");
    assert_int_equal(pt_config_server_override(s, "--connect-timeout", "0", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--connect-timeout must be a whole number from 1 to 3600");
    assert_int_equal(pt_config_server_override(s, "--log-level", "loud", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--log-level: unknown value 'loud' (expected error, warn, info or "
                             "debug)");
    assert_int_equal(pt_config_server_override(s, "--listen", "", err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "--listen has no value");
    assert_int_equal(pt_config_server_override(s, "--listen", "1.2.3.4:5\n", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--listen: value contains a control character");
    assert_int_equal(pt_config_server_override(s, "--lisen", "x", err, sizeof(err)),
                     PT_ERR_NOTFOUND);
    assert_string_equal(err, "unknown option for phantom server: '--lisen'");
    assert_int_equal(pt_config_server_override(s, "--socks", "x", err, sizeof(err)),
                     PT_ERR_NOTFOUND);

    /* Every server flag. */
    static const struct {
        const char *flag, *value;
    } ok[] = {
        {"cert", "rel/c.pem"},      {"cert-key", "rel/k.pem"},    {"hostname", "a.example"},
        {"decoy", "directory:www"}, {"decoy-identity", "apache"}, {"allow-private-targets", "yes"},
        {"connect-timeout", "7"},   {"handshake-timeout", "8"},   {"max-clients", "9"},
        {"padding", "block"},       {"padding-block", "32"},      {"padding-min-size", "10"},
        {"log-level", "warn"},      {"self-signed", "false"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (pt_config_server_override(s, ok[i].flag, ok[i].value, err, sizeof(err)) != PT_ERR_OK) {
            fail_msg("--%s %s: %s", ok[i].flag, ok[i].value, err);
        }
    }
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_OK);
    assert_string_equal(s->certificate, "rel/c.pem"); /* relative to the current directory */
    assert_string_equal(s->certificate_key, "rel/k.pem");
    assert_string_equal(s->hostname, "a.example");
    assert_int_equal(s->decoy, PT_CONFIG_DECOY_DIRECTORY);
    assert_string_equal(s->decoy_directory, "www");
    assert_int_equal(s->decoy_identity, PT_CONFIG_IDENTITY_APACHE);
    assert_true(s->allow_private_targets);
    assert_int_equal(s->connect_timeout, 7);
    assert_int_equal(s->handshake_timeout, 8);
    assert_int_equal(s->max_clients, 9);
    assert_int_equal(s->padding.strategy, PT_PAD_BLOCK);
    assert_int_equal(s->padding.block, 32);
    assert_int_equal(s->padding.min_size, 10);
    assert_int_equal(s->log_level, PT_CONFIG_LOG_WARN);

    /* Checks across keys run in validate, with "command line:" for a flag. */
    assert_int_equal(
        pt_config_server_override(s, "--decoy", "upstream:[::1]:8443", err, sizeof(err)),
        PT_ERR_OK);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: Decoy upstream is one of this server's own Listen "
                             "addresses (it would loop)");
    pt_config_server_free(s);

    s = server_ok(SERVER_HEAD ONE_CLIENT);
    assert_int_equal(pt_config_server_override(s, "--self-signed", "true", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: SelfSigned = true needs Hostname (the name the "
                             "certificate is made for; an IP address is fine)");
    assert_int_equal(pt_config_server_override(s, "--hostname", "demo.test", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_OK);
    /* The file's Certificate stays; it was given. */
    assert_string_equal(s->certificate, "/etc/phantom/cert.pem");
    pt_config_server_free(s);
}

static void test_reload(void **state)
{
    (void)state;
    char confp[300], err[1024];
    snprintf(confp, sizeof(confp), "%s/reload.conf", tmpdir);
    char *conf = expand(SERVER_HEAD "[Client]\nName = a\nPublicKey = {C1}\n");
    write_file(confp, conf, 0600);
    free(conf);
    pt_config_server *s = NULL;
    assert_int_equal(pt_config_server_load(&s, confp, 0, err, sizeof(err)), PT_ERR_OK);
    pt_config_peer *peers = s->peers;
    size_t n = s->n_peers;
    assert_int_equal(n, 1);

    /* A good new file: two clients. */
    conf = expand(SERVER_HEAD "[Client]\nName = a\nPublicKey = {C1}\n[Client]\nName = b\n"
                              "PublicKey = {C2}\nMaxStreams = 5\n");
    write_file(confp, conf, 0600);
    free(conf);
    pt_config_peer *np = NULL;
    size_t nn = 0;
    assert_int_equal(pt_config_server_reload_peers(&np, &nn, confp, err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(nn, 2);
    assert_string_equal(np[1].name, "b");
    assert_int_equal(np[1].max_streams, 5);
    assert_int_equal(np[0].max_streams, 1024);
    assert_non_null(pt_config_peer_find(np, nn, c2_bin));
    assert_ptr_equal(pt_config_peer_find(np, nn, c1_bin), &np[0]);
    assert_null(pt_config_peer_find(np, nn, cp_bin));

    /* A broken file: an error, and the outputs are left alone. */
    conf = expand(SERVER_HEAD "[Client]\nName = a\nPublicKey = {C1}\nMaxStream = 5\n");
    write_file(confp, conf, 0600);
    free(conf);
    pt_config_peer *keep = np;
    size_t keep_n = nn;
    assert_int_equal(pt_config_server_reload_peers(&np, &nn, confp, err, sizeof(err)),
                     PT_ERR_CONFIG);
    char want[1024];
    snprintf(want, sizeof(want),
             "%s:8: unknown key 'MaxStream' in [Client] (did you mean "
             "'MaxStreams'?)",
             confp);
    assert_string_equal(err, want);
    assert_ptr_equal(np, keep);
    assert_int_equal(nn, keep_n);
    /* Removing every client is an error too: the old list stays. */
    conf = expand(SERVER_HEAD);
    write_file(confp, conf, 0600);
    free(conf);
    assert_int_equal(pt_config_server_reload_peers(&np, &nn, confp, err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_ptr_equal(np, keep);
    /* A missing file. */
    unlink(confp);
    assert_int_equal(pt_config_server_reload_peers(&np, &nn, confp, err, sizeof(err)), PT_ERR_IO);
    assert_ptr_equal(np, keep);
    free(np);
    (void)peers;
    pt_config_server_free(s);
}

/* ---- client files ------------------------------------------------------------- */

static void test_client_every_option(void **state)
{
    (void)state;
    pt_config_client *c = client_ok("[Client]\n"
                                    "Name = laptop\n"
                                    "PrivateKey = {CK}\n"
                                    "SocksListen = 0.0.0.0:1081\n"
                                    "HttpListen = [::1]:8119\n"
                                    "SocksUsername = alice\n"
                                    "SocksPassword = p#ss w0rd\n"
                                    "AllowOpenProxy = false\n"
                                    "OptimisticConnect = yes\n"
                                    "Padding = none\n"
                                    "PaddingBlock = 16\n"
                                    "PaddingMinSize = 32\n"
                                    "CoverTraffic = 20\n"
                                    "Jitter = 5\n"
                                    "LogLevel = warn\n"
                                    "ReconnectMax = 120\n"
                                    "[Server]\n"
                                    "PublicKey = {SP}\n"
                                    "Endpoint = [2001:db8::5]:8443\n"
                                    "ServerName = cdn.example.com\n"
                                    "Verify = pin\n"
                                    "Pin = {C1}\n"
                                    "Pin = sha256//{C2}\n"
                                    "Transport = tls\n");
    assert_string_equal(c->name, "laptop");
    assert_true(c->has_private_key);
    assert_memory_equal(c->private_key, ck_bin, 32);
    assert_true(c->socks_enabled);
    addr_is(&c->socks_listen, "0.0.0.0:1081");
    assert_true(c->http_enabled);
    addr_is(&c->http_listen, "[::1]:8119");
    assert_string_equal(c->socks_username, "alice");
    assert_string_equal(c->socks_password, "p#ss w0rd");
    assert_false(c->allow_open_proxy);
    assert_true(c->optimistic_connect);
    assert_int_equal(c->padding.strategy, PT_PAD_NONE);
    assert_int_equal(c->padding.block, 16);
    assert_int_equal(c->padding.min_size, 32);
    assert_int_equal(c->cover_traffic, 20);
    assert_int_equal(c->jitter, 5);
    assert_int_equal(c->log_level, PT_CONFIG_LOG_WARN);
    assert_int_equal(c->reconnect_max, 120);
    assert_memory_equal(c->server_public_key, sp_bin, 32);
    addr_is(&c->endpoint, "[2001:db8::5]:8443");
    assert_string_equal(c->server_name, "cdn.example.com");
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_PIN);
    assert_int_equal(c->n_pins, 2);
    assert_memory_equal(c->pins[0], c1_bin, 32);
    assert_memory_equal(c->pins[1], c2_bin, 32);
    assert_int_equal(c->transport, PT_CONFIG_TRANSPORT_TLS);
    pt_config_client_free(c);
}

static void test_client_defaults(void **state)
{
    (void)state;
    pt_config_client *c = client_ok(CLIENT_HEAD CLIENT_SERVER);
    assert_string_equal(c->name, "");
    assert_true(c->socks_enabled);
    addr_is(&c->socks_listen, "127.0.0.1:1080");
    assert_true(c->http_enabled);
    addr_is(&c->http_listen, "127.0.0.1:8118");
    assert_string_equal(c->socks_username, "");
    assert_false(c->allow_open_proxy);
    assert_false(c->optimistic_connect);
    assert_int_equal(c->padding.strategy, PT_PAD_RANDOM);
    assert_int_equal(c->cover_traffic, 0);
    assert_int_equal(c->jitter, 0);
    assert_int_equal(c->log_level, PT_CONFIG_LOG_INFO);
    assert_int_equal(c->reconnect_max, 60);
    assert_string_equal(c->server_name, "vps.example.com");
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_SYSTEM);
    assert_int_equal(c->n_pins, 0);
    pt_config_client_free(c);

    /* Endpoint without a port: 443. An IP endpoint: ServerName is the IP (no SNI). */
    c = client_ok(CLIENT_HEAD "[Server]\nPublicKey = {SP}\nEndpoint = 198.51.100.7\n");
    addr_is(&c->endpoint, "198.51.100.7:443");
    assert_string_equal(c->server_name, "198.51.100.7");
    pt_config_client_free(c);

    /* Pins without Verify: Verify = pin. */
    c = client_ok(CLIENT_HEAD CLIENT_SERVER "Pin = {C1}\n");
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_PIN);
    pt_config_client_free(c);

    /* "sha256//" is itself base64: a bare 44-character pin that starts with
     * it is that pin (fuzz_config found the prefix being stripped from it),
     * and the prefixed 52-character spelling of the same pin reads the same. */
    static const uint8_t sha_pin[32] = {0xb2, 0x16, 0xb6, 0xe7, 0xaf, 0xff};
    c = client_ok(CLIENT_HEAD CLIENT_SERVER "Pin = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                                           "Pin = sha256//sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    assert_int_equal(c->n_pins, 2);
    assert_memory_equal(c->pins[0], sha_pin, 32);
    assert_memory_equal(c->pins[1], sha_pin, 32);
    pt_config_client_free(c);

    /* Verify = none and "off" listeners. */
    c = client_ok(CLIENT_HEAD "SocksListen = off\n" CLIENT_SERVER "Verify = none\n");
    assert_false(c->socks_enabled);
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_NONE);
    pt_config_client_free(c);

    /* A LAN proxy: with credentials, or with AllowOpenProxy. */
    c = client_ok(CLIENT_HEAD "SocksListen = 192.168.1.2:1080\nHttpListen = 192.168.1.2:8118\n"
                              "SocksUsername = u\nSocksPassword = p\n" CLIENT_SERVER);
    pt_config_client_free(c);
    c = client_ok(CLIENT_HEAD "SocksListen = [::]:1080\nAllowOpenProxy = true\n" CLIENT_SERVER);
    pt_config_client_free(c);
    c = client_ok(
        CLIENT_HEAD
        "SocksListen = 127.8.9.10:1080\nHttpListen = [::ffff:127.0.0.1]:3128\n" CLIENT_SERVER);
    pt_config_client_free(c);
}

static void test_client_errors(void **state)
{
    (void)state;
    client_err(CLIENT_HEAD "SocksListen = 0.0.0.0:1080\n" CLIENT_SERVER,
               "client.conf:3: SocksListen 0.0.0.0:1080 is not a loopback address: anyone who can "
               "reach it could use the tunnel; set SocksUsername and SocksPassword, or "
               "AllowOpenProxy = true");
    client_err(CLIENT_HEAD "HttpListen = [::]:8118\n" CLIENT_SERVER,
               "client.conf:3: HttpListen [::]:8118 is not a loopback address: anyone who can "
               "reach it could use the tunnel; set SocksUsername and SocksPassword, or "
               "AllowOpenProxy = true");
    client_err(CLIENT_HEAD "SocksUsername = u\n" CLIENT_SERVER,
               "client.conf:3: SocksUsername and SocksPassword go together: set both or neither");
    client_err(CLIENT_HEAD "SocksPassword = p\n" CLIENT_SERVER,
               "client.conf:3: SocksUsername and SocksPassword go together: set both or neither");
    client_err(CLIENT_HEAD "SocksListen = off\nHttpListen = OFF\n" CLIENT_SERVER,
               "client.conf:3: SocksListen and HttpListen are both off: the client would do "
               "nothing");
    client_err(CLIENT_HEAD "HttpListen = 127.0.0.1:1080\n" CLIENT_SERVER,
               "client.conf:3: SocksListen and HttpListen are the same address");
    client_err(CLIENT_HEAD "ReconnectMax = 0\n" CLIENT_SERVER,
               "client.conf:3: ReconnectMax must be a whole number from 1 to 3600");
    client_err(CLIENT_HEAD CLIENT_SERVER "Verify = pin\n",
               "client.conf:6: Verify = pin needs at least one Pin");
    client_err(
        CLIENT_HEAD CLIENT_SERVER "Verify = system\nPin = {C1}\n",
        "client.conf:7: Pin is set but Verify = system: set Verify = pin, or remove the Pin");
    client_err(CLIENT_HEAD CLIENT_SERVER "Verify = strict\n",
               "client.conf:6: Verify: unknown value 'strict' (expected system, pin or none)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Pin = {C1}\nPin = {C1}\nPin = {C2}\nPin = {C3}\n"
                                         "Pin = {SP}\n",
               "client.conf:10: Pin: too many pins (at most 4)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Pin = abc\n",
               "client.conf:6: Pin: invalid pin (expected the base64 SHA-256 of the "
               "certificate's SubjectPublicKeyInfo: 44 characters)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Transport = quic\n",
               "client.conf:6: Transport: 'quic' is not supported yet (only tls)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Transport = WebSocket\n",
               "client.conf:6: Transport: 'WebSocket' is not supported yet (only tls)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Transport = udp\n",
               "client.conf:6: Transport: unknown value 'udp' (expected tls)");
    client_err(CLIENT_HEAD CLIENT_SERVER "ServerName = -bad-\n",
               "client.conf:6: ServerName: '-bad-' is not a valid host name or IP address");
    client_err(CLIENT_HEAD "[Server]\nPublicKey = {SP}\nEndpoint = vps.example.com:0\n",
               "client.conf:5: Endpoint: 'vps.example.com:0' is not a valid address: port must "
               "be from 1 to 65535");
    client_err(CLIENT_HEAD "[Server]\nPublicKey = {SP}\nEndpoint = a..b\n",
               "client.conf:5: Endpoint: 'a..b' is not a valid address: invalid host name");
    client_err(CLIENT_HEAD "[Server]\nPublicKey = {SP}\n",
               "client.conf: missing 'Endpoint' in [Server]");
    client_err(CLIENT_HEAD "[Server]\nEndpoint = a.b\n",
               "client.conf: missing 'PublicKey' in [Server]");
    client_err(CLIENT_HEAD, "client.conf: missing [Server] section");
    client_err(CLIENT_SERVER, "client.conf: missing [Client] section");
    client_err("[Client]\n" CLIENT_SERVER,
               "client.conf: missing 'PrivateKey' (or 'PrivateKeyFile') in [Client]");
    client_err(CLIENT_HEAD "[Server]\nPublicKey = {CP}\nEndpoint = a.b\n",
               "client.conf:4: PublicKey in [Server] is this client's own public key (give the "
               "server's: phantom pubkey < server.key)");
    client_err(CLIENT_HEAD CLIENT_SERVER "[Client]\n",
               "client.conf:6: second [Client] section (the first is at line 1)");
    client_err(CLIENT_HEAD "[Peer]\n",
               "client.conf:3: unknown section [Peer] (did you mean [Server]?)");
    client_err("[Interface]\n",
               "client.conf:1: unknown section [Interface] (did you mean [Client]?)");
    client_err(CLIENT_HEAD "Endpoint = a.b:1\n" CLIENT_SERVER,
               "client.conf:3: 'Endpoint' does not belong in [Client] (it goes in [Server])");
    client_err(CLIENT_HEAD CLIENT_SERVER "PrivateKey = {CK}\n",
               "client.conf:6: 'PrivateKey' does not belong in [Server] (it goes in [Client])");
    client_err(CLIENT_HEAD "Listen = 0.0.0.0:443\n" CLIENT_SERVER,
               "client.conf:3: 'Listen' is a server-file key, not valid in a client file");
    client_err(CLIENT_HEAD "SocksListn = 127.0.0.1:1\n" CLIENT_SERVER,
               "client.conf:3: unknown key 'SocksListn' in [Client] (did you mean 'SocksListen'?)");
    client_err(CLIENT_HEAD CLIENT_SERVER "Endpiont = x.y:1\n",
               "client.conf:6: unknown key 'Endpiont' in [Server] (did you mean 'Endpoint'?)");

    /* The SOCKS password is never echoed, even when it is wrong. */
    char t[1024], pw[300];
    memset(pw, 'S', 256);
    pw[256] = 0;
    snprintf(t, sizeof(t), CLIENT_HEAD "SocksUsername = u\nSocksPassword = %s\n" CLIENT_SERVER, pw);
    client_err(t, "client.conf:4: SocksPassword is too long (at most 255 bytes, RFC 1929)");
}

static void test_client_overrides(void **state)
{
    (void)state;
    char err[1024];
    pt_config_client *c = client_ok(CLIENT_HEAD CLIENT_SERVER "Pin = {C1}\n");
    static const struct {
        const char *flag, *value;
    } ok[] = {
        {"--socks", "127.0.0.1:2080"},
        {"--http", "off"},
        {"--endpoint", "10.0.0.1:993"},
        {"--verify", "pin"},
        {"--pin", "{C2}"},
        {"--pin", "{C3}"},
        {"--log-level", "debug"},
        {"--padding", "random"},
        {"--padding-block", "8"},
        {"--padding-min-size", "128"},
        {"--reconnect-max", "5"},
        {"--transport", "tls"},
        {"--allow-open-proxy", "true"},
        {"--server-key", "{C1}"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *v = expand(ok[i].value);
        if (pt_config_client_override(c, ok[i].flag, v, err, sizeof(err)) != PT_ERR_OK) {
            fail_msg("%s %s: %s", ok[i].flag, v, err);
        }
        free(v);
    }
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_OK);
    addr_is(&c->socks_listen, "127.0.0.1:2080");
    assert_false(c->http_enabled);
    addr_is(&c->endpoint, "10.0.0.1:993");
    /* ServerName was not given: it follows the new endpoint. */
    assert_string_equal(c->server_name, "10.0.0.1");
    assert_int_equal(c->n_pins, 2); /* the file's pin was replaced */
    assert_memory_equal(c->pins[0], c2_bin, 32);
    assert_int_equal(c->log_level, PT_CONFIG_LOG_DEBUG);
    assert_int_equal(c->padding.block, 8);
    assert_int_equal(c->padding.min_size, 128);
    assert_int_equal(c->reconnect_max, 5);
    assert_true(c->allow_open_proxy);
    assert_memory_equal(c->server_public_key, c1_bin, 32);

    assert_int_equal(
        pt_config_client_override(c, "--server-name", "front.example", err, sizeof(err)),
        PT_ERR_OK);
    assert_int_equal(
        pt_config_client_override(c, "--endpoint", "vps.example.net", err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_OK);
    assert_string_equal(c->server_name, "front.example");
    addr_is(&c->endpoint, "vps.example.net:443");

    assert_int_equal(pt_config_client_override(c, "--endpoint", "[::1", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--endpoint: '[::1' is not a valid address: missing ']' after the "
                             "IPv6 address");
    assert_int_equal(pt_config_client_override(c, "--server-key", "abc", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--server-key: invalid public key (expected 44 characters of base64, "
                             "as printed by phantom pubkey)");
    assert_int_equal(pt_config_client_override(c, "--transport", "quic", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "--transport: 'quic' is not supported yet (only tls)");
    assert_int_equal(pt_config_client_override(c, "--listen", "1.2.3.4:5", err, sizeof(err)),
                     PT_ERR_NOTFOUND);
    assert_string_equal(err, "unknown option for phantom client: '--listen'");

    /* Cross-key checks after overrides. */
    assert_int_equal(pt_config_client_override(c, "--verify", "system", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: Pin is set but Verify = system: set Verify = pin, or "
                             "remove the Pin");
    assert_int_equal(pt_config_client_override(c, "--verify", "pin", err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_override(c, "--allow-open-proxy", "false", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_client_override(c, "--socks", "0.0.0.0:1080", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: SocksListen 0.0.0.0:1080 is not a loopback address: "
                             "anyone who can reach it could use the tunnel; set SocksUsername and "
                             "SocksPassword, or AllowOpenProxy = true");
    assert_int_equal(pt_config_client_override(c, "--socks", "off", err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "command line: SocksListen and HttpListen are both off: the client "
                             "would do nothing");
    pt_config_client_free(c);

    /* --private-key-file replaces an inline key from the file (PT_CONFIG_NO_KEYFILE here). */
    c = client_ok(CLIENT_HEAD CLIENT_SERVER);
    assert_int_equal(pt_config_client_override(c, "--private-key-file", "my.key", err, sizeof(err)),
                     PT_ERR_OK);
    assert_false(c->has_private_key);
    assert_string_equal(c->private_key_file, "my.key");
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_OK);
    pt_config_client_free(c);
}

/* A failed override leaves the configuration as it was (found by
 * fuzz_config: a bad --endpoint used to leave a zeroed address behind). */
static void test_failed_override_changes_nothing(void **state)
{
    (void)state;
    char err[1024];
    pt_config_client *c = client_ok(CLIENT_HEAD CLIENT_SERVER "Pin = {C1}\n");
    pt_config_client *before = malloc(sizeof(*before));
    memcpy(before, c, sizeof(*c));
    static const struct {
        const char *flag, *value;
    } bad[] = {
        {"--endpoint", "[::1"},     {"--endpoint", "a..b:1"},
        {"--socks", "localhost:1"}, {"--http", "1.2.3.4:0"},
        {"--pin", "abc"},           {"--server-key", "abc"},
        {"--verify", "sometimes"},  {"--server-name", "bad_name"},
        {"--padding", "lots"},      {"--padding-block", "0"},
        {"--log-level", "x"},       {"--reconnect-max", "0"},
        {"--transport", "quic"},    {"--allow-open-proxy", "2"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pt_config_client_override(c, bad[i].flag, bad[i].value, err, sizeof(err)),
                         PT_ERR_CONFIG);
        if (memcmp(c, before, sizeof(*c)) != 0) {
            fail_msg("%s %s changed the configuration", bad[i].flag, bad[i].value);
        }
    }
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_OK);
    free(before);
    pt_config_client_free(c);

    pt_config_server *s =
        server_ok(SERVER_HEAD "Listen = 0.0.0.0:443\nDecoy = upstream:127.0.0.1:80\n"
                              "DecoyIdentity = apache\n" ONE_CLIENT);
    pt_config_server *sb = malloc(sizeof(*sb));
    memcpy(sb, s, sizeof(*s));
    static const struct {
        const char *flag, *value;
    } sbad[] = {
        {"--listen", "nope"},       {"--decoy", "upstream:"},     {"--decoy", "upstream:x..y:1"},
        {"--decoy", "elsewhere"},   {"--decoy-identity", "iis"},  {"--hostname", "a_b"},
        {"--connect-timeout", "0"}, {"--self-signed", "perhaps"},
    };
    for (size_t i = 0; i < sizeof(sbad) / sizeof(sbad[0]); i++) {
        int rc = pt_config_server_override(s, sbad[i].flag, sbad[i].value, err, sizeof(err));
        assert_int_equal(rc, PT_ERR_CONFIG);
        if (memcmp(s, sb, sizeof(*s)) != 0) {
            fail_msg("%s %s changed the configuration", sbad[i].flag, sbad[i].value);
        }
    }
    assert_int_equal(s->n_listen, 1);
    assert_int_equal(pt_config_server_validate(s, err, sizeof(err)), PT_ERR_OK);
    free(sb);
    pt_config_server_free(s);
}

static void test_client_set_and_new(void **state)
{
    (void)state;
    char err[512];
    pt_config_client *c = pt_config_client_new("made");
    assert_non_null(c);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "made: missing 'PrivateKey' (or 'PrivateKeyFile') in [Client]");
    assert_int_equal(pt_config_client_set(c, "PrivateKey", CK, "key", err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "made: missing 'PublicKey' in [Server]");
    assert_int_equal(pt_config_client_set(c, "PublicKey", SP, NULL, err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_set(c, "endpoint", "x.example", "host", err, sizeof(err)),
                     PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_set(c, "Endpoint", "x..example", "host", err, sizeof(err)),
                     PT_ERR_CONFIG);
    assert_string_equal(err, "host: 'x..example' is not a valid address: invalid host name");
    assert_int_equal(pt_config_client_set(c, "Listen", "1.2.3.4:5", NULL, err, sizeof(err)),
                     PT_ERR_NOTFOUND);
    assert_int_equal(pt_config_client_set(c, "Verify", "pin", NULL, err, sizeof(err)), PT_ERR_OK);
    assert_int_equal(pt_config_client_validate(c, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "made: Verify = pin needs at least one Pin");
    pt_config_client_free(c);
}

/* ---- examples ------------------------------------------------------------------- */

static void load_text(const char *rel, char **text, size_t *len)
{
    char path[1024];
    tu_source_path(path, sizeof(path), rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    *text = malloc(PT_CONFIG_MAX_FILE);
    *len = fread(*text, 1, PT_CONFIG_MAX_FILE, f);
    fclose(f);
}

static void test_examples_parse(void **state)
{
    (void)state;
    char *text, err[1024];
    size_t len;
    load_text("examples/server.conf", &text, &len);
    pt_config_server *s = NULL;
    int rc = pt_config_server_parse(&s, text, len, "examples/server.conf", PT_CONFIG_NO_KEYFILE,
                                    err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s", err);
    }
    assert_true(s->n_peers >= 1);
    pt_config_server_free(s);
    free(text);

    load_text("examples/client.conf", &text, &len);
    pt_config_client *c = NULL;
    rc = pt_config_client_parse(&c, text, len, "examples/client.conf", PT_CONFIG_NO_KEYFILE, err,
                                sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s", err);
    }
    pt_config_client_free(c);
    free(text);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_server_every_option, setup_keys),
        cmocka_unit_test_setup(test_server_defaults, setup_keys),
        cmocka_unit_test_setup(test_syntax_comments_case_crlf, setup_keys),
        cmocka_unit_test_setup(test_booleans_and_numbers, setup_keys),
        cmocka_unit_test_setup(test_enums, setup_keys),
        cmocka_unit_test_setup(test_addresses, setup_keys),
        cmocka_unit_test_setup(test_server_structure_errors, setup_keys),
        cmocka_unit_test_setup(test_lines_and_size_limits, setup_keys),
        cmocka_unit_test_setup(test_keys_and_secrets, setup_keys),
        cmocka_unit_test_setup(test_self_signed_and_paths, setup_keys),
        cmocka_unit_test_setup_teardown(test_key_files, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_files, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup(test_server_overrides, setup_keys),
        cmocka_unit_test_setup(test_decoy_upstream_h2, setup_keys),
        cmocka_unit_test_setup_teardown(test_reload, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup(test_client_every_option, setup_keys),
        cmocka_unit_test_setup(test_client_defaults, setup_keys),
        cmocka_unit_test_setup(test_client_errors, setup_keys),
        cmocka_unit_test_setup(test_client_overrides, setup_keys),
        cmocka_unit_test_setup(test_failed_override_changes_nothing, setup_keys),
        cmocka_unit_test_setup(test_client_set_and_new, setup_keys),
        cmocka_unit_test(test_examples_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
