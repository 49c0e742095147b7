/* test_pt_invite.c — `phantom invite` and import URIs (app/pt_invite.c):
 * invites from server files, the client file and URI they give, the server
 * stanza, round trips, and malformed URIs rejected with exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_config.h"
#include "pt_err.h"
#include "pt_invite.h"
#include "pt_key.h"
#include "pt_noise.h"

/* {SK}/{SP} server keys, {CK}/{CP} a client's, {C1} another client's public
 * key; {SU}, {CU}, {P1}, {P2}: base64url of the server public key, the
 * client private key, and two pins (the bytes of {C1} and {SP}). */
static char SK[45], SP[45], CK[45], CP[45], C1[45];
static char SU[44], CU[44], P1[44], P2[44];
static uint8_t sk_bin[32], sp_bin[32], ck_bin[32], cp_bin[32], c1_bin[32];

static void b64url(char out[44], const uint8_t k[32])
{
    sodium_bin2base64(out, 44, k, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int setup_keys(void **state)
{
    (void)state;
    uint8_t p[32];
    for (int i = 0; i < 32; i++) {
        sk_bin[i] = (uint8_t)(7 * i + 1);
        ck_bin[i] = (uint8_t)(11 * i + 2);
        p[i] = (uint8_t)(13 * i + 3);
    }
    assert_int_equal(pt_noise_pubkey(sp_bin, sk_bin), PT_ERR_OK);
    assert_int_equal(pt_noise_pubkey(cp_bin, ck_bin), PT_ERR_OK);
    assert_int_equal(pt_noise_pubkey(c1_bin, p), PT_ERR_OK);
    pt_key_to_base64(SK, sk_bin);
    pt_key_to_base64(SP, sp_bin);
    pt_key_to_base64(CK, ck_bin);
    pt_key_to_base64(CP, cp_bin);
    pt_key_to_base64(C1, c1_bin);
    b64url(SU, sp_bin);
    b64url(CU, ck_bin);
    b64url(P1, c1_bin);
    b64url(P2, sp_bin);
    return 0;
}

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
            } tags[] = {{"SK", SK}, {"SP", SP}, {"CK", CK}, {"CP", CP}, {"C1", C1},
                        {"SU", SU}, {"CU", CU}, {"P1", P1}, {"P2", P2}};
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

static pt_config_server *server_from(const char *tmpl)
{
    char err[1024];
    char *text = expand(tmpl);
    pt_config_server *s = NULL;
    int rc = pt_config_server_parse(&s, text, strlen(text), "server.conf", PT_CONFIG_NO_KEYFILE,
                                    err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s", err);
    }
    free(text);
    return s;
}

static pt_config_client *client_from_text(const char *text)
{
    char err[1024];
    pt_config_client *c = NULL;
    int rc = pt_config_client_parse(&c, text, strlen(text), "client.conf", PT_CONFIG_NO_KEYFILE,
                                    err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s\n---\n%s", err, text);
    }
    return c;
}

static pt_config_client *client_from_uri(const char *tmpl)
{
    char err[1024];
    char *uri = expand(tmpl);
    pt_config_client *c = NULL;
    int rc = pt_invite_uri_parse(&c, uri, NULL, err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s\n---\n%s", err, uri);
    }
    free(uri);
    return c;
}

static void addr_is(const pt_addr *a, const char *want)
{
    char buf[300];
    pt_addr_format(a, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* The configuration a client would run with: every field but the
 * bookkeeping (source, key_line_, flags_, base_dir_). */
static void assert_client_same(const pt_config_client *a, const pt_config_client *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->has_private_key, b->has_private_key);
    if (a->has_private_key) {
        assert_memory_equal(a->private_key, b->private_key, 32);
    }
    assert_string_equal(a->private_key_file, b->private_key_file);
    assert_int_equal(a->socks_enabled, b->socks_enabled);
    if (a->socks_enabled) {
        assert_memory_equal(&a->socks_listen, &b->socks_listen, sizeof(pt_addr));
    }
    assert_int_equal(a->http_enabled, b->http_enabled);
    if (a->http_enabled) {
        assert_memory_equal(&a->http_listen, &b->http_listen, sizeof(pt_addr));
    }
    assert_string_equal(a->socks_username, b->socks_username);
    assert_string_equal(a->socks_password, b->socks_password);
    assert_int_equal(a->allow_open_proxy, b->allow_open_proxy);
    assert_int_equal(a->padding.strategy, b->padding.strategy);
    assert_int_equal(a->padding.block, b->padding.block);
    assert_int_equal(a->padding.min_size, b->padding.min_size);
    assert_int_equal(a->log_level, b->log_level);
    assert_int_equal(a->reconnect_max, b->reconnect_max);
    assert_memory_equal(a->server_public_key, b->server_public_key, 32);
    assert_memory_equal(&a->endpoint, &b->endpoint, sizeof(pt_addr));
    assert_string_equal(a->server_name, b->server_name);
    assert_int_equal(a->verify, b->verify);
    assert_int_equal(a->n_pins, b->n_pins);
    assert_memory_equal(a->pins, b->pins, sizeof(a->pins[0]) * a->n_pins);
    assert_int_equal(a->transport, b->transport);
}

#define REAL_SERVER                                                                                \
    "[Server]\n"                                                                                   \
    "PrivateKey = {SK}\n"                                                                          \
    "Listen = 0.0.0.0:443\n"                                                                       \
    "Certificate = /etc/letsencrypt/live/vps.example.com/fullchain.pem\n"                          \
    "CertificateKey = /etc/letsencrypt/live/vps.example.com/privkey.pem\n"                         \
    "Hostname = vps.example.com\n"                                                                 \
    "[Client]\n"                                                                                   \
    "Name = laptop\n"                                                                              \
    "PublicKey = {C1}\n"

#define DEMO_SERVER                                                                                \
    "[Server]\n"                                                                                   \
    "PrivateKey = {SK}\n"                                                                          \
    "Listen = 127.0.0.1:8443\n"                                                                    \
    "SelfSigned = true\n"                                                                          \
    "Hostname = 127.0.0.1\n"                                                                       \
    "[Client]\n"                                                                                   \
    "PublicKey = {C1}\n"

/* ---- invites ------------------------------------------------------------------ */

static void test_invite_real_certificate(void **state)
{
    (void)state;
    pt_config_server *s = server_from(REAL_SERVER);
    pt_invite_request req = {0};
    req.server = s;
    req.client_private_key = ck_bin;
    req.name = "phone";
    pt_invite inv;
    char err[1024];
    int rc = pt_invite_create(&inv, &req, err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s", err);
    }

    /* (b) the URI, exactly. */
    char *want = expand("phantom://{SU}@vps.example.com:443?verify=system&key={CU}#phone");
    assert_string_equal(inv.uri, want);
    free(want);

    /* (a) the client file parses to what the invite means. */
    pt_config_client *c = client_from_text(inv.client_conf);
    assert_string_equal(c->name, "phone");
    assert_true(c->has_private_key);
    assert_memory_equal(c->private_key, ck_bin, 32);
    assert_memory_equal(c->server_public_key, sp_bin, 32);
    addr_is(&c->endpoint, "vps.example.com:443");
    assert_string_equal(c->server_name, "vps.example.com");
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_SYSTEM);
    assert_int_equal(c->n_pins, 0);
    addr_is(&c->socks_listen, "127.0.0.1:1080");
    addr_is(&c->http_listen, "127.0.0.1:8118");
    /* ... and the URI to the same configuration. */
    pt_config_client *u = NULL;
    assert_int_equal(pt_invite_uri_parse(&u, inv.uri, NULL, err, sizeof(err)), PT_ERR_OK);
    assert_client_same(c, u);
    pt_config_client_free(u);
    pt_config_client_free(c);

    /* (c) the stanza, appended to the server file, authorizes the client. */
    char *st = expand("\n[Client]\nName = phone\nPublicKey = {CP}\n");
    assert_string_equal(inv.server_stanza, st);
    free(st);
    char *text = expand(REAL_SERVER);
    size_t len = strlen(text) + strlen(inv.server_stanza) + 1;
    text = realloc(text, len);
    strcat(text, inv.server_stanza);
    pt_config_server *s2 = NULL;
    rc = pt_config_server_parse(&s2, text, strlen(text), "server.conf", 0, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_int_equal(s2->n_peers, 2);
    const pt_config_peer *p = pt_config_peer_find(s2->peers, s2->n_peers, cp_bin);
    assert_non_null(p);
    assert_string_equal(p->name, "phone");
    pt_config_server_free(s2);
    free(text);

    pt_invite_cleanup(&inv);
    assert_null(inv.uri);
    pt_config_server_free(s);
}

static void test_invite_self_signed_public_key_only(void **state)
{
    (void)state;
    pt_config_server *s = server_from(DEMO_SERVER);
    pt_invite_request req = {0};
    req.server = s;
    req.client_public_key = cp_bin;
    pt_invite inv;
    char err[1024];

    /* A SelfSigned server: Verify = pin, and the pin must be known. */
    int rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: Verify = pin needs the pin of the server's certificate, and "
                             "cert.pem cannot be read yet (start the server once so it creates "
                             "it, then invite again)");
    assert_null(inv.uri);
    assert_null(inv.client_conf);

    req.pin = c1_bin;
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fail_msg("%s", err);
    }
    char *want = expand("phantom://{SU}@127.0.0.1:8443?verify=pin&pin={P1}");
    assert_string_equal(inv.uri, want);
    free(want);
    /* No private key: the file names the client's own key file. */
    assert_non_null(strstr(inv.client_conf,
                           "PrivateKeyFile = client.key    # made by: phantom genkey -o <file>\n"));
    assert_null(strstr(inv.client_conf, "PrivateKey ="));
    pt_config_client *c = client_from_text(inv.client_conf);
    assert_false(c->has_private_key);
    assert_string_equal(c->private_key_file, "client.key");
    assert_int_equal(c->verify, PT_CONFIG_VERIFY_PIN);
    assert_int_equal(c->n_pins, 1);
    assert_memory_equal(c->pins[0], c1_bin, 32);
    assert_string_equal(c->server_name, "127.0.0.1");
    pt_config_client *u = NULL;
    assert_int_equal(pt_invite_uri_parse(&u, inv.uri, NULL, err, sizeof(err)), PT_ERR_OK);
    assert_client_same(c, u);
    pt_config_client_free(u);
    pt_config_client_free(c);
    char *st = expand("\n[Client]\nPublicKey = {CP}\n");
    assert_string_equal(inv.server_stanza, st);
    free(st);
    pt_invite_cleanup(&inv);

    /* --verify system cannot work with a self-signed certificate; none can. */
    req.verify = "system";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: --verify system cannot accept the server's self-signed "
                             "certificate (use pin, the default for a SelfSigned server)");
    req.verify = "none";
    req.client_key_file = "/home/me/.phantom/client.key";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    want = expand("phantom://{SU}@127.0.0.1:8443?verify=none");
    assert_string_equal(inv.uri, want);
    free(want);
    assert_non_null(strstr(inv.client_conf, "PrivateKeyFile = /home/me/.phantom/client.key"));
    pt_invite_cleanup(&inv);
    req.verify = "sometimes";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: --verify: unknown value 'sometimes' (expected system, pin or "
                             "none)");
    pt_config_server_free(s);
}

static void test_invite_endpoint_and_sni(void **state)
{
    (void)state;
    char err[1024];
    pt_invite inv;
    pt_config_server *s =
        server_from("[Server]\nPrivateKey = {SK}\nListen = [::]:8443\nCertificate = c\n"
                    "CertificateKey = k\n[Client]\nPublicKey = {C1}\n");
    pt_invite_request req = {0};
    req.server = s;
    req.client_private_key = ck_bin;
    int rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: no address for clients to connect to: set Hostname in "
                             "[Server] of server.conf, or give --endpoint");

    /* --endpoint without a port takes the Listen port. */
    req.endpoint = "203.0.113.9";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    char *want = expand("phantom://{SU}@203.0.113.9:8443?verify=system&key={CU}");
    assert_string_equal(inv.uri, want);
    free(want);
    pt_invite_cleanup(&inv);

    req.endpoint = "[2001:db8::7]:443";
    req.server_name = "front.example.com";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    want = expand("phantom://{SU}@[2001:db8::7]:443?sni=front.example.com&verify=system&key={CU}");
    assert_string_equal(inv.uri, want);
    free(want);
    assert_non_null(strstr(inv.client_conf, "Endpoint = [2001:db8::7]:443\n"
                                            "ServerName = front.example.com\n"));
    pt_invite_cleanup(&inv);

    req.endpoint = "bad..host";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: --endpoint: not a valid address: invalid host name");
    req.endpoint = "ok.example";
    req.server_name = "bad_sni";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_string_equal(err, "invite: --server-name: 'bad_sni' is not a valid host name or IP "
                             "address");
    pt_config_server_free(s);

    /* A specific Listen address and no Hostname: that address. Hostname as SNI
     * when the endpoint is given as an IP. */
    s = server_from("[Server]\nPrivateKey = {SK}\nListen = 192.0.2.10:443\nCertificate = c\n"
                    "CertificateKey = k\n[Client]\nPublicKey = {C1}\n");
    req = (pt_invite_request){0};
    req.server = s;
    req.client_private_key = ck_bin;
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    assert_non_null(strstr(inv.uri, "@192.0.2.10:443?verify=system&"));
    pt_invite_cleanup(&inv);
    pt_config_server_free(s);

    s = server_from(REAL_SERVER);
    req = (pt_invite_request){0};
    req.server = s;
    req.client_private_key = ck_bin;
    req.endpoint = "198.51.100.1";
    rc = pt_invite_create(&inv, &req, err, sizeof(err));
    assert_int_equal(rc, PT_ERR_OK);
    want = expand("phantom://{SU}@198.51.100.1:443?sni=vps.example.com&verify=system&key={CU}");
    assert_string_equal(inv.uri, want);
    free(want);
    pt_invite_cleanup(&inv);
    pt_config_server_free(s);
}

static void test_invite_refusals(void **state)
{
    (void)state;
    char err[1024];
    pt_invite inv;
    pt_config_server *s = server_from(REAL_SERVER);
    pt_invite_request req = {0};
    req.server = s;

    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_INVAL);
    assert_string_equal(err, "invite: needs the server configuration and the client's key");

    req.client_public_key = c1_bin;
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "invite: this client key is already in server.conf ([Client] "
                             "'laptop' at line 7)");
    req.client_public_key = sp_bin;
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "invite: the client's key is the server's own key");
    req.client_public_key = cp_bin;
    req.name = "laptop";
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err,
                        "invite: a [Client] named 'laptop' is already in server.conf (line 7)");
    req.name = "my laptop";
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_CONFIG);
    assert_string_equal(err, "invite: --name: 'my laptop' is not a valid name (1 to 64 printable "
                             "characters, no spaces, '#' or ';')");
    pt_config_server_free(s);

    /* A server whose key file was not read: the public key must be given. */
    s = server_from("[Server]\nPrivateKeyFile = /etc/phantom/server.key\nHostname = a.example\n"
                    "Certificate = c\nCertificateKey = k\n[Client]\nPublicKey = {C1}\n");
    req = (pt_invite_request){0};
    req.server = s;
    req.client_public_key = cp_bin;
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_INVAL);
    assert_string_equal(err, "invite: the server's private key is not loaded");
    req.server_public_key = sp_bin;
    assert_int_equal(pt_invite_create(&inv, &req, err, sizeof(err)), PT_ERR_OK);
    pt_invite_cleanup(&inv);
    pt_config_server_free(s);
}

/* ---- URIs ----------------------------------------------------------------------- */

static void test_uri_round_trip(void **state)
{
    (void)state;
    /* Canonical URIs come back byte for byte. */
    static const char *const canon[] = {
        "phantom://{SU}@vps.example.com:443?verify=system",
        "phantom://{SU}@vps.example.com:443?verify=system&key={CU}#phone",
        "phantom://{SU}@[2001:db8::1]:8443?sni=cdn.example.com&verify=pin&pin={P1}&pin={P2}#a%2Fb",
        "phantom://{SU}@10.0.0.1:993?verify=none&key={CU}#x.y_z~1-2",
        ("phantom://{SU}@127.0.0.1:8443?sni=localhost&verify=pin"
         "&pin={P1}&pin={P1}&pin={P2}&pin={P2}"),
    };
    for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
        char *uri = expand(canon[i]);
        pt_config_client *c = client_from_uri(canon[i]);
        char *out = NULL;
        assert_int_equal(pt_invite_uri_format(&out, c), PT_ERR_OK);
        assert_string_equal(out, uri);
        /* URI -> client file -> parse: the same configuration. */
        char *text = NULL;
        assert_int_equal(pt_invite_client_conf_text(&text, c), PT_ERR_OK);
        pt_config_client *f = client_from_text(text);
        assert_client_same(c, f);
        pt_config_client_free(f);
        pt_invite_free_text(text);
        pt_invite_free_text(out);
        pt_config_client_free(c);
        free(uri);
    }

    /* Other spellings parse to the canonical form. */
    static const struct {
        const char *in, *out;
    } forms[] = {
        {"  PHANTOM://{SU}@vps.example.com?pin={P1}\r\n",
         "phantom://{SU}@vps.example.com:443?verify=pin&pin={P1}"},
        {"phantom://{SU}@Vps.Example.com:443?transport=tls&verify=system",
         "phantom://{SU}@Vps.Example.com:443?verify=system"},
        {"phantom://{SU}@h.example:1#%6c%61p", "phantom://{SU}@h.example:1?verify=system#lap"},
        {"phantom://{SU}@h.example:1?sni=h.example", "phantom://{SU}@h.example:1?verify=system"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        pt_config_client *c = client_from_uri(forms[i].in);
        char *out = NULL, *want = expand(forms[i].out);
        assert_int_equal(pt_invite_uri_format(&out, c), PT_ERR_OK);
        assert_string_equal(out, want);
        pt_invite_free_text(out);
        free(want);
        pt_config_client_free(c);
    }

    /* What an imported URI gives: defaults, and the key file when no key=. */
    pt_config_client *c = client_from_uri("phantom://{SU}@vps.example.com");
    assert_false(c->has_private_key);
    assert_string_equal(c->private_key_file, "client.key");
    assert_memory_equal(c->server_public_key, sp_bin, 32);
    addr_is(&c->socks_listen, "127.0.0.1:1080");
    assert_string_equal(c->source, "import URI");
    pt_config_client_free(c);
    char err[512];
    char *uri = expand("phantom://{SU}@vps.example.com");
    assert_int_equal(pt_invite_uri_parse(&c, uri, "/etc/phantom/client.key", err, sizeof(err)),
                     PT_ERR_OK);
    assert_string_equal(c->private_key_file, "/etc/phantom/client.key");
    free(uri);
    pt_config_client_free(c);
}

static void test_conf_text_round_trip(void **state)
{
    (void)state;
    char *text = expand("[Client]\nName = laptop\nPrivateKey = {CK}\nSocksListen = 0.0.0.0:1081\n"
                        "HttpListen = off\nSocksUsername = alice\nSocksPassword = p#ss w;rd\n"
                        "Padding = block\nPaddingBlock = 16\nPaddingMinSize = 0\nLogLevel = error\n"
                        "ReconnectMax = 3600\n[Server]\nPublicKey = {SP}\n"
                        "Endpoint = [2001:db8::5]:8443\nServerName = cdn.example.com\n"
                        "Pin = {C1}\nPin = {SP}\n");
    pt_config_client *a = client_from_text(text);
    char *out = NULL;
    assert_int_equal(pt_invite_client_conf_text(&out, a), PT_ERR_OK);
    pt_config_client *b = client_from_text(out);
    assert_client_same(a, b);
    pt_invite_free_text(out);
    pt_config_client_free(b);
    free(text);

    /* A tab inside a path is fine (found by fuzz_config). */
    snprintf(a->private_key_file, sizeof(a->private_key_file), "my\tkeys/client.key");
    assert_int_equal(pt_invite_client_conf_text(&out, a), PT_ERR_OK);
    b = client_from_text(out);
    assert_string_equal(b->private_key_file, "my\tkeys/client.key");
    pt_config_client_free(b);
    pt_invite_free_text(out);

    /* A value the file syntax cannot carry is refused, not mangled. */
    snprintf(a->socks_password, sizeof(a->socks_password), "pass #word");
    assert_int_equal(pt_invite_client_conf_text(&out, a), PT_ERR_INVAL);
    assert_null(out);
    snprintf(a->socks_password, sizeof(a->socks_password), "ok");
    memset(a->private_key_file, 'k', 4085);
    a->private_key_file[4085] = 0;
    assert_int_equal(pt_invite_client_conf_text(&out, a), PT_ERR_INVAL); /* line > 4096 */
    assert_null(out);
    pt_config_client_free(a);
}

static void uri_err(const char *tmpl, const char *want)
{
    char err[1024] = "";
    char *uri = expand(tmpl);
    pt_config_client *c = (pt_config_client *)1;
    int rc = pt_invite_uri_parse(&c, uri, NULL, err, sizeof(err));
    if (rc == PT_ERR_OK || strcmp(err, want) != 0) {
        fail_msg("rc %d\n got: %s\nwant: %s\n---\n%s", rc, err, want, uri);
    }
    assert_int_equal(rc, PT_ERR_CONFIG);
    assert_null(c);
    /* Never the client's key. */
    assert_null(strstr(err, CU));
    free(uri);
}

static void test_uri_malformed(void **state)
{
    (void)state;
    uri_err("https://{SU}@h.example", "invalid import URI: expected phantom://");
    uri_err("phantom:{SU}@h.example", "invalid import URI: expected phantom://");
    uri_err("", "invalid import URI: expected phantom://");
    uri_err("phantom://h.example:443", "invalid import URI: missing the server key and '@' before "
                                       "the host");
    uri_err("phantom://abc@h.example", "invalid import URI: the server key before '@' must be 43 "
                                       "characters of base64url ('-' and '_' for '+' and '/', "
                                       "no '=')");
    uri_err("phantom://{SP}@h.example", "invalid import URI: the server key before '@' must be 43 "
                                        "characters of base64url ('-' and '_' for '+' and '/', "
                                        "no '=')");
    uri_err("phantom://+{SU}@h.example", "invalid import URI: the server key before '@' must be 43 "
                                         "characters of base64url ('-' and '_' for '+' and '/', "
                                         "no '=')");
    uri_err("phantom://{SU}@", "invalid import URI: missing the host after '@'");
    uri_err("phantom://{SU}@?verify=none", "invalid import URI: missing the host after '@'");
    uri_err("phantom://{SU}@h.example/",
            "invalid import URI: unexpected '/' (a path) after the host");
    uri_err("phantom://{SU}@h.example/x?verify=none",
            "invalid import URI: unexpected '/' (a path) after the host");
    uri_err("phantom://{SU}@h.example:0",
            "invalid import URI: host: 'h.example:0' is not a valid address: port must be from 1 "
            "to 65535");
    uri_err("phantom://{SU}@h.example:70000",
            "invalid import URI: host: 'h.example:70000' is not a valid address: port must be "
            "from 1 to 65535");
    uri_err("phantom://{SU}@::1:443",
            "invalid import URI: host: '::1:443' is not a valid address: IPv6 addresses need "
            "brackets, as in [::1]:443");
    uri_err("phantom://{SU}@a@b.example",
            "invalid import URI: host: 'a@b.example' is not a valid address: invalid host name");
    uri_err("phantom://{SU}@h.example extra",
            "invalid import URI: contains a space, a control character or a non-ASCII byte");
    uri_err("phantom://{SU}@h.\xc3\xa9xample",
            "invalid import URI: contains a space, a control character or a non-ASCII byte");
    uri_err("phantom://{SU}@h.example?foo=1", "invalid import URI: unknown parameter 'foo'");
    uri_err("phantom://{SU}@h.example?sni=a.example&sni=b.example",
            "invalid import URI: parameter 'sni' given twice");
    uri_err("phantom://{SU}@h.example?verify=pin&pin={P1}&verify=pin",
            "invalid import URI: parameter 'verify' given twice");
    uri_err("phantom://{SU}@h.example?sni=", "invalid import URI: parameter 'sni' has no value");
    uri_err("phantom://{SU}@h.example?sni", "invalid import URI: expected name=value in the query");
    uri_err("phantom://{SU}@h.example?", "invalid import URI: expected name=value in the query");
    uri_err("phantom://{SU}@h.example?verify=none&",
            "invalid import URI: expected name=value in the query");
    uri_err("phantom://{SU}@h.example?=x", "invalid import URI: expected name=value in the query");
    uri_err("phantom://{SU}@h.example?sni=a%2Eexample",
            "invalid import URI: parameter 'sni': percent-encoding is not used here");
    uri_err("phantom://{SU}@h.example?sni=bad_host",
            "invalid import URI: sni: 'bad_host' is not a valid host name or IP address");
    uri_err("phantom://{SU}@h.example?verify=maybe",
            "invalid import URI: verify: unknown value 'maybe' (expected system, pin or none)");
    uri_err("phantom://{SU}@h.example?verify=pin",
            "invalid import URI: Verify = pin needs at least one Pin");
    uri_err("phantom://{SU}@h.example?verify=system&pin={P1}",
            "invalid import URI: Pin is set but Verify = system: set Verify = pin, or remove the "
            "Pin");
    uri_err("phantom://{SU}@h.example?pin=abc",
            "invalid import URI: pin: expected 43 characters of base64url (the SHA-256 of the "
            "certificate's SubjectPublicKeyInfo)");
    uri_err("phantom://{SU}@h.example?pin={P1}&pin={P1}&pin={P1}&pin={P1}&pin={P1}",
            "invalid import URI: too many 'pin' parameters (at most 4)");
    uri_err("phantom://{SU}@h.example?transport=quic",
            "invalid import URI: transport: 'quic' is not supported yet (only tls)");
    uri_err("phantom://{SU}@h.example?key=short",
            "invalid import URI: key: invalid private key (expected 43 characters of base64url)");
    uri_err("phantom://{SU}@h.example?key={CU}&key={CU}",
            "invalid import URI: parameter 'key' given twice");
    uri_err("phantom://{SU}@h.example?key={CU}&sni=bad_host",
            "invalid import URI: sni: 'bad_host' is not a valid host name or IP address");
    uri_err("phantom://{SU}@h.example#", "invalid import URI: empty name after '#'");
    uri_err("phantom://{SU}@h.example#a%2", "invalid import URI: bad percent-encoding in the name");
    uri_err("phantom://{SU}@h.example#a%zz",
            "invalid import URI: bad percent-encoding in the name");
    uri_err("phantom://{SU}@h.example#a%20b",
            "invalid import URI: name: not a valid name (1 to 64 printable characters, no spaces, "
            "'#' or ';')");
    uri_err("phantom://{SU}@h.example#%00",
            "invalid import URI: name: not a valid name (1 to 64 printable characters, no spaces, "
            "'#' or ';')");
    uri_err("phantom://{SU}@h.example#a#b",
            "invalid import URI: name: not a valid name (1 to 64 printable characters, no spaces, "
            "'#' or ';')");
    uri_err("phantom://{SU}@h.example#"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "invalid import URI: name too long (at most 64 characters)");

    /* The client's own key given as the server's. */
    uint8_t own_pub[32];
    char own[44];
    assert_int_equal(pt_noise_pubkey(own_pub, ck_bin), PT_ERR_OK);
    b64url(own, own_pub);
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "phantom://%s@h.example?key={CU}", own);
    uri_err(tmpl, "invalid import URI: PublicKey in [Server] is this client's own public key "
                  "(give the server's: phantom pubkey < server.key)");

    /* Too long. */
    char *big = malloc(PT_INVITE_URI_MAX + 100);
    char *head = expand("phantom://{SU}@h.example#");
    strcpy(big, head);
    size_t n = strlen(big);
    memset(big + n, 'a', PT_INVITE_URI_MAX + 1 - n);
    big[PT_INVITE_URI_MAX + 1] = 0;
    uri_err(big, "invalid import URI: too long (more than 2048 bytes)");
    free(big);
    free(head);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_invite_real_certificate, setup_keys),
        cmocka_unit_test_setup(test_invite_self_signed_public_key_only, setup_keys),
        cmocka_unit_test_setup(test_invite_endpoint_and_sni, setup_keys),
        cmocka_unit_test_setup(test_invite_refusals, setup_keys),
        cmocka_unit_test_setup(test_uri_round_trip, setup_keys),
        cmocka_unit_test_setup(test_conf_text_round_trip, setup_keys),
        cmocka_unit_test_setup(test_uri_malformed, setup_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
