/*
 * tcpproxy — a loopback TCP proxy the fault tests use to stall and cut links.
 *
 *   tcpproxy LISTEN_PORT TARGET_HOST TARGET_PORT
 *
 *   SIGUSR1  freeze: stop forwarding in both directions (connections stay open,
 *            bytes wait in the kernel's buffers) — a stalled network
 *   SIGUSR2  thaw: forward again
 *   SIGHUP   cut: close every connection (new ones are accepted)
 *   SIGTERM  exit
 *
 * Prints "ready" once listening and "accepted" for each connection it takes
 * (tests wait for these lines instead of sleeping). One process, poll(), no
 * threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONN 64

static volatile sig_atomic_t frozen, cut, stop;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        frozen = 1;
    else if (sig == SIGUSR2)
        frozen = 0;
    else if (sig == SIGHUP)
        cut = 1;
    else
        stop = 1;
}

typedef struct {
    int a, b; /* client side, server side; -1 when unused */
} pair_t;

static int connect_target(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void close_pair(pair_t *p)
{
    if (p->a >= 0)
        close(p->a);
    if (p->b >= 0)
        close(p->b);
    p->a = p->b = -1;
}

/* Moves what is readable from `from` to `to`; false when the connection ended. */
static int forward(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return 0;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t) (n - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        off += w;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tcpproxy LISTEN_PORT TARGET_HOST TARGET_PORT\n");
        return 2;
    }
    int lport = atoi(argv[1]), tport = atoi(argv[3]);
    const char *thost = argv[2];
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) lport)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(lfd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen(lfd, 16) < 0) {
        perror("tcpproxy: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    pair_t pairs[MAX_CONN];
    for (int i = 0; i < MAX_CONN; i++)
        pairs[i].a = pairs[i].b = -1;
    while (!stop) {
        if (cut) {
            for (int i = 0; i < MAX_CONN; i++)
                close_pair(&pairs[i]);
            cut = 0;
        }
        struct pollfd fds[1 + 2 * MAX_CONN];
        int map[1 + 2 * MAX_CONN];
        int n = 0;
        fds[n].fd = lfd;
        fds[n].events = POLLIN;
        map[n++] = -1;
        if (!frozen) {
            for (int i = 0; i < MAX_CONN; i++) {
                if (pairs[i].a < 0)
                    continue;
                fds[n].fd = pairs[i].a;
                fds[n].events = POLLIN;
                map[n++] = i;
                fds[n].fd = pairs[i].b;
                fds[n].events = POLLIN;
                map[n++] = i;
            }
        }
        if (poll(fds, (nfds_t) n, 200) < 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                int slot = -1;
                for (int i = 0; i < MAX_CONN && slot < 0; i++)
                    if (pairs[i].a < 0)
                        slot = i;
                int t = slot >= 0 ? connect_target(thost, tport) : -1;
                if (t < 0) {
                    close(c);
                } else {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    pairs[slot].a = c;
                    pairs[slot].b = t;
                    printf("accepted\n");
                    fflush(stdout);
                }
            }
        }
        if (frozen)
            continue;
        for (int k = 1; k < n; k++) {
            if (!fds[k].revents)
                continue;
            pair_t *p = &pairs[map[k]];
            if (p->a < 0)
                continue;
            int from = fds[k].fd, to = from == p->a ? p->b : p->a;
            if (!forward(from, to))
                close_pair(p);
        }
    }
    return 0;
}
