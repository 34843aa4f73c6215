/*
 * tapbench: the C reference for the TAP device benchmark (scripts/bench.sh).
 *
 *   tapbench write IFNAME SIZE SECONDS   attach to TAP IFNAME, write() SIZE-byte frames in a loop
 *   tapbench read  IFNAME SECONDS        attach to TAP IFNAME, read() frames in a loop
 *   tapbench flood IFNAME SIZE SECONDS   AF_PACKET sender on IFNAME (the kernel side of the TAP),
 *                                        the frame source for the read benchmarks
 *
 * Run inside the TAP's namespace (TUNSETIFF finds a TAP only there). Blocking I/O, one frame per
 * system call, the simplest fast loop. Each measurement runs 1 s of warm-up, then counts frames
 * for SECONDS and prints "frames=N seconds=T fps=F".
 *
 * Written frames go to the TAP's kernel MAC with EtherType 0x88B5 (IEEE local experimental): the
 * kernel finds no protocol handler and frees them at once, so the kernel side stays cheap.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int tap_attach(const char *name, unsigned char kernel_mac[6])
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { perror("SIOCGIFHWADDR"); exit(1); }
    memcpy(kernel_mac, ifr.ifr_hwaddr.sa_data, 6);
    return fd;
}

static void fill_frame(unsigned char *f, int size, const unsigned char dst[6])
{
    static const unsigned char src[6] = { 0x02, 0x4f, 0x45, 0xbe, 0x4c, 0x01 };
    memset(f, 0x5a, size);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88; f[13] = 0xb5;
}

static void report(long frames, double seconds)
{
    printf("frames=%ld seconds=%.3f fps=%.0f\n", frames, seconds, frames / seconds);
}

static void run_write(const char *name, int size, double seconds)
{
    unsigned char mac[6], frame[9216];
    int fd = tap_attach(name, mac);
    fill_frame(frame, size, mac);
    long frames = 0, errors = 0;
    double t0 = now(), start = t0 + 1.0, end = start + seconds, t;
    int measuring = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            if (write(fd, frame, size) == size) frames++; else errors++;
        }
        t = now();
        if (!measuring && t >= start) { measuring = 1; frames = 0; errors = 0; start = t; end = t + seconds; }
        if (measuring && t >= end) break;
    }
    if (errors) fprintf(stderr, "write errors: %ld (last errno %d)\n", errors, errno);
    report(frames, t - start);
}

static void run_read(const char *name, double seconds)
{
    unsigned char mac[6], frame[9216];
    int fd = tap_attach(name, mac);
    long frames = 0;
    double start = now() + 1.0, end = start + seconds, t;
    int measuring = 0;
    for (;;) {
        ssize_t n = read(fd, frame, sizeof frame);
        if (n > 0) frames++;
        if ((frames & 255) == 0 || n <= 0) {
            t = now();
            if (!measuring && t >= start) { measuring = 1; frames = 0; start = t; end = t + seconds; }
            if (measuring && t >= end) break;
        }
    }
    report(frames, t - start);
}

static void run_flood(const char *name, int size, double seconds)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket(AF_PACKET)"); exit(1); }
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = (int)if_nametoindex(name);
    if (!sll.sll_ifindex) { perror("if_nametoindex"); exit(1); }
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); exit(1); }
    static const unsigned char emu_mac[6] = { 0x02, 0x4f, 0x45, 0xbe, 0x4c, 0x02 };
    unsigned char frame[9216];
    fill_frame(frame, size, emu_mac);
    long sent = 0;
    double end = now() + seconds;
    while (now() < end) {
        for (int i = 0; i < 256; i++) if (send(fd, frame, size, 0) == size) sent++;
    }
    fprintf(stderr, "flood sent %ld frames\n", sent);
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "write")) run_write(argv[2], atoi(argv[3]), atof(argv[4]));
    else if (argc == 4 && !strcmp(argv[1], "read")) run_read(argv[2], atof(argv[3]));
    else if (argc == 5 && !strcmp(argv[1], "flood")) run_flood(argv[2], atoi(argv[3]), atof(argv[4]));
    else {
        fprintf(stderr, "usage: tapbench write IFNAME SIZE SECONDS | read IFNAME SECONDS | flood IFNAME SIZE SECONDS\n");
        return 2;
    }
    return 0;
}
