/* test_text.c: text data sets, the tf-idf vectoriser and the cosine search.
 *
 * The vectoriser is checked against values computed here from the documented formulas (the
 * comparison with scikit-learn itself is tests/test_text.py); the inverted-index search
 * against the dense reference (every term of every pair, in order) bit for bit. */
#include "check.h"
#include "internal.h"
#include "text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *tpath(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", test_dir(), name);
    return p;
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

static knn_dataset *create(const char *const *docs, size_t n, const knn_text_options *o)
{
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_text_dataset_create(docs, n, NULL, 0, o, NULL, "test", &ds), KNN_OK);
    return ds;
}

/* The column of a term, or -1. */
static long column(const knn_text *t, const char *term)
{
    for (size_t i = 0; i < knn_text_terms(t); i++)
        if (!strcmp(knn_text_term(t, i), term))
            return (long)i;
    return -1;
}

/* Row i's weight of a term (0 where absent). */
static double weight(const knn_dataset *ds, size_t i, const char *term)
{
    const uint32_t *terms;
    const float *values;
    size_t m = knn_dataset_row_sparse(ds, i, &terms, &values);
    long c = column(knn_dataset_text(ds), term);
    for (size_t j = 0; j < m; j++)
        if ((long)terms[j] == c)
            return values[j];
    return 0;
}

static void tfidf_values_follow_the_formulas(void)
{
    /* lowercase; tokens of 2+ word characters ("a", "!" dropped); counts 1, 2, 3 */
    const char *docs[] = {"The cat sat", "the CAT, the dog", "Dog dog DOG! a", "zebra"};
    knn_dataset *ds = create(docs, 4, NULL);
    if (!ds)
        return;
    const knn_text *t = knn_dataset_text(ds);
    const char *vocab[] = {"cat", "dog", "sat", "the", "zebra"}; /* sorted */
    CHECK_EQ(knn_text_terms(t), 5);
    for (size_t i = 0; i < 5 && i < knn_text_terms(t); i++)
        CHECK(!strcmp(knn_text_term(t, i), vocab[i]));
    const int df[] = {2, 2, 1, 2, 1};
    double idf[5];
    for (int i = 0; i < 5; i++) {
        idf[i] = log((1.0 + 4) / (1.0 + df[i])) + 1;
        CHECK(fabs(knn_text_idf(t, (size_t)i) - idf[i]) < 1e-12);
    }
    /* document 1: cat x1, the x2, dog x1 */
    double w[3] = {idf[0], (1 + log(2.0)) * idf[3], idf[1]};
    double norm = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    CHECK(fabs(weight(ds, 1, "cat") - w[0] / norm) < 1e-6);
    CHECK(fabs(weight(ds, 1, "the") - w[1] / norm) < 1e-6);
    CHECK(fabs(weight(ds, 1, "dog") - w[2] / norm) < 1e-6);
    CHECK(weight(ds, 1, "sat") == 0);
    /* document 2: dog x3 alone: unit weight; document 3: zebra alone */
    CHECK(fabs(weight(ds, 2, "dog") - 1.0) < 1e-7);
    CHECK(fabs(weight(ds, 3, "zebra") - 1.0) < 1e-7);
    CHECK(!strcmp(knn_dataset_document(ds, 1), "the CAT, the dog"));
    /* queries: vectorised with the training vocabulary and idf, other words ignored */
    const char *q[] = {"cat cat unicorn", "unicorn"};
    knn_dataset *qs = NULL;
    CHECK_EQ(knn_text_dataset_create(q, 2, NULL, 0, NULL, ds, "q", &qs), KNN_OK);
    if (qs) {
        CHECK(fabs(weight(qs, 0, "cat") - 1.0) < 1e-7);
        const uint32_t *terms;
        const float *values;
        CHECK_EQ(knn_dataset_row_sparse(qs, 1, &terms, &values), 0); /* the zero vector */
        knn_params p = knn_params_default();
        p.metric = KNN_COSINE;
        p.k = 4;
        knn_neighbors *nb = NULL;
        CHECK_EQ(knn_search(ds, qs, &p, &nb), KNN_OK);
        if (nb) { /* the zero query: distance 1 from every row, in index order */
            for (int j = 0; j < 4; j++) {
                CHECK_EQ(knn_neighbors_index(nb, 1, j), j);
                CHECK(knn_neighbors_distance(nb, 1, j) == 1.0);
            }
            CHECK(knn_neighbors_index(nb, 0, 0) == 0 || knn_neighbors_index(nb, 0, 0) == 1);
        }
        knn_neighbors_free(nb);
    }
    knn_dataset_free(qs);
    knn_dataset_free(ds);
}

static void tokens_follow_python(void)
{
    /* Unicode word characters and lowercase (Python's tables): É -> é, İ -> i + U+0307 (a
     * combining mark, not a word character: it ends the token), ß stays; '_' and digits are
     * word characters; one-character tokens are dropped */
    const char *docs[] = {"\xC3\x89" "COLE \xC3\xA9" "cole stra\xC3\x9F" "e a_b x 1 42 "
                          "\xC4\xB0" "st ab\xE2\x80\x94" "cd \xE6\x97\xA5\xE6\x9C\xAC"};
    knn_dataset *ds = create(docs, 1, NULL);
    if (!ds)
        return;
    const knn_text *t = knn_dataset_text(ds);
    /* sorted by code point: "42" < "a_b" < "ab" < "cd" < "st" < "straße" < "école" < "日本";
     * "i" + U+0307: "i" alone (one character) is dropped, "st" follows the mark */
    const char *want[] = {"42", "a_b", "ab", "cd", "st", "stra\xC3\x9F" "e",
                          "\xC3\xA9" "cole", "\xE6\x97\xA5\xE6\x9C\xAC"};
    CHECK_EQ(knn_text_terms(t), 8);
    for (size_t i = 0; i < 8 && i < knn_text_terms(t); i++)
        CHECK(!strcmp(knn_text_term(t, i), want[i]));
    CHECK(fabs(knn_text_idf(t, 0) - 1.0) < 1e-15); /* one document: idf ln(2/2) + 1 */
    knn_dataset_free(ds);
}

static void ngrams_stop_words_and_bounds(void)
{
    knn_text_options o = knn_text_options_default();
    o.ngram_min = 1;
    o.ngram_max = 2;
    o.stop_words = 1;
    const char *docs[] = {"The quick brown fox", "a quick brown dog", "the lazy dog"};
    knn_dataset *ds = create(docs, 3, &o);
    if (!ds)
        return;
    const knn_text *t = knn_dataset_text(ds);
    /* stop words go before the pairs are made: "quick brown", "brown fox", "lazy dog" */
    const char *want[] = {"brown", "brown dog", "brown fox", "dog", "fox", "lazy", "lazy dog",
                          "quick", "quick brown"};
    CHECK_EQ(knn_text_terms(t), 9);
    for (size_t i = 0; i < 9 && i < knn_text_terms(t); i++)
        CHECK(!strcmp(knn_text_term(t, i), want[i]));
    knn_dataset_free(ds);

    /* min_df 2 documents: brown, dog, quick, quick brown; max_df 0.5 of 3 (1.5) drops them */
    o = knn_text_options_default();
    o.ngram_max = 2;
    o.min_df = 2;
    ds = create(docs, 3, &o);
    if (ds) {
        CHECK_EQ(knn_text_terms(knn_dataset_text(ds)), 5); /* + "the" */
        CHECK(column(knn_dataset_text(ds), "quick brown") >= 0);
        knn_dataset_free(ds);
    }
    o.max_df = 0.5; /* 1.5 documents, below the 2 of min_df */
    o.max_df_fraction = 1;
    knn_dataset *none = NULL;
    CHECK_EQ(knn_text_dataset_create(docs, 3, NULL, 0, &o, NULL, "bounds", &none), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "below the lowest") != NULL);
    o = knn_text_options_default();
    o.min_df = 3; /* no word is in every document */
    CHECK_EQ(knn_text_dataset_create(docs, 3, NULL, 0, &o, NULL, "bounds", &none), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "no term is left") != NULL);
    /* max_features: the most frequent, ties to the term first in order */
    o = knn_text_options_default();
    o.max_features = 2;
    ds = create(docs, 3, &o);
    if (ds) { /* brown 2, dog 2, quick 2, the 2: the first two in order */
        CHECK_EQ(knn_text_terms(knn_dataset_text(ds)), 2);
        CHECK(!strcmp(knn_text_term(knn_dataset_text(ds), 0), "brown"));
        CHECK(!strcmp(knn_text_term(knn_dataset_text(ds), 1), "dog"));
        knn_dataset_free(ds);
    }
    /* an empty vocabulary, bad options */
    const char *empty[] = {"a b c", "the of"};
    o = knn_text_options_default();
    o.stop_words = 1;
    CHECK_EQ(knn_text_dataset_create(empty, 2, NULL, 0, &o, NULL, "e", &none), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "empty vocabulary") != NULL);
    o.ngram_min = 3;
    o.ngram_max = 2;
    CHECK_EQ(knn_text_dataset_create(docs, 3, NULL, 0, &o, NULL, "e", &none), KNN_ERR_ARG);
    const char *bad[] = {"ok", "bad \xC3\x28 utf-8"};
    CHECK_EQ(knn_text_dataset_create(bad, 2, NULL, 0, NULL, NULL, "u", &none), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "invalid UTF-8") != NULL);
}

/* A random corpus over a small vocabulary (many shared words, some repeated documents). */
static char **random_corpus(size_t n, uint64_t seed, int32_t *labels)
{
    static const char *const words[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta",
                                        "eta", "theta", "iota", "kappa", "lambda", "mu",
                                        "nu", "xi", "omicron", "pi", "rho", "sigma"};
    char **docs = malloc(n * sizeof *docs);
    for (size_t i = 0; i < n; i++) {
        docs[i] = calloc(1, 256);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int len = 1 + (int)((seed >> 33) % 12);
        for (int w = 0; w < len; w++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            strcat(docs[i], words[(seed >> 33) % 18]);
            strcat(docs[i], " ");
        }
        if (labels)
            labels[i] = (int32_t)((seed >> 40) % 3);
        if (i % 17 == 5 && i > 0) /* a duplicate: an exact tie */
            strcpy(docs[i], docs[i - 1]);
    }
    return docs;
}

static void sparse_search_equals_dense_reference(void)
{
    const size_t n = 300, nq = 60;
    int32_t labels[300];
    char **docs = random_corpus(n, 7, labels), **qdocs = random_corpus(nq, 99, NULL);
    knn_dataset *train = NULL, *q = NULL;
    knn_text_options o = knn_text_options_default();
    o.ngram_max = 2;
    CHECK_EQ(knn_text_dataset_create((const char *const *)docs, n, labels, 3, &o, NULL, "train",
                                     &train),
             KNN_OK);
    if (train)
        CHECK_EQ(knn_text_dataset_create((const char *const *)qdocs, nq, NULL, 0, NULL, train,
                                         "queries", &q),
                 KNN_OK);
    /* k = 280: more than most queries touch, so the search scans every row (its fallback) */
    static const int ks[] = {1, 14, 27, 40, 280};
    for (size_t a = 0; train && q && a < sizeof ks / sizeof *ks; a++)
        for (int threads = 1; threads <= 2; threads++) {
            const int k = ks[a];
            knn_params p = knn_params_default();
            p.metric = KNN_COSINE;
            p.k = k;
            p.threads = threads;
            knn_neighbors *fast = NULL, *ref = NULL;
            CHECK_EQ(knn_search(train, q, &p, &fast), KNN_OK);
            CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
            if (!fast || !ref)
                continue;
            CHECK_EQ(fast->classes, 3);
            CHECK(memcmp(fast->index, ref->index, nq * (size_t)k * sizeof *fast->index) == 0);
            CHECK(memcmp(fast->dist, ref->dist, nq * (size_t)k * sizeof *fast->dist) == 0);
            CHECK(memcmp(fast->class_dist, ref->class_dist, nq * 3 * sizeof(uint64_t)) == 0);
            CHECK(memcmp(fast->class_index, ref->class_index, nq * 3 * sizeof(uint32_t)) == 0);
            knn_neighbors_free(fast);
            knn_neighbors_free(ref);
        }
    /* L1 and L2 are refused, by name */
    knn_params p = knn_params_default();
    knn_neighbors *nb = NULL;
    if (train && q) {
        CHECK_EQ(knn_search(train, q, &p, &nb), KNN_ERR_ARG);
        CHECK(strstr(knn_last_error(), "holds text") != NULL);
    }
    /* the graph index and few-shot episodes refuse text */
    if (train) {
        CHECK_EQ(knn_dataset_build_index(train, NULL), KNN_ERR_ARG);
        knn_fewshot_result *fr = NULL;
        knn_fewshot_options fo = knn_fewshot_options_default();
        CHECK_EQ(knn_fewshot(train, &fo, &fr), KNN_ERR_ARG);
    }
    knn_dataset_free(train);
    knn_dataset_free(q);
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    for (size_t i = 0; i < nq; i++)
        free(qdocs[i]);
    free(docs);
    free(qdocs);
}

/* Cross-validation's lists equal separate searches of each fold against the others. */
static void cross_validation_equals_separate_searches(void)
{
    const size_t n = 200;
    int32_t labels[200];
    char **docs = random_corpus(n, 3, labels);
    knn_dataset *train = NULL;
    CHECK_EQ(knn_text_dataset_create((const char *const *)docs, n, labels, 3, NULL, NULL, "cv",
                                     &train),
             KNN_OK);
    const int ks[] = {1, 4, 9};
    const knn_metric cosine = KNN_COSINE;
    knn_cv_options o = knn_cv_options_default();
    o.ks = ks;
    o.nk = 3;
    o.metrics = &cosine;
    o.nmetrics = 1;
    o.folds = 4;
    o.mode = KNN_FOLDS_CONTIGUOUS;
    knn_cv_result *r = NULL;
    if (train)
        CHECK_EQ(knn_cross_validate(train, &o, &r), KNN_OK);
    for (int f = 0; r && f < 4; f++) { /* folds of 50 consecutive documents */
        const char *rest[150], *held[50];
        int32_t rest_labels[150];
        size_t nr = 0, nh = 0;
        for (size_t i = 0; i < n; i++) {
            if (i / 50 == (size_t)f) {
                held[nh++] = docs[i];
            } else {
                rest_labels[nr] = labels[i];
                rest[nr++] = docs[i];
            }
        }
        /* the same vectors: vectorised with train's vocabulary */
        knn_dataset *tr = NULL, *te = NULL;
        CHECK_EQ(knn_text_dataset_create(rest, nr, rest_labels, 3, NULL, train, "rest", &tr),
                 KNN_OK);
        CHECK_EQ(knn_text_dataset_create(held, nh, NULL, 0, NULL, train, "held", &te), KNN_OK);
        for (int a = 0; tr && te && a < 3; a++) {
            knn_params p = knn_params_default();
            p.metric = KNN_COSINE;
            p.k = ks[a];
            knn_predictions *pr = NULL;
            CHECK_EQ(knn_classify(tr, te, &p, &pr), KNN_OK);
            size_t correct = 0;
            for (size_t i = 0; pr && i < nh; i++)
                correct += knn_predictions_label(pr, i) == labels[(size_t)f * 50 + i];
            CHECK_EQ(correct, (size_t)llround(knn_cv_accuracy(r, 0, a, f) * 50));
            knn_predictions_free(pr);
        }
        knn_dataset_free(tr);
        knn_dataset_free(te);
    }
    knn_cv_result_free(r);
    knn_dataset_free(train);
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    free(docs);
}

static void text_files_and_their_errors(void)
{
    const char *tsv = tpath("corpus.tsv");
    const char good[] = "sports\tThe match was won\r\n\nnews\tElections today\n"
                        "sports\t   \nnews\tVotes counted today\n";
    write_file(tsv, good, sizeof good - 1);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(tsv, NULL, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), 3); /* the blank line skipped, the empty text listed */
        CHECK_EQ(knn_dataset_num_classes(ds), 2);
        CHECK(!strcmp(knn_dataset_class_name(ds, 0), "news"));
        CHECK_EQ(knn_dataset_label(ds, 0), 1);
        CHECK(!strcmp(knn_dataset_document(ds, 0), "The match was won"));
        CHECK_EQ(knn_dataset_skipped(ds), 1);
        CHECK(strstr(knn_dataset_skipped_reason(ds, 0), "line 4: empty text") != NULL);
        CHECK_EQ(knn_dataset_dtype(ds), KNN_SPARSE);
        CHECK(knn_dataset_row(ds, 0) == NULL && knn_dataset_row_f32(ds, 0) == NULL);
        /* a test set loaded like it: its vocabulary; an unlabelled file as queries */
        const char *qf = tpath("queries.txt");
        write_file(qf, "match won\nunknown words\n", 24);
        knn_load_options lo = {.labels_optional = 1};
        CHECK_EQ(knn_load_options_like(ds, &lo), 1);
        knn_dataset *q = NULL;
        CHECK_EQ(knn_dataset_load(qf, &lo, &q), KNN_OK);
        if (q) {
            CHECK_EQ(knn_dataset_count(q), 2);
            CHECK(!knn_dataset_has_labels(q));
            CHECK_EQ(knn_dataset_dim(q), knn_dataset_dim(ds));
        }
        knn_dataset_free(q);
        /* images loaded like text are refused */
        knn_dataset_free(ds);
    }
    struct {
        const char *name, *data, *message;
        knn_status st;
    } bad[] = {
        {"utf8.tsv", "a\tfine\nb\tbad \xFF byte\n", "line 2: invalid UTF-8 at byte 7",
         KNN_ERR_FORMAT},
        {"overlong.tsv", "a\t\xC0\xAF\n", "line 1: invalid UTF-8", KNN_ERR_FORMAT},
        {"notab.tsv", "a\tfine\nno tab here\n", "line 2 has no tab", KNN_ERR_FORMAT},
        {"nolabel.tsv", "a\tfine\n\tno label\n", "line 2: empty label", KNN_ERR_FORMAT},
        {"unlabelled.tsv", "just text\n", "no labels", KNN_ERR_FORMAT},
        {"allempty.tsv", "a\t \nb\t\n", "no documents", KNN_ERR_FORMAT},
        {"stop.tsv", "a\tx y\nb\tz\n", "empty vocabulary", KNN_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *p = tpath(bad[i].name);
        write_file(p, bad[i].data, strlen(bad[i].data));
        knn_status st = knn_dataset_load(p, NULL, &ds);
        CHECK_EQ(st, bad[i].st);
        if (!strstr(knn_last_error(), bad[i].message) || !strstr(knn_last_error(), p))
            fprintf(stderr, "    %s: '%s' (want '%s')\n", bad[i].name, knn_last_error(),
                    bad[i].message);
        CHECK(strstr(knn_last_error(), bad[i].message) != NULL);
        knn_dataset_free(ds);
    }
    /* a 17 MiB line: refused by its size, no crash */
    const size_t big = KNN_MAX_TEXT_DOCUMENT + (1 << 20);
    char *data = malloc(big + 3);
    if (data) {
        memcpy(data, "a\t", 2);
        memset(data + 2, 'x', big);
        data[big + 2] = '\n';
        write_file(tpath("big.tsv"), data, big + 3);
        free(data);
        CHECK_EQ(knn_dataset_load(tpath("big.tsv"), NULL, &ds), KNN_ERR_LIMIT);
        CHECK(strstr(knn_last_error(), "line 1: a document of 17.0 MiB") != NULL);
    }
}

static void text_folders(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/tf/news' '%s/tf/sport' '%s/tf/empty'", test_dir(),
             test_dir(), test_dir());
    CHECK_EQ(system(cmd), 0);
    write_file(tpath("tf/news/a.txt"), "Elections held today.\nVotes counted.", 36);
    write_file(tpath("tf/news/b.txt"), "Parliament votes", 16);
    write_file(tpath("tf/sport/c.txt"), "Football match won", 18);
    write_file(tpath("tf/sport/d.bin"), "\x00\x01\x02", 3);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(tpath("tf"), NULL, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), 3);
        CHECK_EQ(knn_dataset_num_classes(ds), 2); /* the empty folder left out, and listed */
        CHECK(!strcmp(knn_dataset_class_name(ds, 1), "sport"));
        CHECK_EQ(knn_dataset_label(ds, 2), 1);
        CHECK_EQ(knn_dataset_skipped(ds), 2);
        CHECK(strstr(knn_dataset_skipped_reason(ds, 1), "d.bin: not UTF-8 text") != NULL);
    }
    knn_dataset_free(ds);
}

static void text_model_round_trip(void)
{
    const size_t n = 120;
    int32_t labels[120];
    char **docs = random_corpus(n, 11, labels);
    knn_dataset *train = NULL, *back = NULL;
    knn_text_options o = knn_text_options_default();
    o.ngram_max = 2;
    o.stop_words = 1;
    o.min_df = 2;
    CHECK_EQ(knn_text_dataset_create((const char *const *)docs, n, labels, 3, &o, NULL, "m",
                                     &train),
             KNN_OK);
    knn_params p = knn_params_default();
    p.metric = KNN_COSINE;
    p.k = 7;
    const char *path = tpath("text.knn");
    if (train)
        CHECK_EQ(write_model(train, &p, path), KNN_OK);
    CHECK_EQ(knn_dataset_load(path, NULL, &back), KNN_OK);
    if (train && back) {
        const knn_text *a = knn_dataset_text(train), *b = knn_dataset_text(back);
        CHECK_EQ(knn_text_terms(a), knn_text_terms(b));
        for (size_t i = 0; i < knn_text_terms(a) && i < knn_text_terms(b); i++) {
            CHECK(!strcmp(knn_text_term(a, i), knn_text_term(b, i)));
            CHECK(knn_text_idf(a, i) == knn_text_idf(b, i));
        }
        knn_text_options ob = knn_text_get_options(b);
        CHECK(ob.ngram_max == 2 && ob.stop_words == 1 && ob.min_df == 2);
        for (size_t i = 0; i < n; i++) {
            const uint32_t *ta, *tb;
            const float *va, *vb;
            size_t ma = knn_dataset_row_sparse(train, i, &ta, &va);
            CHECK_EQ(knn_dataset_row_sparse(back, i, &tb, &vb), ma);
            CHECK(ma == 0 || (!memcmp(ta, tb, ma * 4) && !memcmp(va, vb, ma * 4)));
            CHECK(!strcmp(knn_dataset_document(train, i), knn_dataset_document(back, i)));
            CHECK_EQ(knn_dataset_label(back, i), labels[i]);
        }
        knn_params mp = knn_params_default();
        CHECK_EQ(knn_model_params(back, &mp), 1);
        CHECK(mp.metric == KNN_COSINE && mp.k == 7);
        /* the same bytes written again from the loaded model */
        const char *again = tpath("again.knn");
        CHECK_EQ(write_model(back, &p, again), KNN_OK);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", path, again);
        CHECK_EQ(system(cmd), 0);
        /* a limit keeps the first rows */
        knn_dataset *cut = NULL;
        knn_load_options lo = {.limit = 10};
        CHECK_EQ(knn_dataset_load(path, &lo, &cut), KNN_OK);
        if (cut)
            CHECK_EQ(knn_dataset_count(cut), 10);
        knn_dataset_free(cut);
    }
    knn_dataset_free(train);
    knn_dataset_free(back);
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    free(docs);
}

/* Found by a second reading of the change. */
static void text_api_edges(void)
{
    const char *docs[] = {"red apple", "blue sky", "red sky"};
    int32_t labels[] = {0, 1, 1};
    knn_dataset *train = NULL, *q = NULL, *ds = NULL;
    CHECK_EQ(knn_text_dataset_create(docs, 3, labels, 2, NULL, NULL, "t", &train), KNN_OK);
    if (!train)
        return;
    /* options are the fit's: ignored when vectorising like a training set */
    knn_text_options junk = {0};
    CHECK_EQ(knn_text_dataset_create(docs, 1, NULL, 0, &junk, train, "q", &q), KNN_OK);
    knn_dataset_free(q);
    /* the fraction flags are 0 or 1 (a model written with 2 could not be read back) */
    knn_text_options o = knn_text_options_default();
    o.min_df_fraction = 2;
    CHECK_EQ(knn_text_dataset_create(docs, 3, NULL, 0, &o, NULL, "t", &ds), KNN_ERR_ARG);
    /* a view holds uint8 or float32 rows, never text */
    static float rows[16] __attribute__((aligned(64)));
    CHECK_EQ(knn_dataset_view(1, 16, KNN_SPARSE, rows, 64, NULL, 0, &ds), KNN_ERR_ARG);
    /* photos are not loaded like a text set */
    const char *paths[] = {"nothing.png"};
    CHECK_EQ(knn_images_load(paths, 1, train, &ds), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "holds text") != NULL);
    /* a text model of another vocabulary, loaded like the training set, is refused */
    const char *other[] = {"green grass", "grey cloud"};
    knn_dataset *second = NULL;
    CHECK_EQ(knn_text_dataset_create(other, 2, labels, 2, NULL, NULL, "o", &second), KNN_OK);
    knn_params p = knn_params_default();
    p.metric = KNN_COSINE;
    if (second)
        CHECK_EQ(write_model(second, &p, tpath("other.knn")), KNN_OK);
    knn_load_options lo = {0};
    knn_load_options_like(train, &lo);
    CHECK_EQ(knn_dataset_load(tpath("other.knn"), &lo, &ds), KNN_ERR_SHAPE);
    CHECK(strstr(knn_last_error(), "another vocabulary") != NULL);
    /* a CIFAR-10 batch of dark pixels (all valid UTF-8, but controls) stays CIFAR */
    char cifar[3073];
    cifar[0] = 3;
    for (size_t i = 1; i < sizeof cifar; i++)
        cifar[i] = (char)(1 + i % 100);
    write_file(tpath("dark.bin"), cifar, sizeof cifar);
    CHECK_EQ(knn_dataset_load(tpath("dark.bin"), NULL, &ds), KNN_OK);
    if (ds)
        CHECK_EQ(knn_dataset_dtype(ds), KNN_U8);
    knn_dataset_free(ds);
    knn_dataset_free(second);
    knn_dataset_free(train);
}

static void ln_is_within_two_ulps(void)
{
    /* against libm's log (itself within an ulp): 2 ulps apart at most */
    for (double x = 1.0; x < 1e12; x = x * 1.37 + 1) {
        double a = knn__ln(x), b = log(x);
        CHECK(fabs(a - b) <= 2 * (nextafter(b, INFINITY) - b) + 1e-300);
    }
    /* a value an earlier series missed by 3.6 ulps: ln = 0.385307435528915935... */
    CHECK(fabs(knn__ln(1.4700662025559545) - 0.385307435528915935) <= 5.56e-17);
    CHECK(knn__ln(1.0) == 0.0);
}

const test_case text_tests[] = {{"text_tfidf_values", tfidf_values_follow_the_formulas},
                                {"text_tokens_follow_python", tokens_follow_python},
                                {"text_ngrams_stop_words_bounds", ngrams_stop_words_and_bounds},
                                {"text_sparse_equals_dense", sparse_search_equals_dense_reference},
                                {"text_cv_equals_searches", cross_validation_equals_separate_searches},
                                {"text_files_and_errors", text_files_and_their_errors},
                                {"text_folders", text_folders},
                                {"text_model_round_trip", text_model_round_trip},
                                {"text_api_edges", text_api_edges},
                                {"text_ln", ln_is_within_two_ulps},
                                {NULL, NULL}};
