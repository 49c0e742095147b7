/* pt_invite.c — see pt_invite.h; the URI format is in docs/CONFIG.md.
 *
 * Everything that builds a client configuration here goes through
 * pt_config_client_set and pt_config_client_validate, so an invite or an
 * imported URI is held to exactly the checks of a client file, and the text
 * rendered from it parses back to the same configuration.
 */
#include "pt_invite.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pt_err.h"
#include "pt_key.h"
#include "pt_noise.h"

#define B64URL_KEY_LEN 43 /* 32 bytes, base64url without padding */

/* ---- a bounded string builder; its buffer may hold secrets ------------------ */

struct sb {
    char *p;
    size_t len, cap;
    int err;
};

static int sb_init(struct sb *b, size_t cap)
{
    b->p = malloc(cap);
    b->len = 0;
    b->cap = cap;
    b->err = b->p ? 0 : PT_ERR_NOMEM;
    if (b->p) {
        b->p[0] = 0;
    }
    return b->err;
}

static void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *fmt, ...)
{
    if (b->err) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->err = PT_ERR_NOBUFS;
        b->p[b->len] = 0;
        return;
    }
    b->len += (size_t)n;
}

static void sb_wipe(struct sb *b)
{
    if (b->p) {
        sodium_memzero(b->p, b->cap);
        free(b->p);
        b->p = NULL;
    }
}

/* sb_finish: hands the string to |*out| on success, else wipes it. */
static int sb_finish(struct sb *b, char **out)
{
    if (b->err) {
        int rc = b->err == PT_ERR_NOMEM ? PT_ERR_NOMEM : PT_ERR_INVAL;
        sb_wipe(b);
        return rc;
    }
    *out = b->p;
    b->p = NULL;
    return PT_ERR_OK;
}

void pt_invite_free_text(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* ---- base64url keys --------------------------------------------------------- */

static void key_to_b64url(char out[B64URL_KEY_LEN + 1], const uint8_t key[32])
{
    sodium_bin2base64(out, B64URL_KEY_LEN + 1, key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* key_from_b64url: exactly 43 characters of the base64url alphabet, canonical. */
static int key_from_b64url(uint8_t key[32], const char *s, size_t len)
{
    uint8_t tmp[34];
    size_t bin_len = 0;
    const char *end = NULL;
    if (len != B64URL_KEY_LEN) {
        return PT_ERR_INVAL;
    }
    /* libsodium 1.0.18 reads bytes >= 0x80 as signed: check the alphabet first. */
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_')) {
            return PT_ERR_INVAL;
        }
    }
    int rc = sodium_base642bin(tmp, sizeof(tmp), s, len, NULL, &bin_len, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (rc != 0 || bin_len != 32 || end != s + len) {
        sodium_memzero(tmp, sizeof(tmp));
        return PT_ERR_INVAL;
    }
    memcpy(key, tmp, 32);
    sodium_memzero(tmp, sizeof(tmp));
    return PT_ERR_OK;
}

/* ---- rendering -------------------------------------------------------------- */

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* conf_safe: |v| reads back the same from "Key = v": not empty, no
 * whitespace at either end, no comment character at the start or after
 * whitespace, no control characters. */
static int conf_safe(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || is_ws(v[0]) || is_ws(v[n - 1])) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return 0;
        }
        if ((ch == '#' || ch == ';') && (i == 0 || is_ws(v[i - 1]))) {
            return 0;
        }
    }
    return 1;
}

static int server_name_is_default(const pt_config_client *c)
{
    char host[PT_CONFIG_HOST_MAX + 1];
    pt_config_addr_host(&c->endpoint, host, sizeof(host));
    return strcmp(host, c->server_name) == 0;
}

int pt_invite_client_conf_text(char **out, const pt_config_client *c)
{
    struct sb b;
    char addr[PT_ADDR_MAX_ENCODED + 16];
    char b64[PT_KEY_B64_LEN + 1];
    *out = NULL;
    if (sb_init(&b, PT_INVITE_TEXT_MAX) != PT_ERR_OK) {
        return PT_ERR_NOMEM;
    }
    if ((c->private_key_file[0] && !conf_safe(c->private_key_file)) ||
        (c->socks_username[0] && !conf_safe(c->socks_username)) ||
        (c->socks_password[0] && !conf_safe(c->socks_password))) {
        sb_wipe(&b);
        return PT_ERR_INVAL;
    }
    sb_addf(&b, "# Phantom Tunnel client configuration: phantom client -c client.conf\n"
                "# docs/CONFIG.md describes every option.\n\n[Client]\n");
    if (c->name[0]) {
        sb_addf(&b, "Name = %s\n", c->name);
    }
    if (c->private_key_file[0]) {
        int hint = !c->has_private_key && strlen(c->private_key_file) < 1024;
        sb_addf(&b, "PrivateKeyFile = %s%s\n", c->private_key_file,
                hint ? "    # made by: phantom genkey -o <file>" : "");
    } else if (c->has_private_key) {
        pt_key_to_base64(b64, c->private_key);
        sb_addf(&b, "PrivateKey = %s\n", b64);
        sodium_memzero(b64, sizeof(b64));
    } else {
        sb_addf(&b, "PrivateKeyFile = client.key    # made by: phantom genkey -o client.key\n");
    }
    if (c->socks_enabled) {
        pt_addr_format(&c->socks_listen, addr, sizeof(addr));
        sb_addf(&b, "SocksListen = %s\n", addr);
    } else {
        sb_addf(&b, "SocksListen = off\n");
    }
    if (c->http_enabled) {
        pt_addr_format(&c->http_listen, addr, sizeof(addr));
        sb_addf(&b, "HttpListen = %s\n", addr);
    } else {
        sb_addf(&b, "HttpListen = off\n");
    }
    if (c->socks_username[0]) {
        sb_addf(&b, "SocksUsername = %s\nSocksPassword = %s\n", c->socks_username,
                c->socks_password);
    }
    if (c->allow_open_proxy) {
        sb_addf(&b, "AllowOpenProxy = true\n");
    }
    if (c->optimistic_connect) {
        sb_addf(&b, "OptimisticConnect = true\n");
    }
    sb_addf(&b, "Padding = %s\nPaddingBlock = %u\nPaddingMinSize = %u\n",
            pt_config_padding_name(c->padding.strategy), (unsigned)c->padding.block,
            (unsigned)c->padding.min_size);
    if (c->cover_traffic) {
        sb_addf(&b, "CoverTraffic = %u\n", (unsigned)c->cover_traffic);
    }
    if (c->jitter) {
        sb_addf(&b, "Jitter = %u\n", (unsigned)c->jitter);
    }
    sb_addf(&b, "LogLevel = %s\nReconnectMax = %u\n", pt_config_log_level_name(c->log_level),
            (unsigned)c->reconnect_max);

    pt_key_to_base64(b64, c->server_public_key);
    pt_addr_format(&c->endpoint, addr, sizeof(addr));
    sb_addf(&b, "\n[Server]\nPublicKey = %s\nEndpoint = %s\n", b64, addr);
    if (!server_name_is_default(c)) {
        sb_addf(&b, "ServerName = %s\n", c->server_name);
    }
    sb_addf(&b, "Verify = %s\n", pt_config_verify_name(c->verify));
    for (size_t i = 0; i < c->n_pins; i++) {
        pt_key_to_base64(b64, c->pins[i]);
        sb_addf(&b, "Pin = %s\n", b64);
    }
    sb_addf(&b, "Transport = tls\n");
    /* Every line must read back: none longer than the parser takes (a
     * resolved path can be). */
    for (size_t i = 0, start = 0; !b.err && i < b.len; i++) {
        if (b.p[i] == '\n') {
            if (i - start > PT_CONFIG_MAX_LINE) {
                b.err = PT_ERR_INVAL;
            }
            start = i + 1;
        }
    }
    return sb_finish(&b, out);
}

static int unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int pt_invite_uri_format(char **out, const pt_config_client *c)
{
    struct sb b;
    char addr[PT_ADDR_MAX_ENCODED + 16];
    char k[B64URL_KEY_LEN + 1];
    *out = NULL;
    if (sb_init(&b, PT_INVITE_URI_MAX + 1) != PT_ERR_OK) {
        return PT_ERR_NOMEM;
    }
    key_to_b64url(k, c->server_public_key);
    pt_addr_format(&c->endpoint, addr, sizeof(addr));
    sb_addf(&b, "phantom://%s@%s", k, addr);
    char sep = '?';
    if (!server_name_is_default(c)) {
        sb_addf(&b, "%csni=%s", sep, c->server_name);
        sep = '&';
    }
    sb_addf(&b, "%cverify=%s", sep, pt_config_verify_name(c->verify));
    for (size_t i = 0; i < c->n_pins; i++) {
        key_to_b64url(k, c->pins[i]);
        sb_addf(&b, "&pin=%s", k);
    }
    if (c->has_private_key) {
        key_to_b64url(k, c->private_key);
        sb_addf(&b, "&key=%s", k);
        sodium_memzero(k, sizeof(k));
    }
    if (c->name[0]) {
        sb_addf(&b, "#");
        for (const char *p = c->name; *p; p++) {
            unsigned char ch = (unsigned char)*p;
            if (unreserved(ch)) {
                sb_addf(&b, "%c", ch);
            } else {
                sb_addf(&b, "%%%02X", ch);
            }
        }
    }
    return sb_finish(&b, out);
}

/* ---- parsing ---------------------------------------------------------------- */

static int uri_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int uri_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        int n = snprintf(err, cap, "invalid import URI: ");
        if (n > 0 && (size_t)n < cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return PT_ERR_CONFIG;
}

/* uri_set: pt_config_client_set with the message prefixed. */
static int uri_set(pt_config_client *c, const char *key, const char *value, const char *label,
                   char *err, size_t cap)
{
    char why[512];
    int rc = pt_config_client_set(c, key, value, label, why, sizeof(why));
    if (rc != PT_ERR_OK) {
        uri_fail(err, cap, "%s", why);
        return rc == PT_ERR_NOMEM ? rc : PT_ERR_CONFIG;
    }
    return PT_ERR_OK;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* The query parameters. */
enum { P_SNI, P_VERIFY, P_PIN, P_TRANSPORT, P_KEY, P_COUNT };
static const char *const PARAMS[P_COUNT] = {"sni", "verify", "pin", "transport", "key"};
static const unsigned PARAM_MAX[P_COUNT] = {1, 1, PT_CONFIG_MAX_PINS, 1, 1};

static int parse_param(pt_config_client *c, char *p, unsigned counts[P_COUNT], char *err,
                       size_t cap)
{
    char b64[PT_KEY_B64_LEN + 1];
    uint8_t bin[32];
    char *eq = strchr(p, '=');
    if (!eq || eq == p) {
        return uri_fail(err, cap, "expected name=value in the query");
    }
    *eq = 0;
    char *v = eq + 1;
    int id = -1;
    for (int i = 0; i < P_COUNT; i++) {
        if (strcmp(p, PARAMS[i]) == 0) {
            id = i;
        }
    }
    if (id < 0) {
        char name[40];
        size_t n = strlen(p);
        snprintf(name, sizeof(name), "%.32s%s", p, n > 32 ? "..." : "");
        return uri_fail(err, cap, "unknown parameter '%s'", name);
    }
    if (!*v) {
        return uri_fail(err, cap, "parameter '%s' has no value", PARAMS[id]);
    }
    if (strchr(v, '%')) {
        return uri_fail(err, cap, "parameter '%s': percent-encoding is not used here", PARAMS[id]);
    }
    if (++counts[id] > PARAM_MAX[id]) {
        if (PARAM_MAX[id] == 1) {
            return uri_fail(err, cap, "parameter '%s' given twice", PARAMS[id]);
        }
        return uri_fail(err, cap, "too many '%s' parameters (at most %u)", PARAMS[id],
                        PARAM_MAX[id]);
    }
    int rc;
    switch (id) {
    case P_SNI:
        return uri_set(c, "ServerName", v, "sni", err, cap);
    case P_VERIFY:
        return uri_set(c, "Verify", v, "verify", err, cap);
    case P_TRANSPORT:
        return uri_set(c, "Transport", v, "transport", err, cap);
    case P_PIN:
        if (key_from_b64url(bin, v, strlen(v)) != PT_ERR_OK) {
            return uri_fail(err, cap,
                            "pin: expected 43 characters of base64url (the SHA-256 of "
                            "the certificate's SubjectPublicKeyInfo)");
        }
        pt_key_to_base64(b64, bin);
        return uri_set(c, "Pin", b64, "pin", err, cap);
    case P_KEY:
    default:
        if (key_from_b64url(bin, v, strlen(v)) != PT_ERR_OK) {
            rc = uri_fail(err, cap,
                          "key: invalid private key (expected 43 characters of "
                          "base64url)");
        } else {
            pt_key_to_base64(b64, bin);
            rc = uri_set(c, "PrivateKey", b64, "key", err, cap);
        }
        sodium_memzero(bin, sizeof(bin));
        sodium_memzero(b64, sizeof(b64));
        return rc;
    }
}

static int uri_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int pt_invite_uri_parse(pt_config_client **out, const char *uri, const char *key_file, char *err,
                        size_t err_cap)
{
    char buf[PT_INVITE_URI_MAX + 1];
    char b64[PT_KEY_B64_LEN + 1];
    uint8_t spub[32];
    unsigned counts[P_COUNT] = {0};
    pt_config_client *c = NULL;
    int rc;

    *out = NULL;
    if (err && err_cap) {
        err[0] = 0;
    }
    while (uri_ws(*uri)) {
        uri++;
    }
    size_t n = strnlen(uri, PT_INVITE_URI_MAX + 1);
    if (n > PT_INVITE_URI_MAX) {
        return uri_fail(err, err_cap, "too long (more than %d bytes)", PT_INVITE_URI_MAX);
    }
    while (n && uri_ws(uri[n - 1])) {
        n--;
    }
    memcpy(buf, uri, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            rc = uri_fail(err, err_cap,
                          "contains a space, a control character or a non-ASCII "
                          "byte");
            goto out;
        }
    }
    if (strncasecmp(buf, "phantom://", 10) != 0) {
        rc = uri_fail(err, err_cap, "expected phantom://");
        goto out;
    }
    char *auth = buf + 10;
    char *frag = strchr(auth, '#');
    if (frag) {
        *frag++ = 0;
    }
    char *query = strchr(auth, '?');
    if (query) {
        *query++ = 0;
    }
    char *at = strchr(auth, '@');
    if (!at) {
        rc = uri_fail(err, err_cap, "missing the server key and '@' before the host");
        goto out;
    }
    *at = 0;
    if (key_from_b64url(spub, auth, strlen(auth)) != PT_ERR_OK) {
        rc = uri_fail(err, err_cap,
                      "the server key before '@' must be 43 characters of "
                      "base64url ('-' and '_' for '+' and '/', no '=')");
        goto out;
    }
    if (strchr(at + 1, '/')) {
        rc = uri_fail(err, err_cap, "unexpected '/' (a path) after the host");
        goto out;
    }
    c = pt_config_client_new("invalid import URI");
    if (!c) {
        rc = PT_ERR_NOMEM;
        uri_fail(err, err_cap, "out of memory");
        goto out;
    }
    pt_key_to_base64(b64, spub);
    if ((rc = uri_set(c, "PublicKey", b64, "server key", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if (!at[1]) {
        rc = uri_fail(err, err_cap, "missing the host after '@'");
        goto out;
    }
    if ((rc = uri_set(c, "Endpoint", at + 1, "host", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if (query) {
        char *p = query;
        for (;;) {
            char *amp = strchr(p, '&');
            if (amp) {
                *amp = 0;
            }
            if ((rc = parse_param(c, p, counts, err, err_cap)) != PT_ERR_OK) {
                goto out;
            }
            if (!amp) {
                break;
            }
            p = amp + 1;
        }
    }
    if (frag) {
        char name[PT_CONFIG_NAME_MAX + 1];
        size_t k = 0;
        for (char *p = frag; *p; p++) {
            int ch = (unsigned char)*p;
            if (ch == '%') {
                int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
                if (lo < 0) {
                    rc = uri_fail(err, err_cap, "bad percent-encoding in the name");
                    goto out;
                }
                ch = hi * 16 + lo;
                p += 2;
            }
            if (k == PT_CONFIG_NAME_MAX) {
                rc = uri_fail(err, err_cap, "name too long (at most %d characters)",
                              PT_CONFIG_NAME_MAX);
                goto out;
            }
            name[k++] = (char)ch;
        }
        name[k] = 0;
        if (k == 0) {
            rc = uri_fail(err, err_cap, "empty name after '#'");
            goto out;
        }
        if (strlen(name) != k || !pt_config_name_valid(name)) {
            rc = uri_fail(err, err_cap,
                          "name: not a valid name (1 to %d printable characters, "
                          "no spaces, '#' or ';')",
                          PT_CONFIG_NAME_MAX);
            goto out;
        }
        if ((rc = uri_set(c, "Name", name, "name", err, err_cap)) != PT_ERR_OK) {
            goto out;
        }
    }
    if (!counts[P_KEY]) {
        rc = uri_set(c, "PrivateKeyFile", key_file ? key_file : "client.key", "key file", err,
                     err_cap);
        if (rc != PT_ERR_OK) {
            goto out;
        }
    }
    if ((rc = pt_config_client_validate(c, err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    snprintf(c->source, sizeof(c->source), "import URI");
    *out = c;
    c = NULL;
    rc = PT_ERR_OK;
out:
    pt_config_client_free(c);
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(b64, sizeof(b64));
    return rc;
}

/* ---- invite ----------------------------------------------------------------- */

static int inv_fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int inv_fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        int n = snprintf(err, cap, "invite: ");
        if (n > 0 && (size_t)n < cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static int inv_set(pt_config_client *c, const char *key, const char *value, const char *label,
                   char *err, size_t cap)
{
    char why[512];
    int rc = pt_config_client_set(c, key, value, label, why, sizeof(why));
    if (rc != PT_ERR_OK) {
        return inv_fail(err, cap, rc == PT_ERR_NOMEM ? rc : PT_ERR_CONFIG, "%s", why);
    }
    return PT_ERR_OK;
}

static int is_wildcard(const pt_addr *a)
{
    static const uint8_t zero[16];
    return (a->type == PT_ADDR_IPV4 && memcmp(a->u.ipv4, zero, 4) == 0) ||
           (a->type == PT_ADDR_IPV6 && memcmp(a->u.ipv6, zero, 16) == 0);
}

/* endpoint_of: the address clients should connect to, as "host:port". */
static int endpoint_of(const pt_invite_request *req, char *out, size_t cap, char *err,
                       size_t err_cap)
{
    const pt_config_server *s = req->server;
    uint16_t port = s->n_listen ? s->listen[0].port : 443;
    pt_addr a;
    const char *why = "";
    if (req->endpoint) {
        if (pt_config_parse_hostport(&a, req->endpoint, 1, port, &why) != PT_ERR_OK) {
            return inv_fail(err, err_cap, PT_ERR_CONFIG, "--endpoint: not a valid address: %s",
                            why);
        }
    } else if (s->hostname[0]) {
        char hp[PT_CONFIG_HOST_MAX + 16];
        snprintf(hp, sizeof(hp), strchr(s->hostname, ':') ? "[%s]:%u" : "%s:%u", s->hostname,
                 (unsigned)port);
        if (pt_config_parse_hostport(&a, hp, 1, 0, &why) != PT_ERR_OK) {
            return inv_fail(err, err_cap, PT_ERR_CONFIG, "Hostname: not a valid address: %s", why);
        }
    } else if (s->n_listen && !is_wildcard(&s->listen[0])) {
        a = s->listen[0];
    } else {
        return inv_fail(err, err_cap, PT_ERR_CONFIG,
                        "no address for clients to connect to: set Hostname in [Server] of %s, "
                        "or give --endpoint",
                        s->source);
    }
    pt_addr_format(&a, out, cap);
    return PT_ERR_OK;
}

void pt_invite_cleanup(pt_invite *inv)
{
    if (!inv) {
        return;
    }
    pt_invite_free_text(inv->client_conf);
    pt_invite_free_text(inv->uri);
    pt_invite_free_text(inv->server_stanza);
    memset(inv, 0, sizeof(*inv));
}

int pt_invite_create(pt_invite *out, const pt_invite_request *req, char *err, size_t err_cap)
{
    uint8_t spub[32], cpub[32];
    char b64[PT_KEY_B64_LEN + 1];
    char ep[PT_ADDR_MAX_ENCODED + 16];
    pt_config_client *c = NULL;
    const pt_config_server *s = req->server;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err && err_cap) {
        err[0] = 0;
    }
    if (!s || (!req->client_private_key && !req->client_public_key)) {
        return inv_fail(err, err_cap, PT_ERR_INVAL,
                        "needs the server configuration and the "
                        "client's key");
    }
    if (req->server_public_key) {
        memcpy(spub, req->server_public_key, 32);
    } else if (!s->has_private_key || pt_noise_pubkey(spub, s->private_key) != PT_ERR_OK) {
        return inv_fail(err, err_cap, PT_ERR_INVAL, "the server's private key is not loaded");
    }
    if (req->client_private_key) {
        if (pt_noise_pubkey(cpub, req->client_private_key) != PT_ERR_OK) {
            return inv_fail(err, err_cap, PT_ERR_INVAL, "invalid client private key");
        }
    } else {
        memcpy(cpub, req->client_public_key, 32);
    }
    if (sodium_memcmp(spub, cpub, 32) == 0) {
        return inv_fail(err, err_cap, PT_ERR_CONFIG, "the client's key is the server's own key");
    }
    const pt_config_peer *known = pt_config_peer_find(s->peers, s->n_peers, cpub);
    if (known) {
        return inv_fail(err, err_cap, PT_ERR_CONFIG,
                        "this client key is already in %s ([Client] '%s' at line %u)", s->source,
                        known->name, known->line);
    }
    if (req->name) {
        for (size_t i = 0; i < s->n_peers; i++) {
            if (strcmp(s->peers[i].name, req->name) == 0) {
                return inv_fail(err, err_cap, PT_ERR_CONFIG,
                                "a [Client] named '%s' is already in %s (line %u)",
                                s->peers[i].name, s->source, s->peers[i].line);
            }
        }
    }

    c = pt_config_client_new("invite");
    if (!c) {
        return inv_fail(err, err_cap, PT_ERR_NOMEM, "out of memory");
    }
    if (req->client_private_key) {
        pt_key_to_base64(b64, req->client_private_key);
        rc = inv_set(c, "PrivateKey", b64, "client private key", err, err_cap);
        sodium_memzero(b64, sizeof(b64));
    } else {
        rc =
            inv_set(c, "PrivateKeyFile", req->client_key_file ? req->client_key_file : "client.key",
                    "client key file", err, err_cap);
    }
    if (rc != PT_ERR_OK) {
        goto out;
    }
    pt_key_to_base64(b64, spub);
    if ((rc = inv_set(c, "PublicKey", b64, "server public key", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if ((rc = endpoint_of(req, ep, sizeof(ep), err, err_cap)) != PT_ERR_OK ||
        (rc = inv_set(c, "Endpoint", ep, "--endpoint", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if (req->server_name) {
        rc = inv_set(c, "ServerName", req->server_name, "--server-name", err, err_cap);
    } else if (s->hostname[0]) {
        rc = inv_set(c, "ServerName", s->hostname, "Hostname", err, err_cap);
    }
    if (rc != PT_ERR_OK) {
        goto out;
    }
    const char *verify = req->verify ? req->verify : (s->self_signed ? "pin" : "system");
    if ((rc = inv_set(c, "Verify", verify, "--verify", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if (c->verify == PT_CONFIG_VERIFY_PIN) {
        if (!req->pin) {
            rc = inv_fail(err, err_cap, PT_ERR_CONFIG,
                          "Verify = pin needs the pin of the server's certificate, and %s cannot "
                          "be read yet (start the server once so it creates it, then invite "
                          "again)",
                          s->certificate);
            goto out;
        }
        pt_key_to_base64(b64, req->pin);
        if ((rc = inv_set(c, "Pin", b64, "pin", err, err_cap)) != PT_ERR_OK) {
            goto out;
        }
    } else if (c->verify == PT_CONFIG_VERIFY_SYSTEM && s->self_signed) {
        rc = inv_fail(err, err_cap, PT_ERR_CONFIG,
                      "--verify system cannot accept the server's self-signed certificate (use "
                      "pin, the default for a SelfSigned server)");
        goto out;
    }
    if (req->name && (rc = inv_set(c, "Name", req->name, "--name", err, err_cap)) != PT_ERR_OK) {
        goto out;
    }
    if ((rc = pt_config_client_validate(c, err, err_cap)) != PT_ERR_OK) {
        goto out;
    }

    if ((rc = pt_invite_client_conf_text(&out->client_conf, c)) != PT_ERR_OK ||
        (rc = pt_invite_uri_format(&out->uri, c)) != PT_ERR_OK) {
        inv_fail(err, err_cap, rc, "cannot render the client configuration (%s)",
                 rc == PT_ERR_NOMEM ? "out of memory" : "a value does not fit the file syntax");
        goto out;
    }
    struct sb b;
    if (sb_init(&b, 256) != PT_ERR_OK) {
        rc = inv_fail(err, err_cap, PT_ERR_NOMEM, "out of memory");
        goto out;
    }
    pt_key_to_base64(b64, cpub);
    sb_addf(&b, "\n[Client]\n");
    if (c->name[0]) {
        sb_addf(&b, "Name = %s\n", c->name);
    }
    sb_addf(&b, "PublicKey = %s\n", b64);
    if ((rc = sb_finish(&b, &out->server_stanza)) != PT_ERR_OK) {
        inv_fail(err, err_cap, rc, "out of memory");
        goto out;
    }
    rc = PT_ERR_OK;
out:
    if (rc != PT_ERR_OK) {
        pt_invite_cleanup(out);
    }
    pt_config_client_free(c);
    sodium_memzero(spub, sizeof(spub));
    sodium_memzero(cpub, sizeof(cpub));
    return rc;
}
