/* phantom — the Phantom Tunnel command.
 *
 *   phantom server -c server.conf [--flag value ...]
 *   phantom client -c client.conf [--flag value ...] | --import URI [-o FILE]
 *   phantom invite -c server.conf [--name N --endpoint H:P ...]
 *   phantom genkey [-o FILE]   new private key (base64) to stdout or FILE (0600)
 *   phantom pubkey             private key on stdin -> public key on stdout
 *   phantom selftest [--server-key F --client-key F]
 *   phantom version
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_err.h"
#include "pt_key.h"
#include "pt_noise.h"
#include "pt_daemon.h"
#include "pt_selftest.h"

#define PT_VERSION_STRING "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: phantom <command> [options]\n"
               "\n"
               "commands:\n"
               "  server -c FILE    run the server (TLS on 443 behind a decoy website)\n"
               "  client -c FILE    run the client (SOCKS5 127.0.0.1:1080, HTTP 127.0.0.1:8118)\n"
               "  client --import URI [-o FILE]\n"
               "                    write a client config from an invite URI\n"
               "  invite -c FILE [--name N] [--endpoint HOST:PORT] [--server-name SNI]\n"
               "         [--verify system|pin|none] [--public-key KEY]\n"
               "                    print a client config, its import URI and the server stanza\n"
               "  (server and client take --flag value overrides: see docs/CONFIG.md)\n"
               "  genkey [-o FILE]  print a new private key (base64); with -o, write it to\n"
               "                    FILE, created with mode 0600 (never overwritten)\n"
               "  pubkey            read a private key on stdin, print its public key\n"
               "  selftest [--server-key FILE --client-key FILE]\n"
               "                    run a real handshake and encrypted frames between an\n"
               "                    in-process client and server (random keys by default)\n"
               "  version           print the version\n"
               "  help              this text\n"
               "\n"
               "example:  phantom genkey -o client.key && phantom pubkey < client.key\n");
}

/* write_all: write |len| bytes, retrying on EINTR and short writes. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cmd_genkey(int argc, char **argv)
{
    const char *path = NULL;
    if (argc == 3 && strcmp(argv[1], "-o") == 0) {
        path = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "phantom genkey: usage: phantom genkey [-o FILE]\n");
        return 2;
    }

    uint8_t priv[32], pub[32];
    char line[PT_KEY_B64_LEN + 2];
    if (pt_noise_keypair(priv, pub) != PT_ERR_OK) {
        fprintf(stderr, "phantom genkey: cannot generate a key\n");
        return 1;
    }
    pt_key_to_base64(line, priv);
    line[PT_KEY_B64_LEN] = '\n';
    line[PT_KEY_B64_LEN + 1] = 0;
    sodium_memzero(priv, sizeof(priv));

    int fd = STDOUT_FILENO, rc = 0;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "phantom genkey: %s: %s\n", path, strerror(errno));
            sodium_memzero(line, sizeof(line));
            return 1;
        }
    } else {
        /* `phantom genkey > file`: the shell created the file with the umask;
         * a private key must not stay readable by others. */
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077)) {
            if (fchmod(fd, 0600) != 0) {
                fprintf(stderr, "phantom genkey: warning: cannot make output file 0600: %s\n",
                        strerror(errno));
            }
        }
    }
    if (write_all(fd, line, PT_KEY_B64_LEN + 1) != 0) {
        fprintf(stderr, "phantom genkey: write failed: %s\n", strerror(errno));
        rc = 1;
    }
    if (path && close(fd) != 0) {
        fprintf(stderr, "phantom genkey: %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    sodium_memzero(line, sizeof(line));
    return rc;
}

static int cmd_pubkey(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "phantom pubkey: usage: phantom pubkey < private.key\n");
        return 2;
    }
    /* Read at most a little more than one key: anything longer is not a key. */
    char buf[128];
    size_t len = 0;
    while (len < sizeof(buf)) {
        ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "phantom pubkey: read failed: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    uint8_t priv[32], pub[32];
    int rc = len < sizeof(buf) ? pt_key_from_base64(priv, buf, len) : PT_ERR_INVAL;
    sodium_memzero(buf, sizeof(buf));
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "phantom pubkey: stdin does not hold a private key "
                        "(expected 44 characters of base64, as printed by phantom genkey)\n");
        return 1;
    }
    rc = pt_noise_pubkey(pub, priv);
    sodium_memzero(priv, sizeof(priv));
    if (rc != PT_ERR_OK) {
        fprintf(stderr, "phantom pubkey: cannot derive the public key\n");
        return 1;
    }
    char out[PT_KEY_B64_LEN + 1];
    pt_key_to_base64(out, pub);
    printf("%s\n", out);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "phantom: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "genkey") == 0) {
        return cmd_genkey(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "pubkey") == 0) {
        return cmd_pubkey(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "selftest") == 0) {
        const char *sk = NULL, *ck = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--server-key") == 0 && i + 1 < argc) {
                sk = argv[++i];
            } else if (strcmp(argv[i], "--client-key") == 0 && i + 1 < argc) {
                ck = argv[++i];
            } else {
                fprintf(stderr, "phantom selftest: unexpected argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (!sk != !ck) {
            fprintf(stderr, "phantom selftest: give both --server-key and --client-key, or neither\n");
            return 2;
        }
        return pt_selftest_run(sk, ck);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("phantom %s (protocol 1)\n", PT_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "server") == 0) {
        return pt_daemon_server(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "client") == 0) {
        return pt_daemon_client(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "invite") == 0) {
        return pt_daemon_invite(argc - 1, argv + 1);
    }
    fprintf(stderr, "phantom: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
