/* pt_splice.h — one tunnel stream joined to one byte transport (a TCP
 * connection to the target on the server, the browser's connection on the
 * client), both ways, with half-close and backpressure:
 *
 *   transport -> stream: bytes go into pt_session_stream_write; what the
 *     stream cannot take yet is kept (one read's worth) and the transport
 *     stops reading until on_stream_writable. A slow tunnel slows the reader.
 *   stream -> transport: each DATA payload is written to the transport; its
 *     flow-control credit (pt_session_stream_consumed) is returned only once
 *     the transport has written it. A slow reader stalls only its stream,
 *     and what we hold for it is bounded by the stream window.
 *   FIN either way becomes STREAM_CLOSE(NO_ERROR) / shutdown(SHUT_WR); the
 *     other direction keeps flowing. A reset or a transport error aborts
 *     both.
 *
 * The owner routes the session's stream callbacks for this stream (its
 * stream_user is the splice) to the pt_splice_on_* functions.
 */
#ifndef PT_PROXY_SPLICE_H
#define PT_PROXY_SPLICE_H

#include <stddef.h>
#include <stdint.h>

#include "pt_link.h"
#include "pt_transport.h"

typedef struct pt_splice pt_splice;

/* pt_splice_new joins stream |sid| of |link|'s session to |t| (ownership of
 * |t| taken on success) and sends |initial| (bytes already read from |t|,
 * copied) into the stream first. The owner keeps the stream's user pointer and forwards the
 * stream's callbacks here. Returns PT_ERR_OK or PT_ERR_NOMEM (then the
 * caller still owns |t|). */
int pt_splice_new(pt_splice **out, pt_link *link, uint32_t sid, pt_transport *t,
                  const uint8_t *initial, size_t initial_len);

/* Session callbacks for the stream, to be forwarded by the owner. */
void pt_splice_on_data(pt_splice *sp, const uint8_t *data, size_t len);
void pt_splice_on_fin(pt_splice *sp);
void pt_splice_on_reset(pt_splice *sp, uint32_t code);
void pt_splice_on_writable(pt_splice *sp);
/* Last call for the stream; the splice frees itself once its transport is
 * closed too. */
void pt_splice_on_closed(pt_splice *sp);

/* Statistics for tests: bytes each way. */
uint64_t pt_splice_bytes_up(const pt_splice *sp);   /* transport -> stream */
uint64_t pt_splice_bytes_down(const pt_splice *sp); /* stream -> transport */

#endif
