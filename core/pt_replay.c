/* pt_replay.c — two-generation replay cache; see pt_replay.h. */
#include "pt_replay.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"

typedef struct slot {
    uint8_t tag[16]; /* all-zero = empty (a real tag is zero with p = 2^-128) */
} slot;

struct pt_replay {
    size_t cap;       /* slots per generation, a power of two */
    size_t limit;     /* entries per generation before we refuse: 3/4 of cap */
    size_t count[2];
    slot *gen[2];     /* gen[cur] receives new entries */
    int cur;
    uint64_t gen_start;
    uint8_t key[crypto_generichash_KEYBYTES];
};

pt_replay *pt_replay_new(size_t capacity, uint64_t now_s)
{
    if (sodium_init() < 0) {
        return NULL;
    }
    size_t cap = 64;
    while (cap < capacity + capacity / 3 && cap < ((size_t)1 << 30)) {
        cap <<= 1; /* keep the load at most 3/4 so probes stay short */
    }
    pt_replay *r = calloc(1, sizeof(*r));
    if (!r) {
        return NULL;
    }
    r->cap = cap;
    r->limit = cap / 4 * 3;
    r->gen[0] = calloc(cap, sizeof(slot));
    r->gen[1] = calloc(cap, sizeof(slot));
    if (!r->gen[0] || !r->gen[1]) {
        pt_replay_free(r);
        return NULL;
    }
    randombytes_buf(r->key, sizeof(r->key));
    r->gen_start = now_s;
    return r;
}

void pt_replay_free(pt_replay *r)
{
    if (!r) {
        return;
    }
    free(r->gen[0]);
    free(r->gen[1]);
    sodium_memzero(r, sizeof(*r));
    free(r);
}

static void rotate(pt_replay *r, uint64_t now_s)
{
    if (now_s < r->gen_start + PT_REPLAY_GENERATION) {
        return;
    }
    int old = r->cur ^ 1;
    if (now_s >= r->gen_start + 2 * PT_REPLAY_GENERATION) {
        /* Idle for two generations: both are past the window. */
        memset(r->gen[r->cur], 0, r->cap * sizeof(slot));
        r->count[r->cur] = 0;
    }
    memset(r->gen[old], 0, r->cap * sizeof(slot));
    r->count[old] = 0;
    r->cur = old;
    r->gen_start = now_s;
}

/* Find |tag| in generation |g|; returns its slot, or the empty slot where
 * it would go. The tables are never full (load <= 3/4), so this ends. */
static slot *find(const pt_replay *r, int g, const uint8_t tag[16])
{
    uint64_t h;
    memcpy(&h, tag, sizeof(h));
    size_t i = (size_t)h & (r->cap - 1);
    static const uint8_t zero[16];
    for (;;) {
        slot *s = &r->gen[g][i];
        if (sodium_memcmp(s->tag, zero, 16) == 0 || sodium_memcmp(s->tag, tag, 16) == 0) {
            return s;
        }
        i = (i + 1) & (r->cap - 1);
    }
}

int pt_replay_check_and_add(pt_replay *r, const uint8_t e[32], uint64_t now_s)
{
    static const uint8_t zero[16];
    uint8_t tag[16];
    crypto_generichash(tag, sizeof(tag), e, 32, r->key, sizeof(r->key));
    if (sodium_memcmp(tag, zero, 16) == 0) {
        tag[0] = 1; /* keep "empty" unambiguous */
    }
    rotate(r, now_s);
    for (int g = 0; g < 2; g++) {
        slot *s = find(r, g, tag);
        if (sodium_memcmp(s->tag, tag, 16) == 0) {
            return PT_ERR_PROTO;
        }
    }
    if (r->count[r->cur] >= r->limit) {
        return PT_ERR_NOBUFS;
    }
    slot *s = find(r, r->cur, tag);
    memcpy(s->tag, tag, 16);
    r->count[r->cur]++;
    return PT_ERR_OK;
}

size_t pt_replay_count(const pt_replay *r) { return r->count[0] + r->count[1]; }
