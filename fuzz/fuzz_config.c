/* fuzz_config.c — libFuzzer target for the configuration parsers
 * (app/pt_config.c) and the import URI parser (app/pt_invite.c).
 *
 * Input layout: mode(1) then text. mode % 4 picks:
 *   0: a server file     (pt_config_server_parse)
 *   1: a client file     (pt_config_client_parse)
 *   2: an import URI     (pt_invite_uri_parse; text up to the first NUL)
 *   3: a file and command-line overrides: text up to the first NUL is a
 *      client file (mode bit 2 clear) or a server file (set); the rest is
 *      NUL-separated flag, value, flag, value, ... given to
 *      pt_config_*_override, then pt_config_*_validate.
 * Files are parsed with PT_CONFIG_NO_KEYFILE, so no file is ever opened.
 *
 * Oracles (abort on violation):
 *  - every error is one non-empty line (no '\n'), and a failed parse
 *    returns no configuration;
 *  - a parsed server has 1..8 Listen addresses, at least one peer, valid
 *    peer names, and pt_config_peer_find finds every peer;
 *  - a valid client configuration renders to a client file
 *    (pt_invite_client_conf_text) that parses back to the same
 *    configuration, and to a URI that parses back to the same server side
 *    (key, endpoint, SNI, verify, pins), name and private key;
 *  - an accepted URI formats canonically: format(parse(format(parse(u))))
 *    equals format(parse(u)).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pt_config.h"
#include "pt_err.h"
#include "pt_invite.h"
#include "pt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    return 0;
}

static void check_err(int rc, const char *err)
{
    if (rc == PT_ERR_OK) {
        return;
    }
    CHECK(rc < 0);
    CHECK(err[0] != 0);
    CHECK(strchr(err, '\n') == NULL);
}

static int addr_same(const pt_addr *a, const pt_addr *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* server_side_same: what a URI carries. */
static void server_side_same(const pt_config_client *a, const pt_config_client *b)
{
    CHECK(strcmp(a->name, b->name) == 0);
    CHECK(a->has_private_key == b->has_private_key);
    if (a->has_private_key) {
        CHECK(memcmp(a->private_key, b->private_key, 32) == 0);
    }
    CHECK(memcmp(a->server_public_key, b->server_public_key, 32) == 0);
    CHECK(addr_same(&a->endpoint, &b->endpoint));
    CHECK(strcmp(a->server_name, b->server_name) == 0);
    CHECK(a->verify == b->verify);
    CHECK(a->n_pins == b->n_pins);
    CHECK(memcmp(a->pins, b->pins, sizeof(a->pins[0]) * a->n_pins) == 0);
    CHECK(a->transport == b->transport);
}

static void client_same(const pt_config_client *a, const pt_config_client *b)
{
    server_side_same(a, b);
    CHECK(strcmp(a->private_key_file, b->private_key_file) == 0);
    CHECK(a->socks_enabled == b->socks_enabled);
    CHECK(!a->socks_enabled || addr_same(&a->socks_listen, &b->socks_listen));
    CHECK(a->http_enabled == b->http_enabled);
    CHECK(!a->http_enabled || addr_same(&a->http_listen, &b->http_listen));
    CHECK(strcmp(a->socks_username, b->socks_username) == 0);
    CHECK(strcmp(a->socks_password, b->socks_password) == 0);
    CHECK(a->allow_open_proxy == b->allow_open_proxy);
    CHECK(a->optimistic_connect == b->optimistic_connect);
    CHECK(a->padding.strategy == b->padding.strategy);
    CHECK(a->padding.block == b->padding.block);
    CHECK(a->padding.min_size == b->padding.min_size);
    CHECK(a->cover_traffic == b->cover_traffic);
    CHECK(a->jitter == b->jitter);
    CHECK(a->log_level == b->log_level);
    CHECK(a->reconnect_max == b->reconnect_max);
}

static void check_server(const pt_config_server *s)
{
    CHECK(s->n_listen >= 1 && s->n_listen <= PT_CONFIG_MAX_LISTEN);
    CHECK(s->n_peers >= 1);
    CHECK(s->has_private_key || s->private_key_file[0]);
    CHECK(s->self_signed || (s->certificate[0] && s->certificate_key[0]));
    for (size_t i = 0; i < s->n_peers; i++) {
        CHECK(pt_config_name_valid(s->peers[i].name));
        CHECK(s->peers[i].max_streams >= 1);
        CHECK(pt_config_peer_find(s->peers, s->n_peers, s->peers[i].public_key) == &s->peers[i]);
    }
}

/* check_client: render to a file and to a URI; both must come back.
 * |from_file|: every value came from a file, so each fits the file syntax
 * (but a key file path near 4096 bytes no longer fits on one line once
 * "PrivateKeyFile = " is written before it); a command-line value may not
 * ("--private-key-file 'a #b'"). Rendering must then refuse, never write
 * something else. */
static void check_client(const pt_config_client *c, int from_file)
{
    char err[1024];
    char *text = NULL, *uri = NULL;
    CHECK(c->socks_enabled || c->http_enabled);
    CHECK(c->has_private_key || c->private_key_file[0]);
    int rc = pt_invite_client_conf_text(&text, c);
    if (rc == PT_ERR_INVAL &&
        (!from_file || strlen(c->private_key_file) > PT_CONFIG_MAX_LINE - 100)) {
        CHECK(text == NULL);
        return;
    }
    CHECK(rc == PT_ERR_OK);
    pt_config_client *back = NULL;
    rc = pt_config_client_parse(&back, text, strlen(text), "client.conf", PT_CONFIG_NO_KEYFILE, err,
                                sizeof(err));
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "fuzz_config: rendered file does not parse: %s\n%s\n", err, text);
        abort();
    }
    client_same(c, back);
    pt_config_client_free(back);
    pt_invite_free_text(text);

    rc = pt_invite_uri_format(&uri, c);
    CHECK(rc == PT_ERR_OK);
    rc = pt_invite_uri_parse(&back, uri, NULL, err, sizeof(err));
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "fuzz_config: formatted URI does not parse: %s\n%s\n", err, uri);
        abort();
    }
    server_side_same(c, back);
    pt_config_client_free(back);
    pt_invite_free_text(uri);
}

static void run_uri(const char *s)
{
    char err[1024];
    pt_config_client *c = (pt_config_client *)&err; /* must be reset */
    int rc = pt_invite_uri_parse(&c, s, NULL, err, sizeof(err));
    check_err(rc, err);
    if (rc != PT_ERR_OK) {
        CHECK(c == NULL);
        return;
    }
    char *u1 = NULL, *u2 = NULL;
    CHECK(pt_invite_uri_format(&u1, c) == PT_ERR_OK);
    pt_config_client *d = NULL;
    rc = pt_invite_uri_parse(&d, u1, NULL, err, sizeof(err));
    CHECK(rc == PT_ERR_OK);
    server_side_same(c, d);
    CHECK(pt_invite_uri_format(&u2, d) == PT_ERR_OK);
    CHECK(strcmp(u1, u2) == 0);
    check_client(c, 1);
    pt_invite_free_text(u1);
    pt_invite_free_text(u2);
    pt_config_client_free(c);
    pt_config_client_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    /* An exact-size heap copy, so ASan sees any read past the end; and a
     * NUL-terminated one for the string APIs. */
    char *exact = malloc(len ? len : 1);
    char *z = malloc(len + 1);
    if (!exact || !z) {
        abort();
    }
    memcpy(exact, text, len);
    memcpy(z, text, len);
    z[len] = 0;

    switch (mode % 4) {
    case 0: {
        pt_config_server *s = (pt_config_server *)&err;
        int rc = pt_config_server_parse(&s, exact, len, "server.conf", PT_CONFIG_NO_KEYFILE, err,
                                        sizeof(err));
        check_err(rc, err);
        if (rc == PT_ERR_OK) {
            check_server(s);
            pt_config_server_free(s);
        } else {
            CHECK(s == NULL);
        }
        break;
    }
    case 1: {
        pt_config_client *c = (pt_config_client *)&err;
        int rc = pt_config_client_parse(&c, exact, len, "client.conf", PT_CONFIG_NO_KEYFILE, err,
                                        sizeof(err));
        check_err(rc, err);
        if (rc == PT_ERR_OK) {
            check_client(c, 1);
            pt_config_client_free(c);
        } else {
            CHECK(c == NULL);
        }
        break;
    }
    case 2:
        run_uri(z);
        break;
    default: {
        size_t file_len = strlen(z);
        const char *p = z + file_len + (file_len < len ? 1 : 0);
        const char *end = z + len;
        int server = (mode & 4) != 0;
        pt_config_server *s = NULL;
        pt_config_client *c = NULL;
        int rc = server ? pt_config_server_parse(&s, z, file_len, "server.conf",
                                                 PT_CONFIG_NO_KEYFILE, err, sizeof(err))
                        : pt_config_client_parse(&c, z, file_len, "client.conf",
                                                 PT_CONFIG_NO_KEYFILE, err, sizeof(err));
        check_err(rc, err);
        if (rc != PT_ERR_OK) {
            break;
        }
        int n = 0;
        while (p < end && n < 16) {
            const char *flag = p;
            p += strlen(p) + 1;
            if (p >= end) {
                break;
            }
            const char *value = p;
            p += strlen(p) + 1;
            rc = server ? pt_config_server_override(s, flag, value, err, sizeof(err))
                        : pt_config_client_override(c, flag, value, err, sizeof(err));
            check_err(rc, err);
            n++;
        }
        rc = server ? pt_config_server_validate(s, err, sizeof(err))
                    : pt_config_client_validate(c, err, sizeof(err));
        check_err(rc, err);
        if (rc == PT_ERR_OK) {
            if (server) {
                check_server(s);
            } else {
                check_client(c, 0);
            }
        }
        pt_config_server_free(s);
        pt_config_client_free(c);
        break;
    }
    }
    free(exact);
    free(z);
    return 0;
}
