/* test_main.c: runs every unit test (or those whose name contains argv[1]). */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures_in_test;

void check_failed(const char *file, int line, const char *what)
{
    fprintf(stderr, "    %s:%d: failed: %s\n", file, line, what);
    failures_in_test++;
}

const char *test_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        strcpy(dir, "/tmp/knn-test-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return dir;
}

knn_status write_model(const knn_dataset *train, const knn_params *p, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return KNN_ERR_IO;
    knn_status st = knn_model_write(train, p, f);
    return fclose(f) != 0 && !st ? KNN_ERR_IO : st;
}

int main(int argc, char **argv)
{
    const test_case *suites[] = {search_tests, vote_tests, load_tests, cv_tests, image_tests, decode_tests,
                                 hostile_tests, classify_tests, index_tests, text_tests, shard_tests};
    int passed = 0, failed = 0;
    for (size_t s = 0; s < sizeof suites / sizeof *suites; s++)
        for (const test_case *t = suites[s]; t->name; t++) {
            if (argc > 1 && !strstr(t->name, argv[1]))
                continue;
            failures_in_test = 0;
            t->run();
            if (failures_in_test) {
                fprintf(stderr, "FAIL %s\n", t->name);
                failed++;
            } else {
                printf("ok   %s\n", t->name);
                passed++;
            }
        }
    if (test_dir()[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir());
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", test_dir());
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
