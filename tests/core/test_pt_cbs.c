/* test_pt_cbs.c — the bounds-checked reader (pt_cbs) and writer (pt_cbb).
 *
 * Every getter is tried at its exact length (succeeds, consumes everything)
 * and one byte short (fails and leaves the cursor where it was). Buffers
 * are exact-size heap copies so ASan catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pt_cbs.h"

static const uint8_t SRC[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98};

/* An exact-size heap copy of |p| (ASan flags any read past |n|). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n) {
        memcpy(d, p, n);
    }
    return d;
}

/* Reads one integer of |width| bytes through the matching getter. */
static int get_uint(pt_cbs *c, size_t width, uint64_t *out)
{
    int ok = 0;
    switch (width) {
    case 1: {
        uint8_t v = 0xee;
        ok = pt_cbs_get_u8(c, &v);
        *out = v;
        break;
    }
    case 2: {
        uint16_t v = 0xeeee;
        ok = pt_cbs_get_u16(c, &v);
        *out = v;
        break;
    }
    case 3:
    case 4: {
        uint32_t v = 0xeeeeeeee;
        ok = width == 3 ? pt_cbs_get_u24(c, &v) : pt_cbs_get_u32(c, &v);
        *out = v;
        break;
    }
    case 8:
        ok = pt_cbs_get_u64(c, out);
        break;
    default:
        fail_msg("bad width %zu", width);
    }
    return ok;
}

static void test_get_uint_exact_and_short(void **state)
{
    (void)state;
    static const size_t widths[] = {1, 2, 3, 4, 8};
    static const uint64_t want[] = {0x01, 0x0102, 0x010203, 0x01020304, 0x0102030405060708ULL};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        size_t w = widths[i];
        uint8_t *buf = dup_exact(SRC, w);
        pt_cbs c;
        uint64_t v = 0;

        /* Exact length: succeeds, big-endian, nothing left. */
        pt_cbs_init(&c, buf, w);
        assert_int_equal(get_uint(&c, w, &v), 1);
        assert_int_equal(v, want[i]);
        assert_int_equal(pt_cbs_len(&c), 0);
        assert_ptr_equal(pt_cbs_data(&c), buf + w);
        /* Empty now: another read fails. */
        assert_int_equal(get_uint(&c, w, &v), 0);
        assert_int_equal(pt_cbs_len(&c), 0);
        free(buf);

        /* One byte short: fails, does not advance. */
        buf = dup_exact(SRC, w - 1);
        pt_cbs_init(&c, buf, w - 1);
        assert_int_equal(get_uint(&c, w, &v), 0);
        assert_int_equal(pt_cbs_len(&c), w - 1);
        assert_ptr_equal(pt_cbs_data(&c), buf);
        free(buf);
    }
}

static void test_get_uint_high_bits(void **state)
{
    (void)state;
    uint8_t *buf = dup_exact(SRC + 8, 8);
    pt_cbs c;
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u24 = 0, u32 = 0;
    uint64_t u64 = 0;

    pt_cbs_init(&c, buf, 8);
    assert_int_equal(pt_cbs_get_u64(&c, &u64), 1);
    assert_true(u64 == 0x89abcdeffedcba98ULL);

    pt_cbs_init(&c, buf, 8);
    assert_int_equal(pt_cbs_get_u8(&c, &u8), 1);
    assert_int_equal(u8, 0x89);
    assert_int_equal(pt_cbs_get_u16(&c, &u16), 1);
    assert_int_equal(u16, 0xabcd);
    assert_int_equal(pt_cbs_get_u24(&c, &u24), 1);
    assert_int_equal(u24, 0xeffedc);
    assert_int_equal(pt_cbs_len(&c), 2);
    assert_int_equal(pt_cbs_get_u32(&c, &u32), 0); /* 2 left */
    assert_int_equal(pt_cbs_len(&c), 2);
    assert_int_equal(pt_cbs_get_u16(&c, &u16), 1);
    assert_int_equal(u16, 0xba98);
    free(buf);
}

static void test_skip(void **state)
{
    (void)state;
    uint8_t *buf = dup_exact(SRC, 5);
    pt_cbs c;
    pt_cbs_init(&c, buf, 5);
    assert_int_equal(pt_cbs_skip(&c, 6), 0);
    assert_int_equal(pt_cbs_len(&c), 5);
    assert_int_equal(pt_cbs_skip(&c, SIZE_MAX), 0);
    assert_int_equal(pt_cbs_len(&c), 5);
    assert_int_equal(pt_cbs_skip(&c, 0), 1);
    assert_int_equal(pt_cbs_skip(&c, 2), 1);
    assert_ptr_equal(pt_cbs_data(&c), buf + 2);
    assert_int_equal(pt_cbs_skip(&c, 3), 1);
    assert_int_equal(pt_cbs_len(&c), 0);
    assert_int_equal(pt_cbs_skip(&c, 1), 0);
    free(buf);
}

static void test_get_bytes_and_copy(void **state)
{
    (void)state;
    uint8_t *buf = dup_exact(SRC, 10);
    pt_cbs c, sub;
    uint8_t out[16];

    pt_cbs_init(&c, buf, 10);
    assert_int_equal(pt_cbs_get_bytes(&c, &sub, 11), 0);
    assert_int_equal(pt_cbs_len(&c), 10);
    assert_int_equal(pt_cbs_get_bytes(&c, &sub, 4), 1);
    assert_ptr_equal(pt_cbs_data(&sub), buf);
    assert_int_equal(pt_cbs_len(&sub), 4);
    assert_int_equal(pt_cbs_len(&c), 6);
    assert_int_equal(pt_cbs_get_bytes(&c, &sub, 0), 1);
    assert_int_equal(pt_cbs_len(&sub), 0);
    assert_int_equal(pt_cbs_len(&c), 6);

    memset(out, 0xee, sizeof(out));
    assert_int_equal(pt_cbs_copy_bytes(&c, out, 7), 0);
    assert_int_equal(pt_cbs_len(&c), 6);
    assert_int_equal(out[0], 0xee); /* nothing copied on failure */
    assert_int_equal(pt_cbs_copy_bytes(&c, out, 6), 1);
    assert_memory_equal(out, SRC + 4, 6);
    assert_int_equal(out[6], 0xee);
    assert_int_equal(pt_cbs_len(&c), 0);
    assert_int_equal(pt_cbs_copy_bytes(&c, out, 0), 1);
    assert_int_equal(pt_cbs_get_bytes(&c, &sub, 1), 0);
    free(buf);
}

static void test_u8_prefixed(void **state)
{
    (void)state;
    static const uint8_t good[] = {3, 'a', 'b', 'c', 'X'};
    static const uint8_t empty[] = {0, 'Z'};
    pt_cbs c, sub;

    uint8_t *buf = dup_exact(good, sizeof(good));
    pt_cbs_init(&c, buf, sizeof(good));
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&sub), 3);
    assert_memory_equal(pt_cbs_data(&sub), "abc", 3);
    assert_int_equal(pt_cbs_len(&c), 1);
    assert_int_equal(pt_cbs_data(&c)[0], 'X');
    free(buf);

    /* Exactly the prefix and content. */
    buf = dup_exact(good, 4);
    pt_cbs_init(&c, buf, 4);
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&c), 0);
    free(buf);

    /* One content byte short: fails and does not consume the length byte. */
    buf = dup_exact(good, 3);
    pt_cbs_init(&c, buf, 3);
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 0);
    assert_int_equal(pt_cbs_len(&c), 3);
    assert_ptr_equal(pt_cbs_data(&c), buf);
    free(buf);

    /* No length byte at all. */
    pt_cbs_init(&c, good, 0);
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 0);
    assert_int_equal(pt_cbs_len(&c), 0);

    /* Zero length. */
    buf = dup_exact(empty, sizeof(empty));
    pt_cbs_init(&c, buf, sizeof(empty));
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&sub), 0);
    assert_int_equal(pt_cbs_len(&c), 1);
    free(buf);

    /* Maximum length 255. */
    uint8_t big[256];
    big[0] = 255;
    for (int i = 1; i < 256; i++) {
        big[i] = (uint8_t)i;
    }
    buf = dup_exact(big, 256);
    pt_cbs_init(&c, buf, 256);
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&sub), 255);
    assert_int_equal(pt_cbs_data(&sub)[254], 255);
    free(buf);
    buf = dup_exact(big, 255);
    pt_cbs_init(&c, buf, 255);
    assert_int_equal(pt_cbs_get_u8_prefixed(&c, &sub), 0);
    assert_int_equal(pt_cbs_len(&c), 255);
    free(buf);
}

static void test_u16_prefixed(void **state)
{
    (void)state;
    const size_t n = 0x0102;
    uint8_t *src = malloc(2 + n + 1);
    assert_non_null(src);
    src[0] = 0x01;
    src[1] = 0x02;
    for (size_t i = 0; i < n; i++) {
        src[2 + i] = (uint8_t)(i * 7);
    }
    src[2 + n] = 0x55;
    pt_cbs c, sub;

    uint8_t *buf = dup_exact(src, 2 + n + 1);
    pt_cbs_init(&c, buf, 2 + n + 1);
    assert_int_equal(pt_cbs_get_u16_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&sub), n);
    assert_ptr_equal(pt_cbs_data(&sub), buf + 2);
    assert_int_equal(pt_cbs_len(&c), 1);
    free(buf);

    buf = dup_exact(src, 2 + n);
    pt_cbs_init(&c, buf, 2 + n);
    assert_int_equal(pt_cbs_get_u16_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&c), 0);
    free(buf);

    /* One byte short of the content. */
    buf = dup_exact(src, 2 + n - 1);
    pt_cbs_init(&c, buf, 2 + n - 1);
    assert_int_equal(pt_cbs_get_u16_prefixed(&c, &sub), 0);
    assert_int_equal(pt_cbs_len(&c), 2 + n - 1);
    assert_ptr_equal(pt_cbs_data(&c), buf);
    free(buf);

    /* Half a length. */
    buf = dup_exact(src, 1);
    pt_cbs_init(&c, buf, 1);
    assert_int_equal(pt_cbs_get_u16_prefixed(&c, &sub), 0);
    assert_int_equal(pt_cbs_len(&c), 1);
    free(buf);

    /* Zero length. */
    static const uint8_t z[] = {0, 0};
    buf = dup_exact(z, 2);
    pt_cbs_init(&c, buf, 2);
    assert_int_equal(pt_cbs_get_u16_prefixed(&c, &sub), 1);
    assert_int_equal(pt_cbs_len(&sub), 0);
    assert_int_equal(pt_cbs_len(&c), 0);
    free(buf);
    free(src);
}

static void test_mem_equal(void **state)
{
    (void)state;
    uint8_t *buf = dup_exact(SRC, 16);
    uint8_t other[16];
    pt_cbs c;

    pt_cbs_init(&c, buf, 16);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 16), 1);
    assert_int_equal(pt_cbs_len(&c), 16); /* does not advance */
    assert_ptr_equal(pt_cbs_data(&c), buf);
    /* Length must match exactly: a prefix or a longer buffer is not equal. */
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 15), 0);
    pt_cbs_init(&c, buf, 15);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 16), 0);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 15), 1);
    /* A difference anywhere, including first and last byte. */
    pt_cbs_init(&c, buf, 16);
    for (size_t i = 0; i < 16; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(other, SRC, 16);
            other[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(pt_cbs_mem_equal(&c, other, 16), 0);
        }
    }
    /* Compares the rest only. */
    assert_int_equal(pt_cbs_skip(&c, 4), 1);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC + 4, 12), 1);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 12), 0);
    /* Empty against empty. */
    pt_cbs_init(&c, buf, 0);
    assert_int_equal(pt_cbs_mem_equal(&c, SRC, 0), 1);
    free(buf);
}

/* ---- writer ---------------------------------------------------------- */

static void test_cbb_all_widths_round_trip(void **state)
{
    (void)state;
    const size_t need = 1 + 2 + 3 + 4 + 8 + 5;
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    pt_cbb b;
    pt_cbb_init(&b, buf, need);
    assert_int_equal(pt_cbb_add_u8(&b, 0xa1), 1);
    assert_int_equal(pt_cbb_add_u16(&b, 0xb2c3), 1);
    assert_int_equal(pt_cbb_add_u24(&b, 0xd4e5f6), 1);
    assert_int_equal(pt_cbb_add_u32(&b, 0x01020304), 1);
    assert_int_equal(pt_cbb_add_u64(&b, 0x8877665544332211ULL), 1);
    assert_int_equal(pt_cbb_add_bytes(&b, (const uint8_t *)"hello", 5), 1);
    assert_int_equal(b.len, need);
    assert_true(pt_cbb_ok(&b));
    static const uint8_t want[] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x01, 0x02,
                                   0x03, 0x04, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                                   0x22, 0x11, 'h',  'e',  'l',  'l',  'o'};
    assert_int_equal(sizeof(want), need);
    assert_memory_equal(buf, want, need);

    /* The buffer is full: even one more byte fails. */
    assert_int_equal(pt_cbb_add_u8(&b, 0), 0);
    assert_false(pt_cbb_ok(&b));
    assert_int_equal(b.len, need);

    /* And reads back through pt_cbs. */
    pt_cbs c;
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u24 = 0, u32 = 0;
    uint64_t u64 = 0;
    pt_cbs_init(&c, buf, need);
    assert_true(pt_cbs_get_u8(&c, &u8) && pt_cbs_get_u16(&c, &u16) && pt_cbs_get_u24(&c, &u24) &&
                pt_cbs_get_u32(&c, &u32) && pt_cbs_get_u64(&c, &u64));
    assert_int_equal(u8, 0xa1);
    assert_int_equal(u16, 0xb2c3);
    assert_int_equal(u24, 0xd4e5f6);
    assert_int_equal(u32, 0x01020304);
    assert_true(u64 == 0x8877665544332211ULL);
    assert_true(pt_cbs_mem_equal(&c, (const uint8_t *)"hello", 5));
    free(buf);
}

/* Each writer at exact capacity succeeds; at one byte less it fails, writes
 * nothing and sets the sticky error. */
static void test_cbb_exact_and_short(void **state)
{
    (void)state;
    static const size_t widths[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < 5; i++) {
        size_t w = widths[i];
        for (int shortby = 0; shortby <= 1; shortby++) {
            size_t cap = w - (size_t)shortby;
            uint8_t *buf = malloc(cap ? cap : 1);
            assert_non_null(buf);
            memset(buf, 0xee, cap ? cap : 1);
            pt_cbb b;
            pt_cbb_init(&b, buf, cap);
            int ok = 0;
            switch (w) {
            case 1:
                ok = pt_cbb_add_u8(&b, 0x11);
                break;
            case 2:
                ok = pt_cbb_add_u16(&b, 0x1122);
                break;
            case 3:
                ok = pt_cbb_add_u24(&b, 0x112233);
                break;
            case 4:
                ok = pt_cbb_add_u32(&b, 0x11223344);
                break;
            default:
                ok = pt_cbb_add_u64(&b, 0x1122334455667788ULL);
                break;
            }
            if (shortby) {
                assert_int_equal(ok, 0);
                assert_false(pt_cbb_ok(&b));
                assert_int_equal(b.len, 0);
                for (size_t j = 0; j < cap; j++) {
                    assert_int_equal(buf[j], 0xee);
                }
            } else {
                assert_int_equal(ok, 1);
                assert_true(pt_cbb_ok(&b));
                assert_int_equal(b.len, w);
                assert_int_equal(buf[0], 0x11);
                assert_int_equal(buf[w - 1], (uint8_t)(0x11 * w));
            }
            free(buf);
        }
    }
}

static void test_cbb_overflow_is_sticky(void **state)
{
    (void)state;
    uint8_t buf[8];
    pt_cbb b;

    pt_cbb_init(&b, buf, sizeof(buf));
    assert_int_equal(pt_cbb_add_u32(&b, 1), 1);
    assert_int_equal(pt_cbb_add_u64(&b, 2), 0); /* 4 left, 8 wanted */
    assert_false(pt_cbb_ok(&b));
    assert_int_equal(b.len, 4);
    /* Everything after fails, even writes that would fit. */
    assert_int_equal(pt_cbb_add_u8(&b, 3), 0);
    assert_int_equal(pt_cbb_add_u16(&b, 3), 0);
    assert_int_equal(pt_cbb_add_u24(&b, 3), 0);
    assert_int_equal(pt_cbb_add_u32(&b, 3), 0);
    assert_int_equal(pt_cbb_add_bytes(&b, (const uint8_t *)"x", 1), 0);
    assert_int_equal(pt_cbb_add_bytes(&b, NULL, 0), 0);
    assert_null(pt_cbb_reserve(&b, 0));
    assert_null(pt_cbb_reserve(&b, 1));
    assert_int_equal(b.len, 4);
    assert_false(pt_cbb_ok(&b));

    /* A fresh init clears the error. */
    pt_cbb_init(&b, buf, sizeof(buf));
    assert_true(pt_cbb_ok(&b));

    /* add_bytes overflow. */
    assert_int_equal(pt_cbb_add_bytes(&b, (const uint8_t *)"123456789", 9), 0);
    assert_int_equal(b.len, 0);
    assert_false(pt_cbb_ok(&b));
    assert_int_equal(pt_cbb_add_u8(&b, 1), 0);

    /* Reserve of a huge size must not wrap. */
    pt_cbb_init(&b, buf, sizeof(buf));
    assert_int_equal(pt_cbb_add_u8(&b, 1), 1);
    assert_null(pt_cbb_reserve(&b, SIZE_MAX));
    assert_false(pt_cbb_ok(&b));
    assert_int_equal(b.len, 1);

    /* Zero capacity. */
    pt_cbb_init(&b, buf, 0);
    assert_int_equal(pt_cbb_add_bytes(&b, NULL, 0), 1);
    assert_true(pt_cbb_ok(&b));
    assert_int_equal(pt_cbb_add_u8(&b, 1), 0);
    assert_false(pt_cbb_ok(&b));
}

static void test_cbb_reserve(void **state)
{
    (void)state;
    uint8_t buf[6];
    pt_cbb b;
    pt_cbb_init(&b, buf, sizeof(buf));
    uint8_t *p = pt_cbb_reserve(&b, 4);
    assert_ptr_equal(p, buf);
    assert_int_equal(b.len, 4);
    p = pt_cbb_reserve(&b, 0);
    assert_ptr_equal(p, buf + 4);
    p = pt_cbb_reserve(&b, 2);
    assert_ptr_equal(p, buf + 4);
    assert_int_equal(b.len, 6);
    assert_true(pt_cbb_ok(&b));
    assert_null(pt_cbb_reserve(&b, 1));
    assert_false(pt_cbb_ok(&b));
    assert_int_equal(b.len, 6);
}

static void test_cbb_u24_range(void **state)
{
    (void)state;
    uint8_t buf[8];
    pt_cbb b;

    pt_cbb_init(&b, buf, sizeof(buf));
    assert_int_equal(pt_cbb_add_u24(&b, 0xffffff), 1);
    assert_memory_equal(buf, "\xff\xff\xff", 3);
    assert_int_equal(pt_cbb_add_u24(&b, 0), 1);
    assert_int_equal(b.len, 6);

    static const uint32_t bad[] = {0x1000000, 0x1ffffff, 0xff000000, UINT32_MAX};
    for (size_t i = 0; i < 4; i++) {
        pt_cbb_init(&b, buf, sizeof(buf));
        memset(buf, 0xee, sizeof(buf));
        assert_int_equal(pt_cbb_add_u24(&b, bad[i]), 0);
        assert_false(pt_cbb_ok(&b));
        assert_int_equal(b.len, 0);
        assert_int_equal(buf[0], 0xee); /* nothing written */
        /* Sticky, like an overflow. */
        assert_int_equal(pt_cbb_add_u8(&b, 1), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_uint_exact_and_short),
        cmocka_unit_test(test_get_uint_high_bits),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_get_bytes_and_copy),
        cmocka_unit_test(test_u8_prefixed),
        cmocka_unit_test(test_u16_prefixed),
        cmocka_unit_test(test_mem_equal),
        cmocka_unit_test(test_cbb_all_widths_round_trip),
        cmocka_unit_test(test_cbb_exact_and_short),
        cmocka_unit_test(test_cbb_overflow_is_sticky),
        cmocka_unit_test(test_cbb_reserve),
        cmocka_unit_test(test_cbb_u24_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
