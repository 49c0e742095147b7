/* pt_cbs.h — the one bounds-checked reader (pt_cbs) and writer (pt_cbb) for
 * wire bytes, after BoringSSL's CBS/CBB.
 *
 * Every getter returns 1 on success and 0 on failure, and advances the
 * cursor only on success, so a whole message parses as one || chain:
 *
 *   if (!pt_cbs_get_u8(&c, &type) || !pt_cbs_get_u24(&c, &id)) return PT_ERR_AGAIN;
 *
 * All multi-byte integers are big-endian (network order). A pt_cbs never
 * owns its bytes; a pt_cbb writes into caller storage and never allocates.
 */
#ifndef PT_CORE_CBS_H
#define PT_CORE_CBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt_cbs {
    const uint8_t *p;
    size_t len;
} pt_cbs;

static inline void pt_cbs_init(pt_cbs *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->len = len;
}

static inline size_t pt_cbs_len(const pt_cbs *c) { return c->len; }
static inline const uint8_t *pt_cbs_data(const pt_cbs *c) { return c->p; }

int pt_cbs_skip(pt_cbs *c, size_t n);
int pt_cbs_get_u8(pt_cbs *c, uint8_t *out);
int pt_cbs_get_u16(pt_cbs *c, uint16_t *out);
int pt_cbs_get_u24(pt_cbs *c, uint32_t *out);
int pt_cbs_get_u32(pt_cbs *c, uint32_t *out);
int pt_cbs_get_u64(pt_cbs *c, uint64_t *out);
/* pt_cbs_get_bytes sets |out| to the next |n| bytes (borrowed from |c|). */
int pt_cbs_get_bytes(pt_cbs *c, pt_cbs *out, size_t n);
/* pt_cbs_copy_bytes copies the next |n| bytes into |out|. */
int pt_cbs_copy_bytes(pt_cbs *c, uint8_t *out, size_t n);
/* pt_cbs_get_u8_prefixed / u16_prefixed read a length, then that many bytes. */
int pt_cbs_get_u8_prefixed(pt_cbs *c, pt_cbs *out);
int pt_cbs_get_u16_prefixed(pt_cbs *c, pt_cbs *out);
/* pt_cbs_mem_equal compares the rest of |c| with |p| in constant time
 * (for a given length); returns 1 if equal. Does not advance. */
int pt_cbs_mem_equal(const pt_cbs *c, const uint8_t *p, size_t len);

typedef struct pt_cbb {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err; /* sticky: set once a write did not fit */
} pt_cbb;

static inline void pt_cbb_init(pt_cbb *b, uint8_t *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->err = 0;
}

/* Writers return 1 on success, 0 (and set b->err) if the bytes do not fit;
 * after a failure every later write fails too, so a builder can check once
 * at the end with pt_cbb_ok(). */
int pt_cbb_add_u8(pt_cbb *b, uint8_t v);
int pt_cbb_add_u16(pt_cbb *b, uint16_t v);
int pt_cbb_add_u24(pt_cbb *b, uint32_t v);
int pt_cbb_add_u32(pt_cbb *b, uint32_t v);
int pt_cbb_add_u64(pt_cbb *b, uint64_t v);
int pt_cbb_add_bytes(pt_cbb *b, const uint8_t *p, size_t n);
/* pt_cbb_reserve returns a pointer to |n| bytes the caller fills, or NULL. */
uint8_t *pt_cbb_reserve(pt_cbb *b, size_t n);
static inline int pt_cbb_ok(const pt_cbb *b) { return !b->err; }

#endif /* PT_CORE_CBS_H */
