/* knn.c: the `knn` program: cli_main (main.c) and nothing else. knn-mpi (mpi/main.c) has
 * its own main() around the same cli_main. */
#include "cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
