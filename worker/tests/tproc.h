/*
 * Process and file peeks for the worker's unit tests that watch the exec
 * spawner and its programs through /proc.
 */

#ifndef TGW_TPROC_H
#define TGW_TPROC_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* Reads up to size - 1 bytes of file path into buf, NUL-terminated:
 * the byte count, or -1 when the file cannot be opened. */
static inline long
tproc_read(const char *path, char *buf, size_t size)
{
    FILE   *f;
    size_t  n;

    buf[0] = '\0';
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long) n;
}

/* The state letter of process pid ("R", "S", "T", "Z"...), 0 if gone. */
static inline char
tproc_state(pid_t pid)
{
    char  path[64], buf[512], *p;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
    if (tproc_read(path, buf, sizeof(buf)) < 0) {
        return 0;
    }
    p = strrchr(buf, ')');
    return (char) (p != NULL && p[1] == ' ' ? p[2] : '\0');
}

#endif /* TGW_TPROC_H */
