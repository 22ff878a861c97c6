/* SPDX-License-Identifier: MIT */
/* Progress of a long run: on a terminal a bar redrawn in place with the rate and the time left; otherwise
 * (Slurm, nohup, a pipe) a plain line every `every_items` volumes or `every_s` seconds with the same facts, so
 * a log shows how far a run got. Quiet: nothing. The caller serialises calls (augment holds its lock). */
#include "cli.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, size_t total, int quiet, size_t every_items, double every_s)
{
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->every_items = every_items ? every_items : 10;
    p->every_s = every_s > 0 ? every_s : 30;
    p->t0 = p->last_t = cli_now();
    p->last_n = 0;
    p->drawn = 0;
}

static void format_eta(double s, char *out, size_t len)
{
    if (!(s >= 0) || s > 1e7) snprintf(out, len, "?");
    else if (s < 60) snprintf(out, len, "%.0f s", s);
    else if (s < 3600) snprintf(out, len, "%d min %02d s", (int)s / 60, (int)s % 60);
    else snprintf(out, len, "%d h %02d min", (int)s / 3600, (int)s % 3600 / 60);
}

void cli_progress_update(cli_progress *p, size_t done, size_t failed, int final)
{
    if (p->quiet) return;
    const double t = cli_now(), el = t - p->t0;
    const size_t n = done + failed;
    const double rate = el > 0 ? (double)done / el : 0.0;
    char eta[32];
    format_eta(rate > 0 ? (double)(p->total - (n < p->total ? n : p->total)) / rate : -1, eta, sizeof eta);
    const double frac = p->total ? (double)n / (double)p->total : 1.0;
    if (p->tty) {
        const int width = 30, fill = (int)(frac * width);
        fprintf(stderr, "\r[%.*s%*s] %zu/%zu volumes, %zu failed, %.2f vol/s, ETA %s   ", fill,
                "##############################", width - fill, "", n, p->total, failed, rate, eta);
        if (final) fputc('\n', stderr);
        fflush(stderr);
        p->drawn = 1;
        return;
    }
    if (!final && n - p->last_n < p->every_items && t - p->last_t < p->every_s) return;
    if (final && n == p->last_n) return;
    fprintf(stderr, "voxaug augment: %zu/%zu volumes (%.0f%%), %zu failed, %.2f vol/s, %.0f s elapsed, ETA %s\n", n,
            p->total, 100.0 * frac, failed, rate, el, eta);
    fflush(stderr);
    p->last_n = n;
    p->last_t = t;
}
