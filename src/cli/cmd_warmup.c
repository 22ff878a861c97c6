/* SPDX-License-Identifier: MIT */
/* voxaug warmup: every program a usual run needs, built now and kept in the program cache (vxa_program_cache_dir),
 * so that a container image or a fresh node starts its first sample without compiling. It runs a set of
 * pipelines that between them use every kernel family and path (exact copies, fused resampling with exact and
 * fast elastic fields, windows, masks, reductions, smoothing) on a small phantom, for each image dtype asked
 * for, with a uint8 label map: the programs built are those runs on those dtypes build. */
#include "cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const warm_specs[] = {
    "flip(axes=0) crop(8, 8, 8)",
    "flip(axes=0,1,2, p=0.5) rotate([-15,15]) zoom([0.9,1.1]) elastic(alpha=150, sigma=3, mode=exact) zscore "
    "noise(0.1) random_crop(16, 14, 12)",
    "flip(axes=0,1,2, p=0.5) rotate([-15,15]) zoom([0.9,1.1]) elastic(alpha=150, sigma=3, mode=fast) zscore "
    "noise(0.1) random_crop(16, 14, 12)",
    "rotate(10) zscore(nonzero=1) crop(16, 16, 16)",
    "pclip(1, 99) minmax gamma(1.5) clip(0, 1)",
    "zscore(mask=1) pclip(5, 95, mask=1)",
    "blur(1) lowres(2) bias(coef=0.2) window(1500, 2000)",
    "zoom(1.1) shift(1, 0, -1)",
};

typedef struct { int built, loaded, rejected; } warm_counts;

static void warm_log(void *user, vxa_log_level level, const char *msg)
{
    warm_counts *c = user;
    if (strncmp(msg, "built ", 6) == 0) c->built++;
    else if (strncmp(msg, "loaded ", 7) == 0) c->loaded++;
    else if (strstr(msg, "rejected")) c->rejected++;
    if (level == VXA_LOG_ERROR) fprintf(stderr, "voxaug warmup: %s\n", msg);
}

static void warm_usage(FILE *f)
{
    fprintf(f, "usage: voxaug warmup [--device D] [--dtypes LIST] [--pipeline SPEC]\n\n"
               "Builds the programs the usual runs need on the device and keeps them in the program cache, so that\n"
               "a new process (a container started from an image made after this) loads them instead of\n"
               "compiling. Runs a set of pipelines covering every kernel family on a 24^3 phantom for each image\n"
               "dtype of LIST (default uint8,int16,float32; any of uint8, int8, uint16, int16, uint32, int32,\n"
               "float32, float64) with a uint8 label map, and SPEC too if given (your own pipeline).\n\n"
               "environment: VOXAUG_CACHE_DIR (the cache folder; default $XDG_CACHE_HOME/voxaug or\n"
               "~/.cache/voxaug), VOXAUG_CACHE=0 (no cache: warmup then only checks that everything builds),\n"
               "VOXAUG_CACHE_MAX_MB (the cache's size limit, default 256)\n");
}

/* Entries and bytes of the cache folder. */
static void cache_size(const char *dir, int *n, double *mib)
{
    *n = 0;
    *mib = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[4200];
    while ((de = readdir(d))) {
        const size_t len = strlen(de->d_name);
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".bin") == 0 && stat(path, &sb) == 0) {
            (*n)++;
            *mib += (double)sb.st_size / 1048576.0;
        }
    }
    closedir(d);
}

int cmd_warmup(int argc, char **argv)
{
    const char *device = NULL, *dtypes = "uint8,int16,float32", *extra = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { warm_usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "voxaug warmup: %s needs a value (voxaug warmup --help)\n", a); return 2; }
        if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--dtypes") == 0) dtypes = v;
        else if (strcmp(a, "--pipeline") == 0) extra = v;
        else { fprintf(stderr, "voxaug warmup: unknown option '%s' (voxaug warmup --help)\n", a); return 2; }
        i++;
    }
    vxa_dtype types[16];
    int ntypes = 0;
    char list[256], err[4096];
    snprintf(list, sizeof list, "%s", dtypes);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ntypes == 16 || !vxa_dtype_parse(t, &types[ntypes]) || types[ntypes] == VXA_INT64 ||
            types[ntypes] == VXA_UINT64 || types[ntypes] == VXA_FLOAT16 || types[ntypes] == VXA_BFLOAT16) {
            fprintf(stderr, "voxaug warmup: --dtypes: '%s' is not an image dtype voxaug reads\n", t);
            return 2;
        }
        ntypes++;
    }
    const int nspecs = (int)(sizeof warm_specs / sizeof warm_specs[0]);
    vxa_pipeline *pipes[sizeof warm_specs / sizeof warm_specs[0] + 1] = { 0 };
    int npipes = 0, rc = 1;
    for (int s = 0; s <= nspecs; s++) {
        const char *spec = s < nspecs ? warm_specs[s] : extra;
        if (!spec) continue;
        if (vxa_pipeline_parse(spec, &pipes[npipes], err, sizeof err) != VXA_OK) {
            fprintf(stderr, "voxaug warmup: %s '%s': %s\n", s < nspecs ? "built-in pipeline" : "--pipeline", spec, err);
            for (int k = 0; k < npipes; k++) vxa_pipeline_free(pipes[k]);
            return 2;
        }
        npipes++;
    }
    /* Stores on every device, CPUs too (where a run's end does not: PoCL compiles the program for it), with every
     * kernel of each file the runs built (a program holds one kernel: host/cl.h, vxa_cl_build_siblings). */
    const char *mode = getenv("VOXAUG_CACHE");
    if (!mode || strcmp(mode, "0") != 0) setenv("VOXAUG_CACHE", "warmup", 1);
    warm_counts counts = { 0, 0, 0 };
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = device;
    opt.log = warm_log;
    opt.log_user = &counts;
    opt.log_level = VXA_LOG_INFO;
    vxa_context *ctx = NULL;
    vxa_volume *image = NULL, *label = NULL, *typed = NULL;
    const double t0 = cli_now();
    const int64_t dim[3] = { 24, 24, 24 };
    vxa_status st = vxa_context_create(&opt, &ctx);
    if (st != VXA_OK) {
        fprintf(stderr, "voxaug warmup: %s\n", vxa_last_error(ctx));
        goto done;
    }
    if ((st = vxa_phantom(dim, &image, &label)) != VXA_OK) {
        fprintf(stderr, "voxaug warmup: the phantom: %s\n", vxa_status_string(st));
        goto done;
    }
    for (int t = 0; t < ntypes; t++) {
        vxa_volume_free(typed);
        typed = NULL;
        if ((st = cli_convert(image, types[t], &typed)) != VXA_OK) {
            fprintf(stderr, "voxaug warmup: the phantom as %s: %s\n", vxa_dtype_name(types[t]), vxa_status_string(st));
            goto done;
        }
        for (int k = 0; k < npipes; k++) {
            vxa_volume *oi = NULL, *ol = NULL;
            st = vxa_pipeline_run(ctx, pipes[k], 1, 0, typed, label, &oi, &ol, NULL);
            vxa_volume_free(oi);
            vxa_volume_free(ol);
            if (st != VXA_OK) {
                fprintf(stderr, "voxaug warmup: '%s' on %s: %s\n", vxa_pipeline_string(pipes[k]),
                        vxa_dtype_name(types[t]), vxa_last_error(ctx));
                goto done;
            }
        }
    }
    char dir[1024], devname[256];
    snprintf(devname, sizeof devname, "%s", vxa_context_device_name(ctx));
    const int reference = vxa_context_is_reference(ctx);
    vxa_context_destroy(ctx);   /* stores the binaries as they grew with the launches */
    ctx = NULL;
    printf("warmup on '%s': %d program(s) built, %d loaded from the cache%s, %d pipeline(s) x %d dtype(s), "
           "%.1f s\n", devname, counts.built, counts.loaded, counts.rejected ? " (some entries rejected, rebuilt)" : "",
           npipes, ntypes, cli_now() - t0);
    vxa_program_cache_dir(dir, sizeof dir);
    if (reference) printf("program cache: not used by the reference path (no programs)\n");
    else if (!dir[0]) printf("program cache: off (VOXAUG_CACHE=0): nothing kept\n");
    else {
        int n;
        double mib;
        cache_size(dir, &n, &mib);
        printf("program cache: %s (%d entries, %.1f MiB)\n", dir, n, mib);
    }
    rc = 0;
done:
    vxa_volume_free(typed);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_context_destroy(ctx);
    for (int k = 0; k < npipes; k++) vxa_pipeline_free(pipes[k]);
    return rc;
}
