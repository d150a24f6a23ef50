/* io.c: see io.h. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool knn__is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool knn__is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

knn_status knn__open_regular(const char *path, int *fd, uint64_t *size)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below */
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (*fd < 0)
        return knn__fail(KNN_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    const char *kind = NULL;
    if (fstat(*fd, &st) != 0)
        kind = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        kind = "is a folder";
    else if (!S_ISREG(st.st_mode))
        kind = S_ISFIFO(st.st_mode)   ? "is a FIFO, not a regular file"
               : S_ISSOCK(st.st_mode) ? "is a socket, not a regular file"
                                      : "is a device, not a regular file";
    if (kind) {
        knn_status status = S_ISDIR(st.st_mode) ? KNN_ERR_ARG : KNN_ERR_IO;
        close(*fd);
        *fd = -1;
        return S_ISDIR(st.st_mode)
                   ? knn__fail(status, "%s: is a folder; give a file, or FOLDER:SPLIT", path)
                   : knn__fail(status, "%s: %s", path, kind);
    }
    *size = (uint64_t)st.st_size;
    return KNN_OK;
}

knn_status knn__read_whole(const char *path, size_t max_bytes, const char *what, uint8_t **data,
                           size_t *size)
{
    *data = NULL;
    *size = 0;
    int fd;
    uint64_t bytes;
    knn_status st = knn__open_regular(path, &fd, &bytes);
    if (st)
        return st;
    if (bytes > max_bytes) {
        close(fd);
        return knn__fail(KNN_ERR_LIMIT, "%s: %llu bytes is more than %zu MiB, the limit for %s",
                         path, (unsigned long long)bytes, max_bytes >> 20, what);
    }
    uint8_t *buf = malloc((size_t)bytes + 1);
    size_t got = 0;
    /* read what the file holds now, up to the size fstat gave (it may shrink meanwhile) */
    while (buf && got < bytes) {
        ssize_t r = read(fd, buf + got, (size_t)bytes - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = knn__fail(KNN_ERR_IO, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf)
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory for %llu bytes", path,
                         (unsigned long long)bytes);
    if (st) {
        free(buf);
        return st;
    }
    buf[got] = '\0';
    *data = buf;
    *size = got;
    return KNN_OK;
}

knn_status knn__file_open(knn__file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    int fd;
    knn_status st = knn__open_regular(path, &fd, &f->disk_size);
    if (st)
        return st;
    if (f->disk_size == 0) {
        close(fd);
        return knn__fail(KNN_ERR_FORMAT, "%s: the file is empty", path);
    }
    unsigned char magic[2] = {0, 0};
    f->compressed = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->max_size = f->compressed ? f->disk_size * KNN__DEFLATE_MAX_RATIO : f->disk_size;
    f->gz = gzdopen(fd, "rb"); /* owns fd from here on */
    if (!f->gz) {
        close(fd);
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", path);
    }
    gzbuffer(f->gz, 1 << 17);
    return KNN_OK;
}

void knn__file_close(knn__file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* zlib's reason for a gzip error, without the "<fd:N>: " it puts first for gzdopen'd files
 * (the message names the file already). */
static const char *gzip_reason(knn__file *f, int *errnum)
{
    const char *msg = gzerror(f->gz, errnum);
    const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    return colon ? colon + 2 : msg;
}

knn_status knn__file_read_some(knn__file *f, void *buf, size_t n, size_t *got)
{
    *got = 0;
    unsigned char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int r = gzread(f->gz, p, chunk);
        if (r < 0) {
            int errnum;
            const char *msg = gzip_reason(f, &errnum);
            return knn__fail(KNN_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path,
                             errnum == Z_ERRNO ? strerror(errno) : msg);
        }
        if (r == 0) {
            int errnum;
            const char *msg = gzip_reason(f, &errnum);
            if (errnum != Z_OK && errnum != Z_BUF_ERROR)
                return knn__fail(KNN_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path, msg);
            if (errnum == Z_BUF_ERROR)
                return knn__fail(KNN_ERR_FORMAT, "%s: truncated gzip data (%s)", f->path, msg);
            break;
        }
        p += r;
        n -= (size_t)r;
        *got += (size_t)r;
        f->offset += (uint64_t)r;
    }
    return KNN_OK;
}

knn_status knn__file_read(knn__file *f, void *buf, size_t n, const char *what)
{
    size_t got;
    knn_status st = knn__file_read_some(f, buf, n, &got);
    if (st)
        return st;
    if (got < n)
        return knn__fail(KNN_ERR_FORMAT, "%s: truncated: the data ends at byte %llu, in %s",
                         f->path, (unsigned long long)f->offset, what);
    return KNN_OK;
}

knn_status knn__file_expect_size(knn__file *f, uint64_t expected, const char *header)
{
    uint64_t have = f->max_size;
    if (f->compressed)
        return expected <= have
                   ? KNN_OK
                   : knn__fail(KNN_ERR_FORMAT,
                               "%s: %s needs %llu bytes, more than the %llu bytes of gzip data "
                               "can hold (%dx): truncated or corrupt",
                               f->path, header, (unsigned long long)expected,
                               (unsigned long long)f->disk_size, KNN__DEFLATE_MAX_RATIO);
    if (have == expected)
        return KNN_OK;
    if (have < expected)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: truncated: %s needs %llu bytes but the file has %llu", f->path,
                         header, (unsigned long long)expected, (unsigned long long)have);
    return knn__fail(KNN_ERR_FORMAT,
                     "%s: %llu bytes after the data that %s describes (%llu bytes)", f->path,
                     (unsigned long long)(have - expected), header,
                     (unsigned long long)expected);
}

knn_status knn__file_expect_end(knn__file *f, const char *header)
{
    unsigned char extra;
    size_t got;
    knn_status st = knn__file_read_some(f, &extra, 1, &got);
    if (st || got == 0)
        return st;
    return knn__fail(KNN_ERR_FORMAT, "%s: more data after the %llu bytes that %s describes",
                     f->path, (unsigned long long)(f->offset - 1), header);
}
