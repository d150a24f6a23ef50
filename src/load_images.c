/* load_images.c: folders of photos as data sets (ImageNet, MIT Places, Omniglot layouts).
 *
 * ROOT/<class>/<image> (class depth 1) or ROOT/<alphabet>/<character>/<image> (depth 2, the
 * class named "alphabet/character"). Classes are the folders in sorted (byte) order, images
 * sorted within a class, hidden files ignored. Every image is read whole (a regular file of at
 * most KNN_MAX_IMAGE_FILE bytes), decoded by image.c (JPEG, PNG, BMP, GIF, PGM/PPM, under its
 * caps; gray or colour converted to the channels asked for) and brought to one size:
 * stretched, or with `crop` the short side resized and the middle kept, as ImageNet's "resize
 * to 256, crop the centre" does. The resizer (resize.c) uses stb_image_resize's filters in
 * integers: a Mitchell filter to shrink, Catmull-Rom to enlarge; an axis already at the size
 * is copied as it is (the filter at scale 1 would blur). Rows are stored as channel planes,
 * like CIFAR. A JPEG is decoded at 1/2, 1/4 or 1/8 scale where that still covers the target
 * (image.c). Images are decoded in parallel; one that cannot be read is skipped and listed
 * (knn_dataset_skipped), or fails the load when `strict`. */
#include "text.h"
#include "io.h"
#include "parallel.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIDE 4096 /* largest output side */

bool knn__list_push(knn__name_list *l, char *s)
{
    if (!s)
        return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(s);
            return false;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return true;
}

void knn__name_list_free(knn__name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* knn__list_dir, leaving out the file `skip` (NULL: none) is. */
static knn_status list_dir_skipping(const char *dir, bool want_dirs, const struct stat *skip,
                                    knn__name_list *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return knn__fail(KNN_ERR_IO, "%s: %s", dir, strerror(errno));
    knn_status st = KNN_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *path = knn__path_join(dir, e->d_name);
        struct stat sb;
        bool found = path && stat(path, &sb) == 0; /* a broken link is neither */
        bool is_dir = found && S_ISDIR(sb.st_mode);
        bool is_file = found && S_ISREG(sb.st_mode) &&
                       !(skip && sb.st_dev == skip->st_dev && sb.st_ino == skip->st_ino);
        free(path);
        if ((want_dirs && is_dir) || (!want_dirs && is_file))
            if (!knn__list_push(out, knn__strdup(e->d_name)))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory listing %s", dir);
    }
    closedir(d);
    if (!st && out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_name);
    return st;
}

knn_status knn__list_dir(const char *dir, bool want_dirs, knn__name_list *out)
{
    return list_dir_skipping(dir, want_dirs, NULL, out);
}

knn_status knn_folder_list(const char *dir, int folders, char ***paths, size_t *n)
{
    *paths = NULL;
    *n = 0;
    knn__name_list names = {0};
    knn_status st = knn__list_dir(dir, folders != 0, &names);
    for (size_t i = 0; !st && i < names.n; i++) { /* names become paths in place */
        char *path = knn__path_join(dir, names.items[i]);
        if (!path)
            st = knn__fail(KNN_ERR_NOMEM, "out of memory listing %s", dir);
        else {
            free(names.items[i]);
            names.items[i] = path;
        }
    }
    if (st) {
        knn__name_list_free(&names);
        return st;
    }
    *paths = names.items;
    *n = names.n;
    return KNN_OK;
}

void knn_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

/* Converts w x h pixels of n (1 or 3) interleaved channels to C in place of *pix, as
 * stb_image's own conversion does: gray copied to red, green and blue; RGB to gray by its
 * luma, (77 r + 150 g + 29 b) >> 8. NULL, or a malloc'd reason. */
static char *convert_channels(uint8_t **pix, int w, int h, int n, int C)
{
    if (n == C)
        return NULL;
    const size_t pixels = (size_t)w * (size_t)h;
    uint8_t *out = malloc(pixels * (size_t)C);
    if (!out)
        return knn__asprintf("out of memory");
    for (size_t p = 0; p < pixels; p++) {
        const uint8_t *in = *pix + p * (size_t)n;
        if (C == 1)
            out[p] = (uint8_t)((in[0] * 77 + in[1] * 150 + in[2] * 29) >> 8);
        else
            out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = in[0];
    }
    free(*pix);
    *pix = out;
    return NULL;
}

/* Decodes and converts one image held in memory into `row` (C channel planes of W x H).
 * NULL, or a malloc'd reason. */
static char *convert_image(const uint8_t *data, size_t size, int W, int H, int C, int crop,
                           uint8_t *row)
{
    int w, h, n;
    uint8_t *pix;
    char *why = knn__image_decode(data, size, C, W, H, 0, &pix, &w, &h, &n);
    if (!why && (why = convert_channels(&pix, w, h, n, C)))
        free(pix);
    if (why)
        return why;
    /* the region of the image to resize: all of it, or its middle with the output's aspect */
    int x0 = 0, y0 = 0, cw = w, ch = h;
    if (crop) {
        if ((double)w * H > (double)h * W) { /* too wide: keep the middle columns */
            cw = (int)((double)h * W / H + 0.5);
            cw = cw < 1 ? 1 : cw;
            x0 = (w - cw) / 2;
        } else {
            ch = (int)((double)w * H / W + 0.5);
            ch = ch < 1 ? 1 : ch;
            y0 = (h - ch) / 2;
        }
    }
    const uint8_t *region = pix + ((size_t)y0 * (size_t)w + (size_t)x0) * (size_t)C;
    if (!knn__resize_to_planes(region, (size_t)w * (size_t)C, cw, ch, C, row, W, H, 0))
        why = knn__asprintf("out of memory");
    free(pix);
    return why;
}

/* Reads the file at `path` and converts it into `row`. NULL, or a malloc'd reason. */
static char *convert_file(const char *path, int W, int H, int C, int crop, uint8_t *row)
{
    uint8_t *data;
    size_t size;
    if (knn__read_whole(path, KNN_MAX_IMAGE_FILE, "an image", &data, &size)) {
        /* the message starts with the path; the caller names the file itself */
        const char *e = knn_last_error();
        size_t n = strlen(path);
        return knn__asprintf("%s", strncmp(e, path, n) == 0 && e[n] == ':' ? e + n + 2 : e);
    }
    char *why = convert_image(data, size, W, H, C, crop, row);
    free(data);
    return why;
}

/* Rows decoded at once when they go to a sink: about 64 MiB of them, at least 16 rows (16
 * rows of the largest, 16 MiB: 256 MiB). */
#define SINK_BATCH_BYTES ((size_t)64 << 20)
#define SINK_BATCH_MIN 16

/* Decodes `n` files into a new data set; labels may be NULL. Unreadable files are skipped
 * (their rows dropped) unless strict. With a sink, the rows are decoded batch by batch into
 * memory of one batch and handed to it in order, and the data set has no rows
 * (knn__stream_image_folder). */
static knn_status load_files(char **paths, const int32_t *labels, size_t n,
                             const knn_load_options *opt, const char *what, knn__row_sink *sink,
                             knn_dataset **out)
{
    const int W = opt->width > 0 ? opt->width : 32, H = opt->height > 0 ? opt->height : 32;
    const int C = opt->channels > 0 ? opt->channels : 3;
    *out = NULL;
    if (W > MAX_SIDE || H > MAX_SIDE || (C != 1 && C != 3))
        return knn__fail(KNN_ERR_ARG, "%s: images of %d x %d x %d: sides up to %d, 1 or 3 "
                                      "channels",
                         what, W, H, C, MAX_SIDE);
    knn_dataset *ds;
    /* with a sink: one row's room, freed below, and the labels grown to n */
    knn_status st = knn__dataset_alloc(sink ? 0 : n, (size_t)W * H * C, KNN_U8, labels != NULL,
                                       what, &ds);
    if (st)
        return st;
    ds->height = H;
    ds->width = W;
    ds->channels = C;
    ds->crop = opt->crop;
    const size_t stride = ds->stride;
    size_t batch = n ? n : 1;
    uint8_t *rows = ds->rows;
    if (sink) {
        free(ds->rows);
        ds->rows = NULL;
        batch = SINK_BATCH_BYTES / stride > SINK_BATCH_MIN ? SINK_BATCH_BYTES / stride
                                                            : SINK_BATCH_MIN;
        batch = batch < n ? batch : (n ? n : 1);
        rows = aligned_alloc(KNN__ALIGN, batch * stride); /* stride <= 16 MiB: no overflow */
        int32_t *grown = labels ? realloc(ds->labels, (n ? n : 1) * sizeof *grown) : NULL;
        if (grown)
            ds->labels = grown;
        if (!rows || (labels && !grown)) {
            free(rows);
            knn_dataset_free(ds);
            return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", what);
        }
        memset(rows, 0, batch * stride); /* the rows' padding, which decoding never writes */
    }
    char **why = calloc(n ? n : 1, sizeof *why);
    ds->paths = calloc(n ? n : 1, sizeof *ds->paths);
    knn__name_list skipped = {0};
    if (!why || !ds->paths)
        st = knn__fail(KNN_ERR_NOMEM, "%s: out of memory", what);
    size_t done = 0, kept = 0;
    for (size_t b0 = 0; !st && b0 < n; b0 += batch) {
        const size_t b1 = n - b0 < batch ? n : b0 + batch;
        const size_t first = sink ? b0 : 0; /* row i at rows + (i - first) x stride */
#ifdef _OPENMP /* one image at a time: a batch of large rows has only a few dozen */
#pragma omp parallel for schedule(dynamic, 1)
#endif
        for (size_t i = b0; i < b1; i++) {
            why[i] = convert_file(paths[i], W, H, C, opt->crop, rows + (i - first) * stride);
            size_t d = knn__work_done(&done);
            if (opt->progress && d)
                opt->progress(d, n, opt->progress_user);
        }
        /* keep the readable images, in order; list the others */
        for (size_t i = b0; i < b1 && !st; i++) {
            if (why[i]) {
                if (opt->strict)
                    st = knn__fail(KNN_ERR_FORMAT, "%s: %s", paths[i], why[i]);
                else if (!knn__list_push(&skipped, knn__asprintf("%s: %s", paths[i], why[i])))
                    st = knn__fail(KNN_ERR_NOMEM, "out of memory");
                continue;
            }
            if (sink)
                st = sink->write(sink, rows + (i - first) * stride, stride);
            else if (kept != i)
                memcpy(ds->rows + kept * stride, ds->rows + i * stride, stride);
            if (labels)
                ds->labels[kept] = labels[i];
            if (!st && !(ds->paths[kept] = knn__strdup(paths[i])))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            kept++;
        }
    }
    for (size_t i = 0; why && i < n; i++)
        free(why[i]);
    free(why);
    if (sink)
        free(rows);
    ds->count = kept; /* paths beyond kept are NULL; free() walks only `count` of them */
    ds->skipped = skipped.items; /* taken over */
    ds->nskipped = skipped.n;
    if (!st && kept == 0 && n > 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: none of the %zu images could be read (%s)", what, n,
                       ds->skipped[0]);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
}

/* Folders nest at most this deep below the root: far beyond any real layout (Places is 3),
 * and it bounds the walk where links make a loop. */
#define MAX_FOLDER_DEPTH 32

/* What a walk of an image folder finds: the classes (paths from the root), every image file
 * with its class, and notes on what is left out (empty folders, files in no class). */
typedef struct {
    knn__name_list classes, files, notes;
    int32_t *labels; /* (files.n) */
    size_t labels_cap;
    const struct stat *skip; /* a file never listed (the model being written), or NULL */
} folder_walk;

static knn_status walk_push_file(folder_walk *w, char *path, int32_t label)
{
    if (!knn__list_push(&w->files, path))
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (w->files.n > w->labels_cap) {
        size_t cap = w->labels_cap ? 2 * w->labels_cap : 256;
        int32_t *grown = realloc(w->labels, cap * sizeof *grown);
        if (!grown)
            return knn__fail(KNN_ERR_NOMEM, "out of memory");
        w->labels = grown;
        w->labels_cap = cap;
    }
    w->labels[w->files.n - 1] = label;
    return KNN_OK;
}

/* True if one of `files` (names in dir) starts like an image; looks no further than the
 * first that does (usually the first file). */
static bool holds_image(const char *dir, const knn__name_list *files)
{
    for (size_t i = 0; i < files->n; i++) {
        char *path = knn__path_join(dir, files->items[i]);
        bool image = path && knn_is_image_file(path);
        free(path);
        if (image)
            return true;
    }
    return false;
}

/* Visits `rel` (a path from the root, "" for the root itself) at `level` folders below the
 * root, in sorted order, depth first. A folder is a class when it directly holds files (or,
 * with opt->class_depth, when it lies exactly that deep); its own class comes before those of
 * its sub-folders, so classes sort by their path's components. */
static knn_status walk_folder(const char *root, const char *rel, int level,
                              const knn_load_options *opt, folder_walk *w)
{
    char *dir = *rel ? knn__path_join(root, rel) : knn__strdup(root);
    knn__name_list files = {0}, dirs = {0};
    knn_status st = dir ? list_dir_skipping(dir, false, w->skip, &files)
                        : knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st)
        st = knn__list_dir(dir, true, &dirs);
    const int depth = opt->class_depth;
    const bool is_class = !st && level > 0 &&
                          (depth > 0 ? level == depth : files.n > 0 && holds_image(dir, &files));
    if (!st && is_class) {
        if (w->classes.n == KNN_MAX_CLASSES)
            st = knn__fail(KNN_ERR_LIMIT, "%s: more than %d classes", root, KNN_MAX_CLASSES);
        else if (!knn__list_push(&w->classes, knn__strdup(rel)))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < files.n && !(opt->limit && w->files.n == opt->limit); i++)
            st = walk_push_file(w, knn__path_join(dir, files.items[i]),
                                (int32_t)(w->classes.n - 1));
    } else if (!st && files.n > 0) {
        if (!knn__list_push(&w->notes, knn__asprintf("%s: %zu file(s) in no class folder (no "
                                                     "image among them, or above the class "
                                                     "depth), left out",
                                                     dir, files.n)))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    } else if (!st && level > 0 && dirs.n == 0) {
        if (!knn__list_push(&w->notes, knn__asprintf("%s: an empty folder, no class", dir)))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    const bool deeper = depth > 0 ? level < depth : true;
    if (!st && !deeper && dirs.n > 0 &&
        !knn__list_push(&w->notes, knn__asprintf("%s: %zu folder(s) below the class depth %d, "
                                                 "left out",
                                                 dir, dirs.n, depth)))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st && deeper && dirs.n > 0 && level == MAX_FOLDER_DEPTH)
        st = knn__fail(KNN_ERR_LIMIT, "%s: folders nest more than %d deep (a link loop?)", dir,
                       MAX_FOLDER_DEPTH);
    for (size_t i = 0; !st && deeper && i < dirs.n; i++) {
        char *sub = knn__path_join(rel, dirs.items[i]); /* rel "" at the root */
        st = sub ? walk_folder(root, sub, level + 1, opt, w)
                 : knn__fail(KNN_ERR_NOMEM, "out of memory");
        free(sub);
    }
    knn__name_list_free(&files);
    knn__name_list_free(&dirs);
    free(dir);
    return st;
}

/* Adds "PATH: reason" notes to the data set's list of what was left out. */
static knn_status add_skipped(knn_dataset *ds, knn__name_list *notes)
{
    if (notes->n == 0)
        return KNN_OK;
    char **grown = realloc(ds->skipped, (ds->nskipped + notes->n) * sizeof *grown);
    if (!grown)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    ds->skipped = grown;
    for (size_t i = 0; i < notes->n; i++) {
        ds->skipped[ds->nskipped++] = notes->items[i];
        notes->items[i] = NULL;
    }
    notes->n = 0;
    return KNN_OK;
}

/* Notes the classes that kept no image (all of their files unreadable). */
static knn_status note_empty_classes(knn_dataset *ds, const char *root, knn__name_list *notes)
{
    size_t *count = calloc((size_t)ds->num_classes, sizeof *count);
    if (!count)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ds->count; i++)
        count[ds->labels[i]]++;
    knn_status st = KNN_OK;
    for (int c = 0; !st && c < ds->num_classes; c++)
        if (!count[c] &&
            !knn__list_push(notes, knn__asprintf("%s/%s: class %s has no readable image", root,
                                                 ds->class_names[c], ds->class_names[c])))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    free(count);
    return st;
}

static knn_status files_labelled(const char *root, char **paths, const int32_t *labels, size_t n,
                                 const char *const *classes, int nclasses,
                                 knn__name_list *notes, const knn_load_options *opt,
                                 knn__row_sink *sink, knn_dataset **out)
{
    *out = NULL;
    knn_dataset *ds = NULL;
    knn_status st = load_files(paths, labels, n, opt, root, sink, &ds);
    if (!st) {
        ds->num_classes = nclasses;
        st = knn_dataset_set_class_names(ds, classes);
    }
    if (!st && !opt->limit)
        st = note_empty_classes(ds, root, notes);
    if (!st)
        st = add_skipped(ds, notes);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
}

knn_status knn__load_files_labelled(const char *root, char **paths, const int32_t *labels,
                                   size_t n, const char *const *classes, int nclasses,
                                   knn__name_list *notes, const knn_load_options *opt,
                                   knn_dataset **out)
{
    return files_labelled(root, paths, labels, n, classes, nclasses, notes, opt, NULL, out);
}

static void walk_free(folder_walk *w)
{
    knn__name_list_free(&w->classes);
    knn__name_list_free(&w->files);
    knn__name_list_free(&w->notes);
    free(w->labels);
}

/* A folder of class folders of images, its rows kept or (sink) handed on. */
static knn_status image_folder(const char *root, const knn_load_options *opt,
                               knn__row_sink *sink, knn_dataset **out)
{
    *out = NULL;
    if (opt->class_depth < 0 || opt->class_depth > MAX_FOLDER_DEPTH)
        return knn__fail(KNN_ERR_ARG, "%s: class depth %d (1 to %d, or 0 for any)", root,
                         opt->class_depth, MAX_FOLDER_DEPTH);
    folder_walk w = {0};
    w.skip = sink ? sink->skip : NULL; /* the model file, where it lies in the folder */
    knn_status st = walk_folder(root, "", 0, opt, &w);
    if (!st && w.classes.n == 0 && opt->class_depth > 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: no folders %d levels down (the class depth)", root,
                       opt->class_depth);
    else if (!st && w.classes.n == 0)
        st = knn__fail(KNN_ERR_FORMAT,
                       "%s: no class folders in it (folders that hold images)%s", root,
                       w.notes.n ? "; one flat folder of images needs a labels file, which a "
                                   "test or query set can have (--labels FILE)"
                                 : "");
    else if (!st && w.files.n == 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: the class folders hold no files%s", root,
                       opt->class_depth > 0 ? " at the class depth (their images lie deeper)"
                                            : "");
    if (!st)
        st = files_labelled(root, w.files.items, w.labels, w.files.n,
                            (const char *const *)w.classes.items, (int)w.classes.n, &w.notes, opt,
                            sink, out);
    walk_free(&w);
    return st;
}

knn_status knn__load_image_folder(const char *root, const knn_load_options *opt,
                                  knn_dataset **out)
{
    *out = NULL;
    if (opt->shard) /* before any image is decoded */
        return knn__fail(KNN_ERR_ARG, "%s: a folder cannot be split into shards: write its "
                                      "model file first (knn fit %s MODEL) and give that",
                         root, root);
    if (opt->labels_file)
        return knn__load_labelled_folder(root, opt, out);
    if (knn__folder_is_text(root)) /* class folders of text files (text.c) */
        return knn__load_text_folder(root, opt, out);
    return image_folder(root, opt, NULL, out);
}

knn_status knn__stream_image_folder(const char *root, const knn_load_options *opt,
                                    knn__row_sink *sink, knn_dataset **out)
{
    *out = NULL;
    if (opt->labels_file || knn__folder_is_text(root))
        return knn__fail(KNN_ERR_ARG, "%s: only a folder of class folders of images is written "
                                      "as it is decoded",
                         root);
    return image_folder(root, opt, sink, out);
}

int knn_is_image_file(const char *path)
{
    int fd;
    uint64_t size;
    if (knn__open_regular(path, &fd, &size))
        return 0;
    uint8_t head[16];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    return got > 0 && knn__image_format(head, (size_t)got) != NULL;
}

/* The options that convert images as `like`'s were converted, failing on a strict error. */
static knn_status options_like(const knn_dataset *like, knn_load_options *o)
{
    memset(o, 0, sizeof *o);
    if (like->text)
        return knn__fail(KNN_ERR_ARG, "%s: holds text, not images", like->source);
    if (!knn_load_options_like(like, o))
        return knn__fail(KNN_ERR_ARG, "%s: does not hold images of 1 or 3 channels",
                         like->source);
    o->strict = 1;
    return KNN_OK;
}

knn_status knn_images_load(const char *const *paths, size_t n, const knn_dataset *like,
                           knn_dataset **out)
{
    *out = NULL;
    knn_load_options o = {0};
    knn_status st = options_like(like, &o);
    if (!st)
        st = load_files((char **)paths, NULL, n, &o, n == 1 ? paths[0] : "images", NULL, out);
    return st || !o.features ? st : knn__features_embed(o.features, out, NULL, NULL);
}

knn_status knn_image_load_memory(const void *data, size_t size, const char *name,
                                 const knn_dataset *like, knn_dataset **out)
{
    *out = NULL;
    knn_load_options o = {0};
    knn_status st = options_like(like, &o);
    return st ? st : knn_image_load_memory_with(data, size, name, &o, out);
}

knn_status knn_image_load_memory_with(const void *data, size_t size, const char *name,
                                      const knn_load_options *opt, knn_dataset **out)
{
    *out = NULL;
    knn_load_options o = *opt;
    if (!name)
        name = "image";
    if (!o.width || !o.height)
        o.width = o.height = 32;
    if (!o.channels)
        o.channels = 3;
    if (o.channels != 1 && o.channels != 3)
        return knn__fail(KNN_ERR_ARG, "%s: images of 1 or 3 channels, not %d", name, o.channels);
    if (o.width > MAX_SIDE || o.height > MAX_SIDE || o.width < 1 || o.height < 1)
        return knn__fail(KNN_ERR_ARG, "%s: images of %d x %d: sides from 1 to %d", name,
                         o.width, o.height, MAX_SIDE);
    knn_dataset *ds;
    knn_status st = knn__dataset_alloc(1, (size_t)o.width * (size_t)o.height * (size_t)o.channels,
                                       KNN_U8, false, name, &ds);
    if (st)
        return st;
    ds->height = o.height;
    ds->width = o.width;
    ds->channels = o.channels;
    ds->crop = o.crop;
    char *why = convert_image(data, size, o.width, o.height, o.channels, o.crop, ds->rows);
    if (why) {
        st = knn__fail(strcmp(why, "out of memory") ? KNN_ERR_FORMAT : KNN_ERR_NOMEM, "%s: %s",
                       name, why);
        free(why);
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return o.features ? knn__features_embed(o.features, out, NULL, NULL) : KNN_OK;
}
