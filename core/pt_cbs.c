/* pt_cbs.c — bounds-checked reader and writer; see pt_cbs.h. */
#include "pt_cbs.h"

#include <string.h>

int pt_cbs_skip(pt_cbs *c, size_t n)
{
    if (c->len < n) {
        return 0;
    }
    c->p += n;
    c->len -= n;
    return 1;
}

static int get_be(pt_cbs *c, uint64_t *out, size_t n)
{
    if (c->len < n) {
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | c->p[i];
    }
    c->p += n;
    c->len -= n;
    *out = v;
    return 1;
}

int pt_cbs_get_u8(pt_cbs *c, uint8_t *out)
{
    uint64_t v;
    if (!get_be(c, &v, 1)) {
        return 0;
    }
    *out = (uint8_t)v;
    return 1;
}

int pt_cbs_get_u16(pt_cbs *c, uint16_t *out)
{
    uint64_t v;
    if (!get_be(c, &v, 2)) {
        return 0;
    }
    *out = (uint16_t)v;
    return 1;
}

int pt_cbs_get_u24(pt_cbs *c, uint32_t *out)
{
    uint64_t v;
    if (!get_be(c, &v, 3)) {
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

int pt_cbs_get_u32(pt_cbs *c, uint32_t *out)
{
    uint64_t v;
    if (!get_be(c, &v, 4)) {
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

int pt_cbs_get_u64(pt_cbs *c, uint64_t *out) { return get_be(c, out, 8); }

int pt_cbs_get_bytes(pt_cbs *c, pt_cbs *out, size_t n)
{
    if (c->len < n) {
        return 0;
    }
    pt_cbs_init(out, c->p, n);
    c->p += n;
    c->len -= n;
    return 1;
}

int pt_cbs_copy_bytes(pt_cbs *c, uint8_t *out, size_t n)
{
    if (c->len < n) {
        return 0;
    }
    if (n) {
        memcpy(out, c->p, n);
    }
    c->p += n;
    c->len -= n;
    return 1;
}

int pt_cbs_get_u8_prefixed(pt_cbs *c, pt_cbs *out)
{
    pt_cbs save = *c;
    uint8_t n;
    if (!pt_cbs_get_u8(c, &n) || !pt_cbs_get_bytes(c, out, n)) {
        *c = save;
        return 0;
    }
    return 1;
}

int pt_cbs_get_u16_prefixed(pt_cbs *c, pt_cbs *out)
{
    pt_cbs save = *c;
    uint16_t n;
    if (!pt_cbs_get_u16(c, &n) || !pt_cbs_get_bytes(c, out, n)) {
        *c = save;
        return 0;
    }
    return 1;
}

int pt_cbs_mem_equal(const pt_cbs *c, const uint8_t *p, size_t len)
{
    if (c->len != len) {
        return 0;
    }
    /* Constant time in the contents: no early exit on the first difference. */
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= (uint8_t)(c->p[i] ^ p[i]);
    }
    return acc == 0;
}

uint8_t *pt_cbb_reserve(pt_cbb *b, size_t n)
{
    if (b->err || b->cap - b->len < n) {
        b->err = 1;
        return NULL;
    }
    uint8_t *p = b->buf + b->len;
    b->len += n;
    return p;
}

static int add_be(pt_cbb *b, uint64_t v, size_t n)
{
    uint8_t *p = pt_cbb_reserve(b, n);
    if (!p) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        p[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
    return 1;
}

int pt_cbb_add_u8(pt_cbb *b, uint8_t v) { return add_be(b, v, 1); }
int pt_cbb_add_u16(pt_cbb *b, uint16_t v) { return add_be(b, v, 2); }
int pt_cbb_add_u24(pt_cbb *b, uint32_t v)
{
    if (v > 0xffffffu) {
        b->err = 1;
        return 0;
    }
    return add_be(b, v, 3);
}
int pt_cbb_add_u32(pt_cbb *b, uint32_t v) { return add_be(b, v, 4); }
int pt_cbb_add_u64(pt_cbb *b, uint64_t v) { return add_be(b, v, 8); }

int pt_cbb_add_bytes(pt_cbb *b, const uint8_t *p, size_t n)
{
    uint8_t *d = pt_cbb_reserve(b, n);
    if (!d) {
        return 0;
    }
    if (n) {
        memcpy(d, p, n);
    }
    return 1;
}
