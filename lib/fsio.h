/*
 * fsio - the one seam for every durable write in facteur (DESIGN §2).
 *
 * Every write, fsync, directory fsync, create, rename, link and unlink
 * that a durability promise rests on goes through these functions, so
 * that (a) `strace` sees one obvious shape and (b) unit tests can inject
 * ENOSPC, EIO, short writes and a crash between any two steps, and read
 * back the order in which the steps happened.
 *
 * Each function returns 0 (or a descriptor / byte count) and sets errno
 * on failure, like the system call it wraps.  Descriptors are always
 * opened O_CLOEXEC.
 *
 * Renames: fsio_rename_noreplace() is the default and the only way a
 * queue file gets its name: it never replaces an existing entry.
 * fsio_rename() (plain rename(2), may replace) is allowed only when
 * replacing is impossible or intended by construction:
 *   - a same-id move of a queue file between two folders of one queue
 *     (one file system): an id embeds the inode of its file, so an entry
 *     of that name elsewhere in the queue can only be the same file;
 *   - replacing a file whose whole purpose is to be replaced atomically
 *     by a new version (a rewritten defer/ or bounce/ log, a pid file).
 * Never use it to give a new queue file its name, nor on a forced
 * (test) id.
 *
 * Test seam: fsio_hooks_set() installs a struct fsio_hooks that makes
 * chosen calls fail, makes writes short, simulates a crash, and records
 * every call.  This hook pointer is the one process-global mutable state
 * of fsio, allowed because it is a test seam: production code never
 * installs hooks, and with no hooks every call is a plain system call.
 * Hooks are not thread-safe (facteur has no threads).
 *
 * Counting: every system call attempt is one "call" (one step): a
 * fsio_write_all() that the kernel (or short_write) splits into three
 * write(2) calls counts as three FSIO_WRITE calls.  A directory fsync is
 * its own kind (FSIO_DIRSYNC), distinct from a file fsync.
 *
 * Never: retry a failed fsync (the kernel may have dropped the dirty
 * pages: the file is lost, report it), retry on anything but EINTR and
 * short writes, or replace a name in fsio_rename_noreplace().
 */
#ifndef FACTEUR_FSIO_H
#define FACTEUR_FSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/util.h"

/* Operation kinds, for fault injection and the call log. */
enum fsio_op {
	FSIO_OPEN,             /* openat(2) */
	FSIO_WRITE,            /* one write(2) */
	FSIO_PWRITE,           /* one pwrite(2) */
	FSIO_FSYNC,            /* fsync(2) of a file */
	FSIO_FDATASYNC,        /* fdatasync(2) of a file */
	FSIO_DIRSYNC,          /* fsync(2) of a directory */
	FSIO_MKDIR,            /* mkdirat(2) */
	FSIO_RENAME_NOREPLACE, /* renameat2(RENAME_NOREPLACE) */
	FSIO_RENAME,           /* renameat(2), may replace */
	FSIO_LINK,             /* linkat(2) */
	FSIO_UNLINK,           /* unlinkat(2) */
	FSIO_FUTIMENS,         /* futimens(2) */
	FSIO_TRUNCATE,         /* ftruncate(2) */
	FSIO_OP_COUNT
};

/* Short name of an op kind ("write", "dirsync", ...), for messages. */
const char *fsio_op_name(enum fsio_op op);

/* ---- durable writes ---- */

/*
 * openat(dirfd, path, flags | O_CLOEXEC, mode).  Returns the descriptor
 * (caller closes) or -1.
 */
FCT_MUST_CHECK int fsio_openat(
    int dirfd, const char *path, int flags, mode_t mode);

/*
 * Write all n bytes: loops over short writes and EINTR.  Returns 0, or -1
 * with errno (a write that makes no progress is EIO).  After -1 an
 * unknown prefix of the bytes may have been written.
 */
FCT_MUST_CHECK int fsio_write_all(int fd, const void *p, size_t n);
/* The same with pwrite(2) at off; the file offset is not used. */
FCT_MUST_CHECK int fsio_pwrite_all(
    int fd, const void *p, size_t n, uint64_t off);

/* fsync / fdatasync of a file; fsync of a directory descriptor. */
FCT_MUST_CHECK int fsio_fsync(int fd);
FCT_MUST_CHECK int fsio_fdatasync(int fd);
FCT_MUST_CHECK int fsio_fsync_dir(int dirfd);

/* mkdirat(dirfd, path, mode): the umask applies, as for mkdir(2). */
FCT_MUST_CHECK int fsio_mkdirat(int dirfd, const char *path, mode_t mode);

/*
 * Rename that never replaces: renameat2(RENAME_NOREPLACE); -1 with
 * EEXIST when newpath exists.  Where the file system answers EINVAL or
 * ENOSYS, falls back to linkat + unlinkat (a crash between the two
 * leaves the file under both names, never under neither).
 */
FCT_MUST_CHECK int fsio_rename_noreplace(
    int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
/* Plain renameat(2), which may replace: see the header comment. */
FCT_MUST_CHECK int fsio_rename(
    int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
FCT_MUST_CHECK int fsio_linkat(int olddirfd, const char *oldpath, int newdirfd,
    const char *newpath, int flags);
FCT_MUST_CHECK int fsio_unlinkat(int dirfd, const char *path, int flags);

/* futimens(2): qmgr keeps a deferred file's next attempt as its mtime. */
FCT_MUST_CHECK int fsio_futimens(int fd, const struct timespec times[2]);

/* ftruncate(2): a reused queue file (lib/queue_reuse.h) loses its tail. */
FCT_MUST_CHECK int fsio_ftruncate(int fd, uint64_t len);

/* ---- test seam ---- */

#define FSIO_PATH_LOG 96 /* path bytes kept per log entry (cut) */

/* One call as the log records it. */
struct fsio_event {
	enum fsio_op op;
	int fd;  /* the fd, or the (old) dirfd for path ops */
	int fd2; /* rename/link: new dirfd; open: the result; else -1 */
	char path[FSIO_PATH_LOG];  /* path ops: (old) path; else "" */
	char path2[FSIO_PATH_LOG]; /* rename/link: new path; else "" */
	uint64_t off;              /* write: file offset before; pwrite: off */
	size_t len;                /* write/pwrite: bytes asked for */
	size_t done;               /* write/pwrite: bytes written */
	int err;                   /* 0, or the errno the call failed with */
	bool injected; /* err came from the hooks, nothing was done */
};

#define FSIO_FAULTS 4

/* Fail the nth (1-based) call of kind op with errno err; nth 0 = off. */
struct fsio_fault {
	enum fsio_op op;
	unsigned nth;
	int err;
};

/*
 * Test hooks.  The test owns this struct (and the log array) and keeps
 * them alive while installed.  Zero it, set what it wants, install it.
 */
struct fsio_hooks {
	/* set by the test */
	struct fsio_fault fault[FSIO_FAULTS];
	size_t short_write;     /* > 0: a write/pwrite moves at most this */
	unsigned crash_at;      /* > 0: that call (1-based step) and every
	                           later one fail with EIO and do nothing */
	struct fsio_event *log; /* may be NULL */
	size_t log_cap;
	/* filled by fsio */
	unsigned calls;                /* steps so far, all kinds */
	unsigned count[FSIO_OP_COUNT]; /* calls so far per kind */
	size_t log_len;                /* entries in log (<= log_cap) */
	size_t log_lost;               /* entries that did not fit */
	bool crashed;
};

/* Install hooks (borrowed), or remove them with NULL. */
void fsio_hooks_set(struct fsio_hooks *h);
struct fsio_hooks *fsio_hooks_get(void);

#endif
