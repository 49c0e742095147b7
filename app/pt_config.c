/* pt_config.c — see pt_config.h; docs/CONFIG.md is the user's reference.
 *
 * One table of keys (which sections allow them, how often, their
 * command-line flag) and one setter, set_value(), used alike by the file
 * parser, the command-line overrides and pt_invite.c, so a value is checked
 * the same way wherever it comes from. Checks that involve several keys run
 * in validate_*(), after the whole file (or after the last override).
 *
 * Where a value came from is kept per key in key_line_[]: 0 not given, a
 * line number, LINE_FLAG (command line) or LINE_SET (pt_config_client_set).
 * Defaults that depend on whether a key was given (ServerName, Verify,
 * Certificate with SelfSigned) are recomputed from it on every validation.
 */
#include "pt_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_err.h"
#include "pt_keyfile.h"
#include "pt_noise.h"

#define LINE_FLAG 0xffffffffu
#define LINE_SET 0xfffffffeu
#define IS_FILE_LINE(l) ((l) != 0 && (l) < LINE_SET)

enum mode { MODE_SERVER, MODE_CLIENT };

/* Sections: SS [Server] of a server file, SP [Client] of a server file (a
 * peer), CC [Client] of a client file, CS [Server] of a client file. */
enum section { SEC_NONE = 0, SEC_SS = 1, SEC_SP = 2, SEC_CC = 4, SEC_CS = 8 };

enum key_id {
    K_PRIVATEKEY,
    K_PRIVATEKEYFILE,
    K_LISTEN,
    K_CERTIFICATE,
    K_CERTIFICATEKEY,
    K_SELFSIGNED,
    K_HOSTNAME,
    K_DECOY,
    K_DECOYIDENTITY,
    K_DECOYUPSTREAMH2,
    K_ALLOWPRIVATETARGETS,
    K_CONNECTTIMEOUT,
    K_HANDSHAKETIMEOUT,
    K_MAXSTREAMSPERCLIENT,
    K_MAXCLIENTS,
    K_PADDING,
    K_PADDINGBLOCK,
    K_PADDINGMINSIZE,
    K_COVERTRAFFIC,
    K_JITTER,
    K_LOGLEVEL,
    K_NAME,
    K_PUBLICKEY,
    K_MAXSTREAMS,
    K_SOCKSLISTEN,
    K_HTTPLISTEN,
    K_SOCKSUSERNAME,
    K_SOCKSPASSWORD,
    K_ALLOWOPENPROXY,
    K_OPTIMISTICCONNECT,
    K_RECONNECTMAX,
    K_ENDPOINT,
    K_SERVERNAME,
    K_VERIFY,
    K_PIN,
    K_TRANSPORT,
    K_COUNT,
    /* extra slots in key_line_: where the sections start */
    SLOT_SEC_SERVER = K_COUNT,
    SLOT_SEC_CLIENT,
    SLOT_COUNT_
};
_Static_assert(SLOT_COUNT_ <= PT_CONFIG_KEY_SLOTS_, "grow PT_CONFIG_KEY_SLOTS_");

struct key_def {
    const char *name;
    unsigned sections; /* SEC_* mask */
    unsigned max;      /* occurrences allowed in one section */
};

static const struct key_def KEYS[K_COUNT] = {
    [K_PRIVATEKEY] = {"PrivateKey", SEC_SS | SEC_CC, 1},
    [K_PRIVATEKEYFILE] = {"PrivateKeyFile", SEC_SS | SEC_CC, 1},
    [K_LISTEN] = {"Listen", SEC_SS, PT_CONFIG_MAX_LISTEN},
    [K_CERTIFICATE] = {"Certificate", SEC_SS, 1},
    [K_CERTIFICATEKEY] = {"CertificateKey", SEC_SS, 1},
    [K_SELFSIGNED] = {"SelfSigned", SEC_SS, 1},
    [K_HOSTNAME] = {"Hostname", SEC_SS, 1},
    [K_DECOY] = {"Decoy", SEC_SS, 1},
    [K_DECOYIDENTITY] = {"DecoyIdentity", SEC_SS, 1},
    [K_DECOYUPSTREAMH2] = {"DecoyUpstreamH2", SEC_SS, 1},
    [K_ALLOWPRIVATETARGETS] = {"AllowPrivateTargets", SEC_SS, 1},
    [K_CONNECTTIMEOUT] = {"ConnectTimeout", SEC_SS, 1},
    [K_HANDSHAKETIMEOUT] = {"HandshakeTimeout", SEC_SS, 1},
    [K_MAXSTREAMSPERCLIENT] = {"MaxStreamsPerClient", SEC_SS, 1},
    [K_MAXCLIENTS] = {"MaxClients", SEC_SS, 1},
    [K_PADDING] = {"Padding", SEC_SS | SEC_CC, 1},
    [K_PADDINGBLOCK] = {"PaddingBlock", SEC_SS | SEC_CC, 1},
    [K_PADDINGMINSIZE] = {"PaddingMinSize", SEC_SS | SEC_CC, 1},
    [K_COVERTRAFFIC] = {"CoverTraffic", SEC_SS | SEC_CC, 1},
    [K_JITTER] = {"Jitter", SEC_SS | SEC_CC, 1},
    [K_LOGLEVEL] = {"LogLevel", SEC_SS | SEC_CC, 1},
    [K_NAME] = {"Name", SEC_SP | SEC_CC, 1},
    [K_PUBLICKEY] = {"PublicKey", SEC_SP | SEC_CS, 1},
    [K_MAXSTREAMS] = {"MaxStreams", SEC_SP, 1},
    [K_SOCKSLISTEN] = {"SocksListen", SEC_CC, 1},
    [K_HTTPLISTEN] = {"HttpListen", SEC_CC, 1},
    [K_SOCKSUSERNAME] = {"SocksUsername", SEC_CC, 1},
    [K_SOCKSPASSWORD] = {"SocksPassword", SEC_CC, 1},
    [K_ALLOWOPENPROXY] = {"AllowOpenProxy", SEC_CC, 1},
    [K_OPTIMISTICCONNECT] = {"OptimisticConnect", SEC_CC, 1},
    [K_RECONNECTMAX] = {"ReconnectMax", SEC_CC, 1},
    [K_ENDPOINT] = {"Endpoint", SEC_CS, 1},
    [K_SERVERNAME] = {"ServerName", SEC_CS, 1},
    [K_VERIFY] = {"Verify", SEC_CS, 1},
    [K_PIN] = {"Pin", SEC_CS, PT_CONFIG_MAX_PINS},
    [K_TRANSPORT] = {"Transport", SEC_CS, 1},
};

/* Command-line overrides (docs/CONFIG.md, "Command-line options"). */
struct flag_def {
    const char *flag;
    int mode;
    int key;
};

static const struct flag_def FLAGS[] = {
    {"listen", MODE_SERVER, K_LISTEN},
    {"cert", MODE_SERVER, K_CERTIFICATE},
    {"cert-key", MODE_SERVER, K_CERTIFICATEKEY},
    {"self-signed", MODE_SERVER, K_SELFSIGNED},
    {"hostname", MODE_SERVER, K_HOSTNAME},
    {"decoy", MODE_SERVER, K_DECOY},
    {"decoy-identity", MODE_SERVER, K_DECOYIDENTITY},
    {"decoy-upstream-h2", MODE_SERVER, K_DECOYUPSTREAMH2},
    {"private-key-file", MODE_SERVER, K_PRIVATEKEYFILE},
    {"allow-private-targets", MODE_SERVER, K_ALLOWPRIVATETARGETS},
    {"connect-timeout", MODE_SERVER, K_CONNECTTIMEOUT},
    {"handshake-timeout", MODE_SERVER, K_HANDSHAKETIMEOUT},
    {"max-clients", MODE_SERVER, K_MAXCLIENTS},
    {"padding", MODE_SERVER, K_PADDING},
    {"padding-block", MODE_SERVER, K_PADDINGBLOCK},
    {"padding-min-size", MODE_SERVER, K_PADDINGMINSIZE},
    {"cover-traffic", MODE_SERVER, K_COVERTRAFFIC},
    {"jitter", MODE_SERVER, K_JITTER},
    {"log-level", MODE_SERVER, K_LOGLEVEL},
    {"socks", MODE_CLIENT, K_SOCKSLISTEN},
    {"http", MODE_CLIENT, K_HTTPLISTEN},
    {"endpoint", MODE_CLIENT, K_ENDPOINT},
    {"server-name", MODE_CLIENT, K_SERVERNAME},
    {"server-key", MODE_CLIENT, K_PUBLICKEY},
    {"verify", MODE_CLIENT, K_VERIFY},
    {"pin", MODE_CLIENT, K_PIN},
    {"transport", MODE_CLIENT, K_TRANSPORT},
    {"private-key-file", MODE_CLIENT, K_PRIVATEKEYFILE},
    {"padding", MODE_CLIENT, K_PADDING},
    {"padding-block", MODE_CLIENT, K_PADDINGBLOCK},
    {"padding-min-size", MODE_CLIENT, K_PADDINGMINSIZE},
    {"cover-traffic", MODE_CLIENT, K_COVERTRAFFIC},
    {"jitter", MODE_CLIENT, K_JITTER},
    {"log-level", MODE_CLIENT, K_LOGLEVEL},
    {"reconnect-max", MODE_CLIENT, K_RECONNECTMAX},
    {"allow-open-proxy", MODE_CLIENT, K_ALLOWOPENPROXY},
    {"optimistic-connect", MODE_CLIENT, K_OPTIMISTICCONNECT},
};

/* Parser state, also used (with line 0) by overrides and validation. */
struct ps {
    int mode;
    unsigned flags;
    pt_config_server *s;
    pt_config_client *c;
    size_t peers_cap;
    int section;
    unsigned sec_line; /* line of the current section header */
    unsigned line;     /* line being parsed; 0 outside a file */
    unsigned origin;   /* what set_value records in key_line_ */
    const char *label; /* key name or flag, for messages */
    unsigned *lines;   /* key_line_ of the configuration */
    unsigned peer_lines[K_COUNT];
    const char *src;      /* file name for messages */
    const char *base_dir; /* directory of the file, "" if none */
    char *err;
    size_t err_cap;
};

/* ---- messages ------------------------------------------------------------- */

static void vmsg(char *err, size_t cap, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void vmsg(char *err, size_t cap, const char *prefix, const char *fmt, va_list ap)
{
    if (!err || cap == 0) {
        return;
    }
    int n = snprintf(err, cap, "%s", prefix);
    if (n < 0) {
        err[0] = 0;
        return;
    }
    if ((size_t)n < cap) {
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    }
    /* One line, always: nothing we print may carry a newline. */
    for (char *p = err; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
}

static void prefix_for(const struct ps *ps, unsigned line, char *out, size_t cap)
{
    if (IS_FILE_LINE(line)) {
        snprintf(out, cap, "%s:%u: ", ps->src, line);
    } else if (line == LINE_FLAG) {
        snprintf(out, cap, "command line: ");
    } else {
        snprintf(out, cap, "%s: ", ps->src);
    }
}

/* fail: an error about the line being parsed (or, outside a file, the value
 * being set, whose label then starts the message). */
static int fail(struct ps *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ps *ps, const char *fmt, ...)
{
    char prefix[PT_CONFIG_PATH_MAX + 32];
    if (ps->line) {
        prefix_for(ps, ps->line, prefix, sizeof(prefix));
    } else {
        prefix[0] = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vmsg(ps->err, ps->err_cap, prefix, fmt, ap);
    va_end(ap);
    return PT_ERR_CONFIG;
}

/* fail_at: an error found by validation, about a key given at |line|. */
static int fail_at(struct ps *ps, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct ps *ps, unsigned line, const char *fmt, ...)
{
    char prefix[PT_CONFIG_PATH_MAX + 32];
    prefix_for(ps, line, prefix, sizeof(prefix));
    va_list ap;
    va_start(ap, fmt);
    vmsg(ps->err, ps->err_cap, prefix, fmt, ap);
    va_end(ap);
    return PT_ERR_CONFIG;
}

/* echo: a printable copy of a (non-secret) value for a message, cut at 64
 * bytes. Callers never echo PrivateKey, SocksUsername or SocksPassword. */
static const char *echo(const char *v, char out[80])
{
    size_t i = 0;
    for (; v[i] && i < 64; i++) {
        unsigned char ch = (unsigned char)v[i];
        out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (v[i]) {
        memcpy(out + i, "...", 4);
    } else {
        out[i] = 0;
    }
    return out;
}

/* ---- small parsers ---------------------------------------------------------- */

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') {
            x = (char)(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = (char)(y - 'A' + 'a');
        }
        if (x != y) {
            return 0;
        }
    }
    return *a == *b;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* parse_uint: decimal digits only (no sign, no spaces), lo..hi. */
static int parse_uint(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t x = 0;
    size_t i = 0;
    if (!v[0]) {
        return 0;
    }
    for (; v[i]; i++) {
        if (!is_digit(v[i]) || i >= 10) {
            return 0;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x < lo || x > hi) {
        return 0;
    }
    *out = (uint32_t)x;
    return 1;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (ieq(v, yes[i])) {
            *out = 1;
            return 1;
        }
        if (ieq(v, no[i])) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static int hostname_valid(const char *s)
{
    size_t len = strlen(s), label = 0;
    int last_all_digits = 1;
    if (len == 0 || len > PT_CONFIG_HOST_MAX) {
        return 0;
    }
    for (size_t i = 0; i <= len; i++) {
        char ch = s[i];
        if (ch == '.' || ch == 0) {
            if (label == 0 || label > 63 || s[i - 1] == '-') {
                return 0;
            }
            if (ch == 0) {
                break;
            }
            label = 0;
            last_all_digits = 1;
            continue;
        }
        if (!(is_alpha(ch) || is_digit(ch) || ch == '-')) {
            return 0;
        }
        if (ch == '-' && label == 0) {
            return 0;
        }
        if (!is_digit(ch)) {
            last_all_digits = 0;
        }
        label++;
    }
    /* "1.2.3" is a broken address, not a name (RFC 3696 §2). */
    return !last_all_digits;
}

int pt_config_host_valid(const char *s)
{
    uint8_t tmp[16];
    if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1) {
        return 1;
    }
    return hostname_valid(s);
}

int pt_config_name_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (ch <= 0x20 || ch >= 0x7f || ch == '#' || ch == ';' || n >= PT_CONFIG_NAME_MAX) {
            return 0;
        }
    }
    return n > 0;
}

int pt_config_parse_hostport(pt_addr *a, const char *s, int allow_name, uint16_t default_port,
                             const char **why)
{
    char host[PT_CONFIG_HOST_MAX + 1];
    const char *port = NULL;
    size_t hl;
    memset(a, 0, sizeof(*a));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) {
            *why = "missing ']' after the IPv6 address";
            return PT_ERR_CONFIG;
        }
        hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            *why = "invalid IPv6 address";
            return PT_ERR_CONFIG;
        }
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        if (inet_pton(AF_INET6, host, a->u.ipv6) != 1) {
            *why = "invalid IPv6 address";
            return PT_ERR_CONFIG;
        }
        a->type = PT_ADDR_IPV6;
        if (rb[1] == ':') {
            port = rb + 2;
        } else if (rb[1] != 0) {
            *why = "expected ':port' after ']'";
            return PT_ERR_CONFIG;
        }
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && memchr(s, ':', (size_t)(colon - s))) {
            *why = "IPv6 addresses need brackets, as in [::1]:443";
            return PT_ERR_CONFIG;
        }
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl == 0) {
            *why = "host missing";
            return PT_ERR_CONFIG;
        }
        if (hl >= sizeof(host)) {
            *why = "host name too long";
            return PT_ERR_CONFIG;
        }
        memcpy(host, s, hl);
        host[hl] = 0;
        if (inet_pton(AF_INET, host, a->u.ipv4) == 1) {
            a->type = PT_ADDR_IPV4;
        } else if (!allow_name) {
            *why = "an IP address is needed here (0.0.0.0 for every IPv4 address, [::] for "
                   "every IPv6 address)";
            return PT_ERR_CONFIG;
        } else if (!hostname_valid(host) || pt_addr_set_domain(a, host, 0) != PT_ERR_OK) {
            *why = "invalid host name";
            return PT_ERR_CONFIG;
        }
        port = colon ? colon + 1 : NULL;
    }
    if (!port) {
        if (!default_port) {
            *why = "port missing (host:port)";
            return PT_ERR_CONFIG;
        }
        a->port = default_port;
        return PT_ERR_OK;
    }
    uint32_t p;
    if (!parse_uint(port, 1, 65535, &p)) {
        *why = "port must be from 1 to 65535";
        return PT_ERR_CONFIG;
    }
    a->port = (uint16_t)p;
    return PT_ERR_OK;
}

void pt_config_addr_host(const pt_addr *a, char *out, size_t cap)
{
    switch (a->type) {
    case PT_ADDR_IPV4:
        snprintf(out, cap, "%u.%u.%u.%u", a->u.ipv4[0], a->u.ipv4[1], a->u.ipv4[2], a->u.ipv4[3]);
        break;
    case PT_ADDR_IPV6: {
        char ip[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, a->u.ipv6, ip, sizeof(ip))) {
            snprintf(ip, sizeof(ip), "?");
        }
        snprintf(out, cap, "%s", ip);
        break;
    }
    case PT_ADDR_DOMAIN:
        snprintf(out, cap, "%s", a->u.domain);
        break;
    default:
        snprintf(out, cap, "%s", "");
        break;
    }
}

static int addr_equal(const pt_addr *a, const pt_addr *b)
{
    if (a->type != b->type || a->port != b->port) {
        return 0;
    }
    switch (a->type) {
    case PT_ADDR_IPV4:
        return memcmp(a->u.ipv4, b->u.ipv4, 4) == 0;
    case PT_ADDR_IPV6:
        return memcmp(a->u.ipv6, b->u.ipv6, 16) == 0;
    default:
        return strcmp(a->u.domain, b->u.domain) == 0;
    }
}

static int addr_is_loopback(const pt_addr *a)
{
    static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    switch (a->type) {
    case PT_ADDR_IPV4:
        return a->u.ipv4[0] == 127;
    case PT_ADDR_IPV6:
        return memcmp(a->u.ipv6, v6_loop, 16) == 0 ||
               (memcmp(a->u.ipv6, v4_mapped, 12) == 0 && a->u.ipv6[12] == 127);
    default:
        return 0;
    }
}

/* base_dir_of: the directory part of |path| ("" if none, "/" for a file
 * in the root). */
static void base_dir_of(const char *path, char out[PT_CONFIG_PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0) {
        n = 1;
    }
    if (n >= PT_CONFIG_PATH_MAX) {
        n = PT_CONFIG_PATH_MAX - 1;
    }
    memcpy(out, path, n);
    out[n] = 0;
}

/* join_path: |dir| "/" |name|, without doubling a trailing '/'. Returns 0
 * if it does not fit. */
static int join_path(char out[PT_CONFIG_PATH_MAX], const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    const char *sep = (dl && dir[dl - 1] != '/') ? "/" : "";
    int n = snprintf(out, PT_CONFIG_PATH_MAX, "%s%s%s", dir, sep, name);
    return n >= 0 && n < PT_CONFIG_PATH_MAX;
}

/* resolve_path: a relative path from a file is relative to that file's
 * directory; from the command line, to the current directory. */
static int resolve_path(struct ps *ps, const char *v, char out[PT_CONFIG_PATH_MAX])
{
    char tmp[80], path[PT_CONFIG_PATH_MAX];
    int ok;
    if (v[0] != '/' && IS_FILE_LINE(ps->origin) && ps->base_dir[0]) {
        ok = join_path(path, ps->base_dir, v);
    } else {
        ok = join_path(path, "", v);
    }
    if (!ok) {
        return fail(ps, "%s: path too long ('%s')", ps->label, echo(v, tmp));
    }
    memcpy(out, path, strlen(path) + 1);
    return PT_ERR_OK;
}

static int set_enum(struct ps *ps, const char *v, const char *const *names, size_t n, int *out,
                    const char *expected)
{
    char tmp[80];
    for (size_t i = 0; i < n; i++) {
        if (ieq(v, names[i])) {
            *out = (int)i;
            return PT_ERR_OK;
        }
    }
    return fail(ps, "%s: unknown value '%s' (expected %s)", ps->label, echo(v, tmp), expected);
}

static const char *const PADDING_NAMES[] = {"none", "block", "random", "power-of-two"};
static const char *const LOG_NAMES[] = {"error", "warn", "info", "debug"};
static const char *const VERIFY_NAMES[] = {"system", "pin", "none"};
static const char *const IDENTITY_NAMES[] = {"nginx", "apache"};

const char *pt_config_padding_name(pt_pad_strategy s)
{
    return (unsigned)s < 4 ? PADDING_NAMES[s] : "?";
}
const char *pt_config_verify_name(pt_config_verify v)
{
    return (unsigned)v < 3 ? VERIFY_NAMES[v] : "?";
}
const char *pt_config_log_level_name(pt_config_log_level l)
{
    return (unsigned)l < 4 ? LOG_NAMES[l] : "?";
}

static int set_uint(struct ps *ps, const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!parse_uint(v, lo, hi, out)) {
        return fail(ps, "%s must be a whole number from %u to %u", ps->label, (unsigned)lo,
                    (unsigned)hi);
    }
    return PT_ERR_OK;
}

static int set_bool(struct ps *ps, const char *v, int *out)
{
    if (!parse_bool(v, out)) {
        return fail(ps, "%s must be true or false", ps->label);
    }
    return PT_ERR_OK;
}

static int set_addr(struct ps *ps, const char *v, int allow_name, uint16_t default_port,
                    pt_addr *out)
{
    const char *why = "";
    char tmp[80];
    pt_addr a;
    if (pt_config_parse_hostport(&a, v, allow_name, default_port, &why) != PT_ERR_OK) {
        return fail(ps, "%s: '%s' is not a valid address: %s", ps->label, echo(v, tmp), why);
    }
    *out = a;
    return PT_ERR_OK;
}

static int set_host(struct ps *ps, const char *v, char out[PT_CONFIG_HOST_MAX + 1])
{
    char tmp[80];
    if (strlen(v) > PT_CONFIG_HOST_MAX || !pt_config_host_valid(v)) {
        return fail(ps, "%s: '%s' is not a valid host name or IP address", ps->label, echo(v, tmp));
    }
    memcpy(out, v, strlen(v) + 1);
    return PT_ERR_OK;
}

static int set_pin(struct ps *ps, const char *v, uint8_t out[PT_CONFIG_PIN_LEN])
{
    /* curl's --pinnedpubkey spelling "sha256//<base64>" is accepted too.
     * The bare form is tried first: "sha256//" is itself valid base64, so a
     * pin whose base64 happens to start with it (44 characters in all) must
     * stay itself, not lose its first 8 characters. The two forms differ in
     * length, so no value is read both ways. */
    int rc = pt_key_from_base64(out, v, strlen(v));
    if (rc != PT_ERR_OK && strncmp(v, "sha256//", 8) == 0) {
        rc = pt_key_from_base64(out, v + 8, strlen(v + 8));
    }
    if (rc != PT_ERR_OK) {
        return fail(ps,
                    "%s: invalid pin (expected the base64 SHA-256 of the certificate's "
                    "SubjectPublicKeyInfo: 44 characters)",
                    ps->label);
    }
    return PT_ERR_OK;
}

static int set_private_key_file(struct ps *ps, const char *v, int *has, uint8_t key[PT_KEY_LEN],
                                char path[PT_CONFIG_PATH_MAX])
{
    char p[PT_CONFIG_PATH_MAX];
    uint8_t k[PT_KEY_LEN];
    int rc = resolve_path(ps, v, p);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    if (!(ps->flags & PT_CONFIG_NO_KEYFILE)) {
        char why[PT_CONFIG_PATH_MAX * 2 + 128];
        rc = pt_keyfile_read(k, p, why, sizeof(why));
        if (rc != PT_ERR_OK) {
            sodium_memzero(k, sizeof(k));
            fail(ps, "%s", why);
            return rc;
        }
        memcpy(key, k, PT_KEY_LEN);
        sodium_memzero(k, sizeof(k));
        *has = 1;
    } else {
        sodium_memzero(key, PT_KEY_LEN);
        *has = 0;
    }
    memcpy(path, p, strlen(p) + 1);
    /* On the command line, a key file replaces an inline key from the file;
     * within a file, both is an error (validation says so). */
    if (!IS_FILE_LINE(ps->origin)) {
        ps->lines[K_PRIVATEKEY] = 0;
    }
    return PT_ERR_OK;
}

/* set_value: the one setter. |v| is trimmed and not empty. */
static int set_value(struct ps *ps, int id, const char *v)
{
    pt_config_server *s = ps->s;
    pt_config_client *c = ps->c;
    int server = ps->mode == MODE_SERVER;
    char tmp[80];
    int e = 0, rc;
    uint32_t u = 0;

    switch (id) {
    case K_PRIVATEKEY: {
        /* pt_key_from_base64 writes nothing unless it succeeds. */
        uint8_t *dst = server ? s->private_key : c->private_key;
        if (pt_key_from_base64(dst, v, strlen(v)) != PT_ERR_OK) {
            return fail(ps,
                        "%s: invalid private key (expected 44 characters of base64, as "
                        "written by phantom genkey)",
                        ps->label);
        }
        *(server ? &s->has_private_key : &c->has_private_key) = 1;
        if (!IS_FILE_LINE(ps->origin)) {
            (server ? s->private_key_file : c->private_key_file)[0] = 0;
            ps->lines[K_PRIVATEKEYFILE] = 0;
        }
        return PT_ERR_OK;
    }
    case K_PRIVATEKEYFILE:
        if (server) {
            return set_private_key_file(ps, v, &s->has_private_key, s->private_key,
                                        s->private_key_file);
        }
        return set_private_key_file(ps, v, &c->has_private_key, c->private_key,
                                    c->private_key_file);
    case K_LISTEN: {
        pt_addr a;
        if ((rc = set_addr(ps, v, 0, 0, &a)) != PT_ERR_OK) {
            return rc;
        }
        for (size_t i = 0; i < s->n_listen; i++) {
            if (addr_equal(&a, &s->listen[i])) {
                return fail(ps, "%s: '%s' is listed twice", ps->label, echo(v, tmp));
            }
        }
        if (s->n_listen == PT_CONFIG_MAX_LISTEN) {
            return fail(ps, "%s: too many addresses (at most %d)", ps->label, PT_CONFIG_MAX_LISTEN);
        }
        s->listen[s->n_listen++] = a;
        return PT_ERR_OK;
    }
    case K_CERTIFICATE:
        return resolve_path(ps, v, s->certificate);
    case K_CERTIFICATEKEY:
        return resolve_path(ps, v, s->certificate_key);
    case K_SELFSIGNED:
        return set_bool(ps, v, &s->self_signed);
    case K_HOSTNAME:
        return set_host(ps, v, s->hostname);
    case K_DECOY:
        if (ieq(v, "builtin")) {
            s->decoy = PT_CONFIG_DECOY_BUILTIN;
            return PT_ERR_OK;
        }
        if (strncasecmp(v, "directory:", 10) == 0 && v[10]) {
            if ((rc = resolve_path(ps, v + 10, s->decoy_directory)) == PT_ERR_OK) {
                s->decoy = PT_CONFIG_DECOY_DIRECTORY;
            }
            return rc;
        }
        if (strncasecmp(v, "upstream:", 9) == 0 && v[9]) {
            if ((rc = set_addr(ps, v + 9, 1, 0, &s->decoy_upstream)) == PT_ERR_OK) {
                s->decoy = PT_CONFIG_DECOY_UPSTREAM;
            }
            return rc;
        }
        return fail(ps,
                    "%s: unknown value '%s' (expected builtin, directory:<path> or "
                    "upstream:<host:port>)",
                    ps->label, echo(v, tmp));
    case K_DECOYIDENTITY:
        if ((rc = set_enum(ps, v, IDENTITY_NAMES, 2, &e, "nginx or apache")) == PT_ERR_OK) {
            s->decoy_identity = (pt_config_decoy_identity)e;
        }
        return rc;
    case K_DECOYUPSTREAMH2:
        if ((rc = set_addr(ps, v, 1, 0, &s->decoy_upstream_h2)) == PT_ERR_OK) {
            s->has_decoy_upstream_h2 = 1;
        }
        return rc;
    case K_ALLOWPRIVATETARGETS:
        return set_bool(ps, v, &s->allow_private_targets);
    case K_CONNECTTIMEOUT:
        return set_uint(ps, v, 1, 3600, &s->connect_timeout);
    case K_HANDSHAKETIMEOUT:
        return set_uint(ps, v, 1, 3600, &s->handshake_timeout);
    case K_MAXSTREAMSPERCLIENT:
        return set_uint(ps, v, 1, 8388608, &s->max_streams_per_client);
    case K_MAXCLIENTS:
        return set_uint(ps, v, 1, 65535, &s->max_clients);
    case K_PADDING:
        if ((rc = set_enum(ps, v, PADDING_NAMES, 4, &e, "none, block, random or power-of-two")) ==
            PT_ERR_OK) {
            (server ? &s->padding : &c->padding)->strategy = (pt_pad_strategy)e;
        }
        return rc;
    case K_PADDINGBLOCK:
        if ((rc = set_uint(ps, v, 1, 256, &u)) == PT_ERR_OK) {
            (server ? &s->padding : &c->padding)->block = (uint16_t)u;
        }
        return rc;
    case K_PADDINGMINSIZE:
        if ((rc = set_uint(ps, v, 0, 262, &u)) == PT_ERR_OK) {
            (server ? &s->padding : &c->padding)->min_size = (uint16_t)u;
        }
        return rc;
    case K_COVERTRAFFIC:
        return set_uint(ps, v, 0, 3600, server ? &s->cover_traffic : &c->cover_traffic);
    case K_JITTER:
        return set_uint(ps, v, 0, 1000, server ? &s->jitter : &c->jitter);
    case K_LOGLEVEL:
        if ((rc = set_enum(ps, v, LOG_NAMES, 4, &e, "error, warn, info or debug")) == PT_ERR_OK) {
            *(server ? &s->log_level : &c->log_level) = (pt_config_log_level)e;
        }
        return rc;
    case K_NAME: {
        char *dst = server ? s->peers[s->n_peers - 1].name : c->name;
        if (!pt_config_name_valid(v)) {
            return fail(ps,
                        "%s: '%s' is not a valid name (1 to %d printable characters, no "
                        "spaces, '#' or ';')",
                        ps->label, echo(v, tmp), PT_CONFIG_NAME_MAX);
        }
        memcpy(dst, v, strlen(v) + 1);
        return PT_ERR_OK;
    }
    case K_PUBLICKEY: {
        uint8_t *dst = server ? s->peers[s->n_peers - 1].public_key : c->server_public_key;
        if (pt_key_from_base64(dst, v, strlen(v)) != PT_ERR_OK) {
            return fail(ps,
                        "%s: invalid public key (expected 44 characters of base64, as "
                        "printed by phantom pubkey)",
                        ps->label);
        }
        return PT_ERR_OK;
    }
    case K_MAXSTREAMS:
        return set_uint(ps, v, 1, 8388608, &s->peers[s->n_peers - 1].max_streams);
    case K_SOCKSLISTEN:
    case K_HTTPLISTEN: {
        int *enabled = id == K_SOCKSLISTEN ? &c->socks_enabled : &c->http_enabled;
        pt_addr *a = id == K_SOCKSLISTEN ? &c->socks_listen : &c->http_listen;
        if (ieq(v, "off")) {
            *enabled = 0;
            return PT_ERR_OK;
        }
        if ((rc = set_addr(ps, v, 0, 0, a)) == PT_ERR_OK) {
            *enabled = 1;
        }
        return rc;
    }
    case K_SOCKSUSERNAME:
    case K_SOCKSPASSWORD: {
        char *dst = id == K_SOCKSUSERNAME ? c->socks_username : c->socks_password;
        size_t n = strlen(v);
        if (n > PT_CONFIG_SOCKS_CRED_MAX) {
            return fail(ps, "%s is too long (at most %d bytes, RFC 1929)", ps->label,
                        PT_CONFIG_SOCKS_CRED_MAX);
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (ch < 0x20 || ch == 0x7f) {
                return fail(ps, "%s contains a control character", ps->label);
            }
        }
        memcpy(dst, v, n + 1);
        return PT_ERR_OK;
    }
    case K_ALLOWOPENPROXY:
        return set_bool(ps, v, &c->allow_open_proxy);
    case K_OPTIMISTICCONNECT:
        return set_bool(ps, v, &c->optimistic_connect);
    case K_RECONNECTMAX:
        return set_uint(ps, v, 1, 3600, &c->reconnect_max);
    case K_ENDPOINT:
        return set_addr(ps, v, 1, 443, &c->endpoint);
    case K_SERVERNAME:
        return set_host(ps, v, c->server_name);
    case K_VERIFY:
        rc = set_enum(ps, v, VERIFY_NAMES, 3, &e, "system, pin or none");
        if (rc == PT_ERR_OK) {
            c->verify = (pt_config_verify)e;
        }
        return rc;
    case K_PIN:
        if (c->n_pins == PT_CONFIG_MAX_PINS) {
            return fail(ps, "%s: too many pins (at most %d)", ps->label, PT_CONFIG_MAX_PINS);
        }
        if ((rc = set_pin(ps, v, c->pins[c->n_pins])) == PT_ERR_OK) {
            c->n_pins++;
        }
        return rc;
    case K_TRANSPORT:
        if (ieq(v, "tls")) {
            c->transport = PT_CONFIG_TRANSPORT_TLS;
            return PT_ERR_OK;
        }
        if (ieq(v, "quic") || ieq(v, "websocket")) {
            return fail(ps, "%s: '%s' is not supported yet (only tls)", ps->label, echo(v, tmp));
        }
        return fail(ps, "%s: unknown value '%s' (expected tls)", ps->label, echo(v, tmp));
    default:
        return fail(ps, "%s: internal error (no setter)", ps->label);
    }
}

/* ---- defaults ------------------------------------------------------------- */

static void server_defaults(pt_config_server *s)
{
    s->n_listen = 0; /* 0.0.0.0:443 filled in by validation when none given */
    s->decoy = PT_CONFIG_DECOY_BUILTIN;
    s->decoy_identity = PT_CONFIG_IDENTITY_NGINX;
    s->connect_timeout = 10;
    s->handshake_timeout = 30;
    s->max_streams_per_client = 1024;
    s->max_clients = 256;
    pt_pad_policy_default(&s->padding);
    s->log_level = PT_CONFIG_LOG_INFO;
}

static void client_defaults(pt_config_client *c)
{
    const char *why;
    c->socks_enabled = 1;
    pt_config_parse_hostport(&c->socks_listen, "127.0.0.1:1080", 0, 0, &why);
    c->http_enabled = 1;
    pt_config_parse_hostport(&c->http_listen, "127.0.0.1:8118", 0, 0, &why);
    pt_pad_policy_default(&c->padding);
    c->log_level = PT_CONFIG_LOG_INFO;
    c->reconnect_max = 60;
    c->verify = PT_CONFIG_VERIFY_SYSTEM;
    c->transport = PT_CONFIG_TRANSPORT_TLS;
}

static void set_source(char out[PT_CONFIG_PATH_MAX], const char *name)
{
    snprintf(out, PT_CONFIG_PATH_MAX, "%s", name ? name : "(config)");
}

/* ---- validation ----------------------------------------------------------- */

static int cmp_peer_key(const void *a, const void *b)
{
    const pt_config_peer *x = *(const pt_config_peer *const *)a;
    const pt_config_peer *y = *(const pt_config_peer *const *)b;
    int c = memcmp(x->public_key, y->public_key, PT_KEY_LEN);
    if (c) {
        return c;
    }
    return (x->line > y->line) - (x->line < y->line);
}

static int cmp_peer_name(const void *a, const void *b)
{
    const pt_config_peer *x = *(const pt_config_peer *const *)a;
    const pt_config_peer *y = *(const pt_config_peer *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) {
        return c;
    }
    return (x->line > y->line) - (x->line < y->line);
}

/* find_dup: sorts |idx| with |cmp| and returns the adjacent equal pair whose
 * second element comes first in the file (so the message names the earliest
 * duplicate), or 0 if none. */
static int find_dup(const pt_config_peer **idx, size_t n, int (*cmp)(const void *, const void *),
                    int by_key, const pt_config_peer **first, const pt_config_peer **second)
{
    qsort(idx, n, sizeof(*idx), cmp);
    *second = NULL;
    for (size_t i = 1; i < n; i++) {
        int eq = by_key ? memcmp(idx[i - 1]->public_key, idx[i]->public_key, PT_KEY_LEN) == 0
                        : strcmp(idx[i - 1]->name, idx[i]->name) == 0;
        if (eq && (!*second || idx[i]->line < (*second)->line)) {
            *first = idx[i - 1];
            *second = idx[i];
        }
    }
    return *second != NULL;
}

static int validate_peers(struct ps *ps)
{
    pt_config_server *s = ps->s;
    uint8_t own[PT_KEY_LEN];
    int have_own = s->has_private_key && pt_noise_pubkey(own, s->private_key) == PT_ERR_OK;
    int rc = PT_ERR_OK;

    for (size_t i = 0; i < s->n_peers; i++) {
        pt_config_peer *p = &s->peers[i];
        if (p->max_streams == 0) {
            p->max_streams = s->max_streams_per_client;
        }
        if (have_own && sodium_memcmp(own, p->public_key, PT_KEY_LEN) == 0) {
            rc = fail_at(ps, p->line,
                         "PublicKey of [Client] is this server's own public key "
                         "(give the client's key: phantom pubkey < client.key)");
            goto out;
        }
    }
    if (s->n_peers < 2) {
        goto out;
    }
    const pt_config_peer **idx = malloc(s->n_peers * sizeof(*idx));
    if (!idx) {
        fail_at(ps, 0, "out of memory");
        rc = PT_ERR_NOMEM;
        goto out;
    }
    const pt_config_peer *a = NULL, *b = NULL;
    for (size_t i = 0; i < s->n_peers; i++) {
        idx[i] = &s->peers[i];
    }
    if (find_dup(idx, s->n_peers, cmp_peer_key, 1, &a, &b)) {
        rc = fail_at(ps, b->line, "duplicate PublicKey: the same client as [Client] at line %u",
                     a->line);
    } else if (find_dup(idx, s->n_peers, cmp_peer_name, 0, &a, &b)) {
        rc = fail_at(ps, b->line, "duplicate Name '%s': [Client] at line %u has it too", b->name,
                     a->line);
    }
    free(idx);
out:
    sodium_memzero(own, sizeof(own));
    return rc;
}

static int validate_server(struct ps *ps)
{
    pt_config_server *s = ps->s;
    unsigned *L = s->key_line_;
    int rc;

    if (L[K_PRIVATEKEY] && L[K_PRIVATEKEYFILE]) {
        unsigned later =
            L[K_PRIVATEKEY] > L[K_PRIVATEKEYFILE] ? L[K_PRIVATEKEY] : L[K_PRIVATEKEYFILE];
        return fail_at(ps, later, "both PrivateKey and PrivateKeyFile are set; keep one");
    }
    if (!s->has_private_key && !s->private_key_file[0]) {
        return fail_at(ps, 0, "missing 'PrivateKey' (or 'PrivateKeyFile') in [Server]");
    }
    if (s->n_listen == 0) {
        const char *why;
        pt_config_parse_hostport(&s->listen[0], "0.0.0.0:443", 0, 0, &why);
        s->n_listen = 1;
    }
    if (s->self_signed) {
        if (!s->hostname[0]) {
            return fail_at(ps, L[K_SELFSIGNED],
                           "SelfSigned = true needs Hostname (the name the certificate is made "
                           "for; an IP address is fine)");
        }
        /* Defaults next to the configuration file. */
        if (!L[K_CERTIFICATE] && !join_path(s->certificate, s->base_dir_, "cert.pem")) {
            return fail_at(ps, 0, "path of the default Certificate is too long");
        }
        if (!L[K_CERTIFICATEKEY] && !join_path(s->certificate_key, s->base_dir_, "cert.key")) {
            return fail_at(ps, 0, "path of the default CertificateKey is too long");
        }
    } else {
        if (!s->certificate[0]) {
            return fail_at(ps, 0,
                           "missing 'Certificate' in [Server] (or set SelfSigned = true "
                           "for a demo)");
        }
        if (!s->certificate_key[0]) {
            return fail_at(ps, 0, "missing 'CertificateKey' in [Server]");
        }
    }
    if (s->decoy == PT_CONFIG_DECOY_UPSTREAM) {
        for (size_t i = 0; i < s->n_listen; i++) {
            if (addr_equal(&s->decoy_upstream, &s->listen[i])) {
                return fail_at(ps, L[K_DECOY],
                               "Decoy upstream is one of this server's own Listen addresses "
                               "(it would loop)");
            }
        }
    }
    if (s->has_decoy_upstream_h2) {
        if (s->decoy != PT_CONFIG_DECOY_UPSTREAM) {
            return fail_at(ps, L[K_DECOYUPSTREAMH2],
                           "DecoyUpstreamH2 needs Decoy = upstream:<host:port> (HTTP/2 goes to "
                           "the built-in decoy otherwise)");
        }
        if (addr_equal(&s->decoy_upstream_h2, &s->decoy_upstream)) {
            return fail_at(ps, L[K_DECOYUPSTREAMH2],
                           "DecoyUpstreamH2 is the Decoy upstream itself: HTTP/2 needs a listener "
                           "of its own (nginx: listen ... http2)");
        }
        for (size_t i = 0; i < s->n_listen; i++) {
            if (addr_equal(&s->decoy_upstream_h2, &s->listen[i])) {
                return fail_at(ps, L[K_DECOYUPSTREAMH2],
                               "DecoyUpstreamH2 is one of this server's own Listen addresses "
                               "(it would loop)");
            }
        }
    }
    if (s->n_peers == 0) {
        return fail_at(ps, 0,
                       "no [Client] sections: nobody could connect (add one with "
                       "phantom invite)");
    }
    if ((rc = validate_peers(ps)) != PT_ERR_OK) {
        return rc;
    }
    return PT_ERR_OK;
}

static int validate_client(struct ps *ps)
{
    pt_config_client *c = ps->c;
    unsigned *L = c->key_line_;
    char a1[80];

    if (L[K_PRIVATEKEY] && L[K_PRIVATEKEYFILE]) {
        unsigned later =
            L[K_PRIVATEKEY] > L[K_PRIVATEKEYFILE] ? L[K_PRIVATEKEY] : L[K_PRIVATEKEYFILE];
        return fail_at(ps, later, "both PrivateKey and PrivateKeyFile are set; keep one");
    }
    if (!c->has_private_key && !c->private_key_file[0]) {
        return fail_at(ps, 0, "missing 'PrivateKey' (or 'PrivateKeyFile') in [Client]");
    }
    if (!L[K_PUBLICKEY]) {
        return fail_at(ps, 0, "missing 'PublicKey' in [Server]");
    }
    if (!L[K_ENDPOINT]) {
        return fail_at(ps, 0, "missing 'Endpoint' in [Server]");
    }
    if (c->has_private_key) {
        uint8_t own[PT_KEY_LEN];
        int same = pt_noise_pubkey(own, c->private_key) == PT_ERR_OK &&
                   sodium_memcmp(own, c->server_public_key, PT_KEY_LEN) == 0;
        sodium_memzero(own, sizeof(own));
        if (same) {
            return fail_at(ps, L[K_PUBLICKEY],
                           "PublicKey in [Server] is this client's own public key (give the "
                           "server's: phantom pubkey < server.key)");
        }
    }
    if (!L[K_SERVERNAME]) {
        pt_config_addr_host(&c->endpoint, c->server_name, sizeof(c->server_name));
    }
    if (!c->socks_enabled && !c->http_enabled) {
        return fail_at(ps, L[K_SOCKSLISTEN] ? L[K_SOCKSLISTEN] : L[K_HTTPLISTEN],
                       "SocksListen and HttpListen are both off: the client would do nothing");
    }
    if (c->socks_enabled && c->http_enabled && addr_equal(&c->socks_listen, &c->http_listen)) {
        return fail_at(ps, L[K_HTTPLISTEN] ? L[K_HTTPLISTEN] : L[K_SOCKSLISTEN],
                       "SocksListen and HttpListen are the same address");
    }
    if (!!c->socks_username[0] != !!c->socks_password[0]) {
        return fail_at(ps, c->socks_username[0] ? L[K_SOCKSUSERNAME] : L[K_SOCKSPASSWORD],
                       "SocksUsername and SocksPassword go together: set both or neither");
    }
    if (!c->socks_username[0] && !c->allow_open_proxy) {
        static const int ids[2] = {K_SOCKSLISTEN, K_HTTPLISTEN};
        for (int i = 0; i < 2; i++) {
            const pt_addr *a = i == 0 ? &c->socks_listen : &c->http_listen;
            int on = i == 0 ? c->socks_enabled : c->http_enabled;
            if (on && !addr_is_loopback(a)) {
                pt_addr_format(a, a1, sizeof(a1));
                return fail_at(ps, L[ids[i]],
                               "%s %s is not a loopback address: anyone who can reach it could "
                               "use the tunnel; set SocksUsername and SocksPassword, or "
                               "AllowOpenProxy = true",
                               KEYS[ids[i]].name, a1);
            }
        }
    }
    if (!L[K_VERIFY]) {
        c->verify = c->n_pins ? PT_CONFIG_VERIFY_PIN : PT_CONFIG_VERIFY_SYSTEM;
    }
    if (c->verify == PT_CONFIG_VERIFY_PIN && c->n_pins == 0) {
        return fail_at(ps, L[K_VERIFY], "Verify = pin needs at least one Pin");
    }
    if (c->verify != PT_CONFIG_VERIFY_PIN && c->n_pins) {
        return fail_at(ps, L[K_PIN],
                       "Pin is set but Verify = %s: set Verify = pin, or remove "
                       "the Pin",
                       VERIFY_NAMES[c->verify]);
    }
    return PT_ERR_OK;
}

/* ---- the file parser -------------------------------------------------------- */

static int lookup_key(const char *k)
{
    for (int i = 0; i < K_COUNT; i++) {
        if (ieq(k, KEYS[i].name)) {
            return i;
        }
    }
    return -1;
}

/* distance: Levenshtein distance, case-insensitive, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[PT_CONFIG_NAME_MAX + 2];
    if (la > PT_CONFIG_NAME_MAX || lb > PT_CONFIG_NAME_MAX) {
        return 99;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char x = a[i - 1], y = b[j - 1];
            x = (char)(x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x);
            y = (char)(y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
            size_t best = diag + (x != y);
            if (row[j] + 1 < best) {
                best = row[j] + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

static size_t suggest_limit(const char *k)
{
    size_t n = strlen(k);
    return n < 4 ? 1 : n < 9 ? 2 : 3;
}

static const char *section_name(int sec)
{
    return (sec == SEC_SS || sec == SEC_CS) ? "[Server]" : "[Client]";
}

static int unknown_key(struct ps *ps, const char *k, int id)
{
    int mine = ps->mode == MODE_SERVER ? (SEC_SS | SEC_SP) : (SEC_CC | SEC_CS);
    if (id >= 0 && (KEYS[id].sections & mine)) {
        int other = KEYS[id].sections & mine & ~ps->section;
        return fail(ps, "'%s' does not belong in %s (it goes in %s)", KEYS[id].name,
                    section_name(ps->section), section_name(other));
    }
    if (id >= 0) {
        return fail(ps, "'%s' is a %s-file key, not valid in a %s file", KEYS[id].name,
                    ps->mode == MODE_SERVER ? "client" : "server",
                    ps->mode == MODE_SERVER ? "server" : "client");
    }
    const char *best = NULL;
    size_t best_d = 99;
    for (int i = 0; i < K_COUNT; i++) {
        if (!(KEYS[i].sections & ps->section)) {
            continue;
        }
        size_t d = distance(k, KEYS[i].name);
        if (d < best_d) {
            best_d = d;
            best = KEYS[i].name;
        }
    }
    if (best && best_d <= suggest_limit(k)) {
        return fail(ps, "unknown key '%s' in %s (did you mean '%s'?)", k, section_name(ps->section),
                    best);
    }
    return fail(ps, "unknown key '%s' in %s", k, section_name(ps->section));
}

/* finish_section: checks at the end of a section (a [Client] of a server
 * file needs its PublicKey). */
static int finish_section(struct ps *ps)
{
    if (ps->section != SEC_SP) {
        return PT_ERR_OK;
    }
    pt_config_peer *p = &ps->s->peers[ps->s->n_peers - 1];
    if (!ps->peer_lines[K_PUBLICKEY]) {
        return fail_at(ps, ps->sec_line, "missing 'PublicKey' in [Client]");
    }
    if (!p->name[0]) {
        char b64[PT_KEY_B64_LEN + 1];
        pt_key_to_base64(b64, p->public_key);
        memcpy(p->name, b64, 8);
        p->name[8] = 0;
    }
    return PT_ERR_OK;
}

static int start_section(struct ps *ps, const char *name)
{
    int rc = finish_section(ps);
    unsigned *L = ps->lines;
    if (rc != PT_ERR_OK) {
        return rc;
    }
    int is_server = ieq(name, "Server"), is_client = ieq(name, "Client");
    if (is_server || is_client) {
        unsigned *seen = &L[is_server ? SLOT_SEC_SERVER : SLOT_SEC_CLIENT];
        if (ps->mode == MODE_SERVER && is_client) {
            pt_config_server *s = ps->s;
            if (s->n_peers == ps->peers_cap) {
                size_t cap = ps->peers_cap ? ps->peers_cap * 2 : 8;
                pt_config_peer *np = realloc(s->peers, cap * sizeof(*np));
                if (!np) {
                    fail(ps, "out of memory");
                    return PT_ERR_NOMEM;
                }
                s->peers = np;
                ps->peers_cap = cap;
            }
            pt_config_peer *p = &s->peers[s->n_peers++];
            memset(p, 0, sizeof(*p));
            p->line = ps->line;
            memset(ps->peer_lines, 0, sizeof(ps->peer_lines));
            ps->section = SEC_SP;
        } else {
            if (*seen) {
                return fail(ps, "second %s section (the first is at line %u)",
                            is_server ? "[Server]" : "[Client]", *seen);
            }
            *seen = ps->line;
            ps->section = ps->mode == MODE_SERVER ? SEC_SS : (is_server ? SEC_CS : SEC_CC);
        }
        ps->sec_line = ps->line;
        return PT_ERR_OK;
    }
    const char *hint = NULL;
    if (ieq(name, "Interface")) {
        hint = ps->mode == MODE_SERVER ? "[Server]" : "[Client]";
    } else if (ieq(name, "Peer")) {
        hint = ps->mode == MODE_SERVER ? "[Client]" : "[Server]";
    } else if (distance(name, "Server") <= 2) {
        hint = "[Server]";
    } else if (distance(name, "Client") <= 2) {
        hint = "[Client]";
    }
    ps->section = SEC_NONE;
    if (hint) {
        return fail(ps, "unknown section [%s] (did you mean %s?)", name, hint);
    }
    return fail(ps, "unknown section [%s] (a %s file has [Server] and [Client] sections)", name,
                ps->mode == MODE_SERVER ? "server" : "client");
}

static int key_char(char ch)
{
    return is_alpha(ch) || is_digit(ch);
}

/* parse_line: one line, NUL-terminated, control characters already refused. */
static int parse_line(struct ps *ps, char *s)
{
    while (is_ws(*s)) {
        s++;
    }
    if (*s == 0 || *s == '#' || *s == ';') {
        return PT_ERR_OK;
    }
    if (*s == '[') {
        char *rb = strchr(s, ']');
        if (!rb) {
            return fail(ps, "missing ']' in section header");
        }
        char *rest = rb + 1;
        while (is_ws(*rest)) {
            rest++;
        }
        if (*rest && *rest != '#' && *rest != ';') {
            return fail(ps, "unexpected text after the section header");
        }
        char *name = s + 1;
        *rb = 0;
        while (is_ws(*name)) {
            name++;
        }
        size_t n = strlen(name);
        while (n && is_ws(name[n - 1])) {
            name[--n] = 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!key_char(name[i]) || i >= 32) {
                return fail(ps, "invalid section name");
            }
        }
        if (n == 0) {
            return fail(ps, "empty section name");
        }
        return start_section(ps, name);
    }

    char *eq = strchr(s, '=');
    if (!eq) {
        return fail(ps, "expected 'Key = Value' or a [Section] header");
    }
    char *k = s, *kend = eq;
    while (kend > k && is_ws(kend[-1])) {
        kend--;
    }
    *kend = 0;
    size_t kl = strlen(k);
    if (kl == 0) {
        return fail(ps, "missing key name before '='");
    }
    for (size_t i = 0; i < kl; i++) {
        if (!key_char(k[i]) || i >= 32) {
            return fail(ps, "invalid key name before '=' (keys are letters and digits)");
        }
    }
    char *v = eq + 1;
    while (is_ws(*v)) {
        v++;
    }
    /* A comment starts at '#' or ';' at the start of the value or after
     * whitespace: "Name = a#b" keeps the '#'. */
    for (char *p = v; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == v || is_ws(p[-1]))) {
            *p = 0;
            break;
        }
    }
    size_t vl = strlen(v);
    while (vl && is_ws(v[vl - 1])) {
        v[--vl] = 0;
    }

    int id = lookup_key(k);
    if (ps->section == SEC_NONE) {
        return fail(ps, "'%s' is outside any section (start with [Server] or [Client])",
                    id >= 0 ? KEYS[id].name : k);
    }
    if (id < 0 || !(KEYS[id].sections & ps->section)) {
        return unknown_key(ps, k, id);
    }
    if (vl == 0) {
        return fail(ps, "%s has no value", KEYS[id].name);
    }
    unsigned *lines = ps->section == SEC_SP ? ps->peer_lines : ps->lines;
    if (lines[id] && KEYS[id].max == 1) {
        return fail(ps, "%s given twice in %s (first at line %u)", KEYS[id].name,
                    section_name(ps->section), lines[id]);
    }
    if (!lines[id]) {
        lines[id] = ps->line;
    }
    ps->label = KEYS[id].name;
    ps->origin = ps->line;
    return set_value(ps, id, v);
}

static int parse_text(struct ps *ps, const char *text, size_t len)
{
    char line[PT_CONFIG_MAX_LINE + 1];
    size_t pos = 0;
    unsigned lineno = 0;
    int rc = PT_ERR_OK;

    if (len > PT_CONFIG_MAX_FILE) {
        return fail_at(ps, 0, "file too large (more than 1 MiB)");
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        pos = 3; /* a UTF-8 byte-order mark, as some editors write */
    }
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        ps->line = ++lineno;
        if (n && start[n - 1] == '\r') {
            n--;
        }
        if (n > PT_CONFIG_MAX_LINE) {
            rc = fail(ps, "line too long (more than %d bytes)", PT_CONFIG_MAX_LINE);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)start[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                rc = fail(ps, "control character (byte 0x%02x) in line", ch);
                goto out;
            }
        }
        memcpy(line, start, n);
        line[n] = 0;
        if ((rc = parse_line(ps, line)) != PT_ERR_OK) {
            goto out;
        }
    }
    ps->line = 0;
    rc = finish_section(ps);
out:
    ps->line = 0;
    sodium_memzero(line, sizeof(line));
    return rc;
}

/* ---- server ----------------------------------------------------------------- */

static void init_ps(struct ps *ps, int mode, unsigned flags, const char *src, const char *base_dir,
                    char *err, size_t err_cap)
{
    memset(ps, 0, sizeof(*ps));
    ps->mode = mode;
    ps->flags = flags;
    ps->src = src;
    ps->base_dir = base_dir;
    ps->err = err;
    ps->err_cap = err_cap;
    if (err && err_cap) {
        err[0] = 0;
    }
}

void pt_config_server_free(pt_config_server *cfg)
{
    if (!cfg) {
        return;
    }
    free(cfg->peers);
    sodium_memzero(cfg, sizeof(*cfg));
    free(cfg);
}

int pt_config_server_parse(pt_config_server **out, const char *text, size_t len, const char *name,
                           unsigned flags, char *err, size_t err_cap)
{
    struct ps ps;
    *out = NULL;
    pt_config_server *s = calloc(1, sizeof(*s));
    if (!s) {
        if (err && err_cap) {
            snprintf(err, err_cap, "%s: out of memory", name ? name : "(config)");
        }
        return PT_ERR_NOMEM;
    }
    set_source(s->source, name);
    base_dir_of(s->source, s->base_dir_);
    s->flags_ = flags;
    server_defaults(s);
    init_ps(&ps, MODE_SERVER, flags, s->source, s->base_dir_, err, err_cap);
    ps.s = s;
    ps.lines = s->key_line_;

    int rc = parse_text(&ps, text, len);
    if (rc == PT_ERR_OK && !s->key_line_[SLOT_SEC_SERVER]) {
        rc = fail_at(&ps, 0, "missing [Server] section");
    }
    if (rc == PT_ERR_OK) {
        rc = validate_server(&ps);
    }
    if (rc != PT_ERR_OK) {
        pt_config_server_free(s);
        return rc;
    }
    *out = s;
    return PT_ERR_OK;
}

/* read_file: the whole of a regular file of at most 1 MiB. */
static int read_file(const char *path, char **out, size_t *out_len, mode_t *mode, char *err,
                     size_t err_cap)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO given as the file must not hang us; S_ISREG below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
        return PT_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s: not a regular file", path);
        close(fd);
        return PT_ERR_IO;
    }
    *mode = st.st_mode;
    size_t cap = PT_CONFIG_MAX_FILE + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, err_cap, "%s: out of memory", path);
        close(fd);
        return PT_ERR_NOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, err_cap, "%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return PT_ERR_IO;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len == cap) {
            snprintf(err, err_cap, "%s: file too large (more than 1 MiB)", path);
            sodium_memzero(buf, cap);
            free(buf);
            close(fd);
            return PT_ERR_CONFIG;
        }
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return PT_ERR_OK;
}

static void free_file(char *buf)
{
    if (buf) {
        sodium_memzero(buf, PT_CONFIG_MAX_FILE + 1);
        free(buf);
    }
}

static int mode_error(const char *path, mode_t mode, const char *what, char *err, size_t err_cap)
{
    snprintf(err, err_cap,
             "%s: holds a %s but is accessible by others (mode %03o); run: chmod 600 %s "
             "(or use PrivateKeyFile)",
             path, what, (unsigned)(mode & 0777), path);
    return PT_ERR_CONFIG;
}

int pt_config_server_load(pt_config_server **out, const char *path, unsigned flags, char *err,
                          size_t err_cap)
{
    char *buf;
    size_t len;
    mode_t mode = 0;
    *out = NULL;
    int rc = read_file(path, &buf, &len, &mode, err, err_cap);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    rc = pt_config_server_parse(out, buf, len, path, flags, err, err_cap);
    free_file(buf);
    if (rc == PT_ERR_OK && IS_FILE_LINE((*out)->key_line_[K_PRIVATEKEY]) && (mode & 077)) {
        /* Like ssh and pt_keyfile_read: a readable private key is a leaked one. */
        pt_config_server_free(*out);
        *out = NULL;
        return mode_error(path, mode, "PrivateKey", err, err_cap);
    }
    return rc;
}

static const struct flag_def *find_flag(int mode, const char *flag)
{
    if (flag[0] == '-' && flag[1] == '-') {
        flag += 2;
    }
    for (size_t i = 0; i < sizeof(FLAGS) / sizeof(FLAGS[0]); i++) {
        if (FLAGS[i].mode == mode && strcmp(FLAGS[i].flag, flag) == 0) {
            return &FLAGS[i];
        }
    }
    return NULL;
}

/* apply_one: shared by the overrides and pt_config_client_set. */
static int apply_one(struct ps *ps, int id, const char *value, unsigned origin)
{
    char v[PT_CONFIG_MAX_LINE + 1];
    size_t n = strlen(value);
    while (n && is_ws(*value)) {
        value++;
        n--;
    }
    while (n && is_ws(value[n - 1])) {
        n--;
    }
    if (n == 0) {
        return fail(ps, "%s has no value", ps->label);
    }
    if (n > PT_CONFIG_MAX_LINE) {
        return fail(ps, "%s: value too long", ps->label);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch == 0x7f) {
            return fail(ps, "%s: value contains a control character", ps->label);
        }
    }
    memcpy(v, value, n);
    v[n] = 0;
    /* The first --listen / --pin replaces the list from the file (set_value
     * appends at the count, so restoring the count undoes a failure). */
    size_t *count = id == K_LISTEN ? &ps->s->n_listen : id == K_PIN ? &ps->c->n_pins : NULL;
    size_t saved = count ? *count : 0;
    if (count && ps->lines[id] != origin) {
        *count = 0;
    }
    ps->origin = origin;
    int rc = set_value(ps, id, v);
    if (rc == PT_ERR_OK) {
        ps->lines[id] = origin;
    } else if (count) {
        *count = saved;
    }
    sodium_memzero(v, sizeof(v));
    return rc;
}

int pt_config_server_override(pt_config_server *cfg, const char *flag, const char *value, char *err,
                              size_t err_cap)
{
    struct ps ps;
    char label[64];
    init_ps(&ps, MODE_SERVER, cfg->flags_, cfg->source, cfg->base_dir_, err, err_cap);
    ps.s = cfg;
    ps.lines = cfg->key_line_;
    ps.section = SEC_SS;
    const struct flag_def *f = find_flag(MODE_SERVER, flag);
    if (!f) {
        char tmp[80];
        snprintf(err, err_cap, "unknown option for phantom server: '%s'", echo(flag, tmp));
        return PT_ERR_NOTFOUND;
    }
    snprintf(label, sizeof(label), "--%s", f->flag);
    ps.label = label;
    return apply_one(&ps, f->key, value, LINE_FLAG);
}

int pt_config_server_validate(pt_config_server *cfg, char *err, size_t err_cap)
{
    struct ps ps;
    init_ps(&ps, MODE_SERVER, cfg->flags_, cfg->source, cfg->base_dir_, err, err_cap);
    ps.s = cfg;
    ps.lines = cfg->key_line_;
    return validate_server(&ps);
}

int pt_config_server_reload_peers(pt_config_peer **peers, size_t *n_peers, const char *path,
                                  char *err, size_t err_cap)
{
    pt_config_server *s;
    int rc = pt_config_server_load(&s, path, PT_CONFIG_NO_KEYFILE, err, err_cap);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    *peers = s->peers;
    *n_peers = s->n_peers;
    s->peers = NULL;
    pt_config_server_free(s);
    return PT_ERR_OK;
}

const pt_config_peer *pt_config_peer_find(const pt_config_peer *peers, size_t n_peers,
                                          const uint8_t public_key[PT_KEY_LEN])
{
    const pt_config_peer *found = NULL;
    for (size_t i = 0; i < n_peers; i++) {
        if (sodium_memcmp(peers[i].public_key, public_key, PT_KEY_LEN) == 0 && !found) {
            found = &peers[i];
        }
    }
    return found;
}

/* ---- client ----------------------------------------------------------------- */

void pt_config_client_free(pt_config_client *cfg)
{
    if (!cfg) {
        return;
    }
    sodium_memzero(cfg, sizeof(*cfg));
    free(cfg);
}

pt_config_client *pt_config_client_new(const char *name)
{
    pt_config_client *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    set_source(c->source, name);
    base_dir_of(c->source, c->base_dir_);
    client_defaults(c);
    return c;
}

int pt_config_client_parse(pt_config_client **out, const char *text, size_t len, const char *name,
                           unsigned flags, char *err, size_t err_cap)
{
    struct ps ps;
    *out = NULL;
    pt_config_client *c = pt_config_client_new(name);
    if (!c) {
        if (err && err_cap) {
            snprintf(err, err_cap, "%s: out of memory", name ? name : "(config)");
        }
        return PT_ERR_NOMEM;
    }
    c->flags_ = flags;
    init_ps(&ps, MODE_CLIENT, flags, c->source, c->base_dir_, err, err_cap);
    ps.c = c;
    ps.lines = c->key_line_;

    int rc = parse_text(&ps, text, len);
    if (rc == PT_ERR_OK && !c->key_line_[SLOT_SEC_CLIENT]) {
        rc = fail_at(&ps, 0, "missing [Client] section");
    }
    if (rc == PT_ERR_OK && !c->key_line_[SLOT_SEC_SERVER]) {
        rc = fail_at(&ps, 0, "missing [Server] section");
    }
    if (rc == PT_ERR_OK) {
        rc = validate_client(&ps);
    }
    if (rc != PT_ERR_OK) {
        pt_config_client_free(c);
        return rc;
    }
    *out = c;
    return PT_ERR_OK;
}

int pt_config_client_load(pt_config_client **out, const char *path, unsigned flags, char *err,
                          size_t err_cap)
{
    char *buf;
    size_t len;
    mode_t mode = 0;
    *out = NULL;
    int rc = read_file(path, &buf, &len, &mode, err, err_cap);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    rc = pt_config_client_parse(out, buf, len, path, flags, err, err_cap);
    free_file(buf);
    if (rc == PT_ERR_OK && IS_FILE_LINE((*out)->key_line_[K_PRIVATEKEY]) && (mode & 077)) {
        pt_config_client_free(*out);
        *out = NULL;
        return mode_error(path, mode, "PrivateKey", err, err_cap);
    }
    return rc;
}

int pt_config_client_override(pt_config_client *cfg, const char *flag, const char *value, char *err,
                              size_t err_cap)
{
    struct ps ps;
    char label[64];
    init_ps(&ps, MODE_CLIENT, cfg->flags_, cfg->source, cfg->base_dir_, err, err_cap);
    ps.c = cfg;
    ps.lines = cfg->key_line_;
    const struct flag_def *f = find_flag(MODE_CLIENT, flag);
    if (!f) {
        char tmp[80];
        snprintf(err, err_cap, "unknown option for phantom client: '%s'", echo(flag, tmp));
        return PT_ERR_NOTFOUND;
    }
    ps.section = (KEYS[f->key].sections & SEC_CC) ? SEC_CC : SEC_CS;
    snprintf(label, sizeof(label), "--%s", f->flag);
    ps.label = label;
    return apply_one(&ps, f->key, value, LINE_FLAG);
}

int pt_config_client_set(pt_config_client *cfg, const char *key, const char *value,
                         const char *label, char *err, size_t err_cap)
{
    struct ps ps;
    init_ps(&ps, MODE_CLIENT, cfg->flags_ | PT_CONFIG_NO_KEYFILE, cfg->source, cfg->base_dir_, err,
            err_cap);
    ps.c = cfg;
    ps.lines = cfg->key_line_;
    int id = lookup_key(key);
    if (id < 0 || !(KEYS[id].sections & (SEC_CC | SEC_CS))) {
        snprintf(err, err_cap, "%s: not a client-file key", label ? label : key);
        return PT_ERR_NOTFOUND;
    }
    ps.section = (KEYS[id].sections & SEC_CC) ? SEC_CC : SEC_CS;
    ps.label = label ? label : KEYS[id].name;
    return apply_one(&ps, id, value, LINE_SET);
}

int pt_config_client_validate(pt_config_client *cfg, char *err, size_t err_cap)
{
    struct ps ps;
    init_ps(&ps, MODE_CLIENT, cfg->flags_, cfg->source, cfg->base_dir_, err, err_cap);
    ps.c = cfg;
    ps.lines = cfg->key_line_;
    return validate_client(&ps);
}
