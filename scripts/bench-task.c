/* The task program of scripts/bench: a tiny static binary with no C library,
 * so that no shell, no dynamic loader and no libc start-up sits between a
 * supervisor and what it starts. Every time is CLOCK_MONOTONIC in
 * nanoseconds (one clock for the whole machine, also across PID namespaces),
 * read with the clock_gettime system call.
 *
 *   up FILE            append "<start>\n" to FILE, then sleep until a signal
 *                      ends it (SIGTERM's default action)
 *   stamp FILE MS      live MS milliseconds (from 1000 on, plus 0-249 ms
 *                      taken from the start time), then append
 *                      "<start> <exit>\n" (exit = read just before that
 *                      write and _exit(0))
 *   term FILE          append "up <start>\n", then wait; on SIGTERM append
 *                      "term <now>\n" and _exit(0)
 *   orphans N FILE     make N orphans (each a grandchild whose parent exited
 *                      at once), release them all at the same instant, and
 *                      append "<ns until the last one was reaped>\n" to FILE
 *                      (the orphans are gone for kill(pid, 0) only once their
 *                      reaper, the init, has waited for them)
 *   baseline N FILE    the least a supervisor can do: N times fork, exec
 *                      `stamp FILE 0`, waitpid
 *
 * Started with fewer than two arguments (runit's and s6's `./run` is a
 * symlink to this program; s6 passes the service name), it reads its
 * arguments, one a line, from the file `args` in the current directory; the
 * start time is read before that.
 *
 *   gcc -O2 -static -nostdlib -fno-stack-protector -fno-builtin -o bench-task bench-task.c
 *
 * x86_64 and aarch64: its own _start, system calls by inline assembly.
 */

#if defined(__x86_64__)
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_mmap 9
#define SYS_rt_sigaction 13
#define SYS_rt_sigreturn 15
#define SYS_pause 34
#define SYS_nanosleep 35
#define SYS_clone 56
#define SYS_execve 59
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_exit_group 231
#define SYS_clock_gettime 228
#define SYS_clock_nanosleep 230
#define SYS_openat 257
#define SYS_pipe2 293

__asm__(".text\n"
        ".global _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %rsp, %rdi\n" /* argc, argv..., 0, envp..., 0 */
        "    and $-16, %rsp\n"
        "    call start_c\n"
        "    hlt\n"
        ".global bt_restorer\n"
        ".hidden bt_restorer\n"
        ".type bt_restorer, @function\n"
        "bt_restorer:\n"
        "    mov $15, %eax\n" /* rt_sigreturn */
        "    syscall\n"
        "    hlt\n");

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#elif defined(__aarch64__)
#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_mmap 222
#define SYS_rt_sigaction 134
#define SYS_rt_sigreturn 139
#define SYS_ppoll 73
#define SYS_nanosleep 101
#define SYS_clone 220
#define SYS_execve 221
#define SYS_wait4 260
#define SYS_kill 129
#define SYS_exit_group 94
#define SYS_clock_gettime 113
#define SYS_clock_nanosleep 115
#define SYS_openat 56
#define SYS_pipe2 59

__asm__(".text\n"
        ".global _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, sp\n" /* argc, argv..., 0, envp..., 0 */
        "    and sp, x0, #-16\n"
        "    bl start_c\n"
        "    brk #0\n"
        ".global bt_restorer\n"
        ".hidden bt_restorer\n"
        ".type bt_restorer, %function\n"
        "bt_restorer:\n"
        "    mov x8, #139\n" /* rt_sigreturn */
        "    svc #0\n"
        "    brk #0\n");

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

#else
#error "bench-task.c: no system call wrappers for this architecture (x86_64 and aarch64 only)"
#endif

#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#define AT_FDCWD (-100)
#define O_RDONLY 0
#define O_WRONLY 01
#define O_CREAT 0100
#define O_APPEND 02000
#define O_CLOEXEC 02000000
#define CLOCK_MONOTONIC 1
#define TIMER_ABSTIME 1
#define EINTR 4
#define ESRCH 3
#define SIGTERM 15
#define SIGCHLD 17
#define SA_RESTORER 0x04000000
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define LONG_MAX 0x7fffffffffffffffL
#define NULL ((void *)0)

typedef int pid_t;
struct timespec {
    long tv_sec;
    long tv_nsec;
};
struct ksigaction { /* the kernel's struct sigaction (x86_64, aarch64) */
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};
void bt_restorer(void);
void start_c(long *sp) __attribute__((used, noreturn));

static char **environ;

static __attribute__((noreturn)) void exit_(int code) {
    for (;;) sys1(SYS_exit_group, code);
}

static long long now_ns(void) {
    struct timespec t;
    sys2(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_ns(long ns) {
    struct timespec t = {0, ns};
    sys2(SYS_nanosleep, &t, NULL);
}

static void pause_(void) {
#ifdef SYS_pause
    sys0(SYS_pause);
#else
    sys5(SYS_ppoll, NULL, 0, NULL, NULL, 0);
#endif
}

static pid_t fork_(void) {
    return (pid_t)sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static pid_t waitpid_(pid_t pid, int *st) {
    return (pid_t)sys4(SYS_wait4, pid, st, 0, 0);
}

static int streq(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static int slen(const char *s) {
    int n = 0;
    while (s[n]) n++;
    return n;
}

/* atol: leading white space, a sign, decimal digits; clamped like strtol. */
static long atol_(const char *s) {
    while (*s == ' ' || (*s >= '\t' && *s <= '\r')) s++;
    int neg = 0;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    unsigned long v = 0, lim = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
    int over = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (over || v > (lim - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over) v = lim;
    return neg ? (long)(0 - v) : (long)v;
}

/* Appends the decimal form of v at p; returns the end. */
static char *put_ll(char *p, long long v) {
    char t[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    if (v < 0) *p++ = '-';
    do t[n++] = (char)('0' + u % 10); while ((u /= 10) != 0);
    while (n > 0) *p++ = t[--n];
    return p;
}

static char *put_s(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static int append(const char *path, const char *buf, int n) {
    int fd = (int)sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    long r = sys3(SYS_write, fd, buf, n);
    sys1(SYS_close, fd);
    return r == n ? 0 : -1;
}

static const char *term_file;

static void on_term(int sig) {
    (void)sig;
    char buf[64];
    char *p = put_ll(put_s(buf, "term "), now_ns());
    *p++ = '\n';
    append(term_file, buf, (int)(p - buf));
    exit_(0);
}

/* argv from ./args when started without arguments. */
static char argbuf[4096];
static char *argvbuf[16];

static int args_from_file(char *prog) {
    int fd = (int)sys4(SYS_openat, AT_FDCWD, "args", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    long n = sys3(SYS_read, fd, argbuf, sizeof argbuf - 1);
    sys1(SYS_close, fd);
    if (n <= 0) return 0;
    argbuf[n] = 0;
    int c = 0;
    argvbuf[c++] = prog;
    /* strtok(argbuf, "\n"): lines, empty ones skipped, up to a NUL. */
    char *p = argbuf;
    while (c < 15) {
        while (*p == '\n') p++;
        if (!*p) break;
        argvbuf[c++] = p;
        while (*p && *p != '\n') p++;
        if (!*p) break;
        *p++ = 0;
    }
    argvbuf[c] = NULL;
    return c;
}

static int orphans(long n, const char *file) {
    int release[2], report[2];
    if (sys2(SYS_pipe2, release, O_CLOEXEC) < 0 || sys2(SYS_pipe2, report, O_CLOEXEC) < 0) return 1;
    pid_t *pids = NULL;
    if (n < 0 || (unsigned long)n > LONG_MAX / sizeof *pids) return 1;
    if (n > 0) {
        long m = sys6(SYS_mmap, 0, (long)(n * sizeof *pids), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m < 0 && m > -4096) return 1;
        pids = (pid_t *)m;
    }
    for (long i = 0; i < n; i++) {
        pid_t c = fork_();
        if (c < 0) return 1;
        if (c == 0) {
            pid_t g = fork_();
            if (g == 0) {
                char b;
                sys1(SYS_close, release[1]);
                sys1(SYS_close, report[1]);
                while (sys3(SYS_read, release[0], &b, 1) == -EINTR) {
                }
                exit_(0);
            }
            if (sys3(SYS_write, report[1], &g, sizeof g) != sizeof g) exit_(1);
            exit_(0);
        }
        int st;
        if (waitpid_(c, &st) < 0 || sys3(SYS_read, report[0], &pids[i], sizeof pids[i]) != sizeof pids[i] ||
            pids[i] <= 0)
            return 1;
    }
    /* Every orphan now waits on `release`; closing the only other write end
     * wakes them all at once. */
    sleep_ns(100 * 1000 * 1000);
    long long t0 = now_ns();
    sys1(SYS_close, release[1]);
    long alive = n;
    long long deadline = t0 + 30LL * 1000000000LL;
    while (alive > 0 && now_ns() < deadline) {
        sleep_ns(200 * 1000);
        alive = 0;
        for (long i = 0; i < n; i++) {
            if (pids[i] == 0) continue;
            if (sys2(SYS_kill, pids[i], 0) == -ESRCH)
                pids[i] = 0;
            else
                alive++;
        }
    }
    long long t1 = now_ns();
    char buf[64];
    char *p = put_ll(buf, t1 - t0);
    *p++ = ' ';
    p = put_ll(p, alive);
    *p++ = '\n';
    return append(file, buf, (int)(p - buf)) == 0 && alive == 0 ? 0 : 1;
}

static int main_(int argc, char **argv, long long start) {
    if (argc < 3) {
        argc = args_from_file(argv[0]);
        argv = argvbuf;
    }
    char buf[96], *p;
    if (argc == 3 && streq(argv[1], "up")) {
        p = put_ll(buf, start);
        *p++ = '\n';
        if (append(argv[2], buf, (int)(p - buf)) < 0) return 1;
        for (;;) pause_();
    }
    if (argc == 4 && streq(argv[1], "stamp")) {
        long ms = atol_(argv[3]);
        /* From a second on, up to 250 ms more (from the start time), so that
         * tasks started together do not all exit in step. */
        if (ms >= 1000) ms += (long)((start / 1000) % 250);
        if (ms > 0) {
            long long at = start + ms * 1000000LL;
            struct timespec until = {(long)(at / 1000000000LL), (long)(at % 1000000000LL)};
            while (sys4(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == -EINTR) {
            }
        }
        long long end = now_ns();
        p = put_ll(buf, start);
        *p++ = ' ';
        p = put_ll(p, end);
        *p++ = '\n';
        exit_(append(argv[2], buf, (int)(p - buf)) < 0 ? 1 : 0);
    }
    if (argc == 3 && streq(argv[1], "term")) {
        term_file = argv[2];
        struct ksigaction sa = {on_term, SA_RESTORER, bt_restorer, 0};
        sys4(SYS_rt_sigaction, SIGTERM, &sa, NULL, sizeof sa.mask);
        p = put_ll(put_s(buf, "up "), start);
        *p++ = '\n';
        if (append(argv[2], buf, (int)(p - buf)) < 0) return 1;
        for (;;) pause_();
    }
    if (argc == 4 && streq(argv[1], "orphans")) return orphans(atol_(argv[2]), argv[3]);
    if (argc == 4 && streq(argv[1], "baseline")) {
        char *args[] = {argv[0], "stamp", argv[3], "0", NULL};
        for (long i = atol_(argv[2]); i > 0; i--) {
            pid_t pid = fork_();
            if (pid < 0) return 1;
            if (pid == 0) {
                sys3(SYS_execve, argv[0], args, environ);
                exit_(127);
            }
            int st;
            if (waitpid_(pid, &st) < 0 || (st & 0x7f) != 0 || ((st >> 8) & 0xff) != 0) return 1;
        }
        return 0;
    }
    static const char usage[] =
        "usage: bench-task up FILE | stamp FILE MS | term FILE | orphans N FILE | baseline N FILE\n";
    sys3(SYS_write, 2, usage, slen(usage));
    return 2;
}

/* Called by _start with the initial stack: argc, then argv, then envp. */
void start_c(long *sp) {
    long long start = now_ns();
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    environ = argv + argc + 1;
    exit_(main_(argc, argv, start));
}
