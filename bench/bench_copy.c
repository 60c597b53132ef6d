/* bench_copy: the ceilings for relayed throughput in `make bench` (scripts/bench.sh, "Relay").
 * One process, real loopback TCP sockets: a pusher thread writes --bytes into socket A, a "relay"
 * (two threads, one per direction) accepts A and B and copies A -> B and B -> A, the sink (main
 * thread) reads B to EOF. With two cores the relay threads are pinned to --relay-cpu (1) and the
 * pusher and sink to --client-cpu (0), as the relay benchmark places relay and clients.
 *
 *   bench_copy --bytes N            plain copy relay: read 64 KiB, write it, no protocol.
 *   bench_copy --bytes N --noise    the relay decrypts each Noise transport frame from A (session
 *                                   paired in memory with the pusher's) and re-encrypts it for B
 *                                   (paired with the sink's): what a relay that terminated Noise
 *                                   on both legs would pay per byte; the pusher encrypts, the
 *                                   sink decrypts, in frames of 65519 plaintext bytes.
 *   bench_copy --bytes N --noise --e2e
 *                                   the same relay, and the pusher and sink also run an
 *                                   end-to-end Noise session inside the outer one (the pusher
 *                                   encrypts twice, the sink decrypts twice), as the two clients
 *                                   of a circuit do: the wall-clock ceiling when the clients
 *                                   share one core.
 *   bench_copy --bytes N --crypto   no sockets: decrypt + re-encrypt N bytes in 65519-byte
 *                                   frames in memory, timing the relay's share only.
 *
 * Output, one line: copy mode=<plain|noise|noise-e2e|crypto> bytes=<n> seconds=<s> mbps=<MB/s>
 * relay_cpu_s=<s> relay_cpu_util=<0..1> (MB = 10^6 bytes; relay CPU: its threads' CPU time). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/dynbuf.h"
#include "core/mem.h"
#include "crypto/keys.h"
#include "proto/noise/noise.h"

#define CHUNK (256 * 1024)

typedef struct opts {
    unsigned long long bytes;
    bool noise, crypto, e2e;
    int relay_cpu, client_cpu;
} opts;

typedef struct fwd {
    int in, out;
    rly_noise *dec, *enc; /* --noise: decrypt with |dec|, re-encrypt with |enc| */
    int cpu;
    double cpu_s;
    int err;
} fwd;

typedef struct pusher {
    int fd;
    unsigned long long bytes;
    rly_noise *enc;   /* the leg to the relay */
    rly_noise *inner; /* --e2e: the end-to-end session, applied first */
    int cpu;
    int err;
} pusher;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
    if (cpu < 0 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *fwd_main(void *arg)
{
    fwd *f = arg;
    static _Thread_local uint8_t buf[CHUNK], out[CHUNK + RLY_NOISE_MAX_FRAME_LEN];
    pin(f->cpu);
    double c0 = thread_cpu_s();
    for (;;) {
        ssize_t n = read(f->in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!f->dec) {
            if (write_all(f->out, buf, (size_t)n) != 0) {
                f->err = 1;
                break;
            }
            continue;
        }
        uint8_t *in = buf, *pt;
        size_t inlen = (size_t)n, ptlen, used = 0;
        int rv;
        while ((rv = rly_noise_decrypt_next(f->dec, &in, &inlen, &pt, &ptlen)) > 0) {
            if (used + RLY_NOISE_MAX_FRAME_LEN > sizeof(out)) {
                if (write_all(f->out, out, used) != 0)
                    rv = -1;
                used = 0;
            }
            rly_ssize w = rly_noise_encrypt(f->enc, pt, ptlen, out + used, sizeof(out) - used);
            if (w < 0 || rv < 0) {
                rv = -1;
                break;
            }
            used += (size_t)w;
        }
        if (rv < 0 || write_all(f->out, out, used) != 0) {
            f->err = 1;
            break;
        }
    }
    shutdown(f->out, SHUT_WR);
    f->cpu_s = thread_cpu_s() - c0;
    return NULL;
}

static void *push_main(void *arg)
{
    pusher *p = arg;
    static uint8_t plain[CHUNK], inner[CHUNK + 8 * RLY_NOISE_MAX_FRAME_LEN],
        frames[CHUNK + 16 * RLY_NOISE_MAX_FRAME_LEN];
    pin(p->cpu);
    memset(plain, 0x5a, sizeof(plain));
    unsigned long long left = p->bytes;
    while (left > 0) {
        size_t n = left < sizeof(plain) ? (size_t)left : sizeof(plain);
        const uint8_t *src = plain;
        size_t len = n;
        if (p->inner) {
            rly_ssize w = rly_noise_encrypt(p->inner, plain, n, inner, sizeof(inner));
            if (w < 0) {
                p->err = 1;
                break;
            }
            src = inner;
            len = (size_t)w;
        }
        if (p->enc) {
            rly_ssize w = rly_noise_encrypt(p->enc, src, len, frames, sizeof(frames));
            if (w < 0) {
                p->err = 1;
                break;
            }
            src = frames;
            len = (size_t)w;
        }
        if (write_all(p->fd, src, len) != 0) {
            p->err = 1;
            break;
        }
        left -= n;
    }
    shutdown(p->fd, SHUT_WR);
    return NULL;
}

/* One allocator per session: the sessions run on different threads, and an rly_mem (its
 * counters, its cache of large blocks) belongs to one thread; sharing rly_mem_default() between
 * them corrupted Noise buffers handed out of its cache (a decryption failure now and then in
 * --e2e runs once the partial-frame buffer grew in powers of two). */
static rly_mem session_mem[6];
static size_t nsession_mem;

static rly_mem *own_mem(void)
{
    rly_mem *m = &session_mem[nsession_mem++];
    rly_mem_init(m);
    return m;
}

/* A paired initiator/responder in transport mode (as bench_noise), each with its own allocator. */
static int noise_pair(rly_noise_identity *iid, rly_noise_identity *rid, rly_noise **pi,
                      rly_noise **pr)
{
    rly_dynbuf to_r, to_i;
    rly_dynbuf_init(&to_r, NULL, 1u << 16);
    rly_dynbuf_init(&to_i, NULL, 1u << 16);
    int rv = -1;
    if (rly_noise_new(pi, true, iid, NULL, NULL, own_mem()) == 0 &&
        rly_noise_start(*pi, &to_r) == 0 &&
        rly_noise_new(pr, false, rid, NULL, NULL, own_mem()) == 0 &&
        rly_noise_handshake_recv(*pr, to_r.data, to_r.len, &to_i) >= 0) {
        rly_dynbuf_reset(&to_r);
        if (rly_noise_handshake_recv(*pi, to_i.data, to_i.len, &to_r) >= 0 &&
            rly_noise_handshake_recv(*pr, to_r.data, to_r.len, &to_i) >= 0 &&
            rly_noise_get_state(*pr) == RLY_NOISE_TRANSPORT &&
            rly_noise_get_state(*pi) == RLY_NOISE_TRANSPORT)
            rv = 0;
    }
    rly_dynbuf_free(&to_r);
    rly_dynbuf_free(&to_i);
    return rv;
}

static int crypto_only(const opts *o, rly_noise *a_enc, rly_noise *a_dec, rly_noise *b_enc)
{
    static uint8_t plain[RLY_NOISE_MAX_PLAINTEXT], frame[RLY_NOISE_MAX_FRAME_LEN],
        out[RLY_NOISE_MAX_FRAME_LEN];
    pin(o->relay_cpu);
    double relay_s = 0;
    unsigned long long done = 0;
    while (done < o->bytes) {
        if (rly_noise_encrypt(a_enc, plain, sizeof(plain), frame, sizeof(frame)) < 0)
            return -1;
        uint8_t *in = frame, *pt;
        size_t inlen = sizeof(frame), ptlen;
        double t0 = now_s();
        if (rly_noise_decrypt_next(a_dec, &in, &inlen, &pt, &ptlen) != 1 ||
            rly_noise_encrypt(b_enc, pt, ptlen, out, sizeof(out)) < 0)
            return -1;
        relay_s += now_s() - t0;
        done += ptlen;
    }
    printf("copy mode=crypto bytes=%llu seconds=%.3f mbps=%.0f relay_cpu_s=%.3f "
           "relay_cpu_util=1.00\n",
           done, relay_s, (double)done / relay_s / 1e6, relay_s);
    return 0;
}

static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
        return -1;
    return fd;
}

int main(int argc, char **argv)
{
    opts o = {.bytes = 1ull << 30, .relay_cpu = 1, .client_cpu = 0};
    static const struct option lo[] = {{"bytes", required_argument, NULL, 'b'},
                                       {"noise", no_argument, NULL, 'n'},
                                       {"crypto", no_argument, NULL, 'c'},
                                       {"relay-cpu", required_argument, NULL, 'r'},
                                       {"client-cpu", required_argument, NULL, 'l'},
                                       {"e2e", no_argument, NULL, 'e'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'b': o.bytes = strtoull(optarg, NULL, 10); break;
        case 'n': o.noise = true; break;
        case 'c': o.crypto = true; break;
        case 'e': o.e2e = true; break;
        case 'r': o.relay_cpu = (int)strtol(optarg, NULL, 10); break;
        case 'l': o.client_cpu = (int)strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench_copy [--bytes N] [--noise [--e2e] | --crypto] "
                            "[--relay-cpu C] [--client-cpu C]\n");
            return 2;
        }
    }
    if (o.e2e && !o.noise) {
        fprintf(stderr, "bench_copy: --e2e goes with --noise\n");
        return 2;
    }
    /* Sessions: pusher -> relay (leg A), relay -> sink (leg B). */
    rly_keypair k1, k2;
    rly_noise_identity *id1 = NULL, *id2 = NULL;
    rly_noise *a_i = NULL, *a_r = NULL, *b_i = NULL, *b_r = NULL, *e_i = NULL, *e_r = NULL;
    if (o.noise || o.crypto) {
        if (rly_keypair_generate(&k1) != 0 || rly_keypair_generate(&k2) != 0 ||
            rly_noise_identity_new(&id1, &k1, NULL, NULL) != 0 ||
            rly_noise_identity_new(&id2, &k2, NULL, NULL) != 0 ||
            noise_pair(id1, id2, &a_i, &a_r) != 0 || noise_pair(id2, id1, &b_i, &b_r) != 0 ||
            (o.e2e && noise_pair(id1, id2, &e_i, &e_r) != 0)) {
            fprintf(stderr, "bench_copy: Noise set-up failed\n");
            return 1;
        }
    }
    if (o.crypto) {
        if (crypto_only(&o, a_i, a_r, b_i) != 0) {
            fprintf(stderr, "bench_copy: crypto failed\n");
            return 1;
        }
        return 0;
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 8) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &slen) != 0) {
        perror("bench_copy: listen");
        return 1;
    }
    int ca = connect_to(&sa), ra = accept(lfd, NULL, NULL);
    int cb = connect_to(&sa), rb = accept(lfd, NULL, NULL);
    if (ca < 0 || ra < 0 || cb < 0 || rb < 0) {
        perror("bench_copy: connect");
        return 1;
    }
    fwd ab = {.in = ra, .out = rb, .dec = a_r, .enc = b_i, .cpu = o.relay_cpu};
    fwd ba = {.in = rb, .out = ra, .cpu = o.relay_cpu};
    pusher p = {
        .fd = ca, .bytes = o.bytes, .enc = o.noise ? a_i : NULL, .inner = e_i, .cpu = o.client_cpu};
    if (!o.noise)
        ab.dec = ab.enc = NULL;
    pthread_t tab, tba, tp;
    pin(o.client_cpu);
    double t0 = now_s();
    pthread_create(&tab, NULL, fwd_main, &ab);
    pthread_create(&tba, NULL, fwd_main, &ba);
    pthread_create(&tp, NULL, push_main, &p);
    /* The sink: read B to EOF (decrypting with --noise; with --e2e the outer plaintext is the
     * end-to-end session's frames, which span outer frames: that session keeps the pieces). */
    static uint8_t buf[CHUNK];
    unsigned long long got = 0;
    int err = 0;
    for (;;) {
        ssize_t n = read(cb, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!o.noise) {
            got += (unsigned long long)n;
            continue;
        }
        uint8_t *in = buf, *pt;
        size_t inlen = (size_t)n, ptlen;
        int rv;
        while ((rv = rly_noise_decrypt_next(b_r, &in, &inlen, &pt, &ptlen)) > 0) {
            if (!e_r) {
                got += ptlen;
                continue;
            }
            uint8_t *ept;
            size_t eptlen;
            while ((rv = rly_noise_decrypt_next(e_r, &pt, &ptlen, &ept, &eptlen)) > 0)
                got += eptlen;
            if (rv < 0)
                break;
        }
        if (rv < 0) {
            err = 1;
            break;
        }
    }
    double secs = now_s() - t0;
    if (err) { /* the others may be blocked writing to a sink that stopped reading: unblock them */
        shutdown(ca, SHUT_RDWR);
        shutdown(ra, SHUT_RDWR);
        shutdown(rb, SHUT_RDWR);
    }
    shutdown(cb, SHUT_WR);
    pthread_join(tp, NULL);
    pthread_join(tab, NULL);
    pthread_join(tba, NULL);
    if (err || p.err || ab.err || got != o.bytes) {
        fprintf(stderr, "bench_copy: transfer failed (%llu of %llu bytes)\n", got, o.bytes);
        return 1;
    }
    double cpu = ab.cpu_s + ba.cpu_s;
    printf("copy mode=%s bytes=%llu seconds=%.3f mbps=%.0f relay_cpu_s=%.3f relay_cpu_util=%.2f\n",
           o.e2e     ? "noise-e2e"
           : o.noise ? "noise"
                     : "plain",
           got, secs, (double)got / secs / 1e6, cpu, cpu / secs);
    close(ca);
    close(cb);
    close(ra);
    close(rb);
    close(lfd);
    return 0;
}
