/*
 * map_build - text table to FILE.lmdb through a temporary file and a
 * rename.
 *
 * One write transaction holds the whole table: either it commits into the
 * temporary file, which is then renamed into place, or the temporary file
 * is removed.  Entries keep going into the transaction after a syntax
 * error so that duplicate keys are still found and every problem is
 * reported in one run; the transaction is then thrown away.
 *
 * Never: rename a file that was not synced, or report success when any
 * step failed.
 */
#include "lib/map_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/map_lmdb.h"
#include "lib/str.h"

#define READ_CHUNK 65536
/*
 * Map size: the worst case is a users table of 4-byte lines ("a@b\n"):
 * two LMDB nodes (~44 bytes) per line on half-full pages is 22 times the
 * input.  The map size only reserves address space (the file grows with
 * what is written), so be generous.
 */
#define MAPSIZE_FACTOR 32
#define MAPSIZE_BASE   (1024 * 1024)
#define MAPSIZE_ROUND  (64 * 1024)

struct build {
	const char *file; /* the text source, for messages */
	struct diag *d;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static int
put_entry(const struct map_text_entry *e, void *arg)
{
	struct build *b = arg;
	MDB_val k = {e->key_len, (void *)e->key};
	MDB_val v = {e->value_len, (void *)e->value};
	struct log_esc esc;
	int rc;

	rc = mdb_put(b->txn, b->dbi, &k, &v, MDB_NOOVERWRITE);
	if (rc == 0)
		return 0;
	if (rc == MDB_KEYEXIST) {
		if (!e->implied)
			diag_warn(b->d, b->file, e->line,
			    "duplicate key \"%s\" ignored (the first one wins)",
			    log_escape(&esc, e->key, e->key_len));
		return 0;
	}
	diag_error(b->d, b->file, e->line, "cannot store key \"%s\": %s",
	    log_escape(&esc, e->key, e->key_len), mdb_strerror(rc));
	return -1;
}

/* Feed the whole file to the parser; 0, or -1 (reported). */
static int
parse_fd(int fd, const char *file, enum map_format fmt, struct build *b)
{
	struct map_text *t = map_text_new(fmt, file, b->d, put_entry, b);
	uint8_t *buf = x_malloc(READ_CHUNK);
	int rc = 0;

	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			diag_error(b->d, file, 0, "read: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (map_text_feed(t, buf, (size_t)n) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		rc = map_text_finish(t);
	map_text_free(&t);
	free(buf);
	return rc;
}

/* Split path into its folder ("." when none) and base name. */
static void
split_path(const char *path, struct str *dir, const char **base_r)
{
	const char *slash = strrchr(path, '/');

	str_clear(dir);
	if (slash == NULL) {
		str_notef(dir, ".");
		*base_r = path;
	} else if (slash == path) {
		str_notef(dir, "/");
		*base_r = slash + 1;
	} else {
		str_notef(dir, "%.*s", (int)(slash - path), path);
		*base_r = slash + 1;
	}
}

/*
 * Remove "base.tmp.<pid>" files in dir_fd left by builds whose process is
 * gone (a crash, a kill): they are never renamed, so nothing reads them.
 * A live builder's file is left alone.  Best effort: failures only warn.
 */
static void
remove_stale(int dir_fd, const char *dir, const char *base, struct diag *d)
{
	size_t blen = strlen(base);
	struct dirent *de;
	int fd;
	DIR *dp;

	if ((fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if ((dp = fdopendir(fd)) == NULL) {
		(void)close(fd); /* read-only: nothing to lose */
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		const char *pid = de->d_name + blen + 5;
		uint64_t v;

		if (strncmp(de->d_name, base, blen) != 0 ||
		    strncmp(de->d_name + blen, ".tmp.", 5) != 0 ||
		    num_parse_u64(pid, strlen(pid), INT32_MAX, &v) < 0 ||
		    v == 0 || (pid_t)v == getpid())
			continue;
		if (kill((pid_t)v, 0) == 0 || errno != ESRCH)
			continue;
		if (fsio_unlinkat(dir_fd, de->d_name, 0) < 0 && errno != ENOENT)
			diag_warn(d, dir, 0, "cannot remove stale %s: %s",
			    de->d_name, strerror(errno));
	}
	(void)closedir(dp); /* read-only: nothing to lose */
}

/*
 * Write the table into tmp (a new file in dirfd named tmp_base); 0, or -1
 * (reported).  On success the file is complete, owned and synced.
 */
static int
write_table(int src_fd, size_t src_size, const char *file, enum map_format fmt,
    const struct map_owner *own, const char *tmp, struct diag *d)
{
	struct build b = {.file = file, .d = d};
	MDB_env *env = NULL;
	size_t mapsize;
	int rc, fd;

	if (!size_mul(src_size, MAPSIZE_FACTOR, &mapsize) ||
	    !size_add(mapsize, MAPSIZE_BASE + MAPSIZE_ROUND, &mapsize)) {
		diag_error(d, file, 0, "too large");
		return -1;
	}
	mapsize -= mapsize % MAPSIZE_ROUND;
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, mapsize)) != 0 ||
	    (rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC,
	         0600)) != 0) {
		diag_error(d, tmp, 0, "%s", mdb_strerror(rc));
		goto fail;
	}
	if (mdb_env_get_maxkeysize(env) < MAP_KEY_MAX) {
		diag_error(d, tmp, 0,
		    "LMDB keys are limited to %d bytes, "
		    "we need %d",
		    mdb_env_get_maxkeysize(env), MAP_KEY_MAX);
		goto fail;
	}
	if ((rc = mdb_txn_begin(env, NULL, 0, &b.txn)) != 0 ||
	    (rc = mdb_dbi_open(b.txn, NULL, 0, &b.dbi)) != 0) {
		diag_error(d, tmp, 0, "%s", mdb_strerror(rc));
		goto fail;
	}
	if (parse_fd(src_fd, file, fmt, &b) < 0)
		goto fail;
	rc = mdb_txn_commit(b.txn);
	b.txn = NULL;
	if (rc != 0) {
		diag_error(d, tmp, 0, "commit: %s", mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_get_fd(env, &fd)) != 0) {
		diag_error(d, tmp, 0, "%s", mdb_strerror(rc));
		goto fail;
	}
	/* Owner first: chown may clear mode bits, never the reverse. */
	if ((own->uid != (uid_t)-1 || own->gid != (gid_t)-1) &&
	    fchown(fd, own->uid, own->gid) < 0) {
		diag_error(d, tmp, 0, "chown: %s", strerror(errno));
		goto fail;
	}
	if (fchmod(fd, own->mode) < 0) {
		diag_error(d, tmp, 0, "chmod: %s", strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_sync(env, 1)) != 0) {
		diag_error(d, tmp, 0, "sync: %s", mdb_strerror(rc));
		goto fail;
	}
	if (fsio_fsync(fd) < 0) {
		diag_error(d, tmp, 0, "fsync: %s", strerror(errno));
		goto fail;
	}
	mdb_env_close(env);
	return 0;
fail:
	if (b.txn != NULL)
		mdb_txn_abort(b.txn);
	mdb_env_close(env);
	return -1;
}

int
map_build_file(const char *path, enum map_format fmt,
    const struct map_owner *own, struct diag *d)
{
	struct str *final = str_new(MAP_REF_MAX + 64);
	struct str *tmp = str_new(MAP_REF_MAX + 64);
	struct str *dir = str_new(MAP_REF_MAX);
	const char *file = path, *type, *base, *tmp_base;
	int src_fd = -1, dir_fd = -1, fd = -1, rc = -1;
	bool tmp_made = false;
	struct stat st;
	size_t tlen;

	if (map_ref_split(path, &type, &tlen, &file) &&
	    !(tlen == 4 && memcmp(type, "lmdb", 4) == 0)) {
		diag_error(d, path, 0,
		    "cannot build tables of type \"%.*s\" "
		    "(only lmdb)",
		    (int)tlen, type);
		goto out;
	}
	if (*file == '\0' || strlen(file) > MAP_REF_MAX ||
	    map_lmdb_path(file, final) < 0 ||
	    str_appendf(tmp, "%s.tmp.%ld", str_c(final), (long)getpid()) < 0) {
		diag_error(d, path, 0, "bad or too long file name");
		goto out;
	}
	src_fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (src_fd < 0 || fstat(src_fd, &st) < 0) {
		diag_error(d, file, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAP_TEXT_MAX) {
		diag_error(d, file, 0, "not a regular file of at most %d bytes",
		    MAP_TEXT_MAX);
		goto out;
	}
	split_path(str_c(tmp), dir, &tmp_base);
	split_path(str_c(final), dir, &base);
	dir_fd = open(str_c(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		diag_error(
		    d, str_c(dir), 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	/*
	 * Claim the temporary name with O_EXCL | O_NOFOLLOW (LMDB itself
	 * would follow a planted link); stale ones from crashed builds
	 * (ours: our pid; others: a pid that is gone) are removed first.  LMDB
	 * treats the empty file as a new environment.
	 */
	remove_stale(dir_fd, str_c(dir), base, d);
	if (fsio_unlinkat(dir_fd, tmp_base, 0) < 0 && errno != ENOENT) {
		diag_error(
		    d, str_c(tmp), 0, "cannot remove: %s", strerror(errno));
		goto out;
	}
	fd = fsio_openat(
	    dir_fd, tmp_base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0) {
		diag_error(
		    d, str_c(tmp), 0, "cannot create: %s", strerror(errno));
		goto out;
	}
	tmp_made = true;
	if (fd_close(&fd) < 0) {
		diag_error(d, str_c(tmp), 0, "close: %s", strerror(errno));
		goto out;
	}
	if (write_table(
	        src_fd, (size_t)st.st_size, file, fmt, own, str_c(tmp), d) < 0)
		goto out;
	if (fsio_rename(dir_fd, tmp_base, dir_fd, base) < 0) {
		diag_error(d, str_c(final), 0, "rename: %s", strerror(errno));
		goto out;
	}
	tmp_made = false;
	if (fsio_fsync_dir(dir_fd) < 0) {
		/* The new table is in place but may not survive a crash. */
		diag_error(d, str_c(dir), 0, "fsync: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (tmp_made && fsio_unlinkat(dir_fd, tmp_base, 0) < 0)
		diag_warn(
		    d, str_c(tmp), 0, "cannot remove: %s", strerror(errno));
	(void)fd_close(&src_fd); /* read-only: nothing to lose */
	(void)fd_close(&dir_fd); /* read-only: nothing to lose */
	str_free(&final);
	str_free(&tmp);
	str_free(&dir);
	return rc;
}
