/*
 * vec_meta_legacy.c - the vector index's configuration as databases made
 * before the metadata record kept it: VECTORS_DIR/cli.conf, two text lines
 * "dim N" and "metric l2|cosine|ip". Read once by the CLI and the server,
 * which import it as the record (steme/vector_meta.h). Here, in the index
 * layer, because the rest of the record is the index's defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "steme/vector.h"
#include "steme/vector_meta.h"

int steme_vector_meta_read_legacy(const char *vectors_dir, steme_vector_meta *out,
                                  steme_error *err)
{
    static const char *const metric_names[] = {NULL, "l2", "cosine", "ip"};
    if (!vectors_dir || !out)
        return steme_err(err, STEME_E_INVALID, "vector meta: NULL argument");
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/cli.conf", vectors_dir) >= sizeof path)
        return steme_err(err, STEME_E_INVALID, "vector meta: directory path too long");
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return steme_err(err, STEME_E_NOTFOUND, "no %s", path);
        return steme_err(err, STEME_E_IO, "open %s: %s", path, strerror(errno));
    }
    char name[16];
    unsigned d = 0;
    int ok = fscanf(f, "dim %u\nmetric %15s", &d, name) == 2;
    struct stat st;
    uint64_t mtime = fstat(fileno(f), &st) == 0 && st.st_mtim.tv_sec > 0
                         ? (uint64_t)st.st_mtim.tv_sec * 1000u +
                               (uint64_t)st.st_mtim.tv_nsec / 1000000u
                         : 0;
    fclose(f);
    int metric = 0;
    for (int i = 1; i <= 3; i++)
        if (ok && strcmp(name, metric_names[i]) == 0)
            metric = i;
    if (!ok || metric == 0 || d == 0 || d > STEME_VECTOR_MAX_DIM)
        return STEME_CORRUPT(err, "%s is damaged (expected \"dim N\" and \"metric "
                             "l2|cosine|ip\")", path);
    steme_vector_options vo;
    steme_vector_options_init(&vo, d);
    *out = (steme_vector_meta){d, (steme_vector_metric)metric, vo.storage, vo.M,
                               vo.ef_construction, vo.ef_search, mtime};
    return STEME_OK;
}
