/* folders.c: folders as the command line meets them: is a path one, its files (query
 * photos), has it sub-folders; listed by the library (knn_folder_list), as its loaders do. */
#include "cli.h"

#include <sys/stat.h>

bool cli_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

size_t cli_list_files(const char *dir, char ***out)
{
    size_t n = 0;
    return knn_folder_list(dir, 0, out, &n) ? 0 : n; /* unreadable: nothing in it to classify */
}

bool cli_has_subdirs(const char *dir)
{
    char **paths = NULL;
    size_t n = 0;
    knn_folder_list(dir, 1, &paths, &n);
    knn_paths_free(paths, n);
    return n > 0;
}
