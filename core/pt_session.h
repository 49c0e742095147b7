/* pt_session.h — the sans-I/O session engine: streams, flow control,
 * keepalive, rekeying and shutdown on top of the frame layer
 * (docs/PROTOCOL.md §6.5, §7, §8, §10, §11).
 *
 * The session never reads a clock, touches a socket or sleeps (STYLE §1).
 * The glue feeds it what arrived and the time, and takes out what to send:
 *
 *   transport read  -> pt_session_on_bytes(s, buf, n, now)   (or _inplace)
 *   after any call  -> n = pt_session_pending_output(s, iov, max)  -> writev
 *   write completed -> pt_session_output_written(s, bytes)
 *   timer           -> arm at pt_session_next_deadline(s); on expiry
 *                      pt_session_on_timer(s, now)
 *   on_closed(err)  -> write what pending_output still returns, then close
 *                      the transport and pt_session_free(s)
 *
 * ---- Callbacks and re-entrancy -------------------------------------------
 * Callbacks run only inside the "driver" calls: pt_session_on_bytes,
 * pt_session_on_bytes_inplace, pt_session_on_timer,
 * pt_session_pending_output, pt_session_output_written, pt_session_goaway
 * and pt_session_close. The stream calls (open, accept, reject, write,
 * reserve/commit, shutdown, reset, consumed) never call back; what they cause
 * (on_stream_closed after a reset, on_stream_writable, on_closed after a
 * fatal error) is delivered by the next driver call — the glue calls
 * pt_session_pending_output after every piece of work anyway.
 * Inside a callback the application may call any stream function and
 * pt_session_goaway / pt_session_close; it must not call pt_session_free,
 * pt_session_on_bytes or pt_session_on_timer (they return PT_ERR_STATE).
 * Stream storage is freed only after on_stream_closed has returned, so a
 * stream pointer or id seen in a callback stays safe to pass back during it.
 *
 * ---- Stream lifecycle as the application sees it -------------------------
 * Client: pt_session_stream_open -> on_stream_opened (or on_stream_failed)
 *         -> on_stream_data* / on_stream_fin / on_stream_reset ->
 *         on_stream_closed (always last, always exactly once).
 * Server: on_stream_incoming -> pt_session_stream_accept (or _reject) -> ...
 *         -> on_stream_closed (always last, always exactly once).
 * Resets the application asks for (stream_reset, stream_reject) are not
 * echoed as on_stream_reset; on_stream_closed still follows.
 * When the session dies every stream gets on_stream_failed (not yet opened)
 * or on_stream_reset, then on_stream_closed, then on_closed fires once.
 *
 * ---- Memory ---------------------------------------------------------------
 * Sending: bytes the application writes are copied (or read, with
 * stream_reserve/commit) straight into pooled frame blocks at
 * PT_FRAME_PAYLOAD_OFFSET and sealed in place when scheduled: no copy
 * between write and wire for full-size frames. A frame cut by a
 * flow-control window, or smaller than half a block, is copied once into a
 * shared block instead (so small frames never pin a block each). Each
 * stream holds at most min(stream_send_buffer, send window + one frame)
 * unsent bytes. Blocks come from two budgets inside max_buffer_bytes: 7/8
 * for written data, 1/8 for control frames and copied DATA, so a full send
 * side never starves a PONG or WINDOW_UPDATE; only a peer that makes us
 * answer faster than the transport drains (or malloc failing) exhausts the
 * control budget, and that is fatal (PT_ERR_NOMEM, GOAWAY INTERNAL_ERROR
 * from a buffer of its own). Idle sessions hold no block.
 * Receiving: one reassembly buffer of PT_FRAME_MAX_WIRE bytes. Received DATA
 * is handed to on_stream_data and from then on is the application's until it
 * calls pt_session_stream_consumed; the peer cannot make it exceed the
 * stream window (nor, across streams, the connection window).
 * All memory comes from pt_session_config.mem, so a test can fail the Nth
 * allocation.
 *
 * ---- Receive-window auto-tuning (PROTOCOL.md §8.2, receiver policy) -----
 * Windows start at the announced STREAM_WINDOW / CONN_WINDOW. When a
 * stream's WINDOW_UPDATE falls due (half its window consumed) less than two
 * RTTs after its previous one, the window, not the reader, limits the
 * stream: the window doubles, up to PT_MAX_STREAM_WINDOW, and the growth is
 * granted in that WINDOW_UPDATE. The connection window does the same, up to
 * max(CONN_WINDOW, 64 MiB), and is kept at least twice the largest stream
 * window (within that cap). Growth is monotone and needs consumption: a
 * stream whose reader does not call pt_session_stream_consumed never grows
 * and its memory stays bounded by its current window; a stream that grew
 * and then stalls holds up to its grown window (at most 16 MiB).
 * The RTT is the minimum of PING->PONG times and WINDOW_UPDATE -> first
 * DATA byte beyond the credit granted before it; without a sample (or with
 * 0 ms samples) nothing grows. Times are the now_ms of driver calls:
 * pt_session_stream_consumed uses the latest one seen. Off with
 * cfg.window_autotune = 0.
 *
 * Note for whoever picks settings: the connection window must be larger
 * than the stream window, or one stalled reader (which holds a full stream
 * window unconsumed) freezes the whole connection. The PROTOCOL.md defaults
 * (both 262144) have exactly that problem; see pt_session_config_default.
 */
#ifndef PT_CORE_SESSION_H
#define PT_CORE_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pt_addr.h"
#include "pt_frame.h"
#include "pt_handshake.h"

/* Default DATA payload per frame: the largest payload whose frame, with the
 * maximum padding, is exactly one 16 KiB TLS record (2^14 = 25 + 16104 +
 * 255), so a frame never straddles two records. */
#define PT_SESSION_DEFAULT_MAX_PAYLOAD (16384u - PT_FRAME_OVERHEAD - PT_FRAME_MAX_PAD)

/* Largest PADDING payload of cover traffic (§9.2): the size of a small web
 * request or response, so an idle tunnel looks like a page that polls. */
#define PT_SESSION_COVER_MAX_PAYLOAD 1200u

typedef struct pt_session pt_session;

/* Allocator: every allocation of the session goes through it (failmalloc
 * tests swap it). NULL functions mean malloc/free. */
typedef struct pt_session_mem {
    void *(*malloc_fn)(size_t size, void *mem_user);
    void (*free_fn)(void *p, void *mem_user);
    void *mem_user;
} pt_session_mem;

typedef struct pt_session_config {
    pt_pad_policy pad;               /* §9; default RANDOM, min 64 */
    uint64_t keepalive_interval_ms;  /* PING after this long without a frame; 30000; 0 = off */
    uint64_t keepalive_timeout_ms;   /* dead if no frame this long after the PING; 30000 */
    uint64_t stream_idle_timeout_ms; /* abort streams without DATA either way; 300000; 0 = off */
    uint64_t rekey_frames;           /* KEY_UPDATE after this many frames; 2^28; 2..2^32-1 */
    uint64_t rekey_ms;               /* KEY_UPDATE after this long; 3600000; 0 = off */
    size_t max_payload;              /* DATA payload per frame; 1..PT_FRAME_MAX_PAYLOAD */
    size_t max_output_queued;        /* sealed bytes not yet released before DATA pauses; 256 KiB */
    size_t stream_send_buffer;       /* unsent bytes one stream may hold; 256 KiB */
    size_t max_buffer_bytes;         /* all frame blocks of the session; 32 MiB. It
                                      * should be >= ~2 blocks per concurrent stream,
                                      * or streams blocked on their windows can hold
                                      * the data budget and slow the others */
    int window_autotune;             /* grow receive windows (see "Receive-window
                                      * auto-tuning" above); 1; 0 = keep the
                                      * announced windows */
    uint64_t cover_interval_ms;      /* cover traffic (§9.2): after a random 1/2..3/2
                                      * of this without sending, a PADDING frame
                                      * of 0..PT_SESSION_COVER_MAX_PAYLOAD random-
                                      * length payload; 0 (default) = off */
    pt_session_mem mem;
} pt_session_config;

/* pt_session_config_default fills |cfg| with the defaults above. The AEAD
 * backend is not here: the keys from the handshake already carry it
 * (pt_hs_client_finish / pt_hs_server_respond choose it). */
void pt_session_config_default(pt_session_config *cfg);

/* ---- callbacks ---------------------------------------------------------- */

/* |user| is the pointer given to pt_session_new; |stream_user| the one given
 * to pt_session_stream_open or set by on_stream_incoming /
 * pt_session_stream_set_user. */
typedef void (*pt_session_stream_incoming_cb)(pt_session *s, void *user, uint32_t sid,
                                              const pt_addr *target, void **stream_user);
typedef void (*pt_session_stream_opened_cb)(pt_session *s, void *user, uint32_t sid,
                                            void *stream_user, const pt_addr *bound);
typedef void (*pt_session_stream_code_cb)(pt_session *s, void *user, uint32_t sid,
                                          void *stream_user, uint32_t code);
typedef void (*pt_session_stream_data_cb)(pt_session *s, void *user, uint32_t sid,
                                          void *stream_user, const uint8_t *data, size_t len);
typedef void (*pt_session_stream_cb)(pt_session *s, void *user, uint32_t sid, void *stream_user);
typedef void (*pt_session_goaway_cb)(pt_session *s, void *user, uint32_t last_sid, uint32_t code);
typedef void (*pt_session_closed_cb)(pt_session *s, void *user, int err);

/* Every member may be NULL. Wire codes passed up are PT_WIRE_* values;
 * unknown codes from the peer arrive as PT_WIRE_INTERNAL_ERROR (§10.1). */
typedef struct pt_session_callbacks {
    /* Server: the peer opened |sid| towards |target| (borrowed for the call).
     * Answer now or later with pt_session_stream_accept / _reject; DATA and
     * FIN the opener sends before the answer (optimistic data) are delivered
     * meanwhile. Set |*stream_user| to attach a pointer. */
    pt_session_stream_incoming_cb on_stream_incoming;
    /* Client: the acceptor connected; |bound| is its outgoing address. */
    pt_session_stream_opened_cb on_stream_opened;
    /* Client: the stream failed before it opened (§7.2 code: CONNECTION_REFUSED,
     * REFUSED_STREAM, ...), or the session died first. on_stream_closed follows. */
    pt_session_stream_code_cb on_stream_failed;
    /* Received payload; |data| is valid only during the call. The application
     * owns these bytes' credit until pt_session_stream_consumed. */
    pt_session_stream_data_cb on_stream_data;
    /* The peer will send no more (STREAM_CLOSE NO_ERROR): shutdown(SHUT_WR). */
    pt_session_stream_cb on_stream_fin;
    /* The stream was aborted by the peer, a stream error, idle timeout or the
     * session's death; discard what is buffered. on_stream_closed follows. */
    pt_session_stream_code_cb on_stream_reset;
    /* A write returned PT_ERR_FLOW_BLOCKED or took less than offered; the
     * stream can take more now. Fires once per blocked write. */
    pt_session_stream_cb on_stream_writable;
    /* Last callback of every stream; its storage is freed after it returns. */
    pt_session_stream_cb on_stream_closed;
    /* The peer sent GOAWAY: open no more streams here. Streams above
     * |last_sid| have already been failed/reset with REFUSED_STREAM. */
    pt_session_goaway_cb on_goaway;
    /* The session is over: PT_ERR_OK after a graceful GOAWAY drain, else the
     * error. Last callback of the session. */
    pt_session_closed_cb on_closed;
} pt_session_callbacks;

/* ---- lifetime ----------------------------------------------------------- */

/* pt_session_new creates a session from a finished handshake.
 * |keys|: ownership is taken on success only (the session keeps the key
 * material and wipes *keys; pt_hs_keys_cleanup on it afterwards is harmless).
 * |local| are the settings this side announced in its handshake payload
 * (its receive windows and the streams it lets the peer open), |peer| the
 * ones the peer announced. |is_client| selects odd stream ids and the
 * opener role. |cfg| (NULL = defaults), |local|, |peer| and |cb| are copied.
 * |now_ms| starts the keepalive and rekey clocks.
 * Returns PT_ERR_OK with *out set, PT_ERR_CONFIG (a value out of range) or
 * PT_ERR_NOMEM. Never calls a callback. */
int pt_session_new(pt_session **out, const pt_session_config *cfg, pt_hs_keys *keys, int is_client,
                   const pt_hs_settings *local, const pt_hs_settings *peer,
                   const pt_session_callbacks *cb, void *user, uint64_t now_ms);

/* pt_session_free releases everything (keys wiped) without calling any
 * callback. NULL is fine. Not from inside a callback. */
void pt_session_free(pt_session *s);

/* pt_session_get_user returns the |user| given to pt_session_new. */
void *pt_session_get_user(const pt_session *s);

/* ---- input -------------------------------------------------------------- */

/* pt_session_on_bytes takes transport bytes in any chunking (|in| borrowed):
 * reassembles, authenticates and processes frames, firing callbacks and
 * queueing answers (PONG, WINDOW_UPDATE, STREAM_CLOSE...). Each frame is
 * copied once into the reassembly buffer. Returns PT_ERR_OK, PT_ERR_STATE
 * (session already closed, or called from a callback) or the fatal error
 * that closed the session (PT_ERR_DECRYPT, PT_ERR_FRAME_SIZE, PT_ERR_PROTO,
 * PT_ERR_FLOW_CONTROL, PT_ERR_NOMEM, ...): by then every stream and
 * on_closed have been told, and a GOAWAY with the matching code is queued
 * unless the error was an AEAD failure (§10.2: then nothing more is sent). */
int pt_session_on_bytes(pt_session *s, const uint8_t *in, size_t len, uint64_t now_ms);

/* pt_session_on_bytes_inplace is pt_session_on_bytes for a buffer the caller
 * lets us overwrite (a read buffer the glue owns): whole frames are
 * decrypted where they are, without a copy; only a frame cut by the end of
 * |in| is copied into the reassembly buffer. |in| is garbage afterwards. */
int pt_session_on_bytes_inplace(pt_session *s, uint8_t *in, size_t len, uint64_t now_ms);

/* ---- output ------------------------------------------------------------- */

/* pt_session_pending_output seals what is due — control frames were already
 * sealed when they arose; DATA is sealed now, round-robin across streams,
 * one frame per stream per turn, until max_output_queued bytes are out
 * unreleased — and fills up to |max_iov| iovecs with sealed bytes not handed
 * out before (several frames each). Returns the number of iovecs (0 = nothing
 * to send now). The bytes are marked handed out: the next call returns what
 * follows, so several writes may be in flight. The memory stays valid until
 * pt_session_output_written releases it (or pt_session_free). May call back
 * (on_stream_writable, on_stream_closed, on_closed). */
size_t pt_session_pending_output(pt_session *s, struct iovec *iov, size_t max_iov);

/* pt_session_output_written releases the oldest |nbytes| handed-out bytes
 * (the transport wrote them; in order). More than was handed out is clamped.
 * May call back (on_stream_writable as memory frees, on_closed when a
 * graceful drain completes). */
void pt_session_output_written(pt_session *s, size_t nbytes);

/* pt_session_want_write returns 1 if pending_output would return something. */
int pt_session_want_write(const pt_session *s);

/* ---- timers ------------------------------------------------------------- */

/* pt_session_next_deadline returns the earliest time (ms, same clock as
 * now_ms) at which pt_session_on_timer has work, or UINT64_MAX. */
uint64_t pt_session_next_deadline(const pt_session *s);

/* pt_session_on_timer runs what is due at |now_ms|: keepalive PING (§11.1),
 * session death (PT_ERR_TIMEOUT, returned after every stream was reset and
 * on_closed fired), idle streams aborted with IDLE_TIMEOUT, time-based
 * KEY_UPDATE. Calling it early is harmless. Returns PT_ERR_OK, PT_ERR_STATE,
 * or the fatal error that closed the session. */
int pt_session_on_timer(pt_session *s, uint64_t now_ms);

/* ---- shutdown ----------------------------------------------------------- */

/* pt_session_goaway sends GOAWAY(last peer stream id seen, |code|) (§11.2):
 * streams already open finish, later STREAM_OPENs are refused with
 * REFUSED_STREAM and this side opens none either. When no stream is left
 * and all output is written the session closes itself with PT_ERR_OK
 * (on_closed). Returns PT_ERR_OK, PT_ERR_STATE (closed) or a fatal error. */
int pt_session_goaway(pt_session *s, uint32_t code);

/* pt_session_is_drained returns 1 when the transport may be closed: the
 * session is closed (or went away with no stream left) and every sealed
 * byte was released by pt_session_output_written. */
int pt_session_is_drained(const pt_session *s);

/* pt_session_is_closed returns 1 once the session is closed. */
int pt_session_is_closed(const pt_session *s);

/* pt_session_close ends the session now with |err| (PT_ERR_OK: a local
 * decision without error). Queues GOAWAY with the code for |err| (NO_ERROR,
 * PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR or INTERNAL_ERROR)
 * unless |err| is PT_ERR_DECRYPT, PT_ERR_TIMEOUT, PT_ERR_IO, PT_ERR_CRYPTO or
 * PT_ERR_NONCE_EXHAUSTED; resets every stream (code CANCEL for PT_ERR_OK,
 * else the GOAWAY code), fires on_closed(err). Idempotent. */
void pt_session_close(pt_session *s, int err);

/* pt_session_close_error returns the error the session closed with
 * (PT_ERR_OK while open or after a graceful drain). */
int pt_session_close_error(const pt_session *s);

/* ---- streams ------------------------------------------------------------ */

/* pt_session_stream_open (client) sends STREAM_OPEN towards |target| on the
 * next odd id (returned in *sid). |stream_user| is passed to the stream's
 * callbacks. DATA may be written at once (optimistic data, §7.2).
 * Returns PT_ERR_OK; PT_ERR_STREAM_LIMIT (the peer's MAX_STREAMS are open:
 * retry after an on_stream_closed); PT_ERR_STATE (server side, closed, after
 * GOAWAY either way, or the 24-bit ids are used up — the session sent
 * GOAWAY(NO_ERROR) when it gave out the last one: open a new session);
 * PT_ERR_INVAL (bad address); PT_ERR_NOMEM (no memory, or too many control
 * frames waiting for the transport: retry after output is written; the
 * session lives on); or a fatal error. */
int pt_session_stream_open(pt_session *s, const pt_addr *target, void *stream_user, uint32_t *sid);

/* pt_session_stream_accept (server) answers an incoming stream with
 * STREAM_OPEN carrying |bound| (NULL: 0.0.0.0:0). Returns PT_ERR_OK,
 * PT_ERR_STREAM_CLOSED (no such stream any more), PT_ERR_STATE (already
 * answered), PT_ERR_INVAL (bad address) or a fatal error. */
int pt_session_stream_accept(pt_session *s, uint32_t sid, const pt_addr *bound);

/* pt_session_stream_reject (server) answers with STREAM_CLOSE(|code| != 0).
 * The stream closes; on_stream_closed follows. Errors as _accept. */
int pt_session_stream_reject(pt_session *s, uint32_t sid, uint32_t code);

/* pt_session_stream_write copies up to |len| bytes of |data| for sending.
 * *accepted = how many were taken: at most what the stream may buffer
 * (min(stream_send_buffer, send window + one frame) minus what it holds)
 * and what the session's block pool has. Returns PT_ERR_OK (maybe
 * *accepted < len: on_stream_writable fires when more fits),
 * PT_ERR_FLOW_BLOCKED (*accepted = 0; same callback later), PT_ERR_STATE
 * (after shutdown, before accept on the server) or PT_ERR_STREAM_CLOSED. */
int pt_session_stream_write(pt_session *s, uint32_t sid, const uint8_t *data, size_t len,
                            size_t *accepted);

/* pt_session_stream_reserve is the zero-copy write: *p points to *max >= 1
 * writable bytes inside a frame block, at the payload position of the
 * frame. Fill some and call pt_session_stream_commit(n <= *max). The
 * pointer stays valid until commit or until any other write, reserve,
 * reset or shutdown of this stream; pending_output never seals over it.
 * Same errors as pt_session_stream_write (PT_ERR_FLOW_BLOCKED when 0 fit). */
int pt_session_stream_reserve(pt_session *s, uint32_t sid, uint8_t **p, size_t *max);
int pt_session_stream_commit(pt_session *s, uint32_t sid, size_t n);

/* pt_session_stream_shutdown half-closes: STREAM_CLOSE(NO_ERROR) goes out
 * after the data already written. The other direction keeps flowing.
 * Returns PT_ERR_OK (also when already shut down), PT_ERR_STATE (server
 * before accept) or PT_ERR_STREAM_CLOSED. */
int pt_session_stream_shutdown(pt_session *s, uint32_t sid);

/* pt_session_stream_reset aborts with STREAM_CLOSE(|code|), |code| != 0
 * (CANCEL for a plain abort); unsent data is dropped. on_stream_closed
 * follows (from the next driver call). Returns PT_ERR_OK, PT_ERR_INVAL
 * (code 0), PT_ERR_STREAM_CLOSED or a fatal error. */
int pt_session_stream_reset(pt_session *s, uint32_t sid, uint32_t code);

/* pt_session_stream_consumed: the application delivered |n| received bytes
 * of |sid| (to its socket). Credits them back: WINDOW_UPDATE for the stream
 * and the connection once half of each window is consumed (§8.2).
 * Returns PT_ERR_OK, PT_ERR_INVAL (more than was delivered),
 * PT_ERR_STREAM_CLOSED (the stream is gone: its bytes were credited to the
 * connection when it closed, so this is harmless) or a fatal error. */
int pt_session_stream_consumed(pt_session *s, uint32_t sid, size_t n);

/* pt_session_stream_set_user attaches |stream_user|; PT_ERR_STREAM_CLOSED
 * if |sid| is not live. */
int pt_session_stream_set_user(pt_session *s, uint32_t sid, void *stream_user);

/* ---- introspection ------------------------------------------------------ */

typedef struct pt_session_stream_info {
    int state; /* 0 opening, 1 pending accept, 2 open, 3 closed */
    int fin_sent, fin_received;
    int64_t send_window;       /* what we may still send */
    uint32_t recv_window;      /* what the peer may still send */
    uint32_t unconsumed;       /* delivered, not yet consumed */
    uint32_t recv_window_size; /* the stream's receive window (auto-tuned) */
    size_t send_buffered;      /* written, not yet sealed */
} pt_session_stream_info;

/* pt_session_stream_get_info: PT_ERR_OK or PT_ERR_STREAM_CLOSED. */
int pt_session_stream_get_info(const pt_session *s, uint32_t sid, pt_session_stream_info *info);

typedef struct pt_session_stats {
    size_t streams;        /* live streams (not closed) */
    size_t blocks_in_use;  /* frame blocks holding unsent or unreleased bytes */
    size_t block_size;     /* bytes per block */
    size_t buffered_bytes; /* blocks_in_use * block_size + reassembly buffer */
    size_t mem_bytes;      /* everything allocated now, pools' free lists included */
    size_t send_buffered;  /* written by the application, not yet sealed */
    size_t output_queued;  /* sealed, not yet released */
    int64_t conn_send_window;
    uint32_t conn_recv_window;
    uint32_t conn_recv_window_size; /* the connection's receive window (auto-tuned) */
    uint64_t rtt_ms;                /* auto-tuning's RTT estimate; UINT64_MAX = none */
    uint64_t frames_sent, frames_received;
    uint64_t data_bytes_sent, data_bytes_received;
    uint64_t rekeys_sent, rekeys_received;
    uint64_t pings_sent;
    uint64_t cover_frames_sent; /* PADDING frames of cover traffic */
} pt_session_stats;

void pt_session_get_stats(const pt_session *s, pt_session_stats *st);

#endif /* PT_CORE_SESSION_H */
