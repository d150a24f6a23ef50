/* text.h: text data sets inside the library (text.c: documents and the vectoriser; sparse.c:
 * the cosine search over the inverted index). */
#ifndef KNN_TEXT_H
#define KNN_TEXT_H

#include "internal.h"

#include <stdatomic.h>

/* The inverted index of a text data set's rows (sparse.c): for each term, the rows that hold
 * it in increasing order, with their weights. */
struct knn__postings;
void knn__postings_free(struct knn__postings *p);

/* A text data set's rows, CSR (row i's terms indices[indptr[i] .. indptr[i + 1]), increasing),
 * and its documents (document i at docs + doc_at[i], NUL-terminated). Before vectorising
 * (a raw set, inside knn_dataset_load) indptr, indices and values are NULL. */
struct knn__sparse {
    uint64_t *indptr;
    uint32_t *indices;
    float *values;
    char *docs;
    uint64_t *doc_at;
    _Atomic(struct knn__postings *) postings; /* built at the first search, then kept */
};

void knn__sparse_free(struct knn__sparse *s);
void knn__text_free(const knn_text *t);
/* True if a and b vectorise alike: the same options, terms and idf (the same object, or a
 * model file's copy of it). */
bool knn__text_same(const knn_text *a, const knn_text *b);
const knn_text *knn__text_ref(const knn_text *t);

/* ln x (x >= 1), the same bits on every processor (no libm). */
double knn__ln(double x);
/* The offset of the first byte of text[0..n) that is not valid UTF-8 or is NUL; n if none. */
size_t knn__utf8_check(const char *text, size_t n);

/* Loaders (documents only: the raw set is then vectorised). */
bool knn__is_text_file(const char *path);
bool knn__folder_is_text(const char *root);
knn_status knn__load_text_file(const char *path, const knn_load_options *opt, knn_dataset **out);
knn_status knn__load_text_folder(const char *root, const knn_load_options *opt,
                                 knn_dataset **out);
/* Vectorises a raw text data set: with `like` (a fitted vectoriser), or fitting one on its
 * documents with o (NULL: the defaults). */
knn_status knn__text_vectorize(knn_dataset *ds, const knn_text *like, const knn_text_options *o);

/* Model files: the text section's parts (header: 128 bytes of room; returns the number of
 * parts) and its size; reading it back (checked, copied) into ds: `whole` rows (the model's),
 * of which the first `keep` are used. */
#define KNN__TEXT_HEADER_BYTES 128 /* the section's header */
#define KNN__TEXT_PARTS 8          /* its parts, after the header */
int knn__text_parts(const knn_dataset *ds, void *header, const void **ptr, uint64_t *bytes);
uint64_t knn__text_section_bytes(const knn_dataset *ds);
knn_status knn__text_open(const char *path, const uint8_t *p, uint64_t bytes, size_t whole,
                          size_t keep, knn_dataset *ds);

/* The searches (sparse.c): knn_search's, into nb from knn__search_prepare; the reference's
 * dense scan; cross-validation's pass (the lists of the rows with slot >= 0 among the rows of
 * other folds, sorted, k each). */
knn_status knn__sparse_search(const knn_dataset *train, const knn_dataset *queries,
                              const knn_params *p, knn_neighbors *nb);
knn_status knn__sparse_search_dense(const knn_dataset *train, const knn_dataset *queries,
                                    const knn_params *p, knn_neighbors *nb);
knn_status knn__sparse_cv(const knn_dataset *ds, const int32_t *fold_of, const int64_t *slot,
                          int k, int threads, knn_progress_fn progress, void *user,
                          knn_neighbors *nb);

#endif
