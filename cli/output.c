/* output.c: outputs that appear whole or not at all, written straight where they cannot be
 * replaced (devices, FIFOs, standard output), write errors as one line, and the signal
 * handlers that remove a temporary file (see cli.h, cli_output). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The temporary output file, for the signal handlers: tmp_path is complete whenever tmp_set
 * is 1 (set after it is written, cleared before it changes). */
static volatile sig_atomic_t tmp_set;
static char tmp_path[PATH_MAX];
static char bus_message[160];
static size_t bus_message_len;

static void track_tmp(const char *path)
{
    tmp_set = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (path) {
        memcpy(tmp_path, path, strlen(path) + 1);
        atomic_signal_fence(memory_order_seq_cst);
        tmp_set = 1;
    }
}

/* SIGINT, SIGTERM, SIGHUP (installed with SA_RESETHAND): remove the temporary file, then die
 * of the same signal, as the caller expects of a killed process. */
static void remove_tmp_and_die(int sig)
{
    if (tmp_set)
        unlink(tmp_path);
    raise(sig);
}

/* SIGBUS: the library maps model files, and one truncated while in use faults on access.
 * Only async-signal-safe calls here. */
static void remove_tmp_and_exit(int sig)
{
    (void)sig;
    if (tmp_set)
        unlink(tmp_path);
    ssize_t said = write(STDERR_FILENO, bus_message, bus_message_len);
    (void)said; /* if stderr fails too, nothing more can be done */
    _exit(EXIT_ERROR);
}

void cli_catch_sigbus(void)
{
    int n = snprintf(bus_message, sizeof bus_message,
                     "knn %s: a mapped file changed or was truncated while in use\n",
                     cli_command);
    bus_message_len = n > 0 && (size_t)n < sizeof bus_message ? (size_t)n : 0;
    struct sigaction sa = {0};
    sa.sa_handler = remove_tmp_and_exit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* Installed only when a temporary file is made, not at start (`knn serve` waits for SIGINT
 * and SIGTERM with sigwait), and not over an ignored signal: nohup and background jobs ignore
 * SIGHUP or SIGINT so that the command survives them. */
static void catch_termination(void)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0}, old;
    sa.sa_handler = remove_tmp_and_die;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(signals[i], &sa, NULL);
}

int cli_flush_error(FILE *f)
{
    if (fflush(f) != 0)
        return errno;
    if (!ferror(f))
        return 0;
    /* an earlier write failed and stdio kept nothing to retry: its reason is lost, but a
     * pipe whose reader has gone says so to poll */
    struct pollfd p = {.fd = fileno(f), .events = POLLOUT};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
        return EPIPE;
    return EIO;
}

/* Creates TARGET.tmp.XXXXXX (six random letters and digits) for reading and writing, never an existing
 * file or link (O_EXCL), with mode 0666 less the umask as the kernel applies it, and hands
 * its name to the signal handlers. Returns the descriptor, or -1 with errno set. tmp holds
 * strlen(target) + 12 bytes. */
static int create_tmp(const char *target, char *tmp)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r;
        if (getentropy(&r, sizeof r) != 0) /* no entropy yet: unique enough, as O_EXCL checks */
            r = (uint64_t)getpid() << 32 ^ (uint64_t)(cli_now() * 1e9) ^ (uint64_t)attempt;
        char *p = tmp + sprintf(tmp, "%s.tmp.", target);
        for (int i = 0; i < 6; i++, r /= sizeof digits - 1)
            *p++ = digits[r % (sizeof digits - 1)];
        *p = '\0';
        /* The handlers learn the name before the file exists, so that a signal just after
         * the open still removes it; one between a failed open and the line after it would
         * remove a file of this random name that was there before: no one's in practice. */
        track_tmp(tmp);
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        track_tmp(NULL);
        if (errno != EEXIST)
            return -1;
    }
    return -1; /* errno is EEXIST */
}

static bool output_error(cli_output *o, const char *what, const char *why)
{
    fprintf(stderr, "knn %s: %s: %s%s\n", cli_command, o->name, what, why);
    cli_output_abort(o);
    return false;
}

bool cli_output_is_stdout(const char *path)
{
    return !path || !strcmp(path, "-") || !strcmp(path, "/dev/stdout");
}

bool cli_output_replaces(const char *path)
{
    struct stat sb;
    if (cli_output_is_stdout(path))
        return false;
    if (stat(path, &sb) == 0) /* follows links, as cli_output_open */
        return S_ISREG(sb.st_mode);
    return errno == ENOENT; /* a link to nothing is cli_output_open's error to give */
}

bool cli_output_open(cli_output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->name = path;
    if (cli_output_is_stdout(path) || cli_discard_output) {
        o->f = stdout; /* itself: reopening /dev/stdout would start a file at its beginning */
        return true;
    }
    struct stat sb;
    const bool exists = stat(path, &sb) == 0; /* follows links */
    if (!exists && errno != ENOENT)
        return output_error(o, "cannot write: ", strerror(errno));
    if (!exists && lstat(path, &sb) == 0) { /* a link to nothing */
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        return output_error(o, "cannot write: a link to a missing file: ", target);
    }
    if (exists && S_ISDIR(sb.st_mode))
        return output_error(o, "cannot write: ", strerror(EISDIR));
    if (exists && !S_ISREG(sb.st_mode)) { /* a device or FIFO (a socket fails to open) */
        int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return output_error(o, "cannot write: ", strerror(errno));
        }
        return true;
    }
    /* a regular file, or nothing yet: the link's final target, or path itself */
    o->path = exists ? realpath(path, NULL) : strdup(path);
    size_t n = o->path ? strlen(o->path) + 12 : 0;
    if (n > sizeof tmp_path)
        return output_error(o, "cannot write: ", "the path is too long");
    if (!o->path || !(o->tmp = malloc(n)))
        return output_error(o, "cannot write: ", strerror(errno));
    catch_termination();
    int fd = create_tmp(o->path, o->tmp);
    if (fd >= 0 && (o->f = fdopen(fd, "w+"))) /* read too: knn fit maps what it wrote */
        return true;
    int err = errno;
    if (fd < 0) { /* nothing made: the name is not ours to remove */
        free(o->tmp);
        o->tmp = NULL;
    } else {
        close(fd); /* and cli_output_abort removes the file */
    }
    return output_error(o, "cannot write: ", strerror(err));
}

bool cli_output_commit(cli_output *o)
{
    if (o->f == stdout) { /* checked once for every command, in main() */
        memset(o, 0, sizeof *o);
        return true;
    }
    int err = cli_flush_error(o->f);
    if (!err && o->tmp && fsync(fileno(o->f)) != 0)
        err = errno;
    if (fclose(o->f) != 0 && !err)
        err = errno;
    o->f = NULL;
    if (!err && o->tmp && rename(o->tmp, o->path) != 0)
        err = errno;
    if (err)
        return output_error(o, "writing failed: ", strerror(err));
    track_tmp(NULL);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return true;
}

void cli_output_abort(cli_output *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    track_tmp(NULL);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
