/* cmd_fetch.c: `knn fetch NAME`: download a standard data set the way torchvision's
 * download=True does, into a folder that NAME:SPLIT then finds.
 *
 * Each file is downloaded with libcurl (progress bar, timeouts, resumed from where an
 * interrupted transfer stopped), checked against its published MD5 (OpenSSL), and archives
 * are unpacked with libarchive. Everything happens in DIR/.NAME.partial; only a complete,
 * verified data set is renamed to DIR/NAME, so a failed or corrupt download never leaves a
 * half-written data set. --mirror (or $KNN_MIRROR) replaces the base URL, and --checksums
 * FILE (lines "MD5  FILE", as md5sum prints them) the built-in checksums, for mirrors that
 * repackage the files and for the tests, which serve small archives from 127.0.0.1. */
#include "cli.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *file, *md5;
} remote_file;

static const struct {
    const char *name, *base;
    bool unpack; /* the files are archives to unpack into the data set's folder */
    remote_file files[4];
} known[] = {
    {"mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/", false,
     {{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
      {"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
      {"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
      {"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"}}},
    {"fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", false,
     {{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
      {"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
      {"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
      {"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"}}},
    {"cifar10", "https://www.cs.toronto.edu/~kriz/", true,
     {{"cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"}}},
    {"cifar100", "https://www.cs.toronto.edu/~kriz/", true,
     {{"cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"}}},
};
#define N_KNOWN (sizeof known / sizeof *known)

static const char help[] =
    "usage: knn fetch NAME [OPTIONS]\n"
    "\n"
    "Download a standard data set, check every file against its published MD5, unpack it,\n"
    "and leave it where NAME:SPLIT finds it. NAME: mnist, fashion-mnist, cifar10, cifar100.\n"
    "An interrupted download resumes where it stopped when run again.\n"
    "\n"
    "  --dir DIR          where to put it (default: the first folder of $KNN_DATA, or ./data)\n"
    "  --mirror URL       download from URL/FILE instead of the official address (also\n"
    "                     $KNN_MIRROR)\n"
    "  --checksums FILE   MD5s to check against instead of the published ones, as md5sum\n"
    "                     prints them: 'MD5  FILE' a line (a regular file, at most 1 MiB)\n"
    "  -q, --quiet        no progress bar\n"
    "  -h, --help         this help\n"
    "\n"
    "example: knn fetch cifar10 && knn info cifar10:train\n";

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "knn fetch: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_ERROR;
}

/* The MD5 of a file as 32 hex digits in out (33 bytes); false if it cannot be read. */
static bool md5_file(const char *path, char *out)
{
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = f && ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, f)) > 0;)
        ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && f && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &len) && len == 16;
    for (unsigned i = 0; ok && i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The checksums file, read whole (NUL-terminated; NULL after printing the error). It is the
 * user's input like any other: only a regular file of at most 1 MiB is read, opened without
 * blocking, so that a FIFO or a device such as /dev/zero is refused at once instead of hanging
 * or filling the memory. */
#define MAX_CHECKSUMS_BYTES (1 << 20)
static char *read_checksums(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat sb;
    char *text = NULL;
    ssize_t got = 0;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = "not a regular file";
    else if (sb.st_size > MAX_CHECKSUMS_BYTES)
        why = "larger than 1 MiB: not a list of checksums";
    else if (!(text = malloc((size_t)sb.st_size + 1)) ||
             (got = read(fd, text, (size_t)sb.st_size)) < 0) /* a regular file: one read */
        why = strerror(errno);
    if (fd >= 0)
        close(fd);
    if (why) {
        free(text);
        fail("--checksums %s: %s", path, why);
        return NULL;
    }
    text[got] = '\0';
    return text;
}

/* The MD5 listed for `file` in the checksums (lines "MD5  FILE" or "MD5 *FILE", as md5sum
 * prints them; any case) as 32 lower-case hex digits in out (33 bytes). 0, or the exit status
 * after printing the error. */
static int listed_md5(const char *text, const char *list, const char *file, char *out)
{
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char buf[1024], md5[64], name[900];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        line += len + (line[len] == '\n');
        if (sscanf(buf, "%63s %899s", md5, name) != 2 ||
            strcmp(*name == '*' ? name + 1 : name, file)) /* '*': md5sum's binary mode */
            continue;
        if (strlen(md5) != 32 || strspn(md5, "0123456789abcdefABCDEF") != 32)
            return fail("--checksums %s: the MD5 of %s is not 32 hex digits", list, file);
        for (int i = 0; i <= 32; i++)
            out[i] = (char)tolower((unsigned char)md5[i]);
        return 0;
    }
    return fail("--checksums %s: no checksum for %s", list, file);
}

static int progress_cb(void *user, curl_off_t total, curl_off_t now, curl_off_t ut,
                       curl_off_t un)
{
    (void)ut;
    (void)un;
    if (total > 0)
        cli_progress_update((size_t)now, (size_t)total, user);
    return 0;
}

/* Downloads url to path, appending to what an interrupted transfer left there. */
static int download(const char *url, const char *path, bool quiet)
{
    struct stat sb;
    curl_off_t have = stat(path, &sb) == 0 ? (curl_off_t)sb.st_size : 0;
    FILE *f = fopen(path, "ab");
    if (!f)
        return fail("%s: cannot write: %s", path, strerror(errno));
    CURL *curl = curl_easy_init();
    if (!curl) {
        fclose(f);
        return fail("%s%s: cannot start libcurl", url, "");
    }
    cli_progress progress;
    const char *slash = strrchr(path, '/');
    cli_progress_init(&progress, slash ? slash + 1 : path, quiet);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* bytes/s ...          */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);    /* ... for a minute: stalled */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, have);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &progress);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    cli_progress_done(&progress);
    bool closed = fclose(f) == 0;
    if (have > 0 && ((rc == CURLE_OK && status == 200) || rc == CURLE_RANGE_ERROR ||
                     status == 416)) {
        /* the server cannot resume (no ranges; or our part is already whole but was wrong):
         * start over from the first byte */
        unlink(path);
        return download(url, path, quiet);
    }
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT)
        return fail("cannot reach %s: offline? (%s)", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc != CURLE_OK)
        return fail("%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (!closed)
        return fail("%s: writing failed: %s", path, strerror(errno));
    return 0;
}

/* Unpacks archive into dir (which exists). */
static int unpack(const char *archive_path, const char *dir)
{
    struct archive *a = archive_read_new(), *w = archive_write_disk_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    /* Only regular files and folders are unpacked (the data sets' archives hold nothing
     * else), under names checked here: relative, without "..", no links of any kind. They are
     * then placed under dir, whose own path is the user's business (it may hold ".." or go
     * through a link), so libarchive's path checks, which would also judge dir, stay off. */
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_TIME);
    int code = 0;
    if (archive_read_open_filename(a, archive_path, 1 << 16) != ARCHIVE_OK) {
        code = fail("%s: cannot open the archive: %s", archive_path, archive_error_string(a));
    }
    struct archive_entry *e;
    while (!code) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            code = fail("%s: corrupt archive: %s", archive_path, archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        if (!name || !*name || name[0] == '/' || !strcmp(name, "..") || strstr(name, "../") ||
            (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/..")) ||
            (type != AE_IFREG && type != AE_IFDIR) || archive_entry_hardlink(e) ||
            archive_entry_symlink(e)) {
            code = fail("%s: refusing an unsafe archive entry: %s", archive_path,
                        name ? name : "(no name)");
            break;
        }
        char *target = NULL;
        size_t len = strlen(dir) + strlen(name) + 2;
        if (!(target = malloc(len))) {
            code = fail("out of memory%s%s", "", "");
            break;
        }
        snprintf(target, len, "%s/%s", dir, name);
        archive_entry_set_pathname(e, target);
        free(target);
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            code = fail("%s: cannot unpack: %s", archive_path, archive_error_string(w));
            break;
        }
        const void *buf;
        size_t size;
        la_int64_t offset;
        while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK)
            if (archive_write_data_block(w, buf, size, offset) != ARCHIVE_OK) {
                r = ARCHIVE_FATAL;
                break;
            }
        if (r != ARCHIVE_EOF) {
            code = fail("%s: corrupt archive: %s", archive_path, archive_error_string(a));
            break;
        }
        archive_write_finish_entry(w);
    }
    archive_read_free(a);
    archive_write_free(w);
    return code;
}

static int remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return 0;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            size_t len = strlen(path) + strlen(e->d_name) + 2;
            char *child = malloc(len);
            if (child) {
                snprintf(child, len, "%s/%s", path, e->d_name);
                remove_tree(child);
                free(child);
            }
        }
        if (d)
            closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static char *join(const char *a, const char *b)
{
    size_t len = strlen(a) + strlen(b) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", a, b);
    return p;
}

int cmd_fetch(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},   {"mirror", required_argument, NULL, 'm'},
        {"checksums", required_argument, NULL, 'c'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *mirror = getenv("KNN_MIRROR"), *checksums = NULL;
    bool quiet = false;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'm': mirror = optarg; break;
        case 'c': checksums = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_getopt_error(opt, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("give one NAME: mnist, fashion-mnist, cifar10 or cifar100");
    size_t which = N_KNOWN;
    for (size_t i = 0; i < N_KNOWN; i++)
        if (!strcmp(argv[optind], known[i].name))
            which = i;
    if (which == N_KNOWN)
        return cli_usage_error("unknown data set '%s' (mnist, fashion-mnist, cifar10, cifar100)",
                               argv[optind]);
    /* every file's MD5, published or from --checksums, known before anything is made */
    const remote_file *files = known[which].files;
    char want[4][33];
    for (int i = 0; i < 4 && files[i].file; i++)
        memcpy(want[i], files[i].md5, 33);
    if (checksums) {
        char *text = read_checksums(checksums);
        int bad = text ? 0 : EXIT_ERROR;
        for (int i = 0; !bad && i < 4 && files[i].file; i++)
            bad = listed_md5(text, checksums, files[i].file, want[i]);
        free(text);
        if (bad)
            return bad;
    }
    char data_dir[4096];
    const char *env = getenv("KNN_DATA");
    if (!dir && env && *env) {
        snprintf(data_dir, sizeof data_dir, "%.*s", (int)strcspn(env, ":"), env);
        dir = data_dir;
    }
    if (!dir)
        dir = "data";
    mkdir(dir, 0777);
    const char *name = known[which].name;
    char *final = join(dir, name), *partial = NULL, *unpacked = NULL;
    int code = 0;
    struct stat sb;
    if (!final)
        return fail("out of memory%s%s", "", "");
    if (stat(final, &sb) == 0) {
        if (!quiet)
            printf("%s is already there; nothing to do\n", final);
        free(final);
        return 0;
    }
    size_t plen = strlen(dir) + strlen(name) + 16;
    partial = malloc(plen);
    if (partial)
        snprintf(partial, plen, "%s/.%s.partial", dir, name);
    if (!partial || (mkdir(partial, 0777) != 0 && errno != EEXIST)) {
        code = fail("%s: cannot make the download folder: %s", partial ? partial : dir,
                    strerror(errno));
        goto done;
    }
    unpacked = join(partial, "unpacked");
    if (!unpacked) {
        code = fail("out of memory%s%s", "", "");
        goto done;
    }
    remove_tree(unpacked);
    if (mkdir(unpacked, 0777) != 0) {
        code = fail("%s: %s", unpacked, strerror(errno));
        goto done;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < 4 && files[i].file && !code; i++) {
        const remote_file *rf = &files[i];
        char got[33] = "(unreadable)";
        char *path = join(partial, rf->file), *url = NULL;
        const char *base = mirror && *mirror ? mirror : known[which].base;
        size_t ulen = strlen(base) + strlen(rf->file) + 2;
        if (path && (url = malloc(ulen)))
            snprintf(url, ulen, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/",
                     rf->file);
        if (!path || !url)
            code = fail("out of memory%s%s", "", "");
        bool have = !code && md5_file(path, got) && !strcmp(got, want[i]);
        if (!code && !have)
            code = download(url, path, quiet);
        if (!code && !have && (!md5_file(path, got) || strcmp(got, want[i]))) {
            unlink(path); /* a corrupt file must not be resumed */
            fprintf(stderr,
                    "knn fetch: %s: checksum mismatch (MD5 %s, expected %s): the download is "
                    "corrupt; run again\n",
                    rf->file, got, want[i]);
            code = EXIT_ERROR;
        }
        if (!code) {
            if (known[which].unpack) {
                code = unpack(path, unpacked);
            } else {
                /* a link: the verified download stays in .partial until all is done */
                char *dest = join(unpacked, rf->file);
                if (!dest || link(path, dest) != 0)
                    code = fail("%s: %s", path, strerror(errno));
                free(dest);
            }
        }
        free(path);
        free(url);
    }
    curl_global_cleanup();
    if (!code && rename(unpacked, final) != 0)
        code = fail("%s: %s", final, strerror(errno));
    if (!code) {
        remove_tree(partial); /* the archives: done with */
        if (!quiet)
            printf("%s is ready: knn info %s:train\n", final, name);
    } else {
        remove_tree(unpacked); /* keep the downloads to resume; never a half data set */
    }
done:
    free(final);
    free(partial);
    free(unpacked);
    return code;
}
