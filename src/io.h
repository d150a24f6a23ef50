/* io.h: reading data files, raw or gzip, through one interface (zlib's gz* functions read
 * both transparently). Every failure names the file and the problem. */
#ifndef KNN_IO_H
#define KNN_IO_H

#include "internal.h"

#include <zlib.h>

typedef struct {
    gzFile gz;
    const char *path;
    bool compressed;    /* gzip on disk                                                  */
    uint64_t disk_size; /* bytes on disk                                                 */
    uint64_t data_size; /* decompressed bytes: exact for raw files; for gzip the trailer's
                           ISIZE, the size modulo 2^32                                    */
    uint64_t offset;    /* decompressed bytes read so far                                 */
} knn__file;

/* Opens `path` for reading. A missing file, a folder and an empty file are errors. */
knn_status knn__file_open(knn__file *f, const char *path);
void knn__file_close(knn__file *f);
/* Reads exactly n bytes. A short read is a truncation error that says what was being read
 * (`what`, e.g. "image 512"); a gzip failure reports zlib's reason. */
knn_status knn__file_read(knn__file *f, void *buf, size_t n, const char *what);
/* Reads up to n bytes into buf and sets *got; 0 at the end of the data. */
knn_status knn__file_read_some(knn__file *f, void *buf, size_t n, size_t *got);
/* Checks that the decompressed size is `expected` bytes, where that can be known before
 * reading (raw files exactly, gzip modulo 2^32), so a header that promises more data than
 * the file holds is refused before anything is allocated. */
knn_status knn__file_expect_size(knn__file *f, uint64_t expected, const char *header);
/* True if the file exists and is a regular file. */
bool knn__is_file(const char *path);
bool knn__is_dir(const char *path);

#endif
