/* driver.c: runs a fuzz target without libFuzzer (for gcc builds and `make test`): every file
 * of the corpus folders given, then, for the given number of seconds, inputs made from them
 * by random edits (bit flips, byte changes, cuts, splices, repeated and interesting values),
 * from a fixed seed so that a run can be repeated. The input being run is kept in
 * /tmp/knn-fuzz-<pid>/last-input, so after a crash it is there to add to the corpus.
 * An input that runs longer than SECONDS_PER_INPUT is a hang, and fails the run like a crash
 * (a decoder that loops forever is a denial of service, not a pass).
 *     usage: driver SECONDS CORPUS_DIR... */
#include "fuzz.h"

#include <dirent.h>
#include <signal.h>
#include <time.h>

/* The slowest honest input of the corpus takes well under a second under the sanitizers;
 * ten seconds leaves room for a loaded machine and still ends a hang quickly. */
#define SECONDS_PER_INPUT 10

typedef struct {
    uint8_t *data;
    size_t size;
} input;

static char running[1100]; /* the input being run: a corpus file, or the last-input file */

static void hang(int sig)
{
    (void)sig;
    static const char msg[] = "fuzz: HANG: an input ran longer than the limit: ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    ignored = write(2, running, strlen(running));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(1);
}

/* Runs one input under the time limit; `name` says where it is kept. */
static void run_one(const char *name, const input *in)
{
    snprintf(running, sizeof running, "%s", name);
    alarm(SECONDS_PER_INPUT);
    LLVMFuzzerTestOneInput(in->data, in->size);
    alarm(0);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void mutate(input *in, const input *corpus, size_t n)
{
    static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 8, 0x0d, 3, 0x1f, 0x8b};
    int edits = 1 + (int)(rnd() % 4);
    for (int e = 0; e < edits; e++) {
        switch (rnd() % 5) {
        case 0:
            if (in->size)
                in->data[rnd() % in->size] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1:
            if (in->size)
                in->data[rnd() % in->size] = interesting[rnd() % sizeof interesting];
            break;
        case 2:
            if (in->size)
                in->size = rnd() % in->size; /* cut */
            break;
        case 3: { /* splice another input's tail */
            const input *o = &corpus[rnd() % n];
            if (!o->size)
                break;
            size_t at = in->size ? rnd() % in->size : 0, from = rnd() % o->size;
            size_t len = o->size - from;
            uint8_t *d = realloc(in->data, at + len + 1);
            if (!d)
                break;
            memcpy(d + at, o->data + from, len);
            in->data = d;
            in->size = at + len;
            break;
        }
        default: /* four bytes of a big number, as in a header */
            if (in->size >= 4) {
                size_t at = rnd() % (in->size - 3);
                uint32_t v = (uint32_t)rnd();
                memcpy(in->data + at, &v, 4);
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SECONDS CORPUS_DIR...\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[1]);
    signal(SIGALRM, hang);
    input *corpus = NULL;
    char **names = NULL;
    size_t n = 0;
    for (int a = 2; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            input in = {NULL, 0};
            uint8_t buf[1 << 16];
            for (size_t got; (got = fread(buf, 1, sizeof buf, f)) > 0;) {
                in.data = realloc(in.data, in.size + got + 1);
                memcpy(in.data + in.size, buf, got);
                in.size += got;
            }
            fclose(f);
            corpus = realloc(corpus, (n + 1) * sizeof *corpus);
            names = realloc(names, (n + 1) * sizeof *names);
            names[n] = strdup(path);
            corpus[n++] = in;
        }
        if (d)
            closedir(d);
    }
    if (n == 0) {
        corpus = calloc(1, sizeof *corpus);
        names = calloc(1, sizeof *names);
        names[0] = strdup("(empty input)");
        n = 1;
    }
    for (size_t i = 0; i < n; i++)
        run_one(names[i], &corpus[i]);
    size_t runs = n;
    clock_t start = clock();
    while ((double)(clock() - start) / CLOCKS_PER_SEC < seconds) {
        const input *seed = &corpus[rnd() % n];
        input in = {malloc(seed->size + 1), seed->size};
        if (seed->size)
            memcpy(in.data, seed->data, seed->size);
        mutate(&in, corpus, n);
        /* keep the input on disk while it runs: a crash leaves it for the corpus */
        fuzz_write(fuzz_path("last-input"), in.data, in.size);
        run_one(fuzz_path("last-input"), &in);
        free(in.data);
        runs++;
    }
    printf("%s: %zu inputs (%zu from the corpus), no crash\n", argv[0], runs, n);
    for (size_t i = 0; i < n; i++) {
        free(corpus[i].data);
        free(names[i]);
    }
    free(corpus);
    free(names);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/knn-fuzz-%d", (int)getpid());
    return system(cmd) == 0 ? 0 : 1;
}
