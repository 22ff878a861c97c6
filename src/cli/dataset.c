/* SPDX-License-Identifier: MIT */
/* Finding a dataset's subjects in each layout, naming them, and placing their outputs (contract in dataset.h).
 * Every listing is sorted, so nothing depends on readdir's order; a subject's draws depend on its key alone. */
#define _DEFAULT_SOURCE /* strdup, strndup, DT_DIR */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MSG(...) fprintf(stderr, "voxaug augment: " __VA_ARGS__)

static int ends_with(const char *s, const char *end)
{
    const size_t n = strlen(s), m = strlen(end);
    return n >= m && strcmp(s + n - m, end) == 0;
}

static int is_nifti(const char *name) { return ends_with(name, ".nii") || ends_with(name, ".nii.gz"); }

/* "dir/abc.nii.gz" -> "abc" (malloc'd) */
static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const size_t n = strlen(base);
    return strndup(base, ends_with(base, ".nii.gz") ? n - 7 : ends_with(base, ".nii") ? n - 4 : n);
}

/* A key's canonical form: no "./" components, no repeated '/'. */
static char *normalise(const char *path)
{
    char *out = malloc(strlen(path) + 1), *o = out;
    if (!out) return NULL;
    const char *p = path;
    while (*p) {
        if (p[0] == '.' && p[1] == '/' && (p == path || p[-1] == '/')) { p += 2; continue; }
        if (*p == '/' && o > out && o[-1] == '/') { p++; continue; }
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

static char *join(const char *dir, const char *name)
{
    if (!dir || !*dir || name[0] == '/') return strdup(name);
    char *s = malloc(strlen(dir) + strlen(name) + 2);
    if (s) sprintf(s, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", name);
    return s;
}

static void subject_free(ds_subject *s)
{
    free(s->key);
    free(s->subject);
    free(s->session);
    free(s->stem);
    free(s->dir);
    free(s->prefix);
    for (int i = 0; i < s->nimg; i++) { free(s->img[i].path); free(s->img[i].role); }
    for (int i = 0; i < s->nlab; i++) { free(s->lab[i].path); free(s->lab[i].role); }
    memset(s, 0, sizeof *s);
}

void ds_free(ds_dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++) subject_free(&ds->s[i]);
    free(ds->s);
    free(ds->nnunet_json);
    free(ds->bids_description);
    free(ds->file_ending);
    ds->s = NULL;
    ds->n = ds->cap = 0;
    ds->nnunet_json = ds->file_ending = ds->bids_description = NULL;
}

/* A new, empty subject at the end (NULL when out of memory). */
static ds_subject *new_subject(ds_dataset *ds)
{
    if (ds->n == ds->cap) {
        const size_t cap = ds->cap ? 2 * ds->cap : 64;
        ds_subject *s = realloc(ds->s, cap * sizeof *s);
        if (!s) return NULL;
        ds->s = s;
        ds->cap = cap;
    }
    ds_subject *s = &ds->s[ds->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static int add_file(ds_file *files, int *n, const char *path, const char *role)
{
    if (*n == DS_MAX_FILES) {
        MSG("%s: more than %d images or label maps in one subject\n", path, DS_MAX_FILES);
        return -1;
    }
    files[*n].path = strdup(path);
    files[*n].role = strdup(role);
    (*n)++;
    return files[*n - 1].path && files[*n - 1].role ? 0 : -1;
}

/* Names of a subject that is one or more files given by path (the plain layouts): roles "image" or "0000",
 * "0001", ...; "label" or "label0", "label1", ... */
static int plain_roles(ds_subject *s)
{
    char role[32];
    for (int i = 0; i < s->nimg && s->nimg > 1; i++) {
        snprintf(role, sizeof role, "%04d", i);
        free(s->img[i].role);
        if (!(s->img[i].role = strdup(role))) return -1;
    }
    for (int i = 0; i < s->nlab && s->nlab > 1; i++) {
        snprintf(role, sizeof role, "label%d", i);
        free(s->lab[i].role);
        if (!(s->lab[i].role = strdup(role))) return -1;
    }
    return 0;
}

static int finish_plain(ds_subject *s, const char *key)
{
    s->key = normalise(key);
    s->stem = file_stem(s->img[0].path);
    s->subject = s->stem ? strdup(s->stem) : NULL;
    s->prefix = s->stem ? strdup(s->stem) : NULL;
    s->session = strdup("");
    s->dir = strdup("");
    if (!s->key || !s->stem || !s->subject || !s->prefix || !s->session || !s->dir) return -1;
    return plain_roles(s);
}

/* "a;b" into files under root (relative names resolved from root). The first image's name as written is the
 * key, relative to root. */
static int add_paths(ds_file *files, int *n, const char *list, const char *root, const char *role, const char *what)
{
    char *copy = strdup(list), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *t = copy ? strtok_r(copy, ";", &save) : NULL; t && rc == 0; t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ' || *t == '\t') t++;
        size_t len = strlen(t);
        while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t')) t[--len] = '\0';
        if (!*t) continue;
        char *path = join(root, t);
        rc = path ? add_file(files, n, path, role) : -1;
        free(path);
    }
    free(copy);
    if (rc == 0 && *n == 0) {
        MSG("'%s': no %s named\n", list, what);
        rc = -1;
    }
    return rc;
}

static int add_spec(ds_dataset *ds, const char *images, const char *labels, const char *root)
{
    ds_subject *s = new_subject(ds);
    if (!s) return -1;
    if (add_paths(s->img, &s->nimg, images, root, "image", "image") != 0 ||
        (labels && *labels && add_paths(s->lab, &s->nlab, labels, root, "label", "label map") != 0))
        return -1;
    /* the key: the first image as written, relative to the root */
    char first[4096];
    snprintf(first, sizeof first, "%s", images);
    first[strcspn(first, ";")] = '\0';
    char *f = first;
    while (*f == ' ' || *f == '\t') f++;
    size_t len = strlen(f);
    while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t')) f[--len] = '\0';
    return finish_plain(s, f);
}

int ds_add_arg(ds_dataset *ds, const char *arg)
{
    char *copy = strdup(arg);
    if (!copy) return -1;
    char *colon = strchr(copy, ':');
    if (colon) *colon = '\0';
    const int rc = add_spec(ds, copy, colon ? colon + 1 : NULL, NULL);
    free(copy);
    return rc;
}

#define LIST_LINE_MAX 8191 /* characters of one --list line; a longer one is an error, never split */

/* Lines 'image[;image...][,label[;label...]]'; '#' comments and blank lines skipped; relative paths from the
 * list's folder. A line over LIST_LINE_MAX or holding a NUL byte is an error naming its number (so
 * `--list /dev/zero` ends at once). */
int ds_add_list(ds_dataset *ds, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        MSG("%s: %s\n", path, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(path, '/');
    char *root = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup("");
    char line[LIST_LINE_MAX + 1];
    int rc = root ? 0 : -1, ch = 0;
    for (size_t lineno = 1; rc == 0 && ch != EOF; lineno++) {
        size_t len = 0;
        while ((ch = getc(f)) != EOF && ch != '\n') {
            if (ch == '\0') {
                MSG("%s: line %zu holds a NUL byte (not a text list)\n", path, lineno);
                rc = -1;
                break;
            }
            if (len == LIST_LINE_MAX) {
                MSG("%s: line %zu is longer than %d characters\n", path, lineno, LIST_LINE_MAX);
                rc = -1;
                break;
            }
            line[len++] = (char)ch;
        }
        if (rc != 0) break;
        if (ferror(f)) {
            MSG("%s: line %zu: %s\n", path, lineno, strerror(errno));
            rc = -1;
            break;
        }
        line[len] = '\0';
        line[strcspn(line, "\r")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        rc = add_spec(ds, s, comma ? comma + 1 : NULL, root);
    }
    fclose(f);
    free(root);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted names in dir that keep(name) accepts; NULL and a message if dir cannot be read. */
static char **list_dir(const char *dir, int (*keep)(const char *), size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        MSG("%s: %s\n", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !keep(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **x = realloc(names, (cap + 1) * sizeof *x);
            if (!x) break;
            names = x;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!names) names = calloc(1, sizeof *names);
    if (names) qsort(names, n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int ds_add_images(ds_dataset *ds, const char *dir, const char *labels)
{
    size_t n = 0;
    char **names = list_dir(dir, is_nifti, &n);
    if (!names) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ds_subject *s = new_subject(ds);
        char *img = join(dir, names[i]), *lab = labels ? join(labels, names[i]) : NULL;
        rc = s && img && (!labels || lab) ? 0 : -1;
        if (rc == 0) rc = add_file(s->img, &s->nimg, img, "image");
        if (rc == 0 && lab) rc = add_file(s->lab, &s->nlab, lab, "label");
        if (rc == 0) rc = finish_plain(s, names[i]);
        free(img);
        free(lab);
    }
    free_names(names, n);
    return rc;
}

/* ---- nnU-Net raw ------------------------------------------------------------------------------------------ */
static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        MSG("%s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *s = malloc(max + 1);
    size_t n = s ? fread(s, 1, max + 1, f) : 0;
    fclose(f);
    if (s && n > max) {
        MSG("%s: larger than %zu bytes\n", path, max);
        free(s);
        return NULL;
    }
    if (s) s[n] = '\0';
    return s;
}

static const char *nnunet_ending; /* for the filter below: list_dir's filter takes only the name */
static int nnunet_image(const char *name)
{
    const size_t n = strlen(name), e = strlen(nnunet_ending);
    if (n < e + 6 || !ends_with(name, nnunet_ending) || name[n - e - 5] != '_') return 0;
    for (size_t k = n - e - 4; k < n - e; k++)
        if (name[k] < '0' || name[k] > '9') return 0;
    return 1;
}

/* imagesTr/CASE_XXXX<ending> for each channel of channel_names, labelsTr/CASE<ending> (required: nnU-Net's
 * training cases all have one). dataset.json is kept for the output's. */
int ds_add_nnunet(ds_dataset *ds, const char *dir)
{
    char *jpath = join(dir, "dataset.json");
    char *json = jpath ? read_text(jpath, 1 << 20) : NULL;
    int rc = -1;
    char ending[64] = ".nii.gz", **names = NULL;
    size_t n = 0;
    if (!json) goto done;
    const char *ch = cli_json_find(json, "channel_names"), *fe = cli_json_find(json, "file_ending");
    if (!ch || *ch != '{' || !cli_json_skip(ch)) {
        MSG("%s: no \"channel_names\" object (nnU-Net v2's dataset.json)\n", jpath);
        goto done;
    }
    int nch = 0;
    for (char key[16]; nch < DS_MAX_FILES; nch++) { /* keys "0", "1", ...: each must be there */
        snprintf(key, sizeof key, "%d", nch);
        if (!cli_json_find(ch, key)) break;
    }
    if (nch == 0 || nch >= DS_MAX_FILES) {
        MSG("%s: channel_names must name channels \"0\" .. \"%d\" at most (has %d)\n", jpath, DS_MAX_FILES - 2, nch);
        goto done;
    }
    if (fe && (!cli_json_string(fe, ending, sizeof ending) || (strcmp(ending, ".nii.gz") != 0 && strcmp(ending, ".nii") != 0))) {
        MSG("%s: file_ending must be \".nii.gz\" or \".nii\" for voxaug\n", jpath);
        goto done;
    }
    ds->nnunet_json = json;
    json = NULL;
    ds->nnunet_channels = nch;
    ds->file_ending = strdup(ending);
    char *images = join(dir, "imagesTr");
    nnunet_ending = ending;
    names = images ? list_dir(images, nnunet_image, &n) : NULL;
    free(images);
    if (!names) goto done;
    const size_t e = strlen(ending);
    rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        /* names sorted: a case's channels are consecutive */
        const size_t caselen = strlen(names[i]) - e - 5;
        char *id = strndup(names[i], caselen);
        ds_subject *s = id ? new_subject(ds) : NULL;
        if (!s) { free(id); rc = -1; break; }
        s->subject = id;
        for (int c = 0; c < nch && rc == 0; c++) {
            char want[4096], role[8];
            snprintf(role, sizeof role, "%04d", c);
            snprintf(want, sizeof want, "%s_%s%s", id, role, ending);
            if (i < n && strcmp(names[i], want) == 0) {
                char rel[4200], *path;
                snprintf(rel, sizeof rel, "imagesTr/%s", want);
                path = join(dir, rel);
                rc = path ? add_file(s->img, &s->nimg, path, role) : -1;
                if (c == 0) s->key = strdup(rel);
                free(path);
                i++;
            } else {
                MSG("%s/imagesTr: case %s has no channel %s (%s); dataset.json names %d channel%s\n", dir, id, role,
                    want, nch, nch == 1 ? "" : "s");
                rc = -1;
            }
        }
        if (rc == 0 && i < n && strncmp(names[i], id, caselen) == 0 && names[i][caselen] == '_' &&
            strlen(names[i]) == caselen + 5 + e) {
            MSG("%s/imagesTr/%s: a channel beyond the %d of dataset.json's channel_names\n", dir, names[i], nch);
            rc = -1;
        }
        if (rc != 0) break;
        char rel[4200];
        snprintf(rel, sizeof rel, "labelsTr/%s%s", id, ending);
        char *lab = join(dir, rel);
        struct stat sb;
        if (!lab || stat(lab, &sb) != 0) {
            MSG("%s: missing (case %s of imagesTr has no label map)\n", lab ? lab : rel, id);
            rc = -1;
        } else {
            rc = add_file(s->lab, &s->nlab, lab, "label");
        }
        free(lab);
        s->stem = rc == 0 ? file_stem(s->img[0].path) : NULL;
        s->prefix = strdup(id);
        s->session = strdup("");
        s->dir = strdup("");
        if (rc == 0 && (!s->key || !s->stem || !s->prefix || !s->session || !s->dir)) rc = -1;
    }
    if (rc == 0 && n == 0) {
        MSG("%s/imagesTr: no CASE_XXXX%s image\n", dir, ending);
        rc = -1;
    }
done:
    free_names(names, n);
    free(json);
    free(jpath);
    return rc;
}

/* ---- BIDS ------------------------------------------------------------------------------------------------- */
/* The value of entity `ent` ("sub", "ses") in a BIDS file name, malloc'd ("" if absent). */
static char *entity(const char *name, const char *ent)
{
    const size_t k = strlen(ent);
    for (const char *p = name; *p; p++) {
        if ((p == name || p[-1] == '_') && strncmp(p, ent, k) == 0 && p[k] == '-') {
            const char *v = p + k + 1;
            return strndup(v, strcspn(v, "_."));
        }
    }
    return strdup("");
}

static int bids_walk(const char *root, const char *rel, char ***files, size_t *n, size_t *cap)
{
    char *dir = rel[0] ? join(root, rel) : strdup(root);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        MSG("%s: %s\n", dir ? dir : root, strerror(errno));
        free(dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (nm[0] == '.') continue;
        /* not raw data (BIDS 1.8 "derivatives", "sourcedata", "code"; "stimuli" holds no images we want) */
        if (!rel[0] && (strcmp(nm, "derivatives") == 0 || strcmp(nm, "sourcedata") == 0 || strcmp(nm, "code") == 0 ||
                        strcmp(nm, "stimuli") == 0))
            continue;
        char *sub = rel[0] ? join(rel, nm) : strdup(nm), *full = sub ? join(root, sub) : NULL;
        struct stat sb;
        if (!sub || !full) rc = -1;
        /* lstat: a link to a folder is not followed (a loop would never end); links to files (DataLad) are */
        else if (lstat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) rc = bids_walk(root, sub, files, n, cap);
        else if (is_nifti(nm) && strncmp(nm, "sub-", 4) == 0) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 64;
                char **x = realloc(*files, *cap * sizeof *x);
                if (!x) rc = -1;
                else *files = x;
            }
            if (rc == 0) { (*files)[(*n)++] = sub; sub = NULL; }
        }
        free(sub);
        free(full);
    }
    closedir(d);
    free(dir);
    return rc;
}

/* "sub-01/anat/sub-01_ses-1_T1w.nii.gz" -> folder "sub-01/anat", prefix "sub-01_ses-1", suffix "T1w". */
static void bids_split(const char *rel, char *folder, char *prefix, char *suffix, size_t len)
{
    const char *slash = strrchr(rel, '/');
    snprintf(folder, len, "%.*s", slash ? (int)(slash - rel) : 0, rel);
    char *stem = file_stem(rel);
    const char *us = stem ? strrchr(stem, '_') : NULL;
    snprintf(prefix, len, "%.*s", us ? (int)(us - stem) : 0, stem ? stem : "");
    snprintf(suffix, len, "%s", us ? us + 1 : stem ? stem : "");
    free(stem);
}

/* Whether suffix is in the comma list (its place, or -1); a NULL list keeps every suffix (place 0). */
static int modality_place(const char *list, const char *suffix)
{
    if (!list) return 0;
    int place = 0;
    for (const char *p = list; *p; place++) {
        const size_t k = strcspn(p, ",");
        if (k == strlen(suffix) && strncmp(p, suffix, k) == 0) return place;
        p += k;
        if (*p == ',') p++;
    }
    return -1;
}

static int label_match(ds_subject *s, const char *root, const char *pattern)
{
    cli_buf pat = { 0 };
    cli_buf_puts(&pat, root);
    cli_buf_puts(&pat, "/");
    for (const char *p = pattern; *p; p++) {
        const char *val = NULL;
        size_t skip = 0;
        if (strncmp(p, "{dir}", 5) == 0) { val = s->dir; skip = 5; }
        else if (strncmp(p, "{prefix}", 8) == 0) { val = s->prefix; skip = 8; }
        else if (strncmp(p, "{subject}", 9) == 0) { val = s->subject; skip = 9; }
        else if (strncmp(p, "{session}", 9) == 0) { val = s->session; skip = 9; }
        if (val) { cli_buf_puts(&pat, val); p += skip - 1; }
        else cli_buf_put(&pat, p, 1);
    }
    if (pat.oom) return -1;
    glob_t g;
    int rc = 0;
    const int gr = glob(pat.s, 0, NULL, &g); /* sorted */
    if (gr == 0) {
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
            char folder[4096], prefix[4096], suffix[4096];
            const char *rel = g.gl_pathv[i] + strlen(root) + 1;
            bids_split(rel, folder, prefix, suffix, sizeof folder);
            /* the label map's name: what its file name adds to the subject's prefix ("desc-tumor_dseg") */
            char *stem = file_stem(rel);
            const char *role = stem && strncmp(stem, s->prefix, strlen(s->prefix)) == 0 && stem[strlen(s->prefix)] == '_'
                                   ? stem + strlen(s->prefix) + 1 : suffix;
            rc = add_file(s->lab, &s->nlab, g.gl_pathv[i], role);
            free(stem);
        }
        globfree(&g);
    } else if (gr != GLOB_NOMATCH) {
        MSG("%s: cannot search for label maps\n", pat.s);
        rc = -1;
    }
    cli_buf_free(&pat);
    return rc;
}

/* Every sub-*.nii[.gz] under DIR (outside derivatives/, sourcedata/, code/); the files of one folder with the
 * same entities before the suffix are one subject, one image per suffix (modality), in --modalities order
 * (else sorted). Label maps: ds->bids_labels, a glob pattern relative to DIR with {dir} {prefix} {subject}
 * {session} (default derivatives/ANY/{dir}/{prefix}_*dseg.nii*). */
int ds_add_bids(ds_dataset *ds, const char *dir)
{
    char **files = NULL;
    size_t n = 0, cap = 0;
    int rc = bids_walk(dir, "", &files, &n, &cap);
    if (rc == 0 && n == 0) {
        MSG("%s: no sub-*.nii or sub-*.nii.gz file in this BIDS folder\n", dir);
        rc = -1;
    }
    if (rc == 0) qsort(files, n, sizeof *files, cmp_str);
    char *desc = join(dir, "dataset_description.json");
    struct stat sb;
    if (rc == 0 && desc && stat(desc, &sb) == 0 && !(ds->bids_description = read_text(desc, 1 << 20))) rc = -1;
    free(desc);
    const char *pattern = ds->bids_labels ? ds->bids_labels : "derivatives/*/{dir}/{prefix}_*dseg.nii*";
    char folder[4096], prefix[4096], suffix[4096], f2[4096], p2[4096], s2[4096];
    for (size_t i = 0; i < n && rc == 0;) {
        bids_split(files[i], folder, prefix, suffix, sizeof folder);
        size_t end = i + 1;
        for (; end < n; end++) {
            bids_split(files[end], f2, p2, s2, sizeof f2);
            if (strcmp(f2, folder) != 0 || strcmp(p2, prefix) != 0) break;
        }
        /* files i..end-1: one subject; its images in --modalities order */
        ds_subject *s = new_subject(ds);
        if (!s) { rc = -1; break; }
        int places = 0;
        for (const char *p = ds->bids_modalities; p && *p; p++) places += *p == ',';
        places = ds->bids_modalities ? places + 1 : 1;
        for (int place = 0; place < places && rc == 0; place++)
            for (size_t k = i; k < end && rc == 0; k++) {
                bids_split(files[k], f2, p2, s2, sizeof f2);
                if (modality_place(ds->bids_modalities, s2) != place) continue;
                char *full = join(dir, files[k]);
                rc = full ? add_file(s->img, &s->nimg, full, s2) : -1;
                if (rc == 0 && s->nimg == 1) s->key = strdup(files[k]);
                free(full);
            }
        if (rc == 0 && ds->bids_modalities && s->nimg != places) {
            MSG("%s/%s: %s has %d of the %d modalities of --modalities %s\n", dir, folder, prefix, s->nimg, places,
                ds->bids_modalities);
            rc = -1;
        }
        if (rc == 0 && s->nimg == 0) { /* none of the wanted suffixes: not a subject of this run */
            subject_free(s);
            ds->n--;
            i = end;
            continue;
        }
        if (rc == 0) {
            s->dir = strdup(folder);
            s->prefix = strdup(prefix);
            s->subject = entity(prefix, "sub");
            s->session = entity(prefix, "ses");
            s->stem = file_stem(s->img[0].path);
            if (!s->key || !s->dir || !s->prefix || !s->subject || !s->session || !s->stem) rc = -1;
        }
        if (rc == 0) rc = label_match(s, dir, pattern);
        i = end;
    }
    free_names(files, n);
    return rc;
}

/* ---- output names ----------------------------------------------------------------------------------------- */
static const char *default_template(ds_layout layout)
{
    return layout == DS_NNUNET ? "{subject}_aug{copy}" : layout == DS_BIDS ? "{prefix}_desc-aug{copy}" : "{stem}_aug{copy}";
}

/* Expands tmpl for s and copy (modality: NULL refuses {modality}) into b; -1 and the field's name in bad. */
static int expand(cli_buf *b, const char *tmpl, const ds_subject *s, uint64_t copy, const char *modality,
                  char *bad, size_t badlen)
{
    for (const char *p = tmpl; *p; p++) {
        if (*p != '{') {
            cli_buf_put(b, p, 1);
            continue;
        }
        const size_t k = strcspn(p + 1, "}");
        if (!p[1 + k]) {
            snprintf(bad, badlen, "%s (no closing brace)", p);
            return -1;
        }
        char field[32];
        snprintf(field, sizeof field, "%.*s", (int)(k < 31 ? k : 31), p + 1);
        if (strcmp(field, "copy") == 0) cli_buf_printf(b, "%llu", (unsigned long long)copy);
        else if (strcmp(field, "subject") == 0) cli_buf_puts(b, s->subject);
        else if (strcmp(field, "session") == 0) cli_buf_puts(b, s->session);
        else if (strcmp(field, "stem") == 0) cli_buf_puts(b, s->stem);
        else if (strcmp(field, "dir") == 0) cli_buf_puts(b, s->dir);
        else if (strcmp(field, "prefix") == 0) cli_buf_puts(b, s->prefix);
        else if (strcmp(field, "modality") == 0 && modality) cli_buf_puts(b, modality);
        else {
            snprintf(bad, badlen, "{%s}", field);
            return -1;
        }
        p += k + 1;
    }
    return b->oom ? -1 : 0;
}

int ds_check_template(const ds_dataset *ds, const char *tmpl)
{
    if (!tmpl) return 0;
    const int has_modality = strstr(tmpl, "{modality}") != NULL;
    if (has_modality && ds->layout == DS_NNUNET) {
        MSG("--name '%s': {modality} is fixed by nnU-Net's layout (imagesTr/CASE_XXXX); name the case only\n", tmpl);
        return -1;
    }
    if (!strstr(tmpl, "{copy}")) {
        MSG("--name '%s' has no {copy}: the copies of a subject would overwrite each other\n", tmpl);
        return -1;
    }
    static const ds_subject probe = { .key = "k", .subject = "s", .session = "", .stem = "t", .dir = "", .prefix = "p" };
    cli_buf b = { 0 };
    char bad[64] = "";
    const int rc = expand(&b, tmpl, &probe, 0, has_modality ? "m" : NULL, bad, sizeof bad);
    cli_buf_free(&b);
    if (rc != 0)
        MSG("--name '%s': unknown field %s (fields: {subject} {session} {stem} {dir} {prefix} {copy} {modality})\n",
            tmpl, bad);
    return rc;
}

int ds_output_path(const ds_dataset *ds, const ds_subject *s, const char *tmpl, uint64_t copy, ds_out_kind kind,
                   int index, int compress, char *out, size_t len)
{
    if (!tmpl) tmpl = default_template(ds->layout);
    const char *ext = kind == DS_OUT_SIDECAR ? ".json" : compress ? ".nii.gz" : ".nii";
    const char *role = kind == DS_OUT_IMAGE ? s->img[index].role : kind == DS_OUT_LABEL ? s->lab[index].role : "draw";
    cli_buf b = { 0 };
    char bad[64];
    int rc = 0;
    if (strstr(tmpl, "{modality}")) { /* the template names each file */
        rc = expand(&b, tmpl, s, copy, role, bad, sizeof bad);
    } else if (ds->layout == DS_NNUNET) {
        cli_buf_puts(&b, kind == DS_OUT_IMAGE ? "imagesTr/" : kind == DS_OUT_LABEL ? "labelsTr/" : "draws/");
        rc = expand(&b, tmpl, s, copy, NULL, bad, sizeof bad);
        if (kind == DS_OUT_IMAGE) cli_buf_printf(&b, "_%s", role);
    } else if (ds->layout == DS_BIDS) {
        /* images beside the originals' place in the tree; label maps and sidecars as derivatives */
        if (kind != DS_OUT_IMAGE) cli_buf_puts(&b, "derivatives/voxaug/");
        if (s->dir[0]) cli_buf_printf(&b, "%s/", s->dir);
        rc = expand(&b, tmpl, s, copy, NULL, bad, sizeof bad);
        cli_buf_printf(&b, "_%s", role);
    } else {
        rc = expand(&b, tmpl, s, copy, NULL, bad, sizeof bad);
        if (kind == DS_OUT_IMAGE && s->nimg > 1) cli_buf_printf(&b, "_%s", role);
        if (kind == DS_OUT_LABEL) cli_buf_printf(&b, "_%s", role);
    }
    cli_buf_puts(&b, ext);
    if (rc == 0 && !b.oom && b.n < len) memcpy(out, b.s, b.n + 1);
    else rc = -1;
    cli_buf_free(&b);
    return rc;
}
