/* load_labels.c: a flat folder of images whose classes come from a labels file, the way
 * ImageNet's validation set is held (50,000 images in one folder, the classes in a CSV).
 *
 * The file is either a CSV of `file,class` lines (split at the last comma; spaces and double
 * quotes around a field are dropped; a first line whose file names no file of the folder is a
 * header), or ImageNet's LOC_val_solution.csv, told by its header
 * `ImageId,PredictionString`: the file is ImageId.JPEG and the class the first word of the
 * prediction string ("n01751748 ..."). Classes are the distinct names of the images found,
 * sorted; they are matched to a training set's by name later (knn_dataset_match_classes).
 * Images without a label and labels without an image are listed with the skipped files,
 * never dropped silently; a file labelled twice is an error. The file is read whole under a
 * cap, like every text file beside data. */
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

/* A field with the spaces around it and one pair of surrounding double quotes taken off, in
 * place. */
static char *trim_field(char *f)
{
    while (*f == ' ' || *f == '\t')
        f++;
    size_t len = strlen(f);
    while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t'))
        f[--len] = '\0';
    if (len >= 2 && f[0] == '"' && f[len - 1] == '"') {
        f[len - 1] = '\0';
        f++;
    }
    return f;
}

/* Splits the text (NUL-terminated at `size`) into lines of two fields: file,class (split at
 * the last comma, so file names may hold commas), or in ImageNet's LOC form (*loc) the image
 * id and the first word of the prediction string. Returns the entries (malloc'd strings) or
 * NULL with the error set. */
static labelled *parse_labels(const char *path, char *text, size_t size, size_t *n_out,
                              bool *loc)
{
    *n_out = 0;
    *loc = false;
    size_t cap = 1024, n = 0;
    labelled *e = malloc(cap * sizeof *e);
    size_t at = size >= 3 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0; /* a UTF-8 BOM */
    for (size_t line = 1; e && at < size; line++) {
        char *start = text + at, *nl = memchr(start, '\n', size - at);
        size_t len = nl ? (size_t)(nl - start) : size - at;
        at += len + 1;
        const bool nul = memchr(start, '\0', len) != NULL;
        while (len > 0 && start[len - 1] == '\r')
            len--;
        start[len] = '\0';
        if (strspn(start, " \t") == len) /* a blank line */
            continue;
        if (line == 1 && !strncmp(start, "ImageId,PredictionString", 24)) {
            *loc = true;
            continue;
        }
        char *comma = *loc ? strchr(start, ',') : strrchr(start, ',');
        if (nul || !comma) {
            knn__fail(KNN_ERR_FORMAT, "%s: line %zu: expected file,class", path, line);
            goto fail;
        }
        *comma = '\0';
        char *file = trim_field(start), *label = trim_field(comma + 1);
        if (*loc)
            label[strcspn(label, " \t")] = '\0';
        if (!*file || !*label) {
            knn__fail(KNN_ERR_FORMAT, "%s: line %zu: expected file,class", path, line);
            goto fail;
        }
        if (n == cap) {
            labelled *grown = realloc(e, (cap *= 2) * sizeof *e);
            if (!grown)
                goto nomem;
            e = grown;
        }
        e[n].file = *loc ? knn__asprintf("%s.JPEG", file) : knn__strdup(file);
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

/* Sorted by file: drops repeated entries of one file with one label; two labels for one
 * file are an error. */
static knn_status drop_repeats(const char *path, labelled *e, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (kept && !strcmp(e[kept - 1].file, e[i].file)) {
            if (strcmp(e[kept - 1].label, e[i].label))
                return knn__fail(KNN_ERR_FORMAT, "%s: %s is labelled twice, '%s' and '%s'", path,
                                 e[i].file, e[kept - 1].label, e[i].label);
            free(e[i].file);
            free(e[i].label);
            continue;
        }
        e[kept++] = e[i];
    }
    *n = kept;
    return KNN_OK;
}

/* The distinct labels of the n entries, sorted, into classes (their strings, not copies). */
static knn_status distinct_labels(labelled *const *hits, size_t n, char ***classes, size_t *nc)
{
    char **all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        all[i] = hits[i]->label;
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

/* The folder's files that have a label, as paths with their entry (hits); notes for the files
 * without a label and the labels without a file. */
static knn_status match_files(const char *root, const char *path, const knn__name_list *files,
                              labelled *e, size_t n, const knn_load_options *opt, char **paths,
                              labelled **hits, size_t *kept, knn__name_list *notes)
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
        hits[*kept] = hit;
        if (!(paths[(*kept)++] = knn__path_join(root, files->items[i])))
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
    labelled **hits = NULL;
    int32_t *labels = NULL;
    labelled *e = NULL;
    bool loc = false;
    knn_status st = knn__read_whole(path, MAX_LABELS_BYTES, "a labels file", &text, &size);
    if (!st && !(e = parse_labels(path, (char *)text, size, &n, &loc)))
        st = KNN_ERR_FORMAT;
    if (!st)
        st = knn__list_dir(root, false, &files);
    if (!st) {
        if (!loc)
            drop_header(e, &n, &files);
        qsort(e, n, sizeof *e, by_file);
        st = drop_repeats(path, e, &n);
    }
    if (!st && (!(paths = calloc(files.n ? files.n : 1, sizeof *paths)) ||
                !(hits = malloc((files.n ? files.n : 1) * sizeof *hits)) ||
                !(labels = malloc((files.n ? files.n : 1) * sizeof *labels))))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st)
        st = match_files(root, path, &files, e, n, opt, paths, hits, &kept, &notes);
    if (!st && kept == 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: none of the %zu files of %s has a label in it", path,
                       files.n, root);
    /* the classes are those of the images found: labels of missing files make none */
    if (!st)
        st = distinct_labels(hits, kept, &classes, &nclasses);
    for (size_t i = 0; !st && i < kept; i++)
        labels[i] = (int32_t)((char **)bsearch(&hits[i]->label, classes, nclasses,
                                                sizeof *classes, by_string) -
                              classes);
    if (!st)
        st = knn__load_files_labelled(root, paths, labels, kept, (const char *const *)classes,
                                      (int)nclasses, &notes, opt, out);
    for (size_t i = 0; paths && i < kept; i++)
        free(paths[i]);
    free(paths);
    free(hits);
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
