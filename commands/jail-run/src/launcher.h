/*
 * What Jetpack's two launchers share: jetpack-stage1 (Linux, stage1.c) and jetpack-stage2
 * (FreeBSD, stage2.c). Their one-line error and their reading of numeric user and group IDs.
 * C11, libc only; every function is static inline so that each launcher takes what it uses.
 */
#ifndef JETPACK_LAUNCHER_H
#define JETPACK_LAUNCHER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Write `PROG: <what>: <strerror(err)>` to stderr as one line, with write(2) only (safe after
 * fork), where <what> is `fmt` formatted and its control characters (from a path, say) became '?';
 * then _exit(status).
 */
static inline void launcher_vfail(const char *prog, int status, int err, const char *fmt, va_list ap)
    __attribute__((noreturn, format(printf, 4, 0)));
static inline void launcher_vfail(const char *prog, int status, int err, const char *fmt, va_list ap)
{
    char what[1024];
    char line[1400];
    vsnprintf(what, sizeof what, fmt, ap);
    for (char *p = what; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    int n = snprintf(line, sizeof line, "%s: %s: %s\n", prog, what, strerror(err));
    if (n > 0) {
        size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (line[len - 1] != '\n')
            line[len - 1] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
    _exit(status);
}

/*
 * A uid or gid as the launchers take them: decimal digits only, 0 .. 4294967294 ((uid_t)-1 means
 * "unchanged" to the kernel). Returns 0 and sets *out, or -1 for anything else.
 */
static inline int launcher_parse_id(const char *s, unsigned long *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 10 || strspn(s, "0123456789") != len)
        return -1;
    unsigned long long v = strtoull(s, NULL, 10);
    if (v > 4294967294ULL)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

#endif
