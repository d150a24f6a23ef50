/* main.c: knn-mpi, the knn command over MPI ranks (DESIGN.md decision 17).
 *
 * Every rank runs the same command (cli_main) on the same arguments. For eval, predict and
 * cv each rank loads the training set as its shard (cli_shard: the library's knn_shard),
 * searches its own rows, and the library merges the per-query lists through the two
 * collective operations defined here: an MPI_Allreduce with the library's merge as a
 * commutative user operation, and MPI_Bcast. The merged lists are every rank's, so every
 * rank votes, counts and formats the same; only rank 0's standard output and files are kept
 * (the others write to /dev/null). fit runs on rank 0 alone: a model file is one file,
 * written front to back.
 *
 * Errors: every collective operation starts with a checkpoint, an MPI_Allreduce of which
 * ranks failed. A rank whose command failed (its message is in its standard error, which
 * ranks above 0 keep in a temporary file) goes to the checkpoint at the end of the command;
 * the others meet it at their next collective operation or at the end, learn the first
 * failed rank's message and exit status, and stop: rank 0 prints that one line, and every
 * rank exits with that status. A rank that dies ends the job through MPI (mpirun kills the
 * others); nothing waits for it. */
#include "cli.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE_BYTES 1024

static int rank, ranks;
static FILE *captured;           /* ranks above 0: their standard error */
static bool agreed;              /* a failure is known to all: no more collective calls */
static int agreed_code;          /* its exit status */
static char agreed_message[MESSAGE_BYTES]; /* its message, without "knn CMD: " */

/* The last line this rank wrote to its standard error (ranks above 0), its "knn CMD: "
 * prefix cut off, into buf. */
static void last_error_line(char *buf, size_t size)
{
    buf[0] = '\0';
    if (!captured)
        return;
    fflush(stderr);
    const off_t end = lseek(fileno(captured), 0, SEEK_END);
    if (end <= 0)
        return;
    const off_t from = end > 4096 ? end - 4096 : 0;
    char tail[4097];
    ssize_t n = pread(fileno(captured), tail, (size_t)(end - from), from);
    if (n <= 0)
        return;
    tail[n] = '\0';
    while (n > 0 && tail[n - 1] == '\n')
        tail[--n] = '\0';
    char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "knn %s: ", cli_command);
    if (*cli_command && !strncmp(line, prefix, strlen(prefix)))
        line += strlen(prefix);
    const size_t len = strlen(line) < size - 1 ? strlen(line) : size - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
}

/* Every collective operation starts here, as does the end of every command: true where no
 * rank failed (code 0 everywhere); else every rank learns the exit status and the message of
 * the first rank that failed (agreed_*), and false. */
static bool checkpoint(int code)
{
    if (agreed)
        return false;
    /* Ranks wait here for the slowest (rank 0 alone runs fit; shards take unequal times):
     * a barrier polled with short sleeps, not Open MPI's busy wait, which would take a core
     * from the ranks still working on the same node. */
    MPI_Request arrived;
    MPI_Ibarrier(MPI_COMM_WORLD, &arrived);
    for (int done = 0; MPI_Test(&arrived, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done;)
        nanosleep(&(struct timespec){0, 200000}, NULL);
    int first = code ? rank : ranks;
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == ranks)
        return true;
    char message[MESSAGE_BYTES] = "";
    int status = code;
    if (rank == first)
        last_error_line(message, sizeof message);
    MPI_Bcast(&status, 1, MPI_INT, first, MPI_COMM_WORLD);
    MPI_Bcast(message, MESSAGE_BYTES, MPI_CHAR, first, MPI_COMM_WORLD);
    message[MESSAGE_BYTES - 1] = '\0';
    agreed = true;
    agreed_code = status;
    memcpy(agreed_message, message, sizeof message);
    if (!agreed_message[0])
        snprintf(agreed_message, sizeof agreed_message, "rank %d of %d failed", first, ranks);
    return false;
}

/* A collective operation that meets a failure: the failure's message and a status that
 * cli_library_error turns into its exit status (2 for usage). */
static knn_status failed(char *message, size_t size)
{
    snprintf(message, size, "%s", agreed_message);
    return agreed_code == EXIT_USAGE ? KNN_ERR_ARG : KNN_ERR_IO;
}

/* After the checkpoint: true where every rank calls with the same sizes (a and b); else every
 * rank fails with one message, never a collective call of mismatched counts, which MPI does
 * not define (it may truncate, abort or hang). Ranks disagree where they loaded different
 * things: a query folder that differs between nodes, an image skipped on one node only. */
static bool same_sizes(unsigned long long a, unsigned long long b, const char *what,
                       char *message, size_t size)
{
    long long v[4] = {(long long)a, -(long long)a, (long long)b, -(long long)b};
    MPI_Allreduce(MPI_IN_PLACE, v, 4, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    if (v[0] == -v[1] && v[2] == -v[3])
        return true;
    snprintf(message, size, "the ranks disagree on %s (%lld to %lld): every rank must load "
                            "the same test or query set (the same files on every node)",
             what, v[0], -v[1]);
    return false;
}

/* The library's merge as an MPI operation: MPI passes no context, so the one of the reduce
 * in progress is here (MPI calls the operation from the calling thread only). */
static knn_merge_fn reduce_merge;
static const void *reduce_ctx;

static void reduce_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    reduce_merge(in, inout, (size_t)*len, reduce_ctx);
}

/* Messages of at most 256 MiB: MPI counts are ints. */
#define CHUNK_BYTES ((size_t)256 << 20)

static knn_status mpi_reduce(void *records, size_t n, size_t bytes, knn_merge_fn merge,
                             const void *ctx, void *user, char *message, size_t size)
{
    (void)user;
    if (!checkpoint(0))
        return failed(message, size);
    if (!same_sizes(n, bytes, "the number of queries", message, size))
        return KNN_ERR_SHAPE;
    if (bytes == 0 || bytes > CHUNK_BYTES) { /* the same on every rank */
        snprintf(message, size, "records of %zu bytes: more than MPI's messages hold", bytes);
        return KNN_ERR_LIMIT;
    }
    MPI_Datatype type;
    MPI_Op op;
    MPI_Type_contiguous((int)bytes, MPI_BYTE, &type);
    MPI_Type_commit(&type);
    MPI_Op_create(reduce_op, 1, &op);
    reduce_merge = merge;
    reduce_ctx = ctx;
    const size_t per = CHUNK_BYTES / bytes;
    for (size_t at = 0; at < n; at += per) {
        const size_t count = n - at < per ? n - at : per;
        MPI_Allreduce(MPI_IN_PLACE, (char *)records + at * bytes, (int)count, type, op,
                      MPI_COMM_WORLD);
    }
    MPI_Op_free(&op);
    MPI_Type_free(&type);
    return KNN_OK;
}

static knn_status mpi_broadcast(void *data, size_t bytes, int root, void *user, char *message,
                                size_t size)
{
    (void)user;
    if (!checkpoint(0))
        return failed(message, size);
    if (!same_sizes(bytes, (unsigned long long)root, "a broadcast's size", message, size))
        return KNN_ERR_SHAPE;
    for (size_t at = 0; at < bytes; at += CHUNK_BYTES) {
        const size_t count = bytes - at < CHUNK_BYTES ? bytes - at : CHUNK_BYTES;
        MPI_Bcast((char *)data + at, (int)count, MPI_BYTE, root, MPI_COMM_WORLD);
    }
    return KNN_OK;
}

static const char usage[] =
    "usage: mpirun [-np N] knn-mpi COMMAND [OPTIONS] ...\n"
    "\n"
    "knn on N MPI ranks: the training set split into N contiguous shards, one per rank, each\n"
    "rank searching its own; the neighbours merged in the order (distance, training index),\n"
    "so the output is byte for byte knn's, for any N.\n"
    "\n"
    "commands (options as knn's: 'knn-mpi COMMAND --help'):\n"
    "  eval TRAIN TEST          accuracy of TRAIN's K nearest images on TEST\n"
    "  predict TRAIN QUERIES    predicted labels, top-N classes, --neighbors\n"
    "  cv TRAIN                 cross-validation, its pass split over the ranks\n"
    "  fit TRAIN -o MODEL       writes the model file on rank 0 (the other ranks wait)\n"
    "\n"
    "TRAIN: a model file (each rank maps it and reads only its own rows), an IDX or a CIFAR\n"
    "set (each rank keeps only its own rows); an image folder: 'knn-mpi fit' it first. A\n"
    "model with a graph index: each rank builds one of its own rows and walks it (--exact\n"
    "searches exactly; its output is knn's).\n"
    "Only rank 0 writes output. An error on any rank ends every rank with its one line and\n"
    "exit status (2 usage, 1 anything else).\n";

/* True if predict's arguments read standard input: a "-" that is not the value of an
 * option (-o -, --output -). */
static bool reads_stdin(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-") && strcmp(argv[i - 1], "-o") && strcmp(argv[i - 1], "--output"))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    int provided;
    /* OpenMP threads compute inside a rank; only the main thread calls MPI */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    bool quiet = true; /* rank 0 writes; the others' standard output goes nowhere */
    if (rank > 0) {      /* and their errors are kept, to be passed on */
        cli_discard_output = true;
        if ((captured = tmpfile()))
            dup2(fileno(captured), STDERR_FILENO);
        quiet = freopen("/dev/null", "w", stdout) != NULL;
    }
    const char *cmd = argc > 1 ? argv[1] : "";
    static knn_shard shard;
    shard = (knn_shard){.index = rank, .count = ranks, .reduce = mpi_reduce,
                        .broadcast = mpi_broadcast};
    int code;
    if (!quiet) { /* still at the checkpoint below, so that no rank waits for this one */
        fprintf(stderr, "knn-mpi: rank %d cannot send its output to /dev/null: %s\n", rank,
                strerror(errno));
        code = EXIT_ERROR;
    } else if (!strcmp(cmd, "predict") && reads_stdin(argc, argv)) {
        /* mpirun gives standard input to rank 0 alone */
        fprintf(stderr, "knn predict: '-' (queries from standard input) reaches rank 0 only "
                        "under mpirun: give the files, a folder or a data set; see "
                        "'knn-mpi --help'\n");
        code = EXIT_USAGE;
    } else if (!strcmp(cmd, "eval") || !strcmp(cmd, "predict") || !strcmp(cmd, "cv")) {
        cli_shard = &shard;
        code = cli_main(argc, argv);
    } else if (!strcmp(cmd, "fit")) {
        code = rank == 0 ? cli_main(argc, argv) : 0;
    } else if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("knn-mpi %s\n", KNN_VERSION);
        code = 0;
    } else if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        code = 0;
    } else {
        if (*cmd)
            fprintf(stderr, "knn-mpi: '%s' is not a knn-mpi command (eval, predict, cv, fit); "
                            "see 'knn-mpi --help'\n",
                    cmd);
        else
            fputs(usage, stderr);
        code = EXIT_USAGE;
    }
    fflush(stdout);
    if (!checkpoint(code)) {
        /* rank 0 said nothing yet where only another rank failed */
        if (rank == 0 && code == 0)
            fprintf(stderr, "%s%s: %s\n", *cli_command ? "knn " : "knn-mpi", cli_command,
                    agreed_message);
        code = agreed_code;
    }
    if (captured)
        fclose(captured);
    MPI_Finalize();
    return code;
}
