/* pt_selftest.h — `phantom selftest` (see pt_selftest.c). */
#ifndef PT_APP_SELFTEST_H
#define PT_APP_SELFTEST_H

/* pt_selftest_run: keys from the two files (both or neither; NULL = fresh
 * random keys). Returns the process exit status. */
int pt_selftest_run(const char *server_key_path, const char *client_key_path);

#endif
