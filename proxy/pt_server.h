/* pt_server.h — the server daemon: the front door (pt_front: TLS, the
 * first-record decision, the decoy) plus what authorized sessions get: an
 * outgoing connection per stream (pt_egress), relayed both ways
 * (pt_splice), with per-client stream limits and a graceful drain.
 */
#ifndef PT_PROXY_SERVER_H
#define PT_PROXY_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pt_egress.h"
#include "pt_front.h"

/* Most authorized client keys a server holds (a fixed table, rewritten in
 * place on reload, so connections mid-handshake never see freed memory). */
#define PT_SERVER_MAX_CLIENTS 4096

typedef struct pt_server_client {
    uint8_t pub[32];
    char name[72];
    uint32_t max_streams; /* live streams of this key over all its sessions */
} pt_server_client;

typedef struct pt_server_config {
    pt_front_config front;   /* listen, TLS, decoy; front.link: keys, settings */
    pt_egress_policy egress;
    const pt_server_client *clients;
    size_t n_clients;
    size_t max_sessions;     /* concurrent sessions; beyond: GOAWAY(ENHANCE_YOUR_CALM) */
} pt_server_config;

typedef struct pt_server pt_server;

/* pt_server_start copies |cfg| (the clients too) and starts listening.
 * Returns PT_ERR_OK, or an error with a one-line reason in |err|. */
int pt_server_start(pt_server **out, uv_loop_t *loop, const pt_server_config *cfg, char *err,
                    size_t err_cap);

/* pt_server_set_clients replaces the authorized clients (SIGHUP): new
 * handshakes see the new list at once; sessions of removed keys are told
 * GOAWAY and drain. Returns PT_ERR_OK or PT_ERR_RANGE (too many). */
int pt_server_set_clients(pt_server *s, const pt_server_client *clients, size_t n);

/* pt_server_stop: stop accepting, GOAWAY every session, free everything
 * once the last one has drained (the loop then ends). */
void pt_server_stop(pt_server *s);

int pt_server_port(const pt_server *s);
size_t pt_server_sessions(const pt_server *s);

#endif
