/* The task program of scripts/bench: a tiny static binary, so that no shell
 * and no dynamic loader sits between a supervisor and what it starts.
 * Every time is CLOCK_MONOTONIC in nanoseconds (one clock for the whole
 * machine, also across PID namespaces).
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int append(const char *path, const char *buf, int n) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int r = (int)write(fd, buf, (size_t)n);
    close(fd);
    return r == n ? 0 : -1;
}

static const char *term_file;

static void on_term(int sig) {
    (void)sig;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "term %lld\n", now_ns());
    append(term_file, buf, n);
    _exit(0);
}

/* argv from ./args when started without arguments. */
static char argbuf[4096];
static char *argvbuf[16];

static int args_from_file(char *prog) {
    int fd = open("args", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, argbuf, sizeof argbuf - 1);
    close(fd);
    if (n <= 0) return 0;
    argbuf[n] = 0;
    int c = 0;
    argvbuf[c++] = prog;
    for (char *p = strtok(argbuf, "\n"); p && c < 15; p = strtok(NULL, "\n")) argvbuf[c++] = p;
    argvbuf[c] = NULL;
    return c;
}

static int orphans(long n, const char *file) {
    int release[2], report[2];
    if (pipe2(release, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) return 1;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids) return 1;
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) return 1;
        if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                char b;
                close(release[1]);
                close(report[1]);
                while (read(release[0], &b, 1) < 0 && errno == EINTR) {
                }
                _exit(0);
            }
            if (write(report[1], &g, sizeof g) != sizeof g) _exit(1);
            _exit(0);
        }
        int st;
        if (waitpid(c, &st, 0) < 0 || read(report[0], &pids[i], sizeof pids[i]) != sizeof pids[i] || pids[i] <= 0)
            return 1;
    }
    /* Every orphan now waits on `release`; closing the only other write end
     * wakes them all at once. */
    struct timespec pause_ts = {0, 100 * 1000 * 1000};
    nanosleep(&pause_ts, NULL);
    long long t0 = now_ns();
    close(release[1]);
    long alive = n;
    struct timespec poll_ts = {0, 200 * 1000};
    long long deadline = t0 + 30LL * 1000000000LL;
    while (alive > 0 && now_ns() < deadline) {
        nanosleep(&poll_ts, NULL);
        alive = 0;
        for (long i = 0; i < n; i++) {
            if (pids[i] == 0) continue;
            if (kill(pids[i], 0) < 0 && errno == ESRCH)
                pids[i] = 0;
            else
                alive++;
        }
    }
    long long t1 = now_ns();
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%lld %ld\n", t1 - t0, alive);
    return append(file, buf, len) == 0 && alive == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    long long start = now_ns();
    if (argc < 3) {
        argc = args_from_file(argv[0]);
        argv = argvbuf;
    }
    char buf[96];
    if (argc == 3 && strcmp(argv[1], "up") == 0) {
        int n = snprintf(buf, sizeof buf, "%lld\n", start);
        if (append(argv[2], buf, n) < 0) return 1;
        for (;;) pause();
    }
    if (argc == 4 && strcmp(argv[1], "stamp") == 0) {
        long ms = atol(argv[3]);
        /* From a second on, up to 250 ms more (from the start time), so that
         * tasks started together do not all exit in step. */
        if (ms >= 1000) ms += (long)((start / 1000) % 250);
        if (ms > 0) {
            long long at = start + ms * 1000000LL;
            struct timespec until = {(time_t)(at / 1000000000LL), (long)(at % 1000000000LL)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
            }
        }
        long long end = now_ns();
        int n = snprintf(buf, sizeof buf, "%lld %lld\n", start, end);
        _exit(append(argv[2], buf, n) < 0 ? 1 : 0);
    }
    if (argc == 3 && strcmp(argv[1], "term") == 0) {
        term_file = argv[2];
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        int n = snprintf(buf, sizeof buf, "up %lld\n", start);
        if (append(argv[2], buf, n) < 0) return 1;
        for (;;) pause();
    }
    if (argc == 4 && strcmp(argv[1], "orphans") == 0) return orphans(atol(argv[2]), argv[3]);
    if (argc == 4 && strcmp(argv[1], "baseline") == 0) {
        char *args[] = {argv[0], "stamp", argv[3], "0", NULL};
        for (long i = atol(argv[2]); i > 0; i--) {
            pid_t pid = fork();
            if (pid < 0) return 1;
            if (pid == 0) {
                execv(argv[0], args);
                _exit(127);
            }
            int st;
            if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: bench-task up FILE | stamp FILE MS | term FILE | orphans N FILE | baseline N FILE\n");
    return 2;
}
