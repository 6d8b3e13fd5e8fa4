/*
 * jetpack-stage1: the Linux pod launcher of Jetpack ("stage1").
 *
 * Runs one appc app in fresh namespaces with its rootfs as `/`, the way appc spec/ace.md
 * § Execution Environment and spec/OS-SPEC.md describe it. C11, libc only.
 *
 * USAGE
 *   jetpack-stage1 [--net=private|host] --hostname H --rootfs DIR --uid N --gid N
 *                  [--groups N,N,...] --cwd DIR [--env K=V]... -- ARGV...
 *
 *   --net=private|host  private (default): a new network namespace holding only `lo`, brought up.
 *                       host: share the caller's network namespace.
 *   --hostname H        hostname of the pod (new UTS namespace; sethostname(2)).
 *   --rootfs DIR        absolute host path of the app's rootfs; becomes `/` (pivot_root(2)).
 *   --uid N, --gid N    numeric user and group the app runs as (0 .. 4294967294).
 *   --groups N,N,...    the complete supplementary group list (default: none; "" means none).
 *   --cwd DIR           absolute working directory inside the rootfs; it must exist.
 *   --env K=V           one variable of the app's environment (repeatable). The app gets exactly
 *                       these, nothing inherited; ARGV[0] without a `/` is searched in this PATH.
 *   -- ARGV...          the app's command line (at least ARGV[0]).
 *   Every option also accepts the `--opt VALUE` form. `--help` prints this usage.
 *
 * PROCESSES
 *   outer   the process the caller spawned. Unshares the PID namespace, forks PID 1, forwards
 *           SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, waits for it and exits
 *           with its status. It stays in all of the caller's other namespaces.
 *   PID 1   the pod's init. Sets PR_SET_PDEATHSIG(SIGKILL) (if the outer process dies, PID 1
 *           dies, and the kernel then kills everything else in the PID namespace), unshares the
 *           mount, UTS, IPC and (unless --net=host) network namespaces, brings `lo` up, makes `/`
 *           rprivate, bind-mounts DIR on itself, mounts DIR/proc (procfs), DIR/sys (sysfs,
 *           read-only) and DIR/dev (tmpfs: null zero full random urandom tty console, pts, ptmx,
 *           shm, fd, stdin, stdout, stderr), sets the hostname, pivot_root(".", ".") + umount2(".",
 *           MNT_DETACH) into DIR, forks the app, forwards the same signals to it, reaps every
 *           process that ends up as its child, and exits with the app's status as soon as the app
 *           exits (the kernel then kills what is left in the pod).
 *   app     setgroups(--groups), setgid(--gid), setuid(--uid), chdir(--cwd), environ = --env,
 *           execvp(ARGV[0], ARGV), with default signal dispositions, an empty signal mask and the
 *           caller's umask. stdin, stdout and stderr are the caller's, untouched.
 *
 *   Signals are blocked from the start and only consumed with sigwaitinfo(2), so none is lost
 *   between start-up and fork. A signal the kernel generated (si_code SI_KERNEL: ^C, ^\ or a hangup
 *   on the controlling terminal) is not forwarded, since the kernel already sent it to the whole
 *   foreground process group, the app included.
 *
 *   Mount points: proc, sys and dev are created (0755) in DIR when missing; when the image put a
 *   symlink (or a non-directory) there, the launcher refuses to start rather than follow it.
 *   /dev/console is the caller's terminal when stdin, stdout or stderr is one, else /dev/null.
 *
 * EXIT STATUS
 *   the app's exit code; 128+N when the app (or PID 1) was killed by signal N;
 *   125 when the pod could not be set up (one line on stderr: `jetpack-stage1: <what>: <strerror>`);
 *   126 when ARGV[0] was found but could not be executed; 127 when it was not found (ENOENT).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

extern char **environ;

#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* What the launcher was asked to do (parsed from the command line). */
struct config {
    int net_host;
    const char *hostname;
    const char *rootfs;
    const char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    char **env;  /* NULL-terminated */
    char **argv; /* NULL-terminated, at least one element */
};

/* The signals the outer process and PID 1 pass on to their child. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

/*
 * Print `jetpack-stage1: <what>: <strerror(errno)>` as one line (control characters in <what>,
 * e.g. from a path, become '?') and exit 125.
 */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    int err = errno;
    char what[1024];
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    for (char *p = what; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    int n = snprintf(line, sizeof line, "jetpack-stage1: %s: %s\n", what, strerror(err));
    if (n > 0) {
        size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (line[len - 1] != '\n')
            line[len - 1] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
    _exit(EXIT_SETUP);
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

static void print_usage(FILE *out)
{
    fputs("usage: jetpack-stage1 [--net=private|host] --hostname H --rootfs DIR --uid N --gid N\n"
          "                      [--groups N,N,...] --cwd DIR [--env K=V]... -- ARGV...\n",
          out);
}

/* A uid or gid: decimal digits only, 0 .. 4294967294 ((uid_t)-1 means "unchanged" to the kernel). */
static unsigned long parse_id(const char *opt, const char *s)
{
    if (*s == '\0' || strlen(s) > 10)
        usage_fail("%s \"%s\": not a number between 0 and 4294967294", opt, s);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            usage_fail("%s \"%s\": not a number between 0 and 4294967294", opt, s);
    }
    unsigned long long v = strtoull(s, NULL, 10);
    if (v > 4294967294ULL)
        usage_fail("%s \"%s\": not a number between 0 and 4294967294", opt, s);
    return (unsigned long)v;
}

/* "1,2,3" (or "") into a freshly allocated array. */
static void parse_groups(const char *s, struct config *c)
{
    long max = sysconf(_SC_NGROUPS_MAX);
    size_t n = (*s == '\0') ? 0 : 1;
    for (const char *p = s; *p != '\0'; p++)
        n += (*p == ',');
    if (max > 0 && n > (size_t)max)
        usage_fail("--groups: %zu groups, the kernel allows %ld", n, max);
    c->groups = calloc(n > 0 ? n : 1, sizeof *c->groups);
    if (c->groups == NULL)
        fail("calloc");
    c->ngroups = n;
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
        c->groups[i++] = (gid_t)parse_id("--groups", start);
        if (comma == NULL)
            break;
        start = comma + 1;
    }
    free(copy);
}

/*
 * If argv[*i] is `name=VALUE` or `name` followed by VALUE, store VALUE, advance *i past what was
 * consumed and return 1; else return 0.
 */
static int option(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t len = strlen(name);
    if (strncmp(a, name, len) != 0)
        return 0;
    if (a[len] == '=') {
        *value = a + len + 1;
        *i += 1;
        return 1;
    }
    if (a[len] != '\0')
        return 0;
    if (*i + 1 >= argc)
        usage_fail("%s: missing value", name);
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

static void once(const char *name, const char *prev)
{
    if (prev != NULL)
        usage_fail("%s given twice", name);
}

/* --env-fd=N: read the app's environment from descriptor N, NAME=VALUE entries each ended by a NUL
 * byte, up to end of file; then close N. Keeps the values out of /proc/PID/cmdline, which every
 * host user can read. At most 4 MiB. */
static char **read_env_fd(const char *spec)
{
    char *end;
    errno = 0;
    long fd = strtol(spec, &end, 10);
    if (errno != 0 || *end != '\0' || fd < 0 || fd > 1024)
        usage_fail("--env-fd \"%s\": expected a descriptor number", spec);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        fail("malloc");
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)4 << 20)
                usage_fail("--env-fd: the environment is over 4 MiB");
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                fail("realloc");
        }
        ssize_t n = read((int)fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("read the environment (--env-fd)");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close((int)fd);
    if (len > 0 && buf[len - 1] != '\0')
        usage_fail("--env-fd: the last entry is not ended by a NUL byte");
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            count++;
    char **env = calloc(count + 1, sizeof *env);
    if (env == NULL)
        fail("calloc");
    size_t k = 0;
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
        char *eq = strchr(buf + i, '=');
        if (eq == NULL || eq == buf + i)
            usage_fail("--env-fd: \"%s\": expected NAME=VALUE", buf + i);
        env[k++] = buf + i;
    }
    env[k] = NULL;
    return env;
}

static void parse_args(int argc, char **argv, struct config *c)
{
    const char *net = NULL, *uid = NULL, *gid = NULL, *groups = NULL, *env_fd = NULL;
    size_t nenv = 0;
    memset(c, 0, sizeof *c);
    c->env = calloc((size_t)argc + 1, sizeof *c->env);
    if (c->env == NULL)
        fail("calloc");

    int i = 1;
    while (i < argc) {
        const char *v;
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            exit(0);
        } else if (option(argc, argv, &i, "--net", &v)) {
            once("--net", net);
            net = v;
        } else if (option(argc, argv, &i, "--hostname", &v)) {
            once("--hostname", c->hostname);
            c->hostname = v;
        } else if (option(argc, argv, &i, "--rootfs", &v)) {
            once("--rootfs", c->rootfs);
            c->rootfs = v;
        } else if (option(argc, argv, &i, "--uid", &v)) {
            once("--uid", uid);
            uid = v;
        } else if (option(argc, argv, &i, "--gid", &v)) {
            once("--gid", gid);
            gid = v;
        } else if (option(argc, argv, &i, "--groups", &v)) {
            once("--groups", groups);
            groups = v;
        } else if (option(argc, argv, &i, "--cwd", &v)) {
            once("--cwd", c->cwd);
            c->cwd = v;
        } else if (option(argc, argv, &i, "--env-fd", &v)) {
            once("--env-fd", env_fd);
            env_fd = v;
        } else if (option(argc, argv, &i, "--env", &v)) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v)
                usage_fail("--env \"%s\": expected NAME=VALUE", v);
            c->env[nenv++] = (char *)v;
        } else {
            print_usage(stderr);
            usage_fail("unknown argument \"%s\" (the app's command line goes after --)", a);
        }
    }
    c->env[nenv] = NULL;
    if (env_fd != NULL) {
        if (nenv != 0)
            usage_fail("--env and --env-fd cannot be combined");
        free(c->env);
        c->env = read_env_fd(env_fd);
    }

    if (net == NULL || strcmp(net, "private") == 0)
        c->net_host = 0;
    else if (strcmp(net, "host") == 0)
        c->net_host = 1;
    else
        usage_fail("--net \"%s\": expected private or host", net);
    if (c->hostname == NULL)
        usage_fail("--hostname is required");
    if (c->rootfs == NULL)
        usage_fail("--rootfs is required");
    if (c->rootfs[0] != '/')
        usage_fail("--rootfs \"%s\": not an absolute path", c->rootfs);
    if (uid == NULL)
        usage_fail("--uid is required");
    if (gid == NULL)
        usage_fail("--gid is required");
    if (c->cwd == NULL)
        usage_fail("--cwd is required");
    if (c->cwd[0] != '/')
        usage_fail("--cwd \"%s\": not an absolute path", c->cwd);
    c->uid = (uid_t)parse_id("--uid", uid);
    c->gid = (gid_t)parse_id("--gid", gid);
    parse_groups(groups != NULL ? groups : "", c);
    if (i >= argc)
        usage_fail("no command: expected -- ARGV...");
    c->argv = &argv[i];
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

/* The signal set the launcher processes consume with sigwaitinfo(2): the forwarded ones + SIGCHLD. */
static void waited_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(set, forwarded[i]);
    sigaddset(set, SIGCHLD);
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
    sa.sa_flags |= SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        fail("sigaction SIGCHLD");
}

/*
 * Forward signals to `child` and wait for it; with `reap_all` (PID 1) also reap any other
 * process that exits. Returns the child's status (never returns before the child exited).
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

/* Mounts, hostname and pivot_root(2) into the rootfs. Runs as PID 1 in its own mount namespace. */
static void setup_rootfs(const struct config *c)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail("make / rprivate");
    if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail("bind-mount %s on itself", c->rootfs);
    if (chdir(c->rootfs) < 0)
        fail("chdir %s", c->rootfs);
    int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        fail("open %s", c->rootfs);

    int fd = open_mountpoint(rootfd, c->rootfs, "proc");
    mount_on_fd("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "proc");
    close(fd);

    fd = open_mountpoint(rootfd, c->rootfs, "sys");
    mount_on_fd("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "sysfs");
    close(fd);

    fd = open_mountpoint(rootfd, c->rootfs, "dev");
    mount_on_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=65536k", "tmpfs on dev");
    close(fd);
    close(rootfd);
    populate_dev();

    if (sethostname(c->hostname, strlen(c->hostname)) < 0)
        fail("sethostname \"%s\"", c->hostname);

    /* pivot_root(2) NOTES: stack the old root on top of the new one, then detach it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail("pivot_root %s", c->rootfs);
    if (umount2(".", MNT_DETACH) < 0)
        fail("detach the old root");
    if (chdir("/") < 0)
        fail("chdir /");
}

/* The app process: credentials, working directory, environment, exec. Never returns. */
/* The capabilities an app may ever hold: appc spec/ace.md's default set for
 * os/linux/capabilities-*-set (CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID,
 * CAP_FOWNER, CAP_KILL, CAP_MKNOD, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID,
 * CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT). Everything else (CAP_SYS_ADMIN: mount, pivot_root;
 * CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_BOOT, CAP_NET_ADMIN…) leaves the bounding set, so neither
 * a root app nor a setuid binary in the image can regain it (capabilities(7)). */
static int default_capability(int cap)
{
    switch (cap) {
    case CAP_AUDIT_WRITE: case CAP_CHOWN: case CAP_DAC_OVERRIDE: case CAP_FSETID:
    case CAP_FOWNER: case CAP_KILL: case CAP_MKNOD: case CAP_NET_RAW:
    case CAP_NET_BIND_SERVICE: case CAP_SETUID: case CAP_SETGID: case CAP_SETPCAP:
    case CAP_SETFCAP: case CAP_SYS_CHROOT:
        return 1;
    default:
        return 0;
    }
}

static void bound_capabilities(void)
{
    for (int cap = 0; cap < 64; cap++) {
        if (default_capability(cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            fail("drop capability %d from the bounding set", cap);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail("clear ambient capabilities");
}

static void exec_app(const struct config *c, mode_t umask_value)
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

    bound_capabilities(); /* needs CAP_SETPCAP: before the uid changes */
    if (setgroups(c->ngroups, c->groups) < 0)
        fail("setgroups");
    if (setgid(c->gid) < 0)
        fail("setgid %lu", (unsigned long)c->gid);
    if (setuid(c->uid) < 0)
        fail("setuid %lu", (unsigned long)c->uid);
    if (chdir(c->cwd) < 0)
        fail("working directory %s", c->cwd);

    environ = c->env;
    execvp(c->argv[0], c->argv);
    int err = errno;
    char line[PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "jetpack-stage1: exec %s: %s\n", c->argv[0], strerror(err));
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    _exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* PID 1 of the pod. `alive` is the read end of a pipe whose write end only the outer holds. */
/* The launcher's argv, so that PID 1 can blank its command line inside the pod. */
static char **g_argv;
static int g_argc;

/* Replace PID 1's /proc/1/cmdline (the host path of the launcher and the pod's set-up, visible to
 * the app) by a plain name. Only after the app is forked: the configuration points into argv. */
static void hide_command_line(void)
{
    if (g_argc < 1 || g_argv == NULL || g_argv[0] == NULL)
        return;
    char *start = g_argv[0];
    char *end = g_argv[g_argc - 1] + strlen(g_argv[g_argc - 1]);
    memset(start, 0, (size_t)(end - start));
    static const char name[] = "jetpack-init";
    if ((size_t)(end - start) >= sizeof name)
        memcpy(start, name, sizeof name);
}

static void pod_init(const struct config *c, int alive)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        fail("prctl PR_SET_PDEATHSIG");
    /* The outer process may have died before the prctl: then its end of the pipe is closed. */
    struct pollfd p = {.fd = alive, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 0) > 0)
        _exit(EXIT_SETUP);
    close(alive);
    /* Hardening: a non-dumpable PID 1 keeps an app without CAP_SYS_PTRACE away from
     * /proc/1/{exe,cwd,fd,...}, which point at the host. The app's execve(2) resets the flag. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        fail("prctl PR_SET_DUMPABLE");

    int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (c->net_host ? 0 : CLONE_NEWNET);
    if (unshare(flags) < 0)
        fail("unshare mount, UTS, IPC%s namespaces", c->net_host ? "" : ", network");
    if (!c->net_host)
        loopback_up();

    mode_t saved_umask = umask(0);
    setup_rootfs(c);

    pid_t app = fork();
    if (app < 0)
        fail("fork the app");
    if (app == 0)
        exec_app(c, saved_umask);
    hide_command_line();
    _exit(supervise(app, 1));
}

int main(int argc, char **argv)
{
    /* Block first: a signal that arrives before the pod exists stays pending and is forwarded. */
    sigset_t set;
    waited_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        fail("sigprocmask");

    struct config c;
    g_argv = argv;
    g_argc = argc;
    parse_args(argc, argv, &c);
    install_handlers();

    /* If our caller (jail-run) dies, so does the pod: SIGKILL us, and PID 1 follows us. */
    pid_t caller = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        fail("prctl PR_SET_PDEATHSIG");
    if (getppid() != caller)
        fail("the caller exited before the pod started");

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
        pod_init(&c, alive[0]); /* never returns */
    }
    close(alive[0]);
    return supervise(init, 0);
}
