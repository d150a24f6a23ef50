/* check.h: the tiny test framework of the unit tests. A test is a function; CHECK records a
 * failure with its place and goes on; the runner prints each failing test's name and a
 * closing "N passed, N failed" line, and exits non-zero on any failure. */
#ifndef KNN_CHECK_H
#define KNN_CHECK_H

#include <stdio.h>

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

void check_failed(const char *file, int line, const char *what);

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond))                                                                          \
            check_failed(__FILE__, __LINE__, #cond);                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                       \
        if (check_a_ != check_b_) {                                                           \
            char check_msg_[256];                                                             \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%lld != %lld)", #a, #b,        \
                     check_a_, check_b_);                                                     \
            check_failed(__FILE__, __LINE__, check_msg_);                                     \
        }                                                                                     \
    } while (0)

/* Each test file lists its tests, ended by {NULL, NULL}. */
extern const test_case search_tests[], vote_tests[], load_tests[], cv_tests[], image_tests[], decode_tests[],
    hostile_tests[], classify_tests[], index_tests[], text_tests[], shard_tests[];

/* A fresh temporary folder for this run's files (made once). */
const char *test_dir(void);

/* Writes train's model file with settings p to path (knn_model_write on a file of its own);
 * returns the status. */
#include "knn.h"
knn_status write_model(const knn_dataset *train, const knn_params *p, const char *path);

#endif
