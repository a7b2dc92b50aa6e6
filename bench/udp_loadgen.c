/*
 * udp_loadgen: a small epoll UDP echo load generator for bench/bench_udp.py.
 *
 *   udp_loadgen HOST PORT CLIENTS SIZE WINDOW SECONDS WARMUP
 *
 * CLIENTS connected UDP sockets each keep WINDOW datagrams of SIZE bytes in flight
 * against an echo server: every reply received (checked for its size) is answered
 * with a new datagram. A socket that hears nothing for 1 s resends its window (a
 * datagram was lost) and the stall is counted. Replies are counted only after WARMUP
 * seconds, for SECONDS seconds, then the program exits: bounded in time whatever the
 * server does. The result is one JSON line on stdout, with the CPU this process used
 * (cpu = busy fraction of one core; well under 1.0 shows it was not the bottleneck).
 * HOST must be a numeric IPv4 or IPv6 address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT CLIENTS SIZE WINDOW SECONDS WARMUP\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), clients = atoi(argv[3]), size = atoi(argv[4]);
    int window = atoi(argv[5]);
    double seconds = atof(argv[6]), warmup = atof(argv[7]);
    if (clients < 1 || clients > 1024 || size < 1 || size > 65507 || window < 1 ||
        window > 256 || seconds <= 0 || seconds > 600 || warmup < 0 || warmup > 60) {
        fprintf(stderr, "argument out of range\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sslen = sizeof *sin6;
    } else {
        fprintf(stderr, "HOST must be a numeric address\n");
        return 2;
    }
    char *payload = malloc(size), *buf = malloc(65536);
    memset(payload, 'x', size);
    int ep = epoll_create1(0);
    int *fds = calloc(clients, sizeof *fds);
    double *last = calloc(clients, sizeof *last);
    for (int i = 0; i < clients; i++) {
        fds[i] = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&ss, sslen) < 0) {
            perror("socket/connect");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    double start = now(), begin = start + warmup, end = begin + seconds;
    for (int i = 0; i < clients; i++) {
        for (int w = 0; w < window; w++) send(fds[i], payload, size, 0);
        last[i] = start;
    }
    long long counted = 0, total = 0, stalls = 0, bad = 0, refused = 0;
    double cpu0 = 0, t0 = 0;
    int measuring = 0;
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(ep, events, 64, 50);
        double t = now();
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            for (;;) {
                ssize_t got = recv(fds[i], buf, 65536, 0);
                if (got < 0) {
                    if (errno == ECONNREFUSED) {
                        refused++;
                        continue;
                    }
                    break; /* EAGAIN */
                }
                if (got != size) bad++;
                total++;
                if (measuring) counted++;
                last[i] = t;
                send(fds[i], payload, size, 0);
            }
        }
        if (!measuring && t >= begin) {
            measuring = 1;
            t0 = t;
            cpu0 = cpu_seconds();
        }
        if (t >= end) break;
        for (int i = 0; i < clients; i++) {
            if (t - last[i] > 1.0) { /* lost datagrams: refill the window */
                for (int w = 0; w < window; w++) send(fds[i], payload, size, 0);
                last[i] = t;
                stalls++;
            }
        }
    }
    double elapsed = now() - t0, cpu = cpu_seconds() - cpu0;
    printf("{\"ops\": %lld, \"seconds\": %.6f, \"rate\": %.1f, \"cpu\": %.3f, "
           "\"total\": %lld, \"stalls\": %lld, \"bad\": %lld, \"refused\": %lld}\n",
           counted, elapsed, counted / elapsed, cpu / elapsed, total, stalls, bad, refused);
    return 0;
}
