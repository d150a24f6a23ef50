/* io.c: see io.h. */
#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

/* The last four bytes of a gzip member: the uncompressed size modulo 2^32. */
static bool gzip_trailer_size(FILE *fp, uint64_t *size)
{
    unsigned char t[4];
    if (fseek(fp, -4, SEEK_END) != 0 || fread(t, 1, 4, fp) != 4)
        return false;
    *size = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
    return true;
}

knn_status knn__file_open(knn__file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return knn__fail(KNN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return knn__fail(KNN_ERR_ARG, "%s: is a folder; give a file, or FOLDER:SPLIT", path);
    if (st.st_size == 0)
        return knn__fail(KNN_ERR_FORMAT, "%s: the file is empty", path);
    f->disk_size = (uint64_t)st.st_size;

    FILE *fp = fopen(path, "rb");
    if (!fp)
        return knn__fail(KNN_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t n = fread(magic, 1, 2, fp);
    f->compressed = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->data_size = f->disk_size;
    if (f->compressed && !gzip_trailer_size(fp, &f->data_size)) {
        fclose(fp);
        return knn__fail(KNN_ERR_FORMAT, "%s: truncated gzip file", path);
    }
    fclose(fp);

    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return knn__fail(KNN_ERR_IO, "%s: %s", path, errno ? strerror(errno) : "cannot open");
    gzbuffer(f->gz, 1 << 17);
    return KNN_OK;
}

void knn__file_close(knn__file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
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
            const char *msg = gzerror(f->gz, &errnum);
            return knn__fail(KNN_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path,
                             errnum == Z_ERRNO ? strerror(errno) : msg);
        }
        if (r == 0) {
            int errnum;
            const char *msg = gzerror(f->gz, &errnum);
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
    uint64_t have = f->data_size;
    uint64_t want = f->compressed ? (expected & 0xffffffffu) : expected;
    if (have == want)
        return KNN_OK;
    if (!f->compressed && have < want)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: truncated: %s needs %llu bytes but the file has %llu", f->path,
                         header, (unsigned long long)expected, (unsigned long long)have);
    if (!f->compressed)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: %llu bytes after the data that %s describes (%llu bytes)",
                         f->path, (unsigned long long)(have - want), header,
                         (unsigned long long)expected);
    return knn__fail(KNN_ERR_FORMAT,
                     "%s: %s needs %llu bytes but the gzip data holds %llu (mod 2^32): "
                     "truncated or corrupt",
                     f->path, header, (unsigned long long)expected, (unsigned long long)have);
}
