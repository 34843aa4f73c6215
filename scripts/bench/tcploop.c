// Kernel reference for the offload-target benchmarks (scripts/bench.sh target): Linux TCP over loopback, both ends
// in this one process and pinned to one CPU, like the single-threaded C# benchmark (target + peer machine + link).
// Run it inside a namespace whose lo has MTU 1500 and tso/gso/gro off, so segments are wire-sized (MSS 1448 with
// timestamps).
//
//   tcploop bulk SECONDS      sender writes 64 KiB blocks, receiver reads; prints MB/s and ns per 1448-byte segment
//   tcploop pingpong SECONDS  1 byte there and back (TCP_NODELAY); prints the round trip in ns
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int listener;
static int mode_bulk;
static volatile int stop;
static long long received;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void *server(void *arg)
{
    (void)arg;
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) die("accept");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static char buf[256 * 1024];
    for (;;)
    {
        ssize_t n = read(fd, buf, mode_bulk ? sizeof buf : 1);
        if (n <= 0) break;
        received += n;
        if (!mode_bulk && write(fd, buf, 1) != 1) break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: tcploop bulk|pingpong SECONDS\n"); return 2; }
    mode_bulk = strcmp(argv[1], "bulk") == 0;
    double seconds = atof(argv[2]);
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) != 0) die("sched_setaffinity");

    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(5201), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
    if (listen(listener, 1) != 0) die("listen");
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);   // inherits the single-CPU affinity
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    static char block[64 * 1024];
    memset(block, 0x5a, sizeof block);
    long long sent = 0, trips = 0;
    double warm = now() + 1.0, start = 0, end = 0;
    long long sentAtStart = 0, receivedAtStart = 0, tripsAtStart = 0;
    for (;;)
    {
        double t0 = now();
        if (start == 0 && t0 >= warm) { start = t0; sentAtStart = sent; receivedAtStart = received; tripsAtStart = trips; }
        if (start != 0 && t0 >= start + seconds) { end = t0; break; }
        if (mode_bulk)
        {
            ssize_t n = write(fd, block, sizeof block);
            if (n <= 0) die("write");
            sent += n;
        }
        else
        {
            char c = 1;
            if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) die("pingpong");
            trips++;
        }
    }
    long long rx = received - receivedAtStart;   // read without a lock: a few bytes off at most
    shutdown(fd, SHUT_WR);
    pthread_join(t, NULL);
    close(fd);
    double elapsed = end - start;
    if (mode_bulk)
    {
        double segments = rx / 1448.0;
        printf("bulk: %.1f MB/s, %.0f segments/s, %.1f ns per 1448-byte segment (one CPU, sender + receiver)\n",
            rx / elapsed / 1e6, segments / elapsed, elapsed * 1e9 / segments);
        (void)sentAtStart;
    }
    else
    {
        long long n = trips - tripsAtStart;
        printf("pingpong: %lld round trips, %.0f ns per round trip (one CPU)\n", n, elapsed * 1e9 / n);
    }
    return 0;
}
