/* pt_daemon.h — `phantom server`, `phantom client`, `phantom invite`:
 * configuration files and flags turned into a running pt_server /
 * pt_client on a libuv loop, with signals (SIGINT/SIGTERM drain with
 * GOAWAY, a second one exits at once; SIGHUP reloads the server's
 * authorized clients). Each returns the process exit status. */
#ifndef PT_APP_DAEMON_H
#define PT_APP_DAEMON_H

int pt_daemon_server(int argc, char **argv);
int pt_daemon_client(int argc, char **argv);
int pt_daemon_invite(int argc, char **argv);

#endif
