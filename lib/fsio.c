/*
 * fsio - durable-write system calls behind one seam, with test hooks.
 *
 * With no hooks installed each function is its system call plus the
 * EINTR / short-write loop.  With hooks, every system call attempt first
 * asks hook_enter() whether to fail (injected fault or simulated crash)
 * and is then recorded by hook_log().
 *
 * Never: log (callers decide what an error means), allocate, or touch a
 * descriptor or path after a simulated crash.
 */
#include "lib/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The test seam: see fsio.h.  NULL in every production process. */
static struct fsio_hooks *hooks;

static const char *const op_names[FSIO_OP_COUNT] = {
    [FSIO_OPEN] = "open",
    [FSIO_WRITE] = "write",
    [FSIO_PWRITE] = "pwrite",
    [FSIO_FSYNC] = "fsync",
    [FSIO_FDATASYNC] = "fdatasync",
    [FSIO_DIRSYNC] = "dirsync",
    [FSIO_MKDIR] = "mkdir",
    [FSIO_RENAME_NOREPLACE] = "rename_noreplace",
    [FSIO_RENAME] = "rename",
    [FSIO_LINK] = "link",
    [FSIO_UNLINK] = "unlink",
    [FSIO_FUTIMENS] = "futimens",
    [FSIO_TRUNCATE] = "truncate",
};

const char *
fsio_op_name(enum fsio_op op)
{
	if ((unsigned)op >= FSIO_OP_COUNT)
		return "?";
	return op_names[op];
}

void
fsio_hooks_set(struct fsio_hooks *h)
{
	hooks = h;
}

struct fsio_hooks *
fsio_hooks_get(void)
{
	return hooks;
}

/*
 * Count one call of kind op.  Returns 0 to go ahead, or the errno with
 * which the call must fail without doing anything.
 */
static int
hook_enter(enum fsio_op op)
{
	if (hooks == NULL)
		return 0;
	hooks->calls++;
	hooks->count[op]++;
	if (hooks->crashed)
		return EIO;
	if (hooks->crash_at > 0 && hooks->calls >= hooks->crash_at) {
		hooks->crashed = true;
		return EIO;
	}
	for (size_t i = 0; i < FSIO_FAULTS; i++) {
		const struct fsio_fault *f = &hooks->fault[i];
		if (f->nth > 0 && f->op == op && f->nth == hooks->count[op])
			return f->err != 0 ? f->err : EIO;
	}
	return 0;
}

static void
copy_path(char *dst, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return;
	}
	size_t n = strlen(src);
	if (n >= FSIO_PATH_LOG)
		n = FSIO_PATH_LOG - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A fresh event for a call of kind op. */
static struct fsio_event
ev_init(enum fsio_op op, int fd, const char *path)
{
	struct fsio_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.op = op;
	ev.fd = fd;
	ev.fd2 = -1;
	copy_path(ev.path, path);
	return ev;
}

static void
hook_log(const struct fsio_event *ev)
{
	if (hooks == NULL)
		return;
	if (hooks->log == NULL || hooks->log_len >= hooks->log_cap) {
		hooks->log_lost++;
		return;
	}
	hooks->log[hooks->log_len++] = *ev;
}

/*
 * Finish a call: record it, and turn an injected errno into -1/errno.
 * rc is the system call's result (ignored when injected).
 */
static int
hook_done(struct fsio_event *ev, int injected, int rc)
{
	if (injected != 0) {
		ev->err = injected;
		ev->injected = true;
		hook_log(ev);
		errno = injected;
		return -1;
	}
	int saved = errno;
	ev->err = rc < 0 ? saved : 0;
	hook_log(ev);
	errno = saved;
	return rc;
}

int
fsio_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct fsio_event ev = ev_init(FSIO_OPEN, dirfd, path);
	int inj = hook_enter(FSIO_OPEN);
	int fd = -1;

	if (inj == 0)
		fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
	ev.fd2 = fd;
	return hook_done(&ev, inj, fd);
}

/*
 * One write(2) or pwrite(2) of at most n bytes (short_write may cut it).
 * Returns bytes written or -1/errno.
 */
static ssize_t
write_once(int fd, const uint8_t *p, size_t n, bool positional, uint64_t off)
{
	enum fsio_op op = positional ? FSIO_PWRITE : FSIO_WRITE;
	struct fsio_event ev = ev_init(op, fd, NULL);
	int inj = hook_enter(op);
	ssize_t w = -1;

	if (hooks != NULL && hooks->short_write > 0 && n > hooks->short_write)
		n = hooks->short_write;
	ev.len = n;
	if (positional) {
		ev.off = off;
	} else if (hooks != NULL) {
		off_t cur = lseek(fd, 0, SEEK_CUR);
		ev.off = cur < 0 ? 0 : (uint64_t)cur;
	}
	if (inj == 0) {
		if (positional)
			w = pwrite(fd, p, n, (off_t)off);
		else
			w = write(fd, p, n);
	}
	ev.done = w > 0 ? (size_t)w : 0;
	if (hook_done(&ev, inj, w < 0 ? -1 : 0) < 0)
		return -1;
	return w;
}

static int
write_loop(int fd, const void *p, size_t n, bool positional, uint64_t off)
{
	const uint8_t *b = p;

	if (positional && off > (uint64_t)INT64_MAX - n) {
		errno = EFBIG;
		return -1;
	}
	while (n > 0) {
		ssize_t w = write_once(fd, b, n, positional, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			/* No progress and no error: never spin. */
			errno = EIO;
			return -1;
		}
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int
fsio_write_all(int fd, const void *p, size_t n)
{
	return write_loop(fd, p, n, false, 0);
}

int
fsio_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	return write_loop(fd, p, n, true, off);
}

static int
sync_call(enum fsio_op op, int fd)
{
	struct fsio_event ev = ev_init(op, fd, NULL);
	int inj = hook_enter(op);
	int rc = -1;

	if (inj == 0)
		rc = op == FSIO_FDATASYNC ? fdatasync(fd) : fsync(fd);
	return hook_done(&ev, inj, rc);
}

int
fsio_fsync(int fd)
{
	return sync_call(FSIO_FSYNC, fd);
}

int
fsio_fdatasync(int fd)
{
	return sync_call(FSIO_FDATASYNC, fd);
}

int
fsio_fsync_dir(int dirfd)
{
	return sync_call(FSIO_DIRSYNC, dirfd);
}

int
fsio_mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct fsio_event ev = ev_init(FSIO_MKDIR, dirfd, path);
	int inj = hook_enter(FSIO_MKDIR);
	int rc = -1;

	if (inj == 0)
		rc = mkdirat(dirfd, path, mode);
	return hook_done(&ev, inj, rc);
}

/* A two-path call (rename, link) of kind op. */
static int
two_path_call(enum fsio_op op, int olddirfd, const char *oldpath, int newdirfd,
    const char *newpath, int flags)
{
	struct fsio_event ev = ev_init(op, olddirfd, oldpath);
	int inj = hook_enter(op);
	int rc = -1;

	ev.fd2 = newdirfd;
	copy_path(ev.path2, newpath);
	if (inj == 0) {
		switch (op) {
		case FSIO_RENAME_NOREPLACE:
			rc = renameat2(olddirfd, oldpath, newdirfd, newpath,
			    RENAME_NOREPLACE);
			break;
		case FSIO_RENAME:
			rc = renameat(olddirfd, oldpath, newdirfd, newpath);
			break;
		case FSIO_LINK:
			rc =
			    linkat(olddirfd, oldpath, newdirfd, newpath, flags);
			break;
		default:
			FCT_ASSERT(!"two_path_call: bad op");
		}
	}
	return hook_done(&ev, inj, rc);
}

int
fsio_rename_noreplace(
    int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (two_path_call(FSIO_RENAME_NOREPLACE, olddirfd, oldpath, newdirfd,
	        newpath, 0) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/*
	 * The file system cannot do RENAME_NOREPLACE.  link(2) fails with
	 * EEXIST rather than replace, so link then unlink is the same
	 * promise with a window where both names exist.  If the unlink
	 * fails, take the new name back so the caller sees one name.
	 */
	if (fsio_linkat(olddirfd, oldpath, newdirfd, newpath, 0) < 0)
		return -1;
	if (fsio_unlinkat(olddirfd, oldpath, 0) == 0)
		return 0;
	int saved = errno;
	if (fsio_unlinkat(newdirfd, newpath, 0) < 0) {
		/*
		 * Both names stay.  The caller still hears the first error;
		 * a stale tmp/ name is swept by qmgr.
		 */
	}
	errno = saved;
	return -1;
}

int
fsio_rename(
    int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return two_path_call(
	    FSIO_RENAME, olddirfd, oldpath, newdirfd, newpath, 0);
}

int
fsio_linkat(int olddirfd, const char *oldpath, int newdirfd,
    const char *newpath, int flags)
{
	return two_path_call(
	    FSIO_LINK, olddirfd, oldpath, newdirfd, newpath, flags);
}

int
fsio_unlinkat(int dirfd, const char *path, int flags)
{
	struct fsio_event ev = ev_init(FSIO_UNLINK, dirfd, path);
	int inj = hook_enter(FSIO_UNLINK);
	int rc = -1;

	if (inj == 0)
		rc = unlinkat(dirfd, path, flags);
	return hook_done(&ev, inj, rc);
}

int
fsio_futimens(int fd, const struct timespec times[2])
{
	struct fsio_event ev = ev_init(FSIO_FUTIMENS, fd, NULL);
	int inj = hook_enter(FSIO_FUTIMENS);
	int rc = -1;

	if (inj == 0)
		rc = futimens(fd, times);
	return hook_done(&ev, inj, rc);
}

int
fsio_ftruncate(int fd, uint64_t len)
{
	struct fsio_event ev = ev_init(FSIO_TRUNCATE, fd, NULL);
	int inj = hook_enter(FSIO_TRUNCATE);
	int rc = -1;

	if (inj == 0) {
		if (len > (uint64_t)INT64_MAX) {
			errno = EFBIG;
		} else {
			rc = ftruncate(fd, (off_t)len);
		}
	}
	return hook_done(&ev, inj, rc);
}
