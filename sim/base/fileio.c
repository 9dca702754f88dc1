#include "base/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *cs_file_read(const char *path, size_t limit, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    int err = buf ? 0 : ENOMEM;
    while (!err && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
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
    if (!err && ferror(f))
        err = EIO;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
