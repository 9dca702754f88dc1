/* fileio: whole-file reads with a size limit.
 *
 * Readers of files we did not write (a sweep.csv to resume or merge) must
 * not grow without bound when pointed at something endless. */
#ifndef CS_BASE_FILEIO_H
#define CS_BASE_FILEIO_H

#include <stddef.h>

/* Reads the file at path into a malloc'd, NUL-terminated buffer and its
 * length into *len. NULL with errno set when it cannot be opened or read,
 * EFBIG when it holds more than `limit` bytes, ENOMEM when out of memory. */
char *cs_file_read(const char *path, size_t limit, size_t *len);

#endif
