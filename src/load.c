/* load.c: knn_dataset_load, from a spec to a data set.
 *
 * A spec is a file (format told by content: the IDX magic number, else CIFAR record sizes),
 * FOLDER:SPLIT (a folder laid out as a standard data set), or NAME:SPLIT (a known data set
 * looked up under $KNN_DATA, ./data and /usr/share/datasets, in that order). Class names of
 * MNIST-family sets are built in and chosen by the data set's name (or, for a path, by the
 * name appearing in it: "fashion", "kmnist", "mnist"). */
#include "io.h"
#include "load.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    const char *folders[5]; /* folder names it goes by under a data root */
} known_sets[] = {
    {"mnist", {"mnist", "MNIST", NULL}},
    {"fashion-mnist", {"fashion-mnist", "fashion_mnist", "FashionMNIST", NULL}},
    {"kmnist", {"kmnist", "KMNIST", NULL}},
    {"cifar10", {"cifar10", "cifar-10", "cifar-10-batches-bin", NULL}},
    {"cifar100", {"cifar100", "cifar-100", "cifar-100-binary", NULL}},
};
#define N_KNOWN (sizeof known_sets / sizeof known_sets[0])
#define DEFAULT_ROOTS "./data:/usr/share/datasets"

char *knn__path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t at = a;
    if (a > 0 && dir[a - 1] != '/')
        p[at++] = '/';
    memcpy(p + at, name, b + 1);
    return p;
}

/* Case-insensitive substring search. */
static bool contains(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (; *text; text++) {
        size_t i = 0;
        while (i < n && tolower((unsigned char)text[i]) == word[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static const char *const *idx_class_names(const char *hint)
{
    if (contains(hint, "fashion"))
        return knn__fashion_mnist_names;
    if (contains(hint, "kmnist"))
        return knn__kmnist_names;
    if (contains(hint, "emnist"))
        return NULL;
    if (contains(hint, "mnist"))
        return knn__mnist_names;
    return NULL;
}

static knn_status load_idx_named(const char *path, const char *hint,
                                 const knn_load_options *opt, knn_dataset **out)
{
    return knn__load_idx(path, idx_class_names(hint), 10, opt, out);
}

static knn_status load_file(const char *path, const char *hint, const knn_load_options *opt,
                            knn_dataset **out)
{
    if (opt->labels_file)
        return knn__fail(KNN_ERR_ARG, "%s: a labels file is for a flat folder of images, not "
                                      "for a file",
                         path);
    if (knn__is_model_file(path))
        return knn__load_model(path, opt, out);
    knn__file f;
    knn_status st = knn__file_open(&f, path);
    unsigned char m[4] = {1, 1, 1, 1};
    size_t got = 0;
    if (!st)
        st = knn__file_read_some(&f, m, 4, &got);
    knn__file_close(&f);
    if (st)
        return st;
    if (got == 4 && m[0] == 0 && m[1] == 0 && m[3] != 0)
        return load_idx_named(path, hint, opt, out);
    if (knn__is_text_file(path)) /* documents, one a line (text.c) */
        return knn__load_text_file(path, opt, out);
    return knn__load_cifar(&path, 1, 0, opt, out);
}

/* Appends `dir/name` to paths if that file exists. */
static bool add_if_file(const char *dir, const char *name, char **paths, int *n)
{
    char *p = knn__path_join(dir, name);
    if (p && knn__is_file(p)) {
        paths[(*n)++] = p;
        return true;
    }
    free(p);
    return false;
}

/* Loads SPLIT of the standard data set in `dir`; *found = false if none is there. */
static knn_status load_folder(const char *dir, const char *split, const char *hint,
                              const knn_load_options *opt, bool *found, knn_dataset **out)
{
    bool train = strcmp(split, "train") == 0;
    static const char *const subfolders[] = {"", "raw", "cifar-10-batches-bin",
                                             "cifar-100-binary"};
    static const char *const idx_names[2][4] = {
        {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte",
         "t10k-images.idx3-ubyte.gz"},
        {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte",
         "train-images.idx3-ubyte.gz"}};
    char *paths[8] = {NULL};
    int n = 0;
    knn_status st = KNN_OK;
    *found = false;
    for (size_t s = 0; s < sizeof subfolders / sizeof *subfolders && !*found; s++) {
        char *sub = knn__path_join(dir, subfolders[s]);
        if (!sub)
            return knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (int i = 0; i < 4 && !n; i++)
            add_if_file(sub, idx_names[train][i], paths, &n);
        if (n) {
            *found = true;
            st = load_idx_named(paths[0], hint, opt, out);
        } else if (train ? add_if_file(sub, "data_batch_1.bin", paths, &n)
                         : add_if_file(sub, "test_batch.bin", paths, &n)) {
            char name[32];
            for (int b = 2; train && b <= 5; b++) {
                snprintf(name, sizeof name, "data_batch_%d.bin", b);
                if (!add_if_file(sub, name, paths, &n))
                    break;
            }
            *found = true;
            st = knn__load_cifar((const char *const *)paths, n, 10, opt, out);
        } else if (add_if_file(sub, train ? "train.bin" : "test.bin", paths, &n)) {
            *found = true;
            st = knn__load_cifar((const char *const *)paths, n, 100, opt, out);
        }
        free(sub);
    }
    for (int i = 0; i < n; i++)
        free(paths[i]);
    return st;
}

/* True if `dir` (or a standard subfolder) holds IDX or CIFAR files of a split. */
static bool has_standard_layout(const char *dir)
{
    static const char *const names[] = {
        "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
        "t10k-images-idx3-ubyte.gz", "train-images.idx3-ubyte", "t10k-images.idx3-ubyte",
        "data_batch_1.bin", "test_batch.bin", "train.bin", "test.bin"};
    static const char *const subfolders[] = {"", "raw", "cifar-10-batches-bin",
                                             "cifar-100-binary"};
    for (size_t s = 0; s < sizeof subfolders / sizeof *subfolders; s++)
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            char *p = knn__asprintf("%s/%s/%s", dir, subfolders[s], names[i]);
            bool found = p && knn__is_file(p);
            free(p);
            if (found)
                return true;
        }
    return false;
}

/* The known data set that the first name_len bytes of spec name (by its name or one of its
 * folder names, in any case), or N_KNOWN. */
static size_t known_set(const char *spec, size_t name_len)
{
    size_t which = N_KNOWN;
    for (size_t i = 0; i < N_KNOWN; i++) {
        const char *nm = known_sets[i].name;
        bool same = strlen(nm) == name_len && strncasecmp(spec, nm, name_len) == 0;
        for (int a = 0; known_sets[i].folders[a] && !same; a++)
            same = strlen(known_sets[i].folders[a]) == name_len &&
                   strncasecmp(spec, known_sets[i].folders[a], name_len) == 0;
        if (same)
            which = i;
    }
    return which;
}

static knn_status load_named(const char *spec, size_t name_len, const char *split,
                             const knn_load_options *opt, knn_dataset **out)
{
    const size_t which = known_set(spec, name_len);
    if (which == N_KNOWN)
        return knn__fail(KNN_ERR_ARG,
                         "%s: no such file or folder, and '%.*s' is not a known data set "
                         "(mnist, fashion-mnist, kmnist, cifar10, cifar100)",
                         spec, (int)name_len, spec);
    const char *env = getenv("KNN_DATA");
    size_t env_len = env ? strlen(env) : 0;
    char *roots = malloc(env_len + sizeof DEFAULT_ROOTS + 1);
    if (!roots)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    snprintf(roots, env_len + sizeof DEFAULT_ROOTS + 1, "%s%s%s", env_len ? env : "",
             env_len ? ":" : "", DEFAULT_ROOTS);
    knn_status st = KNN_OK;
    bool found = false;
    for (char *save = NULL, *root = strtok_r(roots, ":", &save); root && !found && !st;
         root = strtok_r(NULL, ":", &save)) {
        for (int a = 0; known_sets[which].folders[a] && !found && !st; a++) {
            char *dir = knn__path_join(root, known_sets[which].folders[a]);
            if (!dir)
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            else if (knn__is_dir(dir))
                st = load_folder(dir, split, known_sets[which].name, opt, &found, out);
            free(dir);
        }
    }
    free(roots);
    if (!st && !found) {
        char hint[128]; /* knn fetch downloads all but KMNIST */
        if (which == 2)
            snprintf(hint, sizeof hint, "put it in ./data or set KNN_DATA");
        else
            snprintf(hint, sizeof hint, "%s'knn fetch %s' downloads it",
                     which == 1 ? "Debian's package dataset-fashion-mnist installs it, or " : "",
                     known_sets[which].name);
        st = knn__fail(KNN_ERR_IO, "%s: not found in $KNN_DATA, ./data or /usr/share/datasets; %s",
                       spec, hint);
    }
    return st;
}

char *knn__image_folder_root(const char *spec)
{
    if (!spec || !*spec)
        return NULL;
    struct stat sb; /* as load_spec: a file, or a folder unless it holds a standard set */
    if (stat(spec, &sb) == 0)
        return S_ISDIR(sb.st_mode) && !has_standard_layout(spec) ? knn__strdup(spec) : NULL;
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1])
        return NULL;
    char *head = knn__strdup(spec), *images = NULL;
    if (head) {
        head[colon - spec] = '\0';
        images = knn__path_join(head, colon + 1);
        if (images && (!knn__is_dir(images) || has_standard_layout(head))) {
            free(images);
            images = NULL;
        }
    }
    free(head);
    return images;
}

static knn_status load_spec(const char *spec, const knn_load_options *opt, knn_dataset **out)
{
    if (!spec || !*spec)
        return knn__fail(KNN_ERR_ARG, "empty data set name");
    struct stat sb;
    if (stat(spec, &sb) == 0 && !S_ISDIR(sb.st_mode)) /* devices and FIFOs are refused there */
        return load_file(spec, spec, opt, out);
    if (knn__is_dir(spec)) {
        if (has_standard_layout(spec))
            return knn__fail(KNN_ERR_ARG, "%s: is a folder; say which split, e.g. %s:train",
                             spec, spec);
        return knn__load_image_folder(spec, opt, out);
    }
    const char *colon = strrchr(spec, ':');
    if (!colon && known_set(spec, strlen(spec)) != N_KNOWN)
        return knn__fail(KNN_ERR_ARG, "%s: say which split: %s:train or %s:test", spec, spec,
                         spec);
    if (!colon) {
        errno = ENOENT;
        return knn__fail(KNN_ERR_IO, "%s: %s", spec, strerror(ENOENT));
    }
    const char *split = colon + 1;
    size_t head_len = (size_t)(colon - spec);
    char *head = malloc(head_len + 1);
    if (!head)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    memcpy(head, spec, head_len);
    head[head_len] = '\0';
    knn_status st;
    char *images = knn__path_join(head, split);
    bool image_split = images && *split && knn__is_dir(images) && !has_standard_layout(head);
    if (image_split) { /* DIR/SPLIT/class/image, as ImageNet's train and val */
        st = knn__load_image_folder(images, opt, out);
        free(images);
        free(head);
        return st;
    }
    free(images);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0) {
        free(head);
        return knn__fail(KNN_ERR_ARG, "%s: unknown split '%s' (train or test)", spec, split);
    }
    if (opt->labels_file) {
        st = knn__fail(KNN_ERR_ARG, "%s: a labels file is for a flat folder of images, not for "
                                    "a standard data set",
                       spec);
    } else if (knn__is_dir(head)) {
        bool found;
        st = load_folder(head, split, head, opt, &found, out);
        if (!st && !found)
            st = knn__fail(KNN_ERR_IO,
                           "%s: no %s split of a known data set in this folder (looked for "
                           "IDX %s-images-idx3-ubyte[.gz], CIFAR-10 %s, CIFAR-100 %s.bin)",
                           spec, split, split[1] == 'r' ? "train" : "t10k",
                           split[1] == 'r' ? "data_batch_1.bin" : "test_batch.bin", split);
    } else {
        st = load_named(spec, head_len, split, opt, out);
    }
    free(head);
    return st;
}

/* A set that holds features already, loaded where `f`'s features are asked for: the same
 * network's rows are kept (codes made of float rows where f quantises); any other is an
 * error. */
static knn_status settle_features(const char *spec, const knn_features *f, bool quantize,
                                  knn_dataset **ds)
{
    const knn_features *has = (*ds)->features;
    knn_status st = KNN_OK;
    if (!knn__features_same_network(has, f))
        st = knn__fail(KNN_ERR_ARG, "%s: holds features already (computed by %s)", spec,
                       knn_features_name(has));
    else if (knn__features_same_scales(has, f))
        return KNN_OK; /* embedded already, by this network (knn embed, a model file) */
    else if (quantize && knn_features_quantized(has) && !knn_features_quantized(f))
        return KNN_OK; /* quantised already, as asked (a model fit with --quantize) */
    else if (knn_features_quantized(f) && !knn_features_quantized(has))
        return knn__features_quantize(ds, f);
    else
        st = knn__fail(KNN_ERR_ARG, "%s: holds features quantised otherwise than %s's", spec,
                       knn_features_name(f));
    knn_dataset_free(*ds);
    *ds = NULL;
    return st;
}

/* Text read as documents becomes tf-idf rows: with the vectoriser of the set it is loaded
 * like, or one fitted on it. A text set loaded like a set of another kind, or a model of
 * another vocabulary, is refused here, by name. */
static knn_status vectorize(const char *spec, const knn_load_options *opt, knn_dataset **ds)
{
    knn_dataset *d = *ds;
    knn_status st = KNN_OK;
    if (d->dtype != KNN_SPARSE) {
        if (opt->text)
            st = knn__fail(KNN_ERR_SHAPE, "%s holds %s, not text like the training set", spec,
                           d->dtype == KNN_U8 ? "images" : "features");
    } else if (!d->text) {
        st = knn__text_vectorize(d, opt->text, opt->text_options);
    } else if (opt->text && !knn__text_same(d->text, opt->text)) { /* a text model */
        st = knn__fail(KNN_ERR_SHAPE, "%s was vectorised with another vocabulary than the "
                                      "training set's",
                       spec);
    }
    if (st) {
        knn_dataset_free(d);
        *ds = NULL;
    }
    return st;
}

knn_status knn_dataset_load(const char *spec, const knn_load_options *opt, knn_dataset **out)
{
    static const knn_load_options defaults = {0};
    *out = NULL;
    if (!opt)
        opt = &defaults;
    const knn_shard *shard = opt->shard;
    if (shard && (shard->count < 1 || shard->index < 0 || shard->index >= shard->count ||
                  !shard->reduce || !shard->broadcast))
        return knn__fail(KNN_ERR_ARG, "%s: shard %d of %d, or its operations, make no sense",
                         spec, shard->index, shard->count);
    if (opt->shard && (opt->features || opt->quantize || opt->labels_file || opt->text))
        return knn__fail(KNN_ERR_ARG, "%s: a set loaded through a network, quantised, "
                                      "labelled by a file or vectorised cannot be split into "
                                      "shards: write its model file first and give that",
                         spec);
    if (!opt->features && !opt->quantize) {
        knn_status st = load_spec(spec, opt, out);
        if (!st && opt->shard && !(*out)->sharded) { /* a loader without shards */
            knn_dataset_free(*out);
            *out = NULL;
            return knn__fail(KNN_ERR_ARG, "%s cannot be split into shards: give a model file, "
                                          "an IDX or a CIFAR set",
                             spec);
        }
        return st ? st : vectorize(spec, opt, out);
    }
    /* features: images converted to the network's input where the options leave it open,
     * then embedded (DESIGN.md decision 13) */
    knn_load_options o = *opt;
    int c = 0, h = 0, w = 0;
    if (opt->features)
        knn_features_input(opt->features, &c, &h, &w);
    if (!o.width && !o.height && h && w) {
        o.width = w;
        o.height = h;
    }
    if (!o.channels && (c == 1 || c == 3))
        o.channels = c;
    o.features = NULL;
    o.quantize = 0;
    knn_status st = load_spec(spec, &o, out);
    if (!st && (*out)->dtype == KNN_SPARSE) {
        knn_dataset_free(*out);
        *out = NULL;
        return knn__fail(KNN_ERR_ARG, "%s holds text: %s is for images", spec,
                         opt->features ? "a network (--features)" : "quantising");
    }
    if (!st && opt->features)
        st = (*out)->features
                 ? settle_features(spec, opt->features, opt->quantize != 0, out)
                 : knn__features_embed(opt->features, out, opt->progress, opt->progress_user);
    if (st || !opt->quantize)
        return st;
    /* quantize: scales fitted on these features (a training set) */
    knn_dataset *ds = *out;
    if (ds->features && knn_features_quantized(ds->features))
        return KNN_OK;
    if (ds->dtype == KNN_F32 && ds->features)
        return knn__features_quantize(out, NULL);
    knn_dataset_free(ds);
    *out = NULL;
    return knn__fail(KNN_ERR_ARG, "%s: quantize: holds no features computed by a network (give "
                                  "the network: --features)",
                     spec);
}
