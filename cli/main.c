/* main.c: `knn`, the command-line front end of libknn: one subcommand per job (cli_main; the
 * program's main() is cli/knn.c's, or knn-mpi's, mpi/main.c). */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: knn COMMAND [OPTIONS] ...\n"
    "\n"
    "k-nearest-neighbour image classification, exact, on the data sets people use.\n"
    "\n"
    "commands:\n"
    "  info DATASET             count, shape, classes and a few images as ASCII art\n"
    "  eval TRAIN TEST          classify TEST by its K nearest TRAIN images; accuracy,\n"
    "                           top-5 accuracy, per-class accuracy, confusion matrix\n"
    "  predict TRAIN QUERIES    predicted labels, top-N classes with scores, neighbours\n"
    "  cv TRAIN                 choose K and the metric by cross-validation; with --test,\n"
    "                           evaluate the choice once on the test set; plot it\n"
    "  fit TRAIN -o MODEL       write a model file: the training set and its settings\n"
    "  embed NET.onnx DATASET -o OUT   ConvNet features of every image: a .npy array, or\n"
    "                           a knn data set that every command takes\n"
    "  fetch NAME               download mnist, fashion-mnist, cifar10 or cifar100\n"
    "  report TRAIN TEST -o F   an HTML page: samples, confusion heat map, neighbour galleries\n"
    "  serve [MODEL]            the interactive decision-boundary demo; photos with a model\n"
    "  fewshot DATASET          N-way K-shot episodes (Omniglot): mean accuracy, 95% interval\n"
    "  similar CORPUS --query N|TEXT   the documents most like one, by tf-idf cosine\n"
    "\n"
    "DATASET is a file (IDX images, raw or gzip; a CIFAR-10 / CIFAR-100 binary batch; a\n"
    "model file), a folder of images in class folders, FOLDER:SPLIT, or NAME:SPLIT with NAME\n"
    "one of mnist, fashion-mnist, kmnist, cifar10, cifar100 and SPLIT train or test, looked\n"
    "up in $KNN_DATA, ./data, /usr/share/datasets. Wherever TRAIN is asked for, a model file\n"
    "made by 'knn fit' will do, with its settings as defaults.\n"
    "\n"
    "'knn COMMAND --help' describes a command. Exit status: 0 success, 2 usage error,\n"
    "1 any other error.\n";

typedef int (*command_fn)(int, char **);

static command_fn find_command(const char *name)
{
    static const struct {
        const char *name;
        command_fn run;
    } commands[] = {{"info", cmd_info},
                    {"eval", cmd_eval},
                    {"predict", cmd_predict},
                    {"cv", cmd_cv},
                    {"fit", cmd_fit},
                    {"embed", cmd_embed},
                    {"fetch", cmd_fetch},
                    {"report", cmd_report},
                    {"serve", cmd_serve},
                    {"fewshot", cmd_fewshot},
                    {"similar", cmd_similar}};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name)) {
            cli_command = commands[i].name;
            cli_catch_sigbus();
            return commands[i].run;
        }
    fprintf(stderr, "knn: unknown command '%s'; see 'knn --help'\n", name);
    return NULL;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") && argc > 2) { /* knn help eval = knn eval --help */
        char *sub[] = {argv[2], "--help", NULL};
        command_fn run = find_command(argv[2]);
        return run ? run(2, sub) : EXIT_USAGE;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("knn %s\n", KNN_VERSION);
        return 0;
    }
    const char *isa = getenv("KNN_ISA");
    if (isa && *isa && knn_set_isa(isa) != KNN_OK) {
        fprintf(stderr, "knn: KNN_ISA: %s\n", knn_last_error());
        return EXIT_USAGE;
    }
    command_fn run = find_command(cmd);
    return run ? run(argc - 1, argv + 1) : EXIT_USAGE;
}

int cli_main(int argc, char **argv)
{
    /* A closed pipe is then a write error like a full disk (reported below, and writers stop
     * early on ferror), instead of a silent death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Not a terminal: stdout in 64 KiB blocks, so that output up to that size (every --help)
     * is written at the final flush, where a failure keeps its reason (stdio forgets the
     * errno of a write that failed inside an earlier printf). */
    static char out_buffer[1 << 16];
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
    int code = dispatch(argc, argv);
    /* Standard output is checked once, here, for every command: one line for a failed write
     * (a full disk, a closed pipe), unless the command already failed and said why. */
    int err = cli_flush_error(stdout);
    if (err && !code) {
        fprintf(stderr, "knn%s%s: writing the output failed: %s\n", *cli_command ? " " : "",
                cli_command, strerror(err));
        code = EXIT_ERROR;
    }
    return code;
}
