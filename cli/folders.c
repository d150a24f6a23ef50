/* folders.c: folders as the command line meets them: is a path one, its files (query
 * photos), has it sub-folders. */
#include "cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool cli_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Visits the non-hidden entries of dir; want_dirs: folders, else regular files. */
static size_t list_entries(const char *dir, bool want_dirs, char ***out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path)
            break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat sb;
        bool keep = stat(path, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        char **grown = keep ? realloc(names, (n + 1) * sizeof *names) : NULL;
        if (!grown) {
            free(path);
            if (keep)
                break;
            continue;
        }
        names = grown;
        names[n++] = path;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_string);
    *out = names;
    return n;
}

size_t cli_list_files(const char *dir, char ***out)
{
    return list_entries(dir, false, out);
}

bool cli_has_subdirs(const char *dir)
{
    char **names = NULL;
    size_t n = list_entries(dir, true, &names);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return n > 0;
}
