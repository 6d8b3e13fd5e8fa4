/*
 * jetpack-stage2: runs one app (or one of its event handlers) of a pod inside the pod's jail on
 * FreeBSD. The FreeBSD backend of Jetpack (shared/src/run/freebsd.ts, appExecArgv and
 * eventHandlerArgv) builds its command line; man/jetpack-freebsd.7 § Apps describes it.
 * Written from the FreeBSD manuals: jail(2) (jail_attach), jail(3) (jail_getid), rctl(2)
 * (rctl_add_rule), rctl(8) § SUBJECTS, procctl(2) (PROC_NO_NEW_PRIVS_CTL), chroot(2),
 * setgroups(2), setgid(2), setuid(2), execve(2). C11, libc (and libjail on FreeBSD) only.
 *
 * USAGE
 *   jetpack-stage2 --jail=NAME --chroot=DIR --uid=N --gid=N --groups=N,... --cwd=DIR
 *                  --env-fd=FD [--no-new-privs] [--rctl=RULE]... -- EXEC [ARG...]
 *
 *   Every option takes the `--opt=VALUE` form; all but --no-new-privs and --rctl are required,
 *   each once. In this order it:
 *     1. reads the environment from descriptor FD to end of file: `NAME=VALUE` entries, each ended
 *        by a NUL byte (at most 16 MiB; freebsd.ts encodeStage2Environment writes it), and closes FD;
 *     2. adds each --rctl RULE (`RESOURCE:ACTION=AMOUNT`, e.g. `memoryuse:deny=1073741824`) as
 *        `process:PID:RULE` for itself with rctl_add_rule(2): rules on a process subject are
 *        inherited across fork(2), and a jailed process may not add rules, so this comes first;
 *     3. attaches to the jail named NAME (jail_getid(3), jail_attach(2), as jexec(8) does);
 *     4. chdir(2) to DIR (a path inside the jail) and chroot(2) to it;
 *     5. setgroups(2) to GID followed by the --groups list (FreeBSD before 15 takes the first
 *        entry as the effective gid; later ones take the list as is, where GID is then a
 *        supplementary group the process has anyway), setgid(2) GID, setuid(2) UID;
 *     6. with --no-new-privs, procctl(2) PROC_NO_NEW_PRIVS_CTL: setuid/setgid bits and
 *        file capabilities grant nothing to the app;
 *     7. chdir(2) to the working directory given by --cwd (absolute, inside the app's root);
 *     8. execve(2) EXEC with exactly the environment read in step 1. An EXEC without `/` is looked
 *        up in that environment's PATH (appc spec/ace.md § Execution Environment), or in
 *        /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin when it sets none.
 *
 *   The environment never appears on the command line, where any user of the host could read it
 *   with ps(1) -e. The signal mask and dispositions are reset to their defaults before execve(2).
 *
 * EXIT STATUS
 *   The app's, since the app replaces this process. 125 when a step above failed or the command
 *   line is wrong (one line on stderr: `jetpack-stage2: <what>: <strerror>`; --env-fd must be 3 or
 *   more, --no-new-privs needs FreeBSD 14.0 or later), 126 when EXEC was
 *   found but could not be executed, 127 when it was not found.
 *
 * TEST BUILD
 *   Outside FreeBSD this file builds only with -DJETPACK_STAGE2_HOST_TEST, the build the test
 *   suite runs on Linux (test/stage2.test.ts): step 2 only prints `jetpack-stage2: test build:
 *   rctl process:PID:RULE` on stderr; step 3 chroots into $JETPACK_STAGE2_TEST_JAILS/NAME (what
 *   jail_attach(2) does to the root directory) and prints `... jail_attach NAME`; step 6 uses
 *   Linux's PR_SET_NO_NEW_PRIVS. Everything else is the same code as on FreeBSD.
 */
#if defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/jail.h>
#include <sys/procctl.h>
#include <sys/rctl.h>
#include <jail.h>
#elif defined(JETPACK_STAGE2_HOST_TEST)
#define _GNU_SOURCE
#include <sys/prctl.h>
#else
#error "jetpack-stage2 is FreeBSD's; elsewhere build it only with -DJETPACK_STAGE2_HOST_TEST"
#endif
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "launcher.h"

#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127
#define ENV_LIMIT (16u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * Print `jetpack-stage2: <what>: <strerror(errno)>` as one line (control characters in <what>
 * become '?') and exit with `status`.
 */
static void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int status, const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    launcher_vfail("jetpack-stage2", status, err, fmt, ap);
}

/* A usage error: `jetpack-stage2: <what>: Invalid argument`, exit 125. */
#define usage_fail(...) (errno = EINVAL, die(EXIT_SETUP, __VA_ARGS__))

/* A uid or gid: decimal digits only, 0 .. 4294967294 ((uid_t)-1 means "unchanged" to the kernel). */
static unsigned long parse_id(const char *opt, const char *s)
{
    unsigned long v;
    if (launcher_parse_id(s, &v) < 0)
        usage_fail("%s \"%s\": not a number between 0 and 4294967294", opt, s);
    return v;
}

/* `--groups=` ("" or "N,N,...") into groups[1..]; groups[0] is left for the gid. Returns the count. */
static size_t parse_groups(const char *s, gid_t **out)
{
    long max = sysconf(_SC_NGROUPS_MAX);
    size_t n = (*s == '\0') ? 0 : 1;
    for (const char *p = s; *p != '\0'; p++)
        n += (*p == ',');
    if (max > 0 && n > (size_t)max)
        usage_fail("--groups: %zu groups, the kernel allows %ld", n, max);
    gid_t *g = calloc(n + 1, sizeof *g);
    char *copy = strdup(s);
    if (g == NULL || copy == NULL)
        die(EXIT_SETUP, "calloc");
    char *start = copy;
    for (size_t i = 1; i <= n; i++) {
        char *comma = strchr(start, ',');
        if (comma != NULL)
            *comma = '\0';
        g[i] = (gid_t)parse_id("--groups", start);
        start = comma != NULL ? comma + 1 : start;
    }
    free(copy);
    *out = g;
    return n;
}

/* Read descriptor fd to end of file into `NAME=VALUE` strings: a NULL-terminated, allocated array. */
static char **read_env(int fd)
{
    /* The buffer grows up to one byte over the limit, so that exactly ENV_LIMIT bytes pass. */
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        die(EXIT_SETUP, "malloc");
    for (;;) {
        if (len == cap) {
            if (cap > ENV_LIMIT) {
                errno = E2BIG;
                die(EXIT_SETUP, "--env-fd=%d: over %u bytes", fd, ENV_LIMIT);
            }
            cap = cap * 2 > ENV_LIMIT ? ENV_LIMIT + 1 : cap * 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                die(EXIT_SETUP, "realloc");
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die(EXIT_SETUP, "--env-fd=%d: read", fd);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > 0 && buf[len - 1] != '\0')
        usage_fail("--env-fd=%d: the last entry is not ended by a NUL byte", fd);
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += (buf[i] == '\0');
    char **env = calloc(count + 1, sizeof *env);
    if (env == NULL)
        die(EXIT_SETUP, "calloc");
    size_t k = 0;
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
        const char *eq = strchr(buf + i, '=');
        if (eq == NULL || eq == buf + i)
            usage_fail("--env-fd=%d: entry %zu is not NAME=VALUE", fd, k + 1);
        env[k++] = buf + i;
    }
    env[k] = NULL;
    return env;
}

/* The value of NAME in env, or NULL. */
static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; *env != NULL; env++) {
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    }
    return NULL;
}

/*
 * execve(2) argv[0] with env; without `/` in it, try each directory of env's PATH in order, as
 * execvp(3) would, but with the app's PATH rather than ours. Returns only on failure: 126 when a
 * candidate existed but could not be executed, 127 when none was found.
 */
static int exec_app(char **argv, char **env)
{
    const char *file = argv[0];
    if (strchr(file, '/') != NULL) {
        execve(file, argv, env);
        return errno == ENOENT || errno == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
    }
    const char *path = env_get(env, "PATH");
    if (path == NULL)
        path = DEFAULT_PATH;
    int status = EXIT_NOT_FOUND, saved = ENOENT;
    const char *dir = path;
    for (;;) {
        const char *colon = strchr(dir, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - dir) : strlen(dir);
        char full[PATH_MAX];
        /* An empty PATH entry is the working directory (execvp(3)). */
        int n = dlen == 0 ? snprintf(full, sizeof full, "%s", file) : snprintf(full, sizeof full, "%.*s/%s", (int)dlen, dir, file);
        if (n > 0 && (size_t)n < sizeof full) {
            execve(full, argv, env);
            if (errno != ENOENT && errno != ENOTDIR) {
                status = EXIT_CANNOT_EXEC;
                saved = errno;
            }
        }
        if (colon == NULL)
            break;
        dir = colon + 1;
    }
    errno = saved;
    return status;
}

struct options {
    const char *jail, *chroot, *cwd, *uid, *gid, *groups, *env_fd;
    int no_new_privs;
    const char **rctl;
    size_t nrctl;
    char **argv;
};

/* Store `--name=VALUE` in *slot, refusing a second one. */
static void once(const char **slot, const char *name, const char *value)
{
    if (*slot != NULL)
        usage_fail("%.*s given twice", (int)strlen(name) - 1, name);
    *slot = value;
}

static struct options parse_options(int argc, char **argv)
{
    struct options o = {0};
    o.rctl = calloc((size_t)argc, sizeof *o.rctl);
    if (o.rctl == NULL)
        die(EXIT_SETUP, "calloc");
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"--jail=", offsetof(struct options, jail)},
        {"--chroot=", offsetof(struct options, chroot)},
        {"--cwd=", offsetof(struct options, cwd)},
        {"--uid=", offsetof(struct options, uid)},
        {"--gid=", offsetof(struct options, gid)},
        {"--groups=", offsetof(struct options, groups)},
        {"--env-fd=", offsetof(struct options, env_fd)},
    };
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--no-new-privs") == 0) {
            o.no_new_privs = 1;
            continue;
        }
        if (strncmp(a, "--rctl=", 7) == 0) {
            o.rctl[o.nrctl++] = a + 7;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof valued / sizeof valued[0]; k++) {
            size_t len = strlen(valued[k].name);
            if (strncmp(a, valued[k].name, len) == 0) {
                once((const char **)((char *)&o + valued[k].offset), valued[k].name, a + len);
                break;
            }
        }
        if (k == sizeof valued / sizeof valued[0])
            usage_fail("unknown option \"%s\" (the app's command follows --)", a);
    }
    if (i >= argc)
        usage_fail("no command after --");
    o.argv = argv + i;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
        if (*(const char **)((char *)&o + valued[k].offset) == NULL)
            usage_fail("%sVALUE is required", valued[k].name);
    }
    if (*o.jail == '\0')
        usage_fail("--jail: empty jail name");
    if (o.chroot[0] != '/')
        usage_fail("--chroot \"%s\": not an absolute path", o.chroot);
    if (o.cwd[0] != '/')
        usage_fail("--cwd \"%s\": not an absolute path", o.cwd);
    for (size_t k = 0; k < o.nrctl; k++) {
        const char *r = o.rctl[k];
        const char *colon = strchr(r, ':');
        if (colon == NULL || colon == r || strchr(colon, '=') == NULL || strchr(colon + 1, ':') != NULL)
            usage_fail("--rctl \"%s\": expected RESOURCE:ACTION=AMOUNT", r);
    }
    return o;
}

/* Step 2: limit this process (and so the app) by RULE, before entering the jail. */
static void add_process_rule(const char *rule)
{
    char full[512];
    int n = snprintf(full, sizeof full, "process:%ld:%s", (long)getpid(), rule);
    if (n < 0 || (size_t)n >= sizeof full) {
        errno = ENAMETOOLONG;
        die(EXIT_SETUP, "--rctl \"%s\"", rule);
    }
#if defined(__FreeBSD__)
    /* rctl(8) passes the rule with its terminating NUL and no output buffer. */
    if (rctl_add_rule(full, strlen(full) + 1, NULL, 0) != 0)
        die(EXIT_SETUP, "rctl_add_rule %s (is kern.racct.enable=1 set?)", full);
#else
    fprintf(stderr, "jetpack-stage2: test build: rctl %s\n", full);
#endif
}

/* Step 3: enter the jail named NAME. */
static void attach(const char *name)
{
#if defined(__FreeBSD__)
    int jid = jail_getid(name);
    if (jid < 0) {
        errno = ESRCH;
        die(EXIT_SETUP, "jail \"%s\": %s", name, jail_errmsg);
    }
    if (jail_attach(jid) != 0)
        die(EXIT_SETUP, "jail_attach \"%s\" (jid %d)", name, jid);
#else
    /* jail_attach(2) makes the jail's path the root directory: the test build does the same with
     * $JETPACK_STAGE2_TEST_JAILS/NAME. */
    const char *jails = getenv("JETPACK_STAGE2_TEST_JAILS");
    char root[PATH_MAX];
    if (jails == NULL || strstr(name, "..") != NULL) {
        errno = EINVAL;
        die(EXIT_SETUP, "test build: jail \"%s\" (JETPACK_STAGE2_TEST_JAILS unset, or a name with ..)", name);
    }
    int n = snprintf(root, sizeof root, "%s/%s", jails, name);
    if (n < 0 || (size_t)n >= sizeof root || chdir(root) != 0 || chroot(".") != 0)
        die(EXIT_SETUP, "test build: jail \"%s\" at %s", name, root);
    fprintf(stderr, "jetpack-stage2: test build: jail_attach %s\n", name);
#endif
}

/* Step 6: no setuid bit or file capability grants anything from here on. */
static void no_new_privs(void)
{
#if defined(__FreeBSD__) && defined(PROC_NO_NEW_PRIVS_CTL)
    int arg = PROC_NO_NEW_PRIVS_ENABLE;
    if (procctl(P_PID, getpid(), PROC_NO_NEW_PRIVS_CTL, &arg) != 0)
        die(EXIT_SETUP, "procctl PROC_NO_NEW_PRIVS_CTL");
#elif defined(__FreeBSD__)
    /* procctl(2) PROC_NO_NEW_PRIVS_CTL came with FreeBSD 14.0: refuse rather than run without it. */
    errno = ENOSYS;
    die(EXIT_SETUP, "--no-new-privs: this FreeBSD has no PROC_NO_NEW_PRIVS_CTL (FreeBSD 14.0 or later)");
#else
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die(EXIT_SETUP, "prctl PR_SET_NO_NEW_PRIVS");
#endif
}

int main(int argc, char **argv)
{
    struct options o = parse_options(argc, argv);
    uid_t uid = (uid_t)parse_id("--uid", o.uid);
    gid_t gid = (gid_t)parse_id("--gid", o.gid);
    gid_t *groups;
    size_t ngroups = parse_groups(o.groups, &groups);
    groups[0] = gid;
    const char *fd_s = o.env_fd;
    if (strspn(fd_s, "0123456789") != strlen(fd_s) || *fd_s == '\0' || strlen(fd_s) > 4 || atoi(fd_s) < 3)
        usage_fail("--env-fd \"%s\": expected a descriptor number of 3 or more (0, 1 and 2 are the app's)", fd_s);
    char **env = read_env(atoi(fd_s));

    for (size_t k = 0; k < o.nrctl; k++)
        add_process_rule(o.rctl[k]);
    attach(o.jail);
    if (chdir(o.chroot) != 0)
        die(EXIT_SETUP, "chdir %s", o.chroot);
    if (chroot(".") != 0)
        die(EXIT_SETUP, "chroot %s", o.chroot);
    if (setgroups((int)ngroups + 1, groups) != 0)
        die(EXIT_SETUP, "setgroups");
    if (setgid(gid) != 0)
        die(EXIT_SETUP, "setgid %lu", (unsigned long)gid);
    if (setuid(uid) != 0)
        die(EXIT_SETUP, "setuid %lu", (unsigned long)uid);
    if (o.no_new_privs)
        no_new_privs();
    if (chdir(o.cwd) != 0)
        die(EXIT_SETUP, "chdir %s (the working directory, inside the app's root)", o.cwd);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Every signal, the real-time ones included: FreeBSD's NSIG (32) counts only the old ones. */
#if defined(__FreeBSD__)
    int maxsig = _SIG_MAXSIG;
#else
    int maxsig = SIGRTMAX;
#endif
    for (int s = 1; s <= maxsig; s++)
        signal(s, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and signals libc keeps */

    int status = exec_app(o.argv, env);
    die(status, "%s", o.argv[0]);
}
