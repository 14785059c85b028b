/* fsutil.c - durable file operations (see fsutil.h). */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static int io_err(steme_error *err, const char *what, const char *path)
{
    int e = errno;
    return steme_err(err, e == ENOSPC ? STEME_E_FULL : STEME_E_IO, "%s %s: %s", what, path,
                     strerror(e));
}

char *steme_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int steme_mkdirs(const char *path, int private_mode, steme_error *err)
{
    if (!path || !*path)
        return steme_err(err, STEME_E_INVALID, "mkdir: empty path");
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return steme_err(err, STEME_E_NOMEM, "mkdir: out of memory");
    memcpy(p, path, n + 1);
    mode_t mode = private_mode ? 0700 : 0755;
    int rc = STEME_OK;
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            rc = io_err(err, "mkdir", p);
            break;
        }
        p[i] = c;
    }
    if (rc == STEME_OK) {
        struct stat st;
        if (stat(path, &st) != 0)
            rc = io_err(err, "stat", path);
        else if (!S_ISDIR(st.st_mode))
            rc = steme_err(err, STEME_E_INVALID, "%s exists and is not a directory", path);
    }
    free(p);
    return rc;
}

int steme_fsync_dir(const char *dir, steme_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_err(err, "open directory", dir);
    int rc = STEME_OK;
    if (fsync(fd) != 0)
        rc = io_err(err, "fsync directory", dir);
    close(fd);
    return rc;
}

int steme_write_file_atomic(const char *path, const void *data, size_t len, int private_mode,
                            steme_error *err)
{
    if (!path || (!data && len))
        return steme_err(err, STEME_E_INVALID, "write file: NULL argument");
    int rc = STEME_OK, fd = -1;
    char *tmp = NULL, *dir = NULL;
    size_t n = strlen(path);
    tmp = malloc(n + 5);
    dir = malloc(n + 2);
    if (!tmp || !dir) {
        rc = steme_err(err, STEME_E_NOMEM, "write file: out of memory");
        goto done;
    }
    snprintf(tmp, n + 5, "%s.tmp", path);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash == dir ? (void)(dir[1] = '\0') : (void)(*slash = '\0');
    else
        strcpy(dir, ".");

    /* A stale temp file from a crash is removed, then the new one is created
     * exclusively and without following links, so it always gets our mode
     * and never writes through a planted symlink. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              private_mode ? 0600 : 0644);
    if (fd < 0) {
        rc = io_err(err, "create", tmp);
        goto done;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = io_err(err, "write", tmp);
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = io_err(err, "fsync", tmp);
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = io_err(err, "close", tmp);
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = io_err(err, "rename", tmp);
        goto done;
    }
    rc = steme_fsync_dir(dir, err);
done:
    if (fd >= 0)
        close(fd);
    if (rc != STEME_OK && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

int steme_read_file(const char *path, size_t max, uint8_t **data, size_t *len, steme_error *err)
{
    if (!path || !data || !len)
        return steme_err(err, STEME_E_INVALID, "read file: NULL argument");
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return steme_err(err, STEME_E_NOTFOUND, "%s does not exist", path);
        return io_err(err, "open", path);
    }
    int rc = STEME_OK;
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = io_err(err, "stat", path);
        goto done;
    }
    if ((uint64_t)st.st_size > max) {
        rc = steme_err(err, STEME_E_TOO_BIG, "%s: %lld bytes, more than %zu", path,
                       (long long)st.st_size, max);
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size ? size : 1);
    if (!buf) {
        rc = steme_err(err, STEME_E_NOMEM, "read %s: out of memory", path);
        goto done;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_err(err, "read", path);
            goto done;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *data = buf;
    *len = got;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return rc;
}
