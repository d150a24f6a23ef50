/* load.h: the loaders behind knn_dataset_load (load.c resolves specs and detects formats). */
#ifndef KNN_LOAD_H
#define KNN_LOAD_H

#include "internal.h"

/* IDX (MNIST family): an images file, its labels file found beside it. `names` holds the
 * class names of a known data set (n_names of them) or is NULL. */
knn_status knn__load_idx(const char *images_path, const char *const *names, int n_names,
                         const knn_load_options *opt, knn_dataset **out);

/* CIFAR-10 (record = 1 label byte + 3072 pixels) or CIFAR-100 (coarse, fine + 3072) binary
 * batches, concatenated in the order given. variant: 10, 100, or 0 to detect it from the
 * file names and sizes. */
knn_status knn__load_cifar(const char *const *paths, int npaths, int variant,
                           const knn_load_options *opt, knn_dataset **out);

/* Names of known data sets' classes. */
extern const char *const knn__fashion_mnist_names[10];
extern const char *const knn__mnist_names[10];
extern const char *const knn__kmnist_names[10];


#endif
