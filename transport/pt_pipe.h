/* pt_pipe.h — an in-memory, asynchronous transport pair on one libuv loop,
 * for tests and benchmarks: what one end writes, the other reads, in order,
 * on a later loop iteration (never re-entrantly from write()). A reader that
 * stops reading holds the writer's callbacks back, as a full socket would. */
#ifndef PT_TRANSPORT_PIPE_H
#define PT_TRANSPORT_PIPE_H

#include "pt_transport.h"

/* pt_pipe_pair creates two connected transports. Each is closed (and freed)
 * with pt_transport_close. Returns 0 or UV_ENOMEM. */
int pt_pipe_pair(uv_loop_t *loop, pt_transport **a, pt_transport **b);

#endif
