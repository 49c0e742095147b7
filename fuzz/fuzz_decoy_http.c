/* fuzz_decoy_http — the decoy web server engine (obfs/pt_decoy_http.c) on
 * arbitrary bytes: HTTP/1 parsing, pipelining, bodies, ranges, HTTP/2
 * through nghttp2, timers. The first byte picks the mode and how the rest
 * is cut into reads (a prober chooses both). Invariants: no crash, no leak,
 * output only while open, and a closed engine takes no more input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pt_decoy_http.h"
#include "pt_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t ctl = data[0];
    data++;
    size--;
    /* 3: HTTP/2 after the link sent the server preface (PROTOCOL.md §5.3) */
    pt_decoy_proto proto = (ctl & 3) == 3 ? PT_DECOY_HTTP2 : (pt_decoy_proto)(ctl & 3);
    size_t chunk = (size_t)((ctl >> 2) & 15) * 7 + 1;
    pt_decoy_config cfg;
    pt_decoy_config_default(&cfg);
    cfg.h2_preface_sent = (ctl & 3) == 3;
    pt_decoy_time now = {1000, 1700000000};
    pt_decoy *d;
    if (pt_decoy_new(&d, &cfg, proto, now.ms, now) != PT_ERR_OK) {
        return 0;
    }
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (pt_decoy_wants_read(d)) {
            if (pt_decoy_on_bytes(d, data + off, n, now) != PT_ERR_OK) {
                break;
            }
            off += n;
        }
        const uint8_t *p;
        size_t out = pt_decoy_output(d, &p);
        if (out) {
            /* take it in two steps to exercise partial consumption */
            volatile uint8_t sink = p[0] ^ p[out - 1];
            (void)sink;
            pt_decoy_output_done(d, out / 2 + 1, now);
            out = pt_decoy_output(d, &p);
            pt_decoy_output_done(d, out, now);
        } else if (!pt_decoy_wants_read(d)) {
            break; /* closed */
        }
        now.ms += 10;
    }
    if (ctl & 0x40) {
        now.ms = pt_decoy_deadline(d) == UINT64_MAX ? now.ms : pt_decoy_deadline(d);
        pt_decoy_on_timer(d, now);
    }
    if (ctl & 0x80) {
        pt_decoy_on_eof(d, now);
    }
    const uint8_t *p;
    size_t out = pt_decoy_output(d, &p);
    pt_decoy_output_done(d, out, now);
    pt_decoy_free(d);
    return 0;
}
