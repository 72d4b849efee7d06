/*
 * faultfs: an LD_PRELOAD shim that makes the journal's storage fail on
 * demand, for tests/storage.rs. It interposes fsync/fdatasync and
 * write/pwrite/pwrite64 (the calls SQLite's unix VFS makes) and fails them
 * only for files whose path contains $FAULTFS_MATCH, and only while the
 * control file $FAULTFS_CONTROL holds one of:
 *
 *   fsync   fsync and fdatasync fail with EIO (SQLITE_IOERR_FSYNC)
 *   eio     writes fail with EIO (SQLITE_IOERR_WRITE)
 *   erofs   writes fail with EROFS (a file system gone read-only)
 *   enospc  writes fail with ENOSPC (SQLITE_FULL)
 *
 * Anything else (or no control file) passes every call through. Test-only:
 * never part of the service.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef int (*sync_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

/* The fault the control file names now, or "" for none. */
static void current_fault(char *out, size_t len) {
    out[0] = '\0';
    const char *ctl = getenv("FAULTFS_CONTROL");
    if (!ctl) return;
    int fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0) { out[0] = '\0'; return; }
    out[n] = '\0';
    for (ssize_t i = 0; i < n; i++) {
        if (out[i] == '\n' || out[i] == ' ') { out[i] = '\0'; break; }
    }
}

static int is_target(int fd) {
    const char *match = getenv("FAULTFS_MATCH");
    if (!match || !*match) return 0;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = '\0';
    return strstr(target, match) != NULL;
}

/* The errno a call of this class should fail with, or 0. */
static int injected(int fd, int is_sync) {
    char fault[32];
    current_fault(fault, sizeof fault);
    if (!fault[0] || !is_target(fd)) return 0;
    if (is_sync) return strcmp(fault, "fsync") == 0 ? EIO : 0;
    if (strcmp(fault, "eio") == 0) return EIO;
    if (strcmp(fault, "erofs") == 0) return EROFS;
    if (strcmp(fault, "enospc") == 0) return ENOSPC;
    return 0;
}

int fsync(int fd) {
    static sync_fn real;
    if (!real) real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    int e = injected(fd, 1);
    if (e) { errno = e; return -1; }
    return real(fd);
}

int fdatasync(int fd) {
    static sync_fn real;
    if (!real) real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    int e = injected(fd, 1);
    if (e) { errno = e; return -1; }
    return real(fd);
}

ssize_t write(int fd, const void *buf, size_t count) {
    static write_fn real;
    if (!real) real = (write_fn)dlsym(RTLD_NEXT, "write");
    int e = injected(fd, 0);
    if (e) { errno = e; return -1; }
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    static pwrite_fn real;
    if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    int e = injected(fd, 0);
    if (e) { errno = e; return -1; }
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    static pwrite_fn real;
    if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
    int e = injected(fd, 0);
    if (e) { errno = e; return -1; }
    return real(fd, buf, count, offset);
}
