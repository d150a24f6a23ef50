/* load_labels.c: a flat folder of images whose classes come from a labels file, the way
 * ImageNet's validation set is held (50,000 images in one folder, the classes in a CSV).
 *
 * The file is either a CSV of `file,class` lines (a first line whose file names no file of the
 * folder is a header), or ImageNet's LOC_val_solution.csv, told by its header
 * `ImageId,PredictionString`: the file is ImageId.JPEG and the class the first word of the
 * prediction string ("n01751748 ..."). Classes are the distinct names, sorted; they are
 * matched to a training set's by name later (knn_dataset_match_classes). Images without a
 * label and labels without an image are listed with the skipped files, never dropped
 * silently. The file is read whole under a cap, like every text file beside data. */
#include "io.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABELS_BYTES ((size_t)256 << 20) /* ImageNet's is 10 MiB */

typedef struct {
    char *file, *label;
} labelled;

static int by_file(const void *a, const void *b)
{
    return strcmp(((const labelled *)a)->file, ((const labelled *)b)->file);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits the text into lines of two fields; `loc`: ImageNet's LOC form. Returns the entries
 * (malloc'd strings) or NULL with the error set. */
static labelled *parse_labels(const char *path, char *text, size_t size, size_t *n_out)
{
    *n_out = 0;
    size_t cap = 1024, n = 0;
    labelled *e = malloc(cap * sizeof *e);
    bool loc = false;
    for (size_t at = 0, line = 1; e && at < size; line++) {
        char *start = text + at, *nl = memchr(start, '\n', size - at);
        size_t len = nl ? (size_t)(nl - start) : size - at;
        at += len + 1;
        while (len > 0 && (start[len - 1] == '\r' || start[len - 1] == ' '))
            len--;
        start[len] = '\0';
        if (len == 0)
            continue;
        if (line == 1 && !strncmp(start, "ImageId,PredictionString", 24)) {
            loc = true;
            continue;
        }
        char *comma = strchr(start, ',');
        if (!comma || comma == start || !comma[1] || memchr(start, 0, len)) {
            knn__fail(KNN_ERR_FORMAT, "%s: line %zu: expected file,class", path, line);
            goto fail;
        }
        *comma = '\0';
        char *label = comma + 1;
        if (loc)
            label[strcspn(label, " ")] = '\0';
        if (n == cap) {
            labelled *grown = realloc(e, (cap *= 2) * sizeof *e);
            if (!grown)
                goto nomem;
            e = grown;
        }
        e[n].file = loc ? knn__asprintf("%s.JPEG", start) : knn__strdup(start);
        e[n].label = knn__strdup(label);
        n++;
        if (!e[n - 1].file || !e[n - 1].label)
            goto nomem;
    }
    if (!e)
        goto nomem;
    *n_out = n;
    return e;
nomem:
    knn__fail(KNN_ERR_NOMEM, "%s: out of memory", path);
fail:
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].file);
        free(e[i].label);
    }
    free(e);
    return NULL;
}

/* The distinct labels of e, sorted, into classes. */
static knn_status distinct_labels(const labelled *e, size_t n, char ***classes, size_t *nc)
{
    char **all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        all[i] = e[i].label;
    qsort(all, n, sizeof *all, by_string);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(all[k - 1], all[i]))
            all[k++] = all[i];
    *classes = all;
    *nc = k;
    return k > (size_t)KNN_MAX_CLASSES
               ? knn__fail(KNN_ERR_LIMIT, "%zu classes (at most %d)", k, KNN_MAX_CLASSES)
               : KNN_OK;
}

/* Drops entry 0 when it is a header: the first line of a CSV whose file names no file of
 * the folder (files: sorted names). */
static void drop_header(labelled *e, size_t *n, const knn__name_list *files)
{
    if (*n == 0 || bsearch(&e[0].file, files->items, files->n, sizeof *files->items, by_string))
        return;
    free(e[0].file);
    free(e[0].label);
    memmove(e, e + 1, (*n - 1) * sizeof *e);
    (*n)--;
}

/* The folder's files that have a label, as paths with their class; notes for the others. */
static knn_status match_files(const char *root, const char *path, const knn__name_list *files,
                              labelled *e, size_t n, char **classes, size_t nclasses,
                              const knn_load_options *opt, char **paths, int32_t *labels,
                              size_t *kept, knn__name_list *notes)
{
    bool *used = calloc(n ? n : 1, sizeof *used);
    if (!used)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    knn_status st = KNN_OK;
    *kept = 0;
    for (size_t i = 0; !st && i < files->n && !(opt->limit && *kept == opt->limit); i++) {
        labelled key = {files->items[i], NULL};
        labelled *hit = bsearch(&key, e, n, sizeof *e, by_file);
        if (!hit) {
            if (!knn__list_push(notes, knn__asprintf("%s/%s: no label in %s", root,
                                                      files->items[i], path)))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            continue;
        }
        used[hit - e] = true;
        char **cls = bsearch(&hit->label, classes, nclasses, sizeof *classes, by_string);
        labels[*kept] = (int32_t)(cls - classes);
        if (!(paths[(*kept)++] = knn__asprintf("%s/%s", root, files->items[i])))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    size_t orphans = 0, first = 0;
    for (size_t i = 0; !opt->limit && i < n; i++)
        if (!used[i] && orphans++ == 0)
            first = i;
    if (!st && orphans &&
        !knn__list_push(notes, knn__asprintf("%s: %zu label(s) name no image of %s (the first: "
                                             "%s)",
                                             path, orphans, root, e[first].file)))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    free(used);
    return st;
}

knn_status knn__load_labelled_folder(const char *root, const knn_load_options *opt,
                                     knn_dataset **out)
{
    *out = NULL;
    const char *path = opt->labels_file;
    uint8_t *text = NULL;
    size_t size = 0, n = 0, nclasses = 0, kept = 0;
    knn__name_list files = {0}, notes = {0};
    char **classes = NULL, **paths = NULL;
    int32_t *labels = NULL;
    labelled *e = NULL;
    knn_status st = knn__read_whole(path, MAX_LABELS_BYTES, "a labels file", &text, &size);
    if (!st && !(e = parse_labels(path, (char *)text, size, &n)))
        st = KNN_ERR_FORMAT;
    if (!st)
        st = knn__list_dir(root, false, &files);
    if (!st) {
        drop_header(e, &n, &files);
        qsort(e, n, sizeof *e, by_file);
        st = distinct_labels(e, n, &classes, &nclasses);
    }
    if (!st && (!(paths = calloc(files.n ? files.n : 1, sizeof *paths)) ||
                !(labels = malloc((files.n ? files.n : 1) * sizeof *labels))))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st)
        st = match_files(root, path, &files, e, n, classes, nclasses, opt, paths, labels, &kept,
                         &notes);
    if (!st && kept == 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: none of the %zu files of %s has a label in it", path,
                       files.n, root);
    if (!st)
        st = knn__load_files_labelled(root, paths, labels, kept, (const char *const *)classes,
                                      (int)nclasses, &notes, opt, out);
    for (size_t i = 0; paths && i < kept; i++)
        free(paths[i]);
    free(paths);
    free(labels);
    free(classes);
    knn__name_list_free(&files);
    knn__name_list_free(&notes);
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].file);
        free(e[i].label);
    }
    free(e);
    free(text);
    return st;
}
