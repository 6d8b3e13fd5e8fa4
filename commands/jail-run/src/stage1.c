/*
 * jetpack-stage1: the Linux pod launcher of Jetpack ("stage1").
 *
 * Runs the apps of one appc pod together: one PID, UTS, IPC and network namespace for the pod,
 * and for each app its own mount namespace with its own rootfs as `/`, the way appc spec/ace.md
 * § Execution Environment, § Volume Setup and spec/OS-SPEC.md describe it. C11, libc only.
 *
 * USAGE
 *   jetpack-stage1 --plan-fd=N [--status-fd=M]
 *
 *   The plan (what to run) is read from descriptor N up to end of file: a list of tokens, each
 *   ended by a NUL byte, so that any value (paths, environment values) passes unchanged and
 *   nothing of it shows in /proc/PID/cmdline. At most 16 MiB. shared/src/run/linux.ts
 *   (encodePlan) writes it. Pod tokens come first:
 *     net=private          a new network namespace holding only `lo`, brought up (default)
 *     net=host             the caller's network namespace
 *     net=/run/netns/NAME  join that network namespace (set up by the caller: veth, address, route)
 *     hostname=H           hostname of the pod (required unless join=)
 *     join=PID             enter the running pod whose init has host pid PID (its PID, UTS, IPC and
 *                          network namespaces) instead of making a new one: `pod console`
 *     stop-timeout=S       seconds between SIGTERM and SIGKILL when a failed app stops the pod (10)
 *   then, for each app, `app=NAME` followed by its tokens:
 *     rootfs=DIR           absolute host path of the app's rootfs; becomes its `/` (pivot_root(2))
 *     uid=N gid=N          numeric user and group the app runs as (0 .. 4294967294)
 *     groups=N,N,...       the complete supplementary group list ("" = none)
 *     cwd=DIR              absolute working directory inside the rootfs
 *     env=NAME=VALUE       one variable of the app's (and its event handlers') environment
 *     exec=K ARG1 ... ARGK the app's argv (K tokens follow); ARGV[0] without `/` is searched in PATH
 *     pre-start=K ...      the pre-start event handler's argv, run as root before the app
 *     post-stop=K ...      the post-stop event handler's argv, run as root after the app exits
 *     mount=MODE SRC DST   bind-mount host path SRC (absolute, reached without any symlink) on
 *                          DST inside the rootfs (resolved as if chrooted, no symlink allowed;
 *                          missing parts made, e.g. inside a volume mounted before); MODE: rw,
 *                          ro, rrw, rro (r = recursive)
 *     caps=HEX             the capability bounding set (default: appc's 14, 0xa80425fb)
 *     no-new-privs         set PR_SET_NO_NEW_PRIVS for the app and its handlers
 *     readonly-rootfs      the rootfs is mounted read-only (volumes keep their own mode)
 *     cgroup=DIR           join this cgroup (writes to DIR/cgroup.procs) before anything else
 *     pty                  run the app on a new pseudo-terminal of the pod and relay it to our
 *                          stdin/stdout (console); our terminal, if any, is put in raw mode
 *
 *   --status-fd=M: the launcher reports on descriptor M, one line each:
 *     `init PID`         the host pid of the pod's init (PID 1 inside), once it exists
 *     `app NAME STATUS`  an app ended (exit status, 128+N for signal N)
 *
 * PROCESSES
 *   outer   the process the caller spawned. Unshares the PID namespace (join=: enters the pod's
 *           namespaces), forks PID 1, forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and
 *           SIGUSR2 to it, waits for it and exits with its status.
 *   PID 1   the pod's init (`jetpack-init`). PR_SET_PDEATHSIG(SIGKILL): if the outer process dies,
 *           PID 1 dies and the kernel kills everything else in the PID namespace. Unshares the
 *           mount, UTS, IPC and network namespaces, sets the hostname, forks one supervisor per
 *           app in plan order, forwards signals to them, reaps every orphan, and exits once all
 *           apps ended: with the first failing app's status, else 0. When an app fails (status
 *           not 0) the others get SIGTERM, and stop-timeout seconds later everything is killed.
 *   app supervisor (`jetpack-app`), one per app: joins the app's cgroups, unshares a mount
 *           namespace, bind-mounts the rootfs on itself, mounts the volumes, DIR/proc (procfs),
 *           DIR/sys (sysfs, read-only), DIR/dev (tmpfs: null zero full random urandom tty console,
 *           pts, ptmx, shm, fd, stdin, stdout, stderr), pivot_root(".", ".") into it, cuts its
 *           capability bounding set to caps=, runs pre-start (a failure ends the app with the
 *           handler's status, the app never starts), forks the app, forwards signals to it, reaps
 *           its orphans (PR_SET_CHILD_SUBREAPER), runs post-stop, exits with the app's status.
 *   app     setgroups, setgid, setuid, chdir, environ = env=..., execvp, with default signal
 *           dispositions, an empty signal mask and the caller's umask.
 *
 *   Signals are blocked from the start and only consumed with sigwaitinfo(2), so none is lost
 *   between start-up and fork. A signal the kernel generated (si_code SI_KERNEL: ^C, ^\ or a hangup
 *   on the controlling terminal) is not forwarded, since the kernel already sent it to the whole
 *   foreground process group, the apps included.
 *
 *   Mount points: proc, sys and dev are created (0755) in DIR when missing; when the image put a
 *   symlink (or a non-directory) there, the launcher refuses to start rather than follow it.
 *   /dev/console is the caller's terminal when stdin, stdout or stderr is one, else /dev/null.
 *
 * EXIT STATUS
 *   the pod's status (above); 128+N when PID 1 was killed by signal N;
 *   125 when the pod could not be set up (one line on stderr: `jetpack-stage1: <what>: <strerror>`);
 *   for an app: 126 when ARGV[0] was found but could not be executed, 127 when it was not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <termios.h>
#include <unistd.h>

#include "launcher.h"

extern char **environ;

#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* appc spec/ace.md's default bounding set for os/linux/capabilities-*-set: CAP_AUDIT_WRITE,
 * CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_KILL, CAP_MKNOD, CAP_NET_RAW,
 * CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT. */
#define DEFAULT_CAPS 0xa80425fbULL

struct mount_spec {
    int ro, rec;
    const char *source, *target;
};

/* One app of the plan. */
struct app {
    const char *name, *rootfs, *cwd;
    const char *uid_s, *gid_s;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    char **env;
    size_t nenv;
    char **argv, **pre_start, **post_stop;
    struct mount_spec *mounts;
    size_t nmounts;
    char **cgroups;
    size_t ncgroups;
    uint64_t caps;
    int no_new_privs, readonly_rootfs, pty;
    /* PID 1's bookkeeping */
    pid_t pid;
    int done;
};

/* The whole plan. */
struct plan {
    int net;                /* 0 private, 1 host, 2 join a named network namespace */
    const char *netns;      /* net=PATH */
    const char *hostname;
    pid_t join;             /* join=PID, else 0 */
    unsigned stop_timeout;
    struct app *apps;
    size_t napps;
};

/* The signals the launcher processes pass on to their children. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static int g_status_fd = -1;

/*
 * Print `jetpack-stage1: <what>: <strerror(errno)>` as one line (control characters in <what>,
 * e.g. from a path, become '?') and exit 125.
 */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    launcher_vfail("jetpack-stage1", EXIT_SETUP, err, fmt, ap);
}

/* A usage error: `jetpack-stage1: <what>: Invalid argument`, exit 125. */
static void usage_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_fail(const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    errno = EINVAL;
    fail("%s", what);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n > 0 ? n : 1, size);
    if (p == NULL)
        fail("calloc");
    return p;
}

/* A uid or gid: decimal digits only, 0 .. 4294967294 ((uid_t)-1 means "unchanged" to the kernel). */
static unsigned long parse_id(const char *opt, const char *s)
{
    unsigned long v;
    if (launcher_parse_id(s, &v) < 0)
        usage_fail("%s \"%s\": not a number between 0 and 4294967294", opt, s);
    return v;
}

/* "1,2,3" (or "") into a freshly allocated array. */
static void parse_groups(const char *s, struct app *a)
{
    long max = sysconf(_SC_NGROUPS_MAX);
    size_t n = (*s == '\0') ? 0 : 1;
    for (const char *p = s; *p != '\0'; p++)
        n += (*p == ',');
    if (max > 0 && n > (size_t)max)
        usage_fail("groups: %zu groups, the kernel allows %ld", n, max);
    a->groups = xcalloc(n, sizeof *a->groups);
    a->ngroups = n;
    if (n == 0)
        return;
    char *copy = strdup(s);
    if (copy == NULL)
        fail("strdup");
    size_t i = 0;
    char *start = copy;
    for (;;) {
        char *comma = strchr(start, ',');
        if (comma != NULL)
            *comma = '\0';
        a->groups[i++] = (gid_t)parse_id("groups", start);
        if (comma == NULL)
            break;
        start = comma + 1;
    }
    free(copy);
}

/* Read descriptor `fd` to end of file (at most `limit` bytes) into a NUL-terminated buffer. */
static char *read_all(int fd, size_t limit, size_t *lenp, const char *what)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        fail("malloc");
    for (;;) {
        if (len == cap) {
            if (cap >= limit)
                usage_fail("%s: over %zu bytes", what, limit);
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (buf == NULL)
                fail("realloc");
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("read %s", what);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *lenp = len;
    return buf;
}

static int parse_fd(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    long fd = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || fd < 0 || fd > 1024)
        usage_fail("%s \"%s\": expected a descriptor number", opt, s);
    return (int)fd;
}

/* The plan's tokens, and a cursor over them. */
static char **g_tok;
static size_t g_ntok, g_ti;

static char *next_token(const char *what)
{
    if (g_ti >= g_ntok)
        usage_fail("plan: %s: missing value", what);
    return g_tok[g_ti++];
}

/* `key=K` followed by K raw tokens: a NULL-terminated argv. */
static char **take_argv(const char *key, const char *count)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(count != NULL ? count : "", &end, 10);
    if (count == NULL || errno != 0 || *end != '\0' || end == count || n < 1 || n > 65536)
        usage_fail("plan: %s=\"%s\": expected the number of arguments that follow", key, count != NULL ? count : "");
    char **v = xcalloc(n + 1, sizeof *v);
    for (unsigned long i = 0; i < n; i++)
        v[i] = next_token(key);
    v[n] = NULL;
    return v;
}

static void need_value(const char *key, const char *value)
{
    if (value == NULL)
        usage_fail("plan: %s: expected %s=VALUE", key, key);
}

static void need_app(const struct plan *p, const char *key)
{
    if (p->napps == 0)
        usage_fail("plan: %s before the first app=", key);
}

/* Parse the plan from descriptor `fd` into `p`. */
static void read_plan(int fd, struct plan *p)
{
    size_t len;
    char *buf = read_all(fd, (size_t)16 << 20, &len, "the plan (--plan-fd)");
    close(fd);
    if (len > 0 && buf[len - 1] != '\0')
        usage_fail("plan: the last token is not ended by a NUL byte");
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += buf[i] == '\0';
    g_tok = xcalloc(count, sizeof *g_tok);
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        g_tok[g_ntok++] = buf + i;

    size_t napps = 0;
    for (size_t i = 0; i < g_ntok; i++)
        napps += strncmp(g_tok[i], "app=", 4) == 0;
    memset(p, 0, sizeof *p);
    p->stop_timeout = 10;
    p->apps = xcalloc(napps, sizeof *p->apps);

    struct app *a = NULL;
    while (g_ti < g_ntok) {
        char *key = g_tok[g_ti++];
        char *value = strchr(key, '=');
        if (value != NULL)
            *value++ = '\0';
        if (strcmp(key, "app") == 0) {
            need_value(key, value);
            a = &p->apps[p->napps++];
            a->name = value;
            a->caps = DEFAULT_CAPS;
            a->env = xcalloc(g_ntok + 1, sizeof *a->env);
            a->mounts = xcalloc(g_ntok, sizeof *a->mounts);
            a->cgroups = xcalloc(g_ntok, sizeof *a->cgroups);
        } else if (a == NULL) {
            if (strcmp(key, "net") == 0) {
                need_value(key, value);
                if (strcmp(value, "private") == 0)
                    p->net = 0;
                else if (strcmp(value, "host") == 0)
                    p->net = 1;
                else if (value[0] == '/')
                    p->net = 2, p->netns = value;
                else
                    usage_fail("plan: net=\"%s\": expected private, host or the path of a network namespace", value);
            } else if (strcmp(key, "hostname") == 0) {
                need_value(key, value);
                p->hostname = value;
            } else if (strcmp(key, "join") == 0) {
                need_value(key, value);
                p->join = (pid_t)parse_id("join", value);
                if (p->join < 1)
                    usage_fail("plan: join=%s: not a process", value);
            } else if (strcmp(key, "stop-timeout") == 0) {
                need_value(key, value);
                p->stop_timeout = (unsigned)parse_id("stop-timeout", value);
            } else {
                need_app(p, key);
            }
        } else if (strcmp(key, "rootfs") == 0) {
            need_value(key, value);
            a->rootfs = value;
        } else if (strcmp(key, "uid") == 0) {
            need_value(key, value);
            a->uid_s = value;
        } else if (strcmp(key, "gid") == 0) {
            need_value(key, value);
            a->gid_s = value;
        } else if (strcmp(key, "groups") == 0) {
            need_value(key, value);
            parse_groups(value, a);
        } else if (strcmp(key, "cwd") == 0) {
            need_value(key, value);
            a->cwd = value;
        } else if (strcmp(key, "env") == 0) {
            need_value(key, value);
            char *eq = strchr(value, '=');
            if (eq == NULL || eq == value)
                usage_fail("plan: env=\"%s\": expected NAME=VALUE", value);
            a->env[a->nenv++] = value;
        } else if (strcmp(key, "exec") == 0) {
            a->argv = take_argv(key, value);
        } else if (strcmp(key, "pre-start") == 0) {
            a->pre_start = take_argv(key, value);
        } else if (strcmp(key, "post-stop") == 0) {
            a->post_stop = take_argv(key, value);
        } else if (strcmp(key, "mount") == 0) {
            need_value(key, value);
            struct mount_spec *m = &a->mounts[a->nmounts++];
            if (strcmp(value, "rw") == 0 || strcmp(value, "ro") == 0)
                m->rec = 0;
            else if (strcmp(value, "rrw") == 0 || strcmp(value, "rro") == 0)
                m->rec = 1;
            else
                usage_fail("plan: mount=\"%s\": expected rw, ro, rrw or rro", value);
            m->ro = value[strlen(value) - 1] == 'o';
            m->source = next_token("mount source");
            m->target = next_token("mount target");
            if (m->source[0] != '/' || m->target[0] != '/')
                usage_fail("plan: mount %s on %s: both must be absolute paths", m->source, m->target);
        } else if (strcmp(key, "caps") == 0) {
            need_value(key, value);
            char *end;
            errno = 0;
            a->caps = strtoull(value, &end, 16);
            if (errno != 0 || *end != '\0' || end == value)
                usage_fail("plan: caps=\"%s\": expected a hexadecimal mask", value);
        } else if (strcmp(key, "no-new-privs") == 0) {
            a->no_new_privs = 1;
        } else if (strcmp(key, "readonly-rootfs") == 0) {
            a->readonly_rootfs = 1;
        } else if (strcmp(key, "pty") == 0) {
            a->pty = 1;
        } else if (strcmp(key, "cgroup") == 0) {
            need_value(key, value);
            if (value[0] != '/')
                usage_fail("plan: cgroup=\"%s\": not an absolute path", value);
            a->cgroups[a->ncgroups++] = value;
        } else {
            usage_fail("plan: unknown token \"%s\"", key);
        }
    }
    if (p->napps == 0)
        usage_fail("plan: no app=");
    if (p->hostname == NULL && p->join == 0)
        usage_fail("plan: hostname= is required");
    if (p->join != 0 && p->napps != 1)
        usage_fail("plan: join= runs exactly one app");
    for (size_t i = 0; i < p->napps; i++) {
        struct app *x = &p->apps[i];
        x->env[x->nenv] = NULL;
        if (x->rootfs == NULL || x->rootfs[0] != '/')
            usage_fail("app %s: rootfs= must be an absolute path", x->name);
        if (x->cwd == NULL || x->cwd[0] != '/')
            usage_fail("app %s: cwd= must be an absolute path", x->name);
        if (x->uid_s == NULL || x->gid_s == NULL)
            usage_fail("app %s: uid= and gid= are required", x->name);
        x->uid = (uid_t)parse_id("uid", x->uid_s);
        x->gid = (gid_t)parse_id("gid", x->gid_s);
        if (x->groups == NULL)
            parse_groups("", x);
        if (x->argv == NULL)
            usage_fail("app %s: no exec=", x->name);
    }
}

static void parse_args(int argc, char **argv, struct plan *p)
{
    int plan_fd = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs("usage: jetpack-stage1 --plan-fd=N [--status-fd=M]   (see the head of stage1.c)\n", stdout);
            exit(0);
        } else if (strncmp(a, "--plan-fd=", 10) == 0) {
            plan_fd = parse_fd("--plan-fd", a + 10);
        } else if (strncmp(a, "--status-fd=", 12) == 0) {
            g_status_fd = parse_fd("--status-fd", a + 12);
            if (fcntl(g_status_fd, F_SETFD, FD_CLOEXEC) < 0)
                fail("--status-fd=%d", g_status_fd);
        } else {
            usage_fail("unknown argument \"%s\" (usage: jetpack-stage1 --plan-fd=N [--status-fd=M])", a);
        }
    }
    if (plan_fd < 0)
        usage_fail("--plan-fd=N is required");
    read_plan(plan_fd, p);
}

/* One line on the status descriptor (if any); a reader that went away is not our problem. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    if (g_status_fd < 0)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) {
        ssize_t w = write(g_status_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* Exit status of a waited-for process, shell style. */
static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return EXIT_SETUP;
}

/* The signal set the launcher processes consume: the forwarded ones, SIGCHLD and SIGALRM. */
static void waited_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(set, forwarded[i]);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGALRM);
}

static void ignore_signal(int sig)
{
    (void)sig;
}

/*
 * Give every waited-for signal a (never run, since they stay blocked) handler: a signal with the
 * default disposition sent to the init of a PID namespace is dropped by the kernel, and SIGCHLD
 * must not be SIG_IGN (that would auto-reap children).
 */
static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++) {
        if (sigaction(forwarded[i], &sa, NULL) < 0)
            fail("sigaction %d", forwarded[i]);
    }
    if (sigaction(SIGALRM, &sa, NULL) < 0)
        fail("sigaction SIGALRM");
    sa.sa_flags |= SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        fail("sigaction SIGCHLD");
}

/*
 * Forward signals to `child` and wait for it; with `reap_all` also reap any other process that
 * exits. Returns the child's status (never returns before the child exited).
 */
static int supervise(pid_t child, int reap_all)
{
    sigset_t set;
    waited_signals(&set);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            fail("sigwaitinfo");
        }
        if (sig == SIGALRM)
            continue;
        if (sig != SIGCHLD) {
            /* Terminal-generated signals already reached the app (same process group). */
            if (si.si_code != SI_KERNEL && kill(child, sig) < 0 && errno != ESRCH)
                fail("kill %d", (int)child);
            continue;
        }
        /* SIGCHLD: reap everything that exited (signals coalesce, so loop). The child is only
         * reaped here, after which nothing is forwarded to its (possibly reused) pid. */
        for (;;) {
            int st;
            pid_t r = waitpid(reap_all ? -1 : child, &st, WNOHANG);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno != ECHILD)
                fail("waitpid");
            if (r <= 0)
                break;
            if (r == child)
                return status_code(st);
        }
    }
}

/* In a new network namespace: `ip link set lo up` (SIOCSIFFLAGS, netdevice(7)). */
static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail("socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        fail("SIOCGIFFLAGS lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        fail("bring lo up (SIOCSIFFLAGS)");
    close(s);
}

/*
 * Create DIR/name (0755) if missing and return an O_PATH descriptor of it, refusing a symlink or
 * anything that is not a directory: the image must not be able to redirect a mount to the host.
 */
static int open_mountpoint(int rootfd, const char *rootfs, const char *name)
{
    if (mkdirat(rootfd, name, 0755) < 0 && errno != EEXIST)
        fail("mkdir %s/%s", rootfs, name);
    int fd = openat(rootfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        struct stat st;
        if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            errno = ELOOP;
            fail("%s/%s is a symlink in the image, refusing to mount over it", rootfs, name);
        }
        errno = err;
        fail("%s/%s: not a directory to mount on", rootfs, name);
    }
    return fd;
}

/* mount(2) onto the directory behind an O_PATH descriptor (no path re-resolution). */
static void mount_on_fd(const char *source, int fd, const char *fstype, unsigned long flags,
                        const char *data, const char *what)
{
    char target[64];
    snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
    if (mount(source, target, fstype, flags, data) < 0)
        fail("mount %s", what);
}

/* Create an empty file at `path` (in our fresh /dev tmpfs) and bind-mount `host` onto it. */
static void bind_node(const char *host, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        fail("create %s", path);
    close(fd);
    if (mount(host, path, NULL, MS_BIND, NULL) < 0)
        fail("bind-mount %s on %s", host, path);
}

static void make_symlink(const char *target, const char *path)
{
    if (symlink(target, path) < 0)
        fail("symlink %s -> %s", path, target);
}

/* The caller's terminal, for /dev/console: the first of stdin, stdout, stderr that is a tty. */
static const char *console_source(char *buf, size_t len)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (isatty(fd) && ttyname_r(fd, buf, len) == 0 && strncmp(buf, "/dev/", 5) == 0)
            return buf;
    }
    return "/dev/null";
}

/* The /dev of spec/OS-SPEC.md on a fresh tmpfs. Paths are relative to the (bind-mounted) rootfs. */
static void populate_dev(void)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    char path[64], host[64];
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(path, sizeof path, "dev/%s", nodes[i]);
        snprintf(host, sizeof host, "/dev/%s", nodes[i]);
        bind_node(host, path);
    }
    char tty[PATH_MAX];
    bind_node(console_source(tty, sizeof tty), "dev/console");

    if (mkdir("dev/pts", 0755) < 0)
        fail("mkdir dev/pts");
    if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") < 0)
        fail("mount devpts on dev/pts");
    make_symlink("pts/ptmx", "dev/ptmx");

    if (mkdir("dev/shm", 01777) < 0)
        fail("mkdir dev/shm");
    if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
        fail("mount tmpfs on dev/shm");

    make_symlink("/proc/self/fd", "dev/fd");
    make_symlink("/proc/self/fd/0", "dev/stdin");
    make_symlink("/proc/self/fd/1", "dev/stdout");
    make_symlink("/proc/self/fd/2", "dev/stderr");
}


/* openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS: `path` inside the tree of `rootfd`, as if
 * chrooted there, refusing any symlink on the way (a volume must never land outside the rootfs). */
static int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    while (*path == '/')
        path++;
    return (int)syscall(SYS_openat2, rootfd, *path == '\0' ? "." : path, &how, sizeof how);
}

/*
 * Make the missing parts of mount point `target` inside the tree of `rootfd`: directories, and for
 * a volume that is a file an empty file last. Each part is made with mkdirat(2)/openat(2) in a
 * parent opened by open_in_root, so nothing is made through a symlink or outside the root. This
 * matters for a volume mounted inside another volume: its mount point must exist in the outer
 * volume, which is mounted only now, over the rootfs directory made for it.
 */
static void make_mount_point(int rootfd, const struct app *a, const char *target, int is_dir)
{
    char path[PATH_MAX];
    while (*target == '/')
        target++;
    if (strlen(target) >= sizeof path) {
        errno = ENAMETOOLONG;
        fail("app %s: mount point /%s", a->name, target);
    }
    strcpy(path, target);
    char *end = path;
    for (;;) {
        char *slash = strchr(end, '/');
        int last = slash == NULL;
        if (!last)
            *slash = '\0';
        const char *name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
        if (strcmp(name, "..") == 0 || strcmp(name, ".") == 0 || *name == '\0') {
            errno = EINVAL;
            fail("app %s: mount point /%s: \".\", \"..\" or an empty name", a->name, target);
        }
        int fd = open_in_root(rootfd, path, O_PATH);
        if (fd >= 0) {
            close(fd);
        } else if (errno == ENOENT) {
            char parent[PATH_MAX];
            size_t plen = (size_t)(name - path);
            memcpy(parent, path, plen);
            parent[plen] = '\0';
            int pfd = open_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
            if (pfd < 0)
                fail("app %s: mount point /%s (without symlinks)", a->name, path);
            if (!last || is_dir) {
                if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST)
                    fail("app %s: mkdir /%s", a->name, path);
            } else {
                int f = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f < 0 && errno != EEXIST)
                    fail("app %s: create /%s", a->name, path);
                if (f >= 0)
                    close(f);
            }
            close(pfd);
        } else {
            fail("app %s: mount point /%s (without symlinks)", a->name, path);
        }
        if (last)
            break;
        *slash = '/';
        end = slash + 1;
    }
}

/* Mount one volume into the app's rootfs (bind, optionally recursive, optionally read-only). */
static void mount_volume(int rootfd, const struct app *a, const struct mount_spec *m)
{
    /* The source is reached without any symlink (RESOLVE_NO_SYMLINKS from /): the caller checked
     * the path, and a pod that can write a host directory must not swap a link in meanwhile. */
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int src = (int)syscall(SYS_openat2, AT_FDCWD, m->source, &how, sizeof how);
    if (src < 0)
        fail("app %s: volume source %s (it must be reached without symlinks)", a->name, m->source);
    struct stat st;
    if (fstat(src, &st) < 0)
        fail("app %s: volume source %s", a->name, m->source);
    make_mount_point(rootfd, a, m->target, S_ISDIR(st.st_mode));
    int dst = open_in_root(rootfd, m->target, O_PATH);
    if (dst < 0)
        fail("app %s: mount point %s (without symlinks)", a->name, m->target);
    char s[64], d[64];
    snprintf(s, sizeof s, "/proc/self/fd/%d", src);
    snprintf(d, sizeof d, "/proc/self/fd/%d", dst);
    if (mount(s, d, NULL, MS_BIND | (m->rec ? MS_REC : 0), NULL) < 0)
        fail("app %s: bind-mount %s on %s", a->name, m->source, m->target);
    close(dst);
    close(src);
    if (m->ro) {
        dst = open_in_root(rootfd, m->target, O_PATH);
        if (dst < 0)
            fail("app %s: reopen %s", a->name, m->target);
        struct mount_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (mount_setattr(dst, "", AT_EMPTY_PATH | (m->rec ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
            fail("app %s: make %s read-only", a->name, m->target);
        close(dst);
    }
}

/* The app's mounts and pivot_root(2) into its rootfs. Runs in the app's own mount namespace. */
static void setup_rootfs(const struct app *a)
{
    if (mount(a->rootfs, a->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail("bind-mount %s on itself", a->rootfs);
    if (chdir(a->rootfs) < 0)
        fail("chdir %s", a->rootfs);
    int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        fail("open %s", a->rootfs);

    for (size_t i = 0; i < a->nmounts; i++)
        mount_volume(rootfd, a, &a->mounts[i]);

    int fd = open_mountpoint(rootfd, a->rootfs, "proc");
    mount_on_fd("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "proc");
    close(fd);

    fd = open_mountpoint(rootfd, a->rootfs, "sys");
    mount_on_fd("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "sysfs");
    close(fd);

    fd = open_mountpoint(rootfd, a->rootfs, "dev");
    mount_on_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=65536k", "tmpfs on dev");
    close(fd);
    populate_dev();

    if (a->readonly_rootfs) {
        struct mount_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (mount_setattr(rootfd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            fail("app %s: make the rootfs read-only", a->name);
    }
    close(rootfd);

    /* pivot_root(2) NOTES: stack the old root on top of the new one, then detach it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail("pivot_root %s", a->rootfs);
    if (umount2(".", MNT_DETACH) < 0)
        fail("detach the old root");
    if (chdir("/") < 0)
        fail("chdir /");
}

/* Cut the bounding set to `caps` (capabilities(7)), and empty the inheritable and ambient sets,
 * so that neither a root app nor a setuid binary in the image can gain anything outside it. */
static void bound_capabilities(uint64_t caps)
{
    for (int cap = 0; cap < 64; cap++) {
        if (caps & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            fail("drop capability %d from the bounding set", cap);
        }
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0)
        fail("capget");
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0)
        fail("capset (clear the inheritable set)");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail("clear ambient capabilities");
}

/* Become `argv` as uid:gid with `groups`, in the app's working directory and environment. */
static void exec_as(const struct app *a, char **argv, uid_t uid, gid_t gid, const gid_t *groups,
                    size_t ngroups, mode_t umask_value)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* glibc-reserved real-time signals fail: fine */
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        fail("sigprocmask");
    umask(umask_value);

    if (setgroups(ngroups, groups) < 0)
        fail("setgroups");
    if (setgid(gid) < 0)
        fail("setgid %lu", (unsigned long)gid);
    if (setuid(uid) < 0)
        fail("setuid %lu", (unsigned long)uid);
    if (chdir(a->cwd) < 0)
        fail("working directory %s", a->cwd);
    if (a->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail("prctl PR_SET_NO_NEW_PRIVS");

    environ = a->env;
    execvp(argv[0], argv);
    int err = errno;
    char line[PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "jetpack-stage1: exec %s: %s\n", argv[0], strerror(err));
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    _exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* The launcher's argv, so that the pod's processes can blank their command line (the host path of
 * the launcher) inside the pod. The plan itself lives on the heap, never in argv. */
static char **g_argv;
static int g_argc;

static void set_command_line(const char *name)
{
    if (g_argc < 1 || g_argv == NULL || g_argv[0] == NULL)
        return;
    char *start = g_argv[0];
    char *end = g_argv[g_argc - 1] + strlen(g_argv[g_argc - 1]);
    memset(start, 0, (size_t)(end - start));
    size_t len = strlen(name) + 1;
    if ((size_t)(end - start) >= len)
        memcpy(start, name, len);
}

/* Run an event handler as root in the app's context; returns its status. */
static int run_handler(const struct app *a, char **argv, mode_t umask_value)
{
    static const gid_t none[1] = {0};
    pid_t h = fork();
    if (h < 0)
        fail("fork an event handler of %s", a->name);
    if (h == 0)
        exec_as(a, argv, 0, 0, none, 0, umask_value);
    return supervise(h, 1);
}

/* Relay bytes between our stdin/stdout and the pty master until `child` exits. */
static int relay_pty(int master, pid_t child)
{
    sigset_t set;
    waited_signals(&set);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        fail("signalfd");
    struct termios saved;
    int raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    int in_open = 1, status = -1;
    char buf[8192];
    while (status < 0) {
        struct pollfd p[3] = {{sfd, POLLIN, 0}, {master, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        int n = poll(p, in_open ? 3 : 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(master, buf, sizeof buf);
            if (r > 0) {
                ssize_t w = write(STDOUT_FILENO, buf, (size_t)r);
                (void)w;
            }
        }
        if (in_open && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r > 0) {
                ssize_t w = write(master, buf, (size_t)r);
                (void)w;
            } else {
                in_open = 0;
                struct termios t;
                char eof = 4;
                if (tcgetattr(master, &t) == 0)
                    eof = (char)t.c_cc[VEOF];
                ssize_t w = write(master, &eof, 1);
                (void)w;
            }
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) != sizeof si)
                continue;
            if (si.ssi_signo != SIGCHLD) {
                if (si.ssi_code != SI_KERNEL && si.ssi_signo != SIGALRM)
                    (void)kill(child, (int)si.ssi_signo);
                continue;
            }
            int st;
            pid_t r;
            while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
                if (r == child)
                    status = status_code(st);
            }
        }
    }
    /* What the shell wrote just before it exited. */
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            break;
        ssize_t r = read(master, buf, sizeof buf);
        if (r <= 0)
            break;
        ssize_t w = write(STDOUT_FILENO, buf, (size_t)r);
        (void)w;
    }
    if (raw)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return status < 0 ? EXIT_SETUP : status;
}

/* Fork the app on a new pseudo-terminal of the pod's devpts and relay it (console). */
static int run_on_pty(const struct app *a, mode_t umask_value)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        fail("open /dev/ptmx");
    if (grantpt(master) < 0 || unlockpt(master) < 0)
        fail("unlock the pty");
    char name[64];
    if (ptsname_r(master, name, sizeof name) != 0)
        fail("ptsname");
    struct winsize ws;
    if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        (void)ioctl(master, TIOCSWINSZ, &ws);
    pid_t child = fork();
    if (child < 0)
        fail("fork the console");
    if (child == 0) {
        if (setsid() < 0)
            fail("setsid");
        int slave = open(name, O_RDWR);
        if (slave < 0)
            fail("open %s", name);
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            fail("make %s the controlling terminal", name);
        if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
            fail("dup2");
        if (slave > 2)
            close(slave);
        exec_as(a, a->argv, a->uid, a->gid, a->groups, a->ngroups, umask_value);
    }
    return relay_pty(master, child);
}

/* Join the app's cgroups: "0" written to cgroup.procs moves the writing process. */
static void join_cgroups(const struct app *a)
{
    for (size_t i = 0; i < a->ncgroups; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/cgroup.procs", a->cgroups[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            fail("app %s: join cgroup %s", a->name, a->cgroups[i]);
        close(fd);
    }
}

/* An app supervisor (see PROCESSES). Never returns. */
static void app_supervisor(const struct app *a, mode_t umask_value)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        fail("prctl PR_SET_PDEATHSIG");
    if (g_status_fd >= 0)
        close(g_status_fd);
    g_status_fd = -1;
    set_command_line("jetpack-app");
    join_cgroups(a);
    if (unshare(CLONE_NEWNS) < 0)
        fail("app %s: unshare the mount namespace", a->name);
    setup_rootfs(a);
    bound_capabilities(a->caps); /* needs CAP_SETPCAP: before any uid changes */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        fail("prctl PR_SET_CHILD_SUBREAPER");

    if (a->pre_start != NULL) {
        int st = run_handler(a, a->pre_start, umask_value);
        if (st != 0) {
            fprintf(stderr, "jetpack-stage1: app %s: the pre-start handler failed with status %d; the app does not start\n", a->name, st);
            _exit(st);
        }
    }
    int status;
    if (a->pty) {
        status = run_on_pty(a, umask_value);
    } else {
        pid_t app = fork();
        if (app < 0)
            fail("fork the app %s", a->name);
        if (app == 0)
            exec_as(a, a->argv, a->uid, a->gid, a->groups, a->ngroups, umask_value);
        status = supervise(app, 1);
    }
    if (a->post_stop != NULL)
        (void)run_handler(a, a->post_stop, umask_value);
    _exit(status);
}

/* PID 1: wait for the apps; the first failure stops the others (see PROCESSES). */
static int supervise_pod(struct plan *p)
{
    sigset_t set;
    waited_signals(&set);
    size_t running = p->napps;
    int first_failure = 0, stopping = 0;
    while (running > 0) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            fail("sigwaitinfo");
        }
        if (sig == SIGALRM) {
            (void)kill(-1, SIGKILL); /* everything in the pod but PID 1 */
            continue;
        }
        if (sig != SIGCHLD) {
            if (si.si_code == SI_KERNEL)
                continue;
            for (size_t i = 0; i < p->napps; i++) {
                if (!p->apps[i].done && kill(p->apps[i].pid, sig) < 0 && errno != ESRCH)
                    fail("kill %d", (int)p->apps[i].pid);
            }
            continue;
        }
        for (;;) {
            int st;
            pid_t r = waitpid(-1, &st, WNOHANG);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno != ECHILD)
                fail("waitpid");
            if (r <= 0)
                break;
            for (size_t i = 0; i < p->napps; i++) {
                struct app *a = &p->apps[i];
                if (a->done || a->pid != r)
                    continue;
                a->done = 1;
                running--;
                int code = status_code(st);
                report("app %s %d\n", a->name, code);
                if (code != 0 && first_failure == 0)
                    first_failure = code;
                if (code != 0 && !stopping && running > 0) {
                    stopping = 1;
                    for (size_t j = 0; j < p->napps; j++) {
                        if (!p->apps[j].done)
                            (void)kill(p->apps[j].pid, SIGTERM);
                    }
                    alarm(p->stop_timeout > 0 ? p->stop_timeout : 1);
                }
            }
        }
    }
    return first_failure;
}

static void pod_init(struct plan *p, int alive, int netns_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        fail("prctl PR_SET_PDEATHSIG");
    /* The outer process may have died before the prctl: then its end of the pipe is closed. */
    struct pollfd pl = {.fd = alive, .events = POLLIN, .revents = 0};
    if (poll(&pl, 1, 0) > 0)
        _exit(EXIT_SETUP);
    close(alive);
    /* Hardening: a non-dumpable PID 1 keeps an app without CAP_SYS_PTRACE away from
     * /proc/1/{exe,cwd,fd,...}, which point at the host. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        fail("prctl PR_SET_DUMPABLE");

    int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (p->net == 0 ? CLONE_NEWNET : 0);
    if (unshare(flags) < 0)
        fail("unshare mount, UTS, IPC%s namespaces", p->net == 0 ? ", network" : "");
    if (p->net == 0)
        loopback_up();
    if (p->net == 2) {
        if (setns(netns_fd, CLONE_NEWNET) < 0)
            fail("join the network namespace %s", p->netns);
        close(netns_fd);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail("make / rprivate");
    if (sethostname(p->hostname, strlen(p->hostname)) < 0)
        fail("sethostname \"%s\"", p->hostname);

    mode_t saved_umask = umask(0);
    for (size_t i = 0; i < p->napps; i++) {
        pid_t s = fork();
        if (s < 0)
            fail("fork the supervisor of %s", p->apps[i].name);
        if (s == 0)
            app_supervisor(&p->apps[i], saved_umask);
        p->apps[i].pid = s;
    }
    set_command_line("jetpack-init");
    _exit(supervise_pod(p));
}

/* join=PID: enter a running pod's namespaces (PID for our children), then run the one app. */
static int join_pod(struct plan *p)
{
    static const struct { const char *name; int type; } ns[] = {
        {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
    };
    int fds[5];
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)p->join, ns[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            fail("open %s (is the pod running?)", path);
    }
    for (size_t i = 0; i < 5; i++) {
        if (setns(fds[i], ns[i].type) < 0)
            fail("enter the pod's %s namespace", ns[i].name);
        close(fds[i]);
    }
    mode_t saved_umask = umask(0);
    fflush(NULL);
    pid_t child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0)
        app_supervisor(&p->apps[0], saved_umask);
    return supervise(child, 0);
}

int main(int argc, char **argv)
{
    /* Block first: a signal that arrives before the pod exists stays pending and is forwarded. */
    sigset_t set;
    waited_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        fail("sigprocmask");

    struct plan plan;
    g_argv = argv;
    g_argc = argc;
    parse_args(argc, argv, &plan);
    install_handlers();

    /* If our caller (jail-run) dies, so does the pod: SIGKILL us, and PID 1 follows us. */
    pid_t caller = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        fail("prctl PR_SET_PDEATHSIG");
    if (getppid() != caller)
        fail("the caller exited before the pod started");

    if (plan.join != 0)
        return join_pod(&plan);

    int netns_fd = -1;
    if (plan.net == 2) {
        netns_fd = open(plan.netns, O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0)
            fail("open the network namespace %s", plan.netns);
    }
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) < 0)
        fail("pipe");
    if (unshare(CLONE_NEWPID) < 0)
        fail("unshare PID namespace");
    fflush(NULL);
    pid_t init = fork();
    if (init < 0)
        fail("fork the pod's init");
    if (init == 0) {
        close(alive[1]);
        pod_init(&plan, alive[0], netns_fd); /* never returns */
    }
    close(alive[0]);
    if (netns_fd >= 0)
        close(netns_fd);
    report("init %d\n", (int)init);
    return supervise(init, 0);
}
