/* pt_replay.h — the server's replay cache for first handshake messages
 * (PROTOCOL.md §5.7).
 *
 * A message 1 is identified by its ephemeral key e. An accepted message
 * with timestamp ts can be replayed while the server clock is at most
 * ts + 300, i.e. up to 600 s after it was accepted (ts may be 300 s ahead).
 * The cache keeps two generations of PT_REPLAY_GENERATION (600) seconds:
 * an entry lives between 600 and 1200 s, so it always covers the window,
 * and a generation is dropped whole (no tombstones, no per-entry expiry).
 * Each generation is a fixed-size open-addressing table of 16-byte keyed
 * hashes of e (keyed with a random secret, so a client cannot aim
 * collisions at one bucket). Memory is fixed at creation: 2 x capacity x
 * 16 bytes. When the current generation is full, new messages are refused
 * (never forgotten: forgetting would let a replay through).
 */
#ifndef PT_CORE_REPLAY_H
#define PT_CORE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define PT_REPLAY_GENERATION 600 /* seconds */

typedef struct pt_replay pt_replay;

/* pt_replay_new allocates a cache for up to |capacity| messages per
 * generation (rounded up to a power of two; at least 64). NULL on OOM. */
pt_replay *pt_replay_new(size_t capacity, uint64_t now_s);
void pt_replay_free(pt_replay *r);

/* pt_replay_check_and_add: PT_ERR_OK if |e| was not seen (it is recorded
 * now), PT_ERR_PROTO if it is a replay, PT_ERR_NOBUFS if the cache is full.
 * |now_s| must not go backwards (a smaller value is treated as the last). */
int pt_replay_check_and_add(pt_replay *r, const uint8_t e[32], uint64_t now_s);

/* Entries held (both generations), for tests and statistics. */
size_t pt_replay_count(const pt_replay *r);

#endif
