/* progress.c: the progress bar on stderr for work that lasts over a second, when stderr is a
 * terminal, redrawn at most 10 times a second. */
#include "cli.h"

#include <time.h>
#include <unistd.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *what, bool quiet)
{
    p->what = what;
    p->start = cli_now();
    p->drawn = 0;
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->shown = false;
}

void cli_progress_update(size_t done, size_t total, void *progress)
{
    cli_progress *p = progress;
    const double now = cli_now(), elapsed = now - p->start;
    /* at most 10 redraws a second: cross-validation reports tens of thousands of steps, and
     * redrawing each cost a third of its time and megabytes of terminal output */
    if (!p->enabled || elapsed < 1.0 || total == 0 || (now - p->drawn < 0.1 && done < total))
        return;
    p->drawn = now;
    double frac = (double)done / (double)total;
    int width = 30, filled = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%s [%s] %3.0f%% %zu/%zu, %.1f s, about %.0f s left ", p->what, bar,
            100 * frac, done, total, elapsed, eta);
    p->shown = true;
}

void cli_progress_done(cli_progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r%*s\r", 78, "");
    p->shown = false;
}
