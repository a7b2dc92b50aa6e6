/*
 * echo_epoll: the smallest fast TCP echo server we could write, the machine's limit in
 * netkit's benchmarks. One thread, level-triggered epoll, non-blocking sockets, a 64 KiB
 * read buffer per read (the same size the Python handlers ask for).
 *
 *   echo_epoll PORT [HOST]      (HOST defaults to 127.0.0.1; numeric IPv4 or IPv6)
 *
 * Prints "READY <port>" once listening. Runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    int fd;
    size_t off, len; /* unsent part of buf, when the peer reads slower than it writes */
    char buf[BUF];
};

static int epfd;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void drop(struct conn *c) {
    close(c->fd); /* closing removes it from the epoll set */
    free(c);
}

static void want(struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
}

/* 1 when everything pending was written, 0 when the socket is full, -1 on error */
static int flush(struct conn *c) {
    while (c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->off += (size_t)n;
        c->len -= (size_t)n;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
        return 2;
    }
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(atoi(argv[1]));
        sl = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(atoi(argv[1]));
        sl = sizeof *v6;
    } else {
        fprintf(stderr, "HOST must be numeric\n");
        return 2;
    }
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&ss, sl) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");
    getsockname(lfd, (struct sockaddr *)&ss, &sl);
    printf("READY %d\n", ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port));
    fflush(stdout);

    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = malloc(sizeof *c);
                    if (!c) die("malloc");
                    c->fd = fd;
                    c->off = c->len = 0;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
                }
                continue;
            }
            if (c->len) { /* waiting for room to send the rest */
                int r = flush(c);
                if (r < 0) drop(c);
                else if (r) want(c, EPOLLIN);
                continue;
            }
            ssize_t got = recv(c->fd, c->buf, BUF, 0);
            if (got < 0 && errno == EAGAIN) continue;
            if (got <= 0) {
                drop(c);
                continue;
            }
            c->off = 0;
            c->len = (size_t)got;
            int r = flush(c);
            if (r < 0) drop(c);
            else if (!r) want(c, EPOLLOUT);
        }
    }
}
