/*
 * loadgen: a small epoll TCP load generator for netkit's benchmarks.
 *
 *   loadgen HOST PORT MODE CONNS SIZE DEPTH SECONDS WARMUP
 *
 * MODE is one of
 *   pingpong  CONNS connections; each sends DEPTH requests of SIZE bytes in one write,
 *             waits for all DEPTH*SIZE bytes to come back (checked with memcmp), repeats.
 *             One op = one request echoed.
 *   bulk      CONNS connections each streaming SIZE-byte writes as fast as the socket
 *             takes them and reading the echo back. One op = one byte echoed.
 *   churn     CONNS concurrent slots; each connects, sends SIZE bytes, reads them back,
 *             closes, and starts again. One op = one finished connection.
 *
 * Ops are counted only after WARMUP seconds, for SECONDS seconds. The result is one
 * JSON line on stdout, including the CPU time this process used (cpu = busy fraction of
 * one core): a value well under 1.0 shows the generator was not the bottleneck.
 * ops_all and bytes_all count the warm-up too (everything the server handled), for
 * benchmarks that divide the server's CPU time by the work it did.
 * HOST must be a numeric IPv4 or IPv6 address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PINGPONG, BULK, CHURN };

struct conn {
    int fd;
    int connecting;    /* churn: waiting for connect() to finish */
    size_t sent;       /* bytes of the current batch written */
    size_t received;   /* bytes of the current batch read back */
    unsigned char *buf; /* the echo of the current batch, compared with what was sent */
};

static struct sockaddr_storage target;
static socklen_t target_len;
static int mode, epfd;
static size_t size, depth, batch;
static unsigned char *sendbuf, *recvbuf;
static size_t recvcap;
static uint64_t ops, bytes_total, errors;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void watch(struct conn *c, int op, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) die("epoll_ctl");
}

static int open_conn(struct conn *c, int blocking_connect) {
    /* setup connects block so timing starts with live links; churn connects do not */
    c->fd = socket(target.ss_family, SOCK_STREAM | (blocking_connect ? 0 : SOCK_NONBLOCK), 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->sent = c->received = 0;
    c->connecting = 0;
    if (connect(c->fd, (struct sockaddr *)&target, target_len) < 0) {
        if (blocking_connect || errno != EINPROGRESS) {
            close(c->fd);
            c->fd = -1;
            return -1;
        }
        c->connecting = 1;
    }
    if (blocking_connect) fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static void start_churn(struct conn *c) {
    while (open_conn(c, 0) < 0) errors++;
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

/* write as much of the current batch as the socket takes; 0 ok, -1 failure */
static int pump_send(struct conn *c) {
    while (c->sent < batch) {
        ssize_t n = send(c->fd, sendbuf + c->sent, batch - c->sent, MSG_NOSIGNAL);
        if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        c->sent += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s HOST PORT pingpong|bulk|churn CONNS SIZE DEPTH SECONDS WARMUP\n",
                argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    mode = !strcmp(argv[3], "pingpong") ? PINGPONG : !strcmp(argv[3], "bulk") ? BULK
         : !strcmp(argv[3], "churn") ? CHURN : -1;
    int nconns = atoi(argv[4]);
    size = (size_t)atol(argv[5]);
    depth = (size_t)atol(argv[6]);
    double seconds = atof(argv[7]), warmup = atof(argv[8]);
    if (mode < 0 || nconns < 1 || size < 1 || depth < 1 || seconds <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    memset(&target, 0, sizeof target);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&target;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&target;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        target_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        target_len = sizeof *v6;
    } else {
        fprintf(stderr, "HOST must be a numeric address\n");
        return 2;
    }
    batch = mode == PINGPONG ? size * depth : size;
    sendbuf = malloc(batch);
    recvcap = batch > 262144 ? batch : 262144;
    recvbuf = malloc(recvcap);
    if (!sendbuf || !recvbuf) die("malloc");
    for (size_t i = 0; i < batch; i++) sendbuf[i] = (unsigned char)('a' + i % 26);

    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        conns[i].buf = malloc(batch);
        if (!conns[i].buf) die("malloc");
        if (mode == CHURN) {
            start_churn(&conns[i]);
            continue;
        }
        if (open_conn(&conns[i], 1) < 0) die("connect");
        watch(&conns[i], EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
    }

    struct epoll_event events[256];
    double t0 = now(), t_start = t0 + warmup, t_end = t_start + seconds;
    uint64_t ops_at_start = 0, bytes_at_start = 0;
    int counting = 0;
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    for (;;) {
        double t = now();
        if (!counting && t >= t_start) {
            counting = 1;
            ops_at_start = ops;
            bytes_at_start = bytes_total;
            getrusage(RUSAGE_SELF, &ru0);
        }
        if (t >= t_end) break;
        int n = epoll_wait(epfd, events, 256, 50);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            uint32_t ev = events[i].events;
            if (mode == CHURN && c->connecting) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
                if (e || (ev & (EPOLLERR | EPOLLHUP))) {
                    errors++;
                    close(c->fd);
                    start_churn(c);
                    continue;
                }
                c->connecting = 0;
                if (pump_send(c) < 0) goto churn_fail;
                watch(c, EPOLL_CTL_MOD, c->sent < batch ? EPOLLIN | EPOLLOUT : EPOLLIN);
                continue;
            }
            if (ev & EPOLLOUT) {
                if (mode == BULK) {
                    c->sent = 0;
                    for (int k = 0; k < 8; k++) {
                        ssize_t w = send(c->fd, sendbuf, batch, MSG_NOSIGNAL);
                        if (w < 0) {
                            if (errno != EAGAIN) die("send");
                            break;
                        }
                    }
                } else if (c->sent < batch) {
                    if (pump_send(c) < 0) goto conn_fail;
                    if (c->sent == batch && mode == CHURN) watch(c, EPOLL_CTL_MOD, EPOLLIN);
                } else if (mode == PINGPONG) {
                    /* nothing left to send: stop asking for writability */
                    watch(c, EPOLL_CTL_MOD, EPOLLIN);
                }
            }
            if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (mode == BULK) {
                    ssize_t r = recv(c->fd, recvbuf, recvcap, 0);
                    if (r <= 0) {
                        if (r < 0 && errno == EAGAIN) continue;
                        fprintf(stderr, "bulk: server closed\n");
                        return 1;
                    }
                    bytes_total += (uint64_t)r;
                    ops += (uint64_t)r;
                    continue;
                }
                size_t want = batch - c->received;
                ssize_t r = recv(c->fd, c->buf + c->received, want, 0);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) goto conn_fail;
                c->received += (size_t)r;
                bytes_total += (uint64_t)r;
                if (c->received < batch) continue;
                if (memcmp(c->buf, sendbuf, batch) != 0) {
                    fprintf(stderr, "echo mismatch\n");
                    return 1;
                }
                if (mode == PINGPONG) {
                    ops += depth;
                    c->sent = c->received = 0;
                    if (pump_send(c) < 0) goto conn_fail;
                    if (c->sent < batch) watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
                } else {
                    ops++;
                    close(c->fd);
                    start_churn(c);
                }
            }
            continue;
        conn_fail:
            if (mode != CHURN) {
                fprintf(stderr, "connection failed: %s\n", strerror(errno));
                return 1;
            }
        churn_fail:
            errors++;
            close(c->fd);
            start_churn(c);
        }
    }
    double elapsed = now() - t_start;
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t nops = ops - ops_at_start, nbytes = bytes_total - bytes_at_start;
    printf("{\"mode\": \"%s\", \"ops\": %llu, \"bytes\": %llu, \"seconds\": %.4f, "
           "\"ops_per_s\": %.1f, \"mb_per_s\": %.2f, \"cpu\": %.3f, \"errors\": %llu, "
           "\"ops_all\": %llu, \"bytes_all\": %llu}\n",
           argv[3], (unsigned long long)nops, (unsigned long long)nbytes, elapsed,
           nops / elapsed, nbytes / elapsed / 1e6, cpu / elapsed,
           (unsigned long long)errors, (unsigned long long)ops,
           (unsigned long long)bytes_total);
    return 0;
}
