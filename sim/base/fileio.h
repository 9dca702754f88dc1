/* fileio: whole-file reads with a size limit.
 *
 * Readers of files we did not write (a scenario, a sweep.csv to resume or
 * merge, a measured nccl-tests run) must not grow without bound when pointed
 * at something endless, nor block on a FIFO: only regular files are read. */
#ifndef CS_BASE_FILEIO_H
#define CS_BASE_FILEIO_H

#include <stddef.h>

/* Reads the regular file at path into a malloc'd, NUL-terminated buffer and
 * its length into *len. NULL with errno set when it cannot be opened or
 * read, EFBIG when it holds more than `limit` bytes, EINVAL when it is not a
 * regular file (a FIFO, a device), EISDIR for a directory, ENOMEM when out
 * of memory. */
char *cs_file_read(const char *path, size_t limit, size_t *len);

/* Writing a file whole or not at all: cs_file_temp() creates a new file
 * next to `path` (same folder, ".NAME.XXXXXX", made by mkstemp: never an
 * existing file or a link planted there) and writes its name to tmp;
 * cs_file_commit() closes it and renames it over path when ok, else removes
 * it. Both return NULL / -1 with errno set. */
#include <stdio.h>
FILE *cs_file_temp(const char *path, char *tmp, size_t size);
int cs_file_commit(FILE *f, const char *tmp, const char *path, int ok);

/* What an errno of cs_file_read means, for messages: "not a regular file"
 * for EINVAL, "larger than N MiB" for EFBIG (N from limit), else strerror. */
const char *cs_file_error(int err, size_t limit, char *buf, size_t len);

#endif
