/* io.h: reading data files, raw or gzip, through one interface (zlib's gz* functions read
 * both transparently, concatenated gzip members included). Every failure names the file and
 * the problem.
 *
 * Every input is hostile (DESIGN.md decision 11): only regular files are read (a device, a
 * FIFO or a socket is refused without blocking: /dev/zero never streams forever, a FIFO never
 * waits for a writer), and no size is taken from a header or a trailer alone. A gzip file's
 * trailer records its size modulo 2^32, for its last member only, and is whatever the file
 * says; so a header's claim is checked against the most the compressed bytes can expand to
 * (deflate's worst ratio, 1032:1), and the data is then read to its real end. */
#ifndef KNN_IO_H
#define KNN_IO_H

#include "internal.h"

#include <zlib.h>

/* deflate cannot expand one byte into more than 1032 (258-byte matches at 2 bits each). */
#define KNN__DEFLATE_MAX_RATIO 1032

typedef struct {
    gzFile gz;
    const char *path;
    bool compressed;    /* gzip on disk                                                  */
    uint64_t disk_size; /* bytes on disk                                                 */
    uint64_t max_size;  /* decompressed bytes: exact for raw files; for gzip an upper
                           bound, disk_size x KNN__DEFLATE_MAX_RATIO                         */
    uint64_t offset;    /* decompressed bytes read so far                                 */
} knn__file;

/* Opens `path` for reading if it is a regular file: *fd and its size in bytes. A missing
 * file, a folder, a device, a FIFO or a socket is an error naming the path. */
knn_status knn__open_regular(const char *path, int *fd, uint64_t *size);
/* Reads a whole regular file of at most max_bytes into a malloc'd buffer (*data, *size),
 * followed by a NUL byte (not counted) so text can be parsed in place; `what` says what it
 * should be, for messages ("an image"). */
knn_status knn__read_whole(const char *path, size_t max_bytes, const char *what, uint8_t **data,
                           size_t *size);

/* Opens `path` for reading. A missing file, a folder, a non-regular file and an empty file
 * are errors. */
knn_status knn__file_open(knn__file *f, const char *path);
void knn__file_close(knn__file *f);
/* Reads exactly n bytes. A short read is a truncation error that says what was being read
 * (`what`, e.g. "image 512"); a gzip failure reports zlib's reason. */
knn_status knn__file_read(knn__file *f, void *buf, size_t n, const char *what);
/* Reads up to n bytes into buf and sets *got; 0 at the end of the data. */
knn_status knn__file_read_some(knn__file *f, void *buf, size_t n, size_t *got);
/* Checks, before anything is allocated, that the data can be `expected` bytes long: exactly
 * that for raw files; for gzip, no more than the compressed bytes can hold. `header` says
 * who claims it ("the header (60000 images of 784 values)"). */
knn_status knn__file_expect_size(knn__file *f, uint64_t expected, const char *header);
/* Checks that the data ends here (after everything `header` describes was read): a gzip
 * stream longer than its header says is an error, as a raw file's extra bytes are. */
knn_status knn__file_expect_end(knn__file *f, const char *header);
/* True if the file exists and is a regular file. */
bool knn__is_file(const char *path);
bool knn__is_dir(const char *path);

#endif
