/* pt_fuzz.h — what the libFuzzer targets in fuzz/ share: CHECK, an oracle
 * that aborts naming the file and line, and, in fuzzing builds, a
 * deterministic stand-in for libsodium's CSPRNG, reset for every input so
 * that a crash input reproduces on its own (padding, PING payloads, hash
 * keys and ephemeral keys all come from it).
 *
 * Header only, everything static inline: each target is one translation
 * unit, and a target that uses only part of it gets no unused warnings. */
#ifndef PT_FUZZ_H
#define PT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#ifdef PT_FUZZING_BUILD
static uint64_t pt_fuzz_rng_state;

static inline const char *pt_fuzz_rng_name(void)
{
    return "pt-fuzz-deterministic";
}

/* A 64-bit LCG (Knuth's MMIX constants), high half: enough for a fuzzer,
 * which needs repeatability, not secrecy. */
static inline uint32_t pt_fuzz_rng_random(void)
{
    pt_fuzz_rng_state = pt_fuzz_rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(pt_fuzz_rng_state >> 32);
}

static inline void pt_fuzz_rng_stir(void) {}

static inline void pt_fuzz_rng_buf(void *const buf, const size_t n)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)pt_fuzz_rng_random();
    }
}
#endif

/* pt_fuzz_rng_reset: first thing for every input. */
static inline void pt_fuzz_rng_reset(void)
{
#ifdef PT_FUZZING_BUILD
    pt_fuzz_rng_state = 0x5eed;
#endif
}

/* pt_fuzz_init: from LLVMFuzzerInitialize — the deterministic generator
 * (before sodium_init, as randombytes_set_implementation requires), then
 * sodium_init. */
static inline void pt_fuzz_init(void)
{
#ifdef PT_FUZZING_BUILD
    static randombytes_implementation impl = {
        .implementation_name = pt_fuzz_rng_name,
        .random = pt_fuzz_rng_random,
        .stir = pt_fuzz_rng_stir,
        .uniform = NULL,
        .buf = pt_fuzz_rng_buf,
        .close = NULL,
    };
    randombytes_set_implementation(&impl);
    pt_fuzz_rng_reset();
#endif
    if (sodium_init() < 0) {
        abort();
    }
}

#endif
