// The kernel side of every row of scripts/bench.sh: one small program, so kernel<->kernel and kernel<->emulator rows
// use the same peer. Every mode prints one line of key=value pairs on stdout when it is done.
//
//   tcpbench sink   ADDR PORT SECONDS [-P N] [-c PIDFILE]  accept N connections, read and drop; after SECONDS from
//        the first byte, print bytes= seconds= (first byte to last byte read) and close (unread data: RST)
//   tcpbench source ADDR PORT SECONDS [-P N] [-c PIDFILE]  accept N connections, write to them for SECONDS, then
//        shut down (FIN) and drain until each peer closes; bytes= is what write() took, total_seconds= first write to
//        the last peer's close
//   tcpbench send   ADDR PORT SECONDS [-P N]               connect N, write for SECONDS, shut down, wait for EOF
//   tcpbench echo   ADDR PORT                              accept one connection, echo until EOF (TCP_NODELAY)
//   tcpbench rr     ADDR PORT SECONDS                      connect, 1-byte ping-pong (TCP_NODELAY) for SECONDS after
//        0.5 s of warm-up; prints trans= tps= p50_us= p99_us= mean_us=
//   tcpbench hold   ADDR PORT NPORTS                       epoll: listen on PORT..PORT+NPORTS-1, accept everything,
//        keep every socket open, read and drop what arrives; prints "ready" once listening, runs until SIGTERM
//
// -c PIDFILE: the measuring modes (sink, source) also report cpu_s= (utime+stime of this process and of every PID
// listed in PIDFILE, read from /proc/PID/stat at the start and the end of the measured window, i.e. the work done by
// those processes and by the kernel in their context) and machine_busy_s= (all CPUs from /proc/stat: user, nice,
// system, irq, softirq, steal; includes everything else running on the machine).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64
#define BUF (256 * 1024)

static char buf[BUF];
static const char *pidfile;
static volatile sig_atomic_t stop_flag;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_in addr_of(const char *ip, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "tcpbench: bad address %s\n", ip); exit(2); }
    return a;
}

static int listen_on(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = addr_of(ip, port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(fd, 4096) < 0) die("listen");
    struct timeval tv = {120, 0};   // accept() gives up after 120 s: a row whose client never came does not hang
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int connect_to(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = addr_of(ip, port);
    for (int i = 0; connect(fd, (struct sockaddr *)&a, sizeof a) < 0; i++)
    {
        if (i > 150) die("connect");
        close(fd);
        usleep(100000);
        fd = socket(AF_INET, SOCK_STREAM, 0);
    }
    return fd;
}

// ---- CPU accounting -------------------------------------------------------------------------------------------------
static double proc_cpu(int pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')');
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    // after ") ": state(3) ... utime is field 14, stime 15
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static double machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long v[10] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) v[0] = 0;
    fclose(f);
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / sysconf(_SC_CLK_TCK);
}

static int pids[64], npids;
static double pid_cpu_seen[64];

// A listed process that has exited reads as 0 from /proc: each PID counts with the most it was ever seen to have used
// (the receivers of a source run exit once they have the last bytes, before the end is printed; without this the row's
// CPU came out negative). Sampled every 0.1 s while a run moves data, so an exited process loses at most that much.
static double cpu_sample(void)
{
    double s = proc_cpu(getpid());
    for (int i = 0; i < npids; i++)
    {
        double v = proc_cpu(pids[i]);
        if (v > pid_cpu_seen[i]) pid_cpu_seen[i] = v;
        s += pid_cpu_seen[i];
    }
    return s;
}

static double cpu0, busy0;

static void cpu_start(void)
{
    npids = 0;
    if (pidfile)
    {
        FILE *f = fopen(pidfile, "r");
        if (f)
        {
            while (npids < 64 && fscanf(f, "%d", &pids[npids]) == 1) pid_cpu_seen[npids++] = 0;
            fclose(f);
        }
    }
    cpu0 = cpu_sample();
    busy0 = machine_busy();
}

static void cpu_print(void)
{
    printf(" cpu_s=%.3f machine_busy_s=%.3f", cpu_sample() - cpu0, machine_busy() - busy0);
}

// ---- modes -------------------------------------------------------------------------------------------------------------
static int accept_n(int lfd, int *fds, int n)
{
    for (int i = 0; i < n; i++)
    {
        fds[i] = accept(lfd, NULL, NULL);
        if (fds[i] < 0) die("accept");
    }
    return n;
}

static int sink(const char *ip, int port, double seconds, int n)
{
    int lfd = listen_on(ip, port), fds[MAXC];
    accept_n(lfd, fds, n);
    struct pollfd pf[MAXC];
    for (int i = 0; i < n; i++) { pf[i].fd = fds[i]; pf[i].events = POLLIN; }
    long long bytes = 0;
    double first = 0, last = 0;
    int open = n;
    while (open > 0)
    {
        int timeout = first == 0 ? 60000 : (int)((first + seconds - now()) * 1000) + 1;
        if (first != 0 && now() >= first + seconds) break;
        int r = poll(pf, n, timeout);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("poll");
        if (r == 0 && first == 0) { fprintf(stderr, "tcpbench sink: no data for 60 s\n"); return 1; }
        for (int i = 0; i < n; i++)
        {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t m = read(pf[i].fd, buf, BUF);
            if (m <= 0) { pf[i].fd = -1; open--; continue; }
            if (first == 0) { first = now(); cpu_start(); }
            bytes += m;
            last = now();
        }
    }
    printf("bytes=%lld seconds=%.6f conns=%d", bytes, last - first, n);
    cpu_print();
    printf("\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) close(fds[i]);
    close(lfd);
    return bytes > 0 ? 0 : 1;
}

static int source(const char *ip, int port, double seconds, int n)
{
    int lfd = listen_on(ip, port), fds[MAXC];
    accept_n(lfd, fds, n);
    memset(buf, 0x61, BUF);
    struct pollfd pf[MAXC];
    for (int i = 0; i < n; i++) { pf[i].fd = fds[i]; pf[i].events = POLLOUT; }
    long long bytes = 0;
    double start = now(), next_sample = start + 0.1;
    cpu_start();
    while (now() < start + seconds)
    {
        if (now() >= next_sample) { cpu_sample(); next_sample += 0.1; }
        int r = poll(pf, n, 100);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("poll");
        for (int i = 0; i < n; i++)
        {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            ssize_t m = write(pf[i].fd, buf, 64 * 1024);
            if (m <= 0) { pf[i].fd = -1; continue; }
            bytes += m;
        }
    }
    double end = now();
    for (int i = 0; i < n; i++) shutdown(fds[i], SHUT_WR);
    // Drain until every peer closed (its FIN) so the last bytes are delivered, at most 30 s: total_seconds is from the
    // first write to the last peer's close, the time the receivers needed for all the bytes.
    for (int i = 0; i < n; i++)
    {
        struct timeval tv = {30, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        cpu_sample();
        while (read(fds[i], buf, BUF) > 0) {}
    }
    printf("bytes=%lld seconds=%.6f total_seconds=%.6f conns=%d", bytes, end - start, now() - start, n);
    cpu_print();
    printf("\n");
    for (int i = 0; i < n; i++) close(fds[i]);
    close(lfd);
    return 0;
}

static int send_client(const char *ip, int port, double seconds, int n)
{
    int fds[MAXC];
    for (int i = 0; i < n; i++) fds[i] = connect_to(ip, port);
    memset(buf, 0x61, BUF);
    struct pollfd pf[MAXC];
    for (int i = 0; i < n; i++) { pf[i].fd = fds[i]; pf[i].events = POLLOUT; }
    long long bytes = 0;
    double start = now();
    signal(SIGPIPE, SIG_IGN);
    while (now() < start + seconds)
    {
        int r = poll(pf, n, 100);
        if (r < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; i++)
        {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            ssize_t m = write(pf[i].fd, buf, 64 * 1024);
            if (m <= 0) { pf[i].fd = -1; continue; }
            bytes += m;
        }
    }
    for (int i = 0; i < n; i++) shutdown(fds[i], SHUT_WR);
    for (int i = 0; i < n; i++) { while (read(fds[i], buf, BUF) > 0) {} close(fds[i]); }
    printf("bytes=%lld seconds=%.6f conns=%d\n", bytes, now() - start, n);
    return 0;
}

static int echo(const char *ip, int port)
{
    int lfd = listen_on(ip, port);
    int fd = accept(lfd, NULL, NULL), one = 1;
    if (fd < 0) die("accept");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long long bytes = 0;
    for (;;)
    {
        ssize_t m = read(fd, buf, BUF);
        if (m <= 0) break;
        if (write(fd, buf, (size_t)m) != m) break;
        bytes += m;
    }
    printf("bytes=%lld\n", bytes);
    close(fd);
    close(lfd);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rr(const char *ip, int port, double seconds)
{
    int fd = connect_to(ip, port), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t cap = 1 << 20, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (!lat) die("malloc");
    char c = 'x';
    double warm_end = now() + 0.5, end = warm_end + seconds, sum = 0;
    for (;;)
    {
        double t0 = now();
        if (t0 >= end) break;
        if (write(fd, &c, 1) != 1) die("rr write");
        ssize_t m = read(fd, &c, 1);
        if (m != 1) { fprintf(stderr, "tcpbench rr: peer closed\n"); return 1; }
        double t1 = now();
        if (t0 < warm_end) continue;
        if (n == cap) { cap *= 2; lat = realloc(lat, cap * sizeof *lat); if (!lat) die("realloc"); }
        lat[n++] = (t1 - t0) * 1e6;
        sum += (t1 - t0) * 1e6;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, BUF) > 0) {}
    close(fd);
    if (n == 0) { fprintf(stderr, "tcpbench rr: no transactions\n"); return 1; }
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("trans=%zu seconds=%.6f tps=%.1f p50_us=%.2f p99_us=%.2f mean_us=%.2f\n", n, seconds, n / seconds,
           lat[n / 2], lat[(size_t)(n * 0.99)], sum / n);
    return 0;
}

static void on_term(int sig) { (void)sig; stop_flag = 1; }

static int hold(const char *ip, int port, int nports)
{
    struct rlimit rl = {1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) { rl.rlim_cur = rl.rlim_max = 200000; setrlimit(RLIMIT_NOFILE, &rl); }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    int lfds[256];
    if (nports < 1 || nports > 256) { fprintf(stderr, "tcpbench hold: NPORTS 1..256\n"); return 2; }
    for (int i = 0; i < nports; i++)
    {
        lfds[i] = listen_on(ip, port + i);
        fcntl(lfds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (1ull << 32) | (unsigned)lfds[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev);
    }
    printf("ready\n");
    fflush(stdout);
    long long accepted = 0, bytes = 0;
    struct epoll_event evs[256];
    while (!stop_flag)
    {
        int r = epoll_wait(ep, evs, 256, 500);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("epoll_wait");
        for (int i = 0; i < r; i++)
        {
            int fd = (int)(evs[i].data.u64 & 0xffffffffu);
            if (evs[i].data.u64 >> 32)
            {
                for (;;)
                {
                    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0)
                    {
                        // Out of descriptors: say so once (the listen queue fills and new connections time out).
                        static int told;
                        if (errno != EAGAIN && errno != EWOULDBLOCK && !told++)
                            fprintf(stderr, "tcpbench hold: accept after %lld: %s\n", accepted, strerror(errno));
                        break;
                    }
                    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                    accepted++;
                }
                continue;
            }
            ssize_t m;
            while ((m = read(fd, buf, BUF)) > 0) bytes += m;
            if (m == 0 || (m < 0 && errno != EAGAIN)) { epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); close(fd); }
        }
    }
    printf("accepted=%lld bytes=%lld\n", accepted, bytes);
    return 0;
}

int main(int argc, char **argv)
{
    int par = 1, opt;
    while ((opt = getopt(argc, argv, "+P:c:")) != -1)
    {
        if (opt == 'P') par = atoi(optarg);
        else if (opt == 'c') pidfile = optarg;
        else return 2;
    }
    // Options may also follow the operands.
    char *pos[8];
    int npos = 0;
    for (int i = optind; i < argc; i++)
    {
        if (!strcmp(argv[i], "-P") && i + 1 < argc) par = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) pidfile = argv[++i];
        else if (npos < 8) pos[npos++] = argv[i];
    }
    if (par < 1 || par > MAXC) { fprintf(stderr, "tcpbench: -P 1..%d\n", MAXC); return 2; }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (npos == 4 && !strcmp(pos[0], "sink")) return sink(pos[1], atoi(pos[2]), atof(pos[3]), par);
    if (npos == 4 && !strcmp(pos[0], "source")) return source(pos[1], atoi(pos[2]), atof(pos[3]), par);
    if (npos == 4 && !strcmp(pos[0], "send")) return send_client(pos[1], atoi(pos[2]), atof(pos[3]), par);
    if (npos == 3 && !strcmp(pos[0], "echo")) return echo(pos[1], atoi(pos[2]));
    if (npos == 4 && !strcmp(pos[0], "rr")) return rr(pos[1], atoi(pos[2]), atof(pos[3]));
    if (npos == 4 && !strcmp(pos[0], "hold")) return hold(pos[1], atoi(pos[2]), atoi(pos[3]));
    fprintf(stderr, "usage: tcpbench sink|source ADDR PORT SECONDS [-P N] [-c PIDFILE] | send ADDR PORT SECONDS [-P N] |"
                    " echo ADDR PORT | rr ADDR PORT SECONDS | hold ADDR PORT NPORTS\n");
    return 2;
}
