/*
 * test_fsio - the durable-write seam: plain calls, short writes, EINTR,
 * injected faults, simulated crash, the call log, and the RENAME_NOREPLACE
 * fallback.  Works in a real folder under /var/tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/util.h"

struct fx {
	char dir[64];
	int dfd;
	struct fsio_hooks h;
	struct fsio_event log[256];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/var/tmp/facteur-fsio-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dfd < 0)
		return -1;
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fsio_hooks_set(NULL);
	close(f->dfd);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Whole content of dir/name into buf; returns the length or -1. */
static ssize_t
slurp(int dfd, const char *name, char *buf, size_t cap)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap);
	close(fd);
	return n;
}

static bool
exists(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
test_plain_calls(void **state)
{
	struct fx *f = *state;
	char buf[64];
	int fd;

	fd = fsio_openat(f->dfd, "a", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fsio_write_all(fd, "hello world", 11), 0);
	assert_int_equal(fsio_pwrite_all(fd, "W", 1, 6), 0);
	assert_int_equal(fsio_write_all(fd, "", 0), 0);
	assert_int_equal(fsio_fsync(fd), 0);
	assert_int_equal(fsio_fdatasync(fd), 0);
	assert_int_equal(fsio_fsync_dir(f->dfd), 0);
	struct timespec ts[2] = {{1000, 0}, {2000, 0}};
	assert_int_equal(fsio_futimens(fd, ts), 0);
	close(fd);
	assert_int_equal(slurp(f->dfd, "a", buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello World", 11);
	struct stat st;
	assert_int_equal(fstatat(f->dfd, "a", &st, 0), 0);
	assert_int_equal(st.st_mtime, 2000);

	assert_int_equal(fsio_mkdirat(f->dfd, "d", 0700), 0);
	assert_int_equal(fsio_mkdirat(f->dfd, "d", 0700), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(fsio_linkat(f->dfd, "a", f->dfd, "b", 0), 0);
	assert_int_equal(fsio_rename(f->dfd, "b", f->dfd, "d/c"), 0);
	assert_true(exists(f->dfd, "d/c"));
	assert_int_equal(fsio_unlinkat(f->dfd, "d/c", 0), 0);
	assert_int_equal(fsio_unlinkat(f->dfd, "d", AT_REMOVEDIR), 0);
	assert_int_equal(fsio_unlinkat(f->dfd, "nope", 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(fsio_op_name(FSIO_DIRSYNC), "dirsync");
	assert_string_equal(fsio_op_name(FSIO_OP_COUNT), "?");
}

static void
test_rename_noreplace(void **state)
{
	struct fx *f = *state;
	char buf[16];
	int fd;

	for (int i = 0; i < 2; i++) {
		fd = fsio_openat(f->dfd, i ? "new" : "old",
		    O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(fsio_write_all(fd, i ? "NEW" : "OLD", 3), 0);
		close(fd);
	}
	assert_int_equal(
	    fsio_rename_noreplace(f->dfd, "old", f->dfd, "new"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(slurp(f->dfd, "new", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "NEW", 3);
	assert_true(exists(f->dfd, "old"));
	assert_int_equal(fsio_rename_noreplace(f->dfd, "old", f->dfd, "x"), 0);
	assert_false(exists(f->dfd, "old"));
	assert_int_equal(slurp(f->dfd, "x", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "OLD", 3);
}

/* EINVAL/ENOSYS from renameat2: link + unlink, still never replacing. */
static void
test_rename_fallback(void **state)
{
	static const int errs[] = {EINVAL, ENOSYS};
	struct fx *f = *state;
	char buf[16];

	for (size_t i = 0; i < FCT_NELEM(errs); i++) {
		int fd = fsio_openat(f->dfd, "src", O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(fsio_write_all(fd, "SRC", 3), 0);
		close(fd);
		fd = fsio_openat(f->dfd, "taken", O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(fsio_write_all(fd, "TAKEN", 5), 0);
		close(fd);

		memset(&f->h, 0, sizeof(f->h));
		f->h.log = f->log;
		f->h.log_cap = FCT_NELEM(f->log);
		f->h.fault[0] =
		    (struct fsio_fault){FSIO_RENAME_NOREPLACE, 1, errs[i]};
		f->h.fault[1] =
		    (struct fsio_fault){FSIO_RENAME_NOREPLACE, 2, errs[i]};
		fsio_hooks_set(&f->h);
		assert_int_equal(
		    fsio_rename_noreplace(f->dfd, "src", f->dfd, "taken"), -1);
		assert_int_equal(errno, EEXIST);
		assert_int_equal(slurp(f->dfd, "taken", buf, sizeof(buf)), 5);
		assert_true(exists(f->dfd, "src"));
		assert_int_equal(
		    fsio_rename_noreplace(f->dfd, "src", f->dfd, "dst"), 0);
		fsio_hooks_set(NULL);
		assert_false(exists(f->dfd, "src"));
		assert_int_equal(slurp(f->dfd, "dst", buf, sizeof(buf)), 3);
		assert_memory_equal(buf, "SRC", 3);
		/* rename(inj), link(EEXIST), rename(inj), link, unlink */
		assert_int_equal(f->h.log_len, 5);
		assert_int_equal(f->h.log[0].op, FSIO_RENAME_NOREPLACE);
		assert_true(f->h.log[0].injected);
		assert_int_equal(f->h.log[1].op, FSIO_LINK);
		assert_int_equal(f->h.log[1].err, EEXIST);
		assert_int_equal(f->h.log[3].op, FSIO_LINK);
		assert_int_equal(f->h.log[3].err, 0);
		assert_int_equal(f->h.log[4].op, FSIO_UNLINK);
		assert_string_equal(f->h.log[4].path, "src");
		assert_int_equal(fsio_unlinkat(f->dfd, "dst", 0), 0);
		assert_int_equal(fsio_unlinkat(f->dfd, "taken", 0), 0);
	}
	/* The old name cannot be removed: the new one is taken back. */
	int fd = fsio_openat(f->dfd, "src", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	memset(&f->h, 0, sizeof(f->h));
	f->h.fault[0] = (struct fsio_fault){FSIO_RENAME_NOREPLACE, 1, EINVAL};
	f->h.fault[1] = (struct fsio_fault){FSIO_UNLINK, 1, EROFS};
	fsio_hooks_set(&f->h);
	assert_int_equal(
	    fsio_rename_noreplace(f->dfd, "src", f->dfd, "dst"), -1);
	assert_int_equal(errno, EROFS);
	fsio_hooks_set(NULL);
	assert_true(exists(f->dfd, "src"));
	assert_false(exists(f->dfd, "dst"));
	assert_int_equal(f->h.count[FSIO_UNLINK], 2);
}

/* Short writes of every size from 1 to past the data: same bytes. */
static void
test_short_writes(void **state)
{
	struct fx *f = *state;
	char data[300], buf[600];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + (i >> 3));
	for (size_t sw = 1; sw <= sizeof(data) + 1; sw += (sw < 20 ? 1 : 37)) {
		memset(&f->h, 0, sizeof(f->h));
		f->h.short_write = sw;
		fsio_hooks_set(&f->h);
		int fd =
		    fsio_openat(f->dfd, "s", O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(fsio_write_all(fd, data, sizeof(data)), 0);
		assert_int_equal(
		    fsio_pwrite_all(fd, data, sizeof(data), sizeof(data)), 0);
		fsio_hooks_set(NULL);
		close(fd);
		size_t calls = (sizeof(data) + sw - 1) / sw;
		assert_int_equal(f->h.count[FSIO_WRITE], calls);
		assert_int_equal(f->h.count[FSIO_PWRITE], calls);
		assert_int_equal(
		    slurp(f->dfd, "s", buf, sizeof(buf)), 2 * sizeof(data));
		assert_memory_equal(buf, data, sizeof(data));
		assert_memory_equal(buf + sizeof(data), data, sizeof(data));
	}
}

/* Injected faults, table-driven: the nth call of a kind fails. */
static void
test_faults(void **state)
{
	static const struct {
		const char *name;
		enum fsio_op op;
		unsigned nth;
		int err;
		int want; /* 0 or the errno write_all reports */
		size_t want_bytes;
	} cases[] = {
	    {"ENOSPC first write", FSIO_WRITE, 1, ENOSPC, ENOSPC, 0},
	    {"ENOSPC third write", FSIO_WRITE, 3, ENOSPC, ENOSPC, 20},
	    {"EIO second write", FSIO_WRITE, 2, EIO, EIO, 10},
	    {"EDQUOT", FSIO_WRITE, 1, EDQUOT, EDQUOT, 0},
	    {"EINTR is retried", FSIO_WRITE, 2, EINTR, 0, 40},
	    {"fault on other kind", FSIO_PWRITE, 1, EIO, 0, 40},
	    {"nth past the calls", FSIO_WRITE, 5, EIO, 0, 40},
	};
	struct fx *f = *state;
	char data[40], buf[64];

	memset(data, 'x', sizeof(data));
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		int fd = fsio_openat(
		    f->dfd, "f", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		memset(&f->h, 0, sizeof(f->h));
		f->h.short_write = 10;
		f->h.fault[2] = (struct fsio_fault){
		    cases[i].op, cases[i].nth, cases[i].err};
		fsio_hooks_set(&f->h);
		int rc = fsio_write_all(fd, data, sizeof(data));
		int e = errno;
		fsio_hooks_set(NULL);
		close(fd);
		if (cases[i].want == 0) {
			if (rc != 0)
				fail_msg("%s: failed (%s)", cases[i].name,
				    strerror(e));
		} else if (rc != -1 || e != cases[i].want) {
			fail_msg("%s: rc %d errno %d", cases[i].name, rc, e);
		}
		ssize_t n = slurp(f->dfd, "f", buf, sizeof(buf));
		if (n != (ssize_t)cases[i].want_bytes)
			fail_msg("%s: %zd bytes on disk", cases[i].name, n);
	}
}

/* Faults on fsync, dirsync, open, mkdir, unlink report their errno. */
static void
test_faults_other_kinds(void **state)
{
	struct fx *f = *state;
	int fd;

	memset(&f->h, 0, sizeof(f->h));
	f->h.fault[0] = (struct fsio_fault){FSIO_FSYNC, 1, EIO};
	f->h.fault[1] = (struct fsio_fault){FSIO_DIRSYNC, 1, EIO};
	f->h.fault[2] = (struct fsio_fault){FSIO_OPEN, 1, ENOSPC};
	f->h.fault[3] = (struct fsio_fault){FSIO_MKDIR, 1, EDQUOT};
	fsio_hooks_set(&f->h);
	assert_int_equal(
	    fsio_openat(f->dfd, "g", O_WRONLY | O_CREAT, 0600), -1);
	assert_int_equal(errno, ENOSPC);
	assert_false(exists(f->dfd, "g"));
	fd = fsio_openat(f->dfd, "g", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fsio_fsync(fd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(fsio_fsync(fd), 0);
	assert_int_equal(fsio_fsync_dir(f->dfd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(fsio_fsync_dir(f->dfd), 0);
	assert_int_equal(fsio_mkdirat(f->dfd, "m", 0700), -1);
	assert_int_equal(errno, EDQUOT);
	assert_false(exists(f->dfd, "m"));
	fsio_hooks_set(NULL);
	close(fd);
	assert_int_equal(f->h.count[FSIO_FSYNC], 2);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 2);
	assert_int_equal(f->h.count[FSIO_OPEN], 2);
	assert_int_equal(f->h.calls, 7);
}

/*
 * Crash at step N: that call and every later one fail with EIO and
 * change nothing.
 */
static void
test_crash(void **state)
{
	struct fx *f = *state;
	char buf[16];

	for (unsigned n = 1; n <= 6; n++) {
		memset(&f->h, 0, sizeof(f->h));
		f->h.log = f->log;
		f->h.log_cap = FCT_NELEM(f->log);
		f->h.crash_at = n;
		fsio_hooks_set(&f->h);
		/* 1 open, 2 write, 3 fsync, 4 rename, 5 dirsync */
		int fd =
		    fsio_openat(f->dfd, "t", O_WRONLY | O_CREAT | O_EXCL, 0600);
		int w = fd >= 0 ? fsio_write_all(fd, "data", 4) : -1;
		int s = fd >= 0 ? fsio_fsync(fd) : -1;
		int r = fsio_rename_noreplace(f->dfd, "t", f->dfd, "final");
		int d = fsio_fsync_dir(f->dfd);
		int u = fsio_unlinkat(f->dfd, "final", 0);
		fsio_hooks_set(NULL);
		assert_int_equal(f->h.crashed, n <= 6);
		assert_int_equal(fd >= 0, n > 1);
		assert_int_equal(w, n > 2 ? 0 : -1);
		assert_int_equal(s, n > 3 ? 0 : -1);
		assert_int_equal(r, n > 4 ? 0 : -1);
		assert_int_equal(d, n > 5 ? 0 : -1);
		assert_int_equal(u, -1);
		assert_int_equal(errno, EIO);
		/* Nothing happened after the crash. */
		assert_int_equal(exists(f->dfd, "t"), n > 1 && n <= 4);
		assert_int_equal(exists(f->dfd, "final"), n > 4);
		if (n > 4) {
			assert_int_equal(slurp(f->dfd, "final", buf, 16), 4);
		}
		/* Every call is logged; those from the crash on as injected. */
		for (size_t i = 0; i < f->h.log_len; i++)
			assert_int_equal(f->h.log[i].injected, i + 1 >= n);
		if (fd >= 0)
			close(fd);
		/* Clean up whichever name is left; one of them is gone. */
		(void)unlinkat(f->dfd, "t", 0);
		(void)unlinkat(f->dfd, "final", 0);
	}
}

/* The log keeps kind, fds, paths, offsets; past its cap it counts. */
static void
test_log(void **state)
{
	struct fx *f = *state;
	struct fsio_event small[3];
	int fd;

	memset(&f->h, 0, sizeof(f->h));
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	fsio_hooks_set(&f->h);
	fd = fsio_openat(f->dfd, "l", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fsio_write_all(fd, "abcdef", 6), 0);
	assert_int_equal(fsio_pwrite_all(fd, "Z", 1, 2), 0);
	assert_int_equal(fsio_write_all(fd, "gh", 2), 0);
	assert_int_equal(fsio_fsync(fd), 0);
	assert_int_equal(fsio_rename_noreplace(f->dfd, "l", f->dfd, "m"), 0);
	assert_int_equal(fsio_fsync_dir(f->dfd), 0);
	fsio_hooks_set(NULL);
	assert_int_equal(f->h.log_len, 7);
	assert_int_equal(f->h.log_lost, 0);
	assert_int_equal(f->log[0].op, FSIO_OPEN);
	assert_int_equal(f->log[0].fd, f->dfd);
	assert_int_equal(f->log[0].fd2, fd);
	assert_string_equal(f->log[0].path, "l");
	assert_int_equal(f->log[1].op, FSIO_WRITE);
	assert_int_equal(f->log[1].fd, fd);
	assert_int_equal(f->log[1].off, 0);
	assert_int_equal(f->log[1].len, 6);
	assert_int_equal(f->log[1].done, 6);
	assert_int_equal(f->log[2].op, FSIO_PWRITE);
	assert_int_equal(f->log[2].off, 2);
	assert_int_equal(f->log[3].off, 6);
	assert_int_equal(f->log[4].op, FSIO_FSYNC);
	assert_int_equal(f->log[5].op, FSIO_RENAME_NOREPLACE);
	assert_string_equal(f->log[5].path2, "m");
	assert_int_equal(f->log[5].fd2, f->dfd);
	assert_int_equal(f->log[6].op, FSIO_DIRSYNC);
	assert_int_equal(f->log[6].fd, f->dfd);

	memset(&f->h, 0, sizeof(f->h));
	f->h.log = small;
	f->h.log_cap = FCT_NELEM(small);
	fsio_hooks_set(&f->h);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fsio_fsync(fd), 0);
	fsio_hooks_set(NULL);
	assert_int_equal(f->h.log_len, 3);
	assert_int_equal(f->h.log_lost, 2);
	assert_int_equal(f->h.calls, 5);

	/* A long path is cut, not overflowed. */
	char longp[300];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	memset(&f->h, 0, sizeof(f->h));
	f->h.log = f->log;
	f->h.log_cap = 1;
	fsio_hooks_set(&f->h);
	assert_int_equal(fsio_unlinkat(f->dfd, longp, 0), -1);
	fsio_hooks_set(NULL);
	assert_int_equal(strlen(f->log[0].path), FSIO_PATH_LOG - 1);
	assert_int_equal(f->log[0].err, ENAMETOOLONG);
	assert_false(f->log[0].injected);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_calls, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rename_noreplace, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rename_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_faults_other_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
