#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading if it is a regular file, without blocking on a
 * FIFO (O_NONBLOCK, then checked with fstat). Returns the descriptor or -1. */
static int open_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    int err = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR
                                         : !S_ISREG(st.st_mode) ? EINVAL
                                                                : 0;
    if (!err && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        err = errno;
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

char *cs_file_read(const char *path, size_t limit, size_t *len)
{
    int fd = open_regular(path);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    int err = buf ? 0 : ENOMEM;
    while (!err) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0) {
            if (errno != EINTR)
                err = errno;
            continue;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > limit) {
            err = EFBIG;
        } else if (n == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (b) {
                buf = b;
                cap *= 2;
            } else {
                err = ENOMEM;
            }
        }
    }
    close(fd);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *cs_file_error(int err, size_t limit, char *buf, size_t len)
{
    if (err == EINVAL)
        return "not a regular file";
    if (err == EFBIG) {
        snprintf(buf, len, "larger than %zu MiB", limit >> 20);
        return buf;
    }
    return strerror(err);
}

FILE *cs_file_temp(const char *path, char *tmp, size_t size)
{
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) + 1 : 0;
    if (snprintf(tmp, size, "%.*s.%s.XXXXXX", dir, path, path + dir) >= (int)size) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(tmp);
    if (fd < 0)
        return NULL;
    /* mkstemp makes it 0600; give it what fopen would have: 0666 less the
     * umask (read and put back; the writers of temporaries run on the main
     * thread). */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        int err = errno;
        close(fd);
        remove(tmp);
        errno = err;
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int err = errno;
        close(fd);
        remove(tmp);
        errno = err;
    }
    return f;
}

int cs_file_commit(FILE *f, const char *tmp, const char *path, int ok)
{
    int closed = f ? fclose(f) : 0;
    if (ok && closed == 0 && rename(tmp, path) == 0)
        return 0;
    int err = errno;
    remove(tmp);
    errno = err;
    return -1;
}
