/* The bytes a process holds from libc's malloc, for bench_tls.py: MicroPython's
 * mbedTLS on the Unix port allocates there, not from the MicroPython heap.
 * Loaded with LD_PRELOAD; on SIGUSR1 writes "LIBC <in use> <peak since the
 * last SIGUSR1>" to stderr and starts a new peak. Counts malloc, calloc,
 * realloc and free by their usable sizes (glibc's __libc_* underneath). */
#define _GNU_SOURCE
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long cur, peak;

static void add(void *p, long sign) {
    if (p) {
        cur += sign * (long)malloc_usable_size(p);
        if (cur > peak) {
            peak = cur;
        }
    }
}

void *malloc(size_t n) {
    void *p = __libc_malloc(n);
    add(p, 1);
    return p;
}

void *calloc(size_t a, size_t b) {
    void *p = __libc_calloc(a, b);
    add(p, 1);
    return p;
}

void *realloc(void *old, size_t n) {
    add(old, -1);
    void *p = __libc_realloc(old, n);
    add(p ? p : old, 1);
    return p;
}

void free(void *p) {
    add(p, -1);
    __libc_free(p);
}

static void report(int sig) {
    char buf[80];
    int n = snprintf(buf, sizeof buf, "LIBC %ld %ld\n", cur, peak);
    (void)sig;
    if (write(2, buf, n) < 0) {
        return;
    }
    peak = cur;
}

__attribute__((constructor)) static void init(void) {
    signal(SIGUSR1, report);
}
