/* pt_err.h — one list of error values for the whole project.
 *
 * Errors are values (libuv, ngtcp2): 0 is success, every error is negative.
 * Values at or below PT_ERR_FATAL_MARK tear the connection down; the ones
 * above it are local to one operation or one stream. Parsers use
 * PT_ERR_AGAIN for "need more bytes" and PT_ERR_PROTO for "invalid", and
 * report byte counts through out parameters, never in the return value.
 */
#ifndef PT_CORE_ERR_H
#define PT_CORE_ERR_H

/* X(name, value, message) */
#define PT_ERR_MAP(X)                                                          \
    X(OK, 0, "success")                                                        \
    X(AGAIN, -1, "need more input")                                            \
    X(NOMEM, -2, "out of memory")                                              \
    X(INVAL, -3, "invalid argument")                                           \
    X(NOBUFS, -4, "output buffer too small")                                   \
    X(RANGE, -5, "value out of range")                                         \
    X(IO, -6, "input/output error")                                            \
    X(NOTFOUND, -7, "not found")                                               \
    X(STATE, -8, "operation not allowed in this state")                        \
    X(CONFIG, -9, "invalid configuration")                                     \
    X(STREAM_LIMIT, -10, "stream limit reached")                               \
    X(STREAM_CLOSED, -11, "stream closed")                                     \
    X(FLOW_BLOCKED, -12, "flow-control window exhausted")                      \
    /* ---- fatal for the connection from here down ---- */                    \
    X(FATAL_MARK, -100, "(fatal error mark)")                                  \
    X(PROTO, -101, "protocol violation")                                       \
    X(FRAME_SIZE, -102, "invalid frame size")                                  \
    X(DECRYPT, -103, "authentication failed (bad tag)")                        \
    X(HANDSHAKE, -104, "handshake failed")                                     \
    X(NONCE_EXHAUSTED, -105, "nonce space exhausted")                          \
    X(FLOW_CONTROL, -106, "peer violated flow control")                        \
    X(CRYPTO, -107, "cryptographic library failure")                           \
    X(TIMEOUT, -108, "timed out")

enum pt_err {
#define PT_ERR_ENUM_(name, value, msg) PT_ERR_##name = (value),
    PT_ERR_MAP(PT_ERR_ENUM_)
#undef PT_ERR_ENUM_
};

/* pt_err_name returns the symbolic name of |err| ("PT_ERR_PROTO"), or
 * "PT_ERR_UNKNOWN" for a value not in the list. Never NULL. */
const char *pt_err_name(int err);

/* pt_strerror returns a human-readable message for |err|. Never NULL. */
const char *pt_strerror(int err);

/* pt_err_is_fatal returns 1 if |err| must tear the connection down. */
static inline int pt_err_is_fatal(int err) { return err <= PT_ERR_FATAL_MARK; }

#endif /* PT_CORE_ERR_H */
