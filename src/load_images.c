/* load_images.c: folders of photos as data sets (ImageNet, MIT Places, Omniglot layouts).
 *
 * ROOT/<class>/<image> (class depth 1) or ROOT/<alphabet>/<character>/<image> (depth 2, the
 * class named "alphabet/character"). Classes are the folders in sorted (byte) order, images
 * sorted within a class, hidden files ignored. Every image is read whole (a regular file of at
 * most KNN_MAX_IMAGE_FILE bytes), decoded by image.c (JPEG, PNG, BMP, GIF, PGM/PPM, under its
 * caps; gray or colour converted to the channels asked for) and resized by stb_image_resize
 * to one size: stretched, or with `crop` the short side resized and the middle kept, as
 * ImageNet's "resize to 256, crop the centre" does. Rows are stored as channel planes, like
 * CIFAR. Images are decoded in parallel; one that cannot be read is skipped and listed
 * (knn_dataset_skipped), or fails the load when `strict`. */
#include "io.h"
#include "parallel.h"

#include <dirent.h>
#include <errno.h>
#include <stb/stb_image_resize.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIDE 4096 /* largest output side */

typedef struct {
    char **items;
    size_t n, cap;
} name_list;

static bool list_push(name_list *l, char *s)
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

static void list_free(name_list *l)
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

/* The entries of `dir` (sorted, no hidden ones) that are folders (want_dirs) or files. */
static knn_status list_dir(const char *dir, bool want_dirs, name_list *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return knn__fail(KNN_ERR_IO, "%s: %s", dir, strerror(errno));
    knn_status st = KNN_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *path = knn__asprintf("%s/%s", dir, e->d_name);
        struct stat sb;
        bool found = path && stat(path, &sb) == 0; /* a broken link is neither */
        bool is_dir = found && S_ISDIR(sb.st_mode);
        bool is_file = found && S_ISREG(sb.st_mode);
        free(path);
        if ((want_dirs && is_dir) || (!want_dirs && is_file))
            if (!list_push(out, knn__strdup(e->d_name)))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory listing %s", dir);
    }
    closedir(d);
    if (!st && out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_name);
    return st;
}

bool knn__is_image_folder(const char *dir)
{
    name_list sub = {0};
    bool yes = list_dir(dir, true, &sub) == KNN_OK && sub.n > 0;
    list_free(&sub);
    return yes;
}

/* Depth 2 when the first class folder holds folders and no files. */
static int detect_depth(const char *root, const char *first_class)
{
    char *path = knn__asprintf("%s/%s", root, first_class);
    name_list dirs = {0}, files = {0};
    int depth = 1;
    if (path && list_dir(path, true, &dirs) == KNN_OK && list_dir(path, false, &files) == KNN_OK)
        depth = dirs.n > 0 && files.n == 0 ? 2 : 1;
    list_free(&dirs);
    list_free(&files);
    free(path);
    return depth;
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
    char *why = knn__image_decode(data, size, C, &pix, &w, &h, &n);
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
    unsigned char *out = malloc((size_t)W * (size_t)H * (size_t)C);
    if (!out)
        why = knn__asprintf("out of memory");
    else if (!stbir_resize_uint8(pix + ((size_t)y0 * (size_t)w + (size_t)x0) * (size_t)C, cw, ch,
                                 w * C, out, W, H, W * C, C))
        why = knn__asprintf("could not be resized");
    else /* interleaved to planes */
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < (size_t)W * (size_t)H; p++)
                row[(size_t)c * W * H + p] = out[p * (size_t)C + (size_t)c];
    free(out);
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

/* Decodes `n` files into a new data set; labels may be NULL. Unreadable files are skipped
 * (their rows dropped) unless strict. */
static knn_status load_files(char **paths, const int32_t *labels, size_t n,
                             const knn_load_options *opt, const char *what, knn_dataset **out)
{
    const int W = opt->width > 0 ? opt->width : 32, H = opt->height > 0 ? opt->height : 32;
    const int C = opt->channels > 0 ? opt->channels : 3;
    *out = NULL;
    if (W > MAX_SIDE || H > MAX_SIDE || (C != 1 && C != 3))
        return knn__fail(KNN_ERR_ARG, "%s: images of %d x %d x %d: sides up to %d, 1 or 3 "
                                      "channels",
                         what, W, H, C, MAX_SIDE);
    knn_dataset *ds;
    knn_status st = knn__dataset_alloc(n, (size_t)W * H * C, KNN_U8, labels != NULL, what, &ds);
    if (st)
        return st;
    ds->height = H;
    ds->width = W;
    ds->channels = C;
    ds->crop = opt->crop;
    char **why = calloc(n ? n : 1, sizeof *why);
    ds->paths = calloc(n ? n : 1, sizeof *ds->paths);
    if (!why || !ds->paths) {
        free(why);
        knn_dataset_free(ds);
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", what);
    }
    size_t done = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16)
#endif
    for (size_t i = 0; i < n; i++) {
        why[i] = convert_file(paths[i], W, H, C, opt->crop, ds->rows + i * ds->stride);
        size_t d = knn__work_done(&done);
        if (opt->progress && d)
            opt->progress(d, n, opt->progress_user);
    }
    /* keep the readable images, in order; list the others */
    size_t kept = 0, skipped = 0;
    for (size_t i = 0; i < n; i++)
        skipped += why[i] != NULL;
    ds->skipped = skipped ? calloc(skipped, sizeof *ds->skipped) : NULL;
    if (skipped && !ds->skipped)
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        if (why[i]) {
            if (opt->strict)
                st = knn__fail(KNN_ERR_FORMAT, "%s: %s", paths[i], why[i]);
            else if (!(ds->skipped[ds->nskipped++] = knn__asprintf("%s: %s", paths[i], why[i])))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            continue;
        }
        if (kept != i) {
            memcpy(ds->rows + kept * ds->stride, ds->rows + i * ds->stride, ds->stride);
            if (labels)
                ds->labels[kept] = labels[i];
        } else if (labels) {
            ds->labels[kept] = labels[i];
        }
        if (!(ds->paths[kept] = knn__strdup(paths[i])))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        kept++;
    }
    for (size_t i = 0; i < n; i++)
        free(why[i]);
    free(why);
    ds->count = kept; /* paths beyond kept are NULL; free() walks only `count` of them */
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

knn_status knn__load_image_folder(const char *root, const knn_load_options *opt,
                                  knn_dataset **out)
{
    *out = NULL;
    name_list top = {0}, classes = {0}, files = {0};
    knn_status st = list_dir(root, true, &top);
    if (!st && top.n == 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: no class folders in it", root);
    int depth = opt->class_depth > 0 ? opt->class_depth : st ? 1 : detect_depth(root, top.items[0]);
    if (!st && depth != 1 && depth != 2)
        st = knn__fail(KNN_ERR_ARG, "%s: class depth %d (1 or 2)", root, depth);
    /* the classes: "class" or "alphabet/character" */
    for (size_t a = 0; !st && a < top.n; a++) {
        if (depth == 1) {
            if (!list_push(&classes, knn__strdup(top.items[a])))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            continue;
        }
        char *path = knn__asprintf("%s/%s", root, top.items[a]);
        name_list sub = {0};
        st = path ? list_dir(path, true, &sub) : knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (size_t b = 0; !st && b < sub.n; b++)
            if (!list_push(&classes, knn__asprintf("%s/%s", top.items[a], sub.items[b])))
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        list_free(&sub);
        free(path);
    }
    if (!st && classes.n > KNN_MAX_CLASSES)
        st = knn__fail(KNN_ERR_LIMIT, "%s: %zu classes (at most %d)", root, classes.n,
                       KNN_MAX_CLASSES);
    /* the images, class by class */
    int32_t *labels = NULL;
    size_t labels_cap = 0;
    for (size_t c = 0; !st && c < classes.n; c++) {
        char *dir = knn__asprintf("%s/%s", root, classes.items[c]);
        name_list names = {0};
        st = dir ? list_dir(dir, false, &names) : knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < names.n; i++) {
            if (opt->limit && files.n == opt->limit)
                break;
            if (!list_push(&files, knn__asprintf("%s/%s", dir, names.items[i]))) {
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
                break;
            }
            if (files.n > labels_cap) {
                labels_cap = labels_cap ? 2 * labels_cap : 256;
                int32_t *grown = realloc(labels, labels_cap * sizeof *labels);
                if (!grown)
                    st = knn__fail(KNN_ERR_NOMEM, "out of memory");
                else
                    labels = grown;
            }
            if (!st)
                labels[files.n - 1] = (int32_t)c;
        }
        list_free(&names);
        free(dir);
    }
    if (!st && files.n == 0)
        st = knn__fail(KNN_ERR_FORMAT, "%s: the class folders hold no files", root);
    knn_dataset *ds = NULL;
    if (!st)
        st = load_files(files.items, labels, files.n, opt, root, &ds);
    if (!st) {
        ds->num_classes = (int)classes.n;
        st = knn_dataset_set_class_names(ds, (const char *const *)classes.items);
    }
    list_free(&top);
    list_free(&classes);
    list_free(&files);
    free(labels);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
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

/* The options that convert images as `like`'s were converted. */
static knn_status options_like(const knn_dataset *like, knn_load_options *o)
{
    if (like->dtype != KNN_U8 || like->channels < 1 || like->channels > 3 ||
        like->channels == 2)
        return knn__fail(KNN_ERR_ARG, "%s: does not hold images of 1 or 3 channels",
                         like->source);
    memset(o, 0, sizeof *o);
    o->width = like->width;
    o->height = like->height;
    o->channels = like->channels;
    o->crop = like->crop;
    o->strict = 1;
    return KNN_OK;
}

knn_status knn_images_load(const char *const *paths, size_t n, const knn_dataset *like,
                           knn_dataset **out)
{
    *out = NULL;
    knn_load_options o = {0};
    knn_status st = options_like(like, &o);
    return st ? st : load_files((char **)paths, NULL, n, &o, n == 1 ? paths[0] : "images", out);
}

knn_status knn_image_load_memory(const void *data, size_t size, const char *name,
                                 const knn_dataset *like, knn_dataset **out)
{
    *out = NULL;
    knn_load_options o = {0};
    knn_status st = options_like(like, &o);
    if (st)
        return st;
    if (!name)
        name = "image";
    if (o.width > MAX_SIDE || o.height > MAX_SIDE)
        return knn__fail(KNN_ERR_ARG, "%s: images of %d x %d: sides up to %d", like->source,
                         o.width, o.height, MAX_SIDE);
    knn_dataset *ds;
    st = knn__dataset_alloc(1, (size_t)o.width * (size_t)o.height * (size_t)o.channels, KNN_U8,
                            false, name, &ds);
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
    return KNN_OK;
}
