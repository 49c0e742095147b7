/* pt_log.h — leveled logging to stderr for the daemons.
 *
 * Rules (docs/SECURITY.md): never a key, password or payload byte; client
 * destinations (target host names and addresses) only at DEBUG, so the
 * default level does not keep a record of where users went. */
#ifndef PT_TRANSPORT_LOG_H
#define PT_TRANSPORT_LOG_H

typedef enum pt_log_level {
    PT_LOG_ERROR = 0,
    PT_LOG_WARN = 1,
    PT_LOG_INFO = 2,
    PT_LOG_DEBUG = 3,
} pt_log_level;

void pt_log_set_level(pt_log_level level);
pt_log_level pt_log_get_level(void);
/* pt_log_level_parse: "error"/"warn"/"info"/"debug" -> 0 and |*out|, else -1. */
int pt_log_level_parse(const char *s, pt_log_level *out);

void pt_log(pt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PT_LOG_ENABLED(l) ((l) <= pt_log_get_level())
#define pt_log_error(...) pt_log(PT_LOG_ERROR, __VA_ARGS__)
#define pt_log_warn(...) pt_log(PT_LOG_WARN, __VA_ARGS__)
#define pt_log_info(...) pt_log(PT_LOG_INFO, __VA_ARGS__)
#define pt_log_debug(...)                                                      \
    do {                                                                       \
        if (PT_LOG_ENABLED(PT_LOG_DEBUG)) {                                    \
            pt_log(PT_LOG_DEBUG, __VA_ARGS__);                                 \
        }                                                                      \
    } while (0)

#endif
