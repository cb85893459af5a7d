/*
 * map_lmdb - read compiled tables with LMDB, and follow their rebuilds.
 *
 * The open copy is identified by the fstat() of the descriptor LMDB
 * opened (device, inode, size, mtime), never by a separate stat() of the
 * path, so there is no window in which we believe we opened one file and
 * in fact mapped another.  A rebuilt table is a new inode (the builder
 * renames a new file over the old one), and the old inode cannot be
 * reused while we hold it open, so a changed inode is always noticed.
 *
 * Never: write to the file, create a lock file, or let a replaced or
 * vanished file take the answers away from a running program.
 */
#include "lib/map_lmdb.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

struct lmdb_map {
	char *ref;  /* "lmdb:/etc/facteur/aliases", for messages */
	char *src;  /* "/etc/facteur/aliases", the text source */
	char *path; /* "/etc/facteur/aliases.lmdb" */
	MDB_env *env;
	MDB_dbi dbi;
	struct stat id;   /* the open copy */
	struct stat bad;  /* a replacement that failed to open */
	bool bad_set;     /* bad is meaningful */
	bool gone_warned; /* warned once that the path vanished */
};

int
map_lmdb_path(const char *name, struct str *path_r)
{
	str_clear(path_r);
	if (str_appends(path_r, name) < 0 ||
	    str_appends(path_r, MAP_LMDB_SUFFIX) < 0)
		return -1;
	return 0;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static bool
newer(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/*
 * Open path read-only.  Returns 0 with *env_r, *dbi_r and *st_r (the
 * fstat of the opened file), or -1 with why.
 */
static int
env_open(const char *path, MDB_env **env_r, MDB_dbi *dbi_r, struct stat *st_r,
    struct str *why)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	mdb_filehandle_t fd;
	struct stat st;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0) {
		str_notef(why, "%s: %s", path, mdb_strerror(rc));
		return -1;
	}
	rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0);
	if (rc != 0) {
		/* LMDB says ENOENT or EBADF for an empty file: say it. */
		if (stat(path, &st) == 0 && st.st_size == 0)
			str_notef(why, "%s: empty file, not a table", path);
		else
			str_notef(why, "%s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_get_fd(env, &fd)) != 0 || fstat(fd, &st) < 0) {
		str_notef(why, "%s: %s", path,
		    rc != 0 ? mdb_strerror(rc) : strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		str_notef(why, "%s: not a regular file", path);
		goto fail;
	}
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, dbi_r)) != 0) {
		str_notef(why, "%s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	/* Committed, not aborted: an aborted txn closes the DBI it opened. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		str_notef(why, "%s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	*env_r = env;
	*st_r = st;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return -1;
}

/* Postfix warns when a table is older than its source: so do we. */
static void
check_age(const struct lmdb_map *h)
{
	struct stat src;

	if (stat(h->src, &src) == 0 && newer(&src.st_mtim, &h->id.st_mtim))
		log_warn("%s: %s is older than its source %s: "
		         "run \"mailctl map build %s\"",
		    h->ref, h->path, h->src, h->src);
}

void *
map_lmdb_open(const char *ref, const char *name, struct str *why)
{
	struct lmdb_map *h = x_calloc(1, sizeof(*h));
	struct str *path = str_new(MAP_REF_MAX + sizeof(MAP_LMDB_SUFFIX));

	if (map_lmdb_path(name, path) < 0) {
		str_notef(why, "%s: table name too long", ref);
		goto fail;
	}
	h->path = x_strdup(str_c(path));
	if (env_open(h->path, &h->env, &h->dbi, &h->id, why) < 0) {
		if (access(h->path, F_OK) < 0 && errno == ENOENT)
			str_notef(why,
			    " (build it with \"mailctl map build "
			    "%s\")",
			    name);
		goto fail;
	}
	h->ref = x_strdup(ref);
	h->src = x_strdup(name);
	str_free(&path);
	check_age(h);
	return h;
fail:
	str_free(&path);
	free(h->path);
	free(h);
	return NULL;
}

void
map_lmdb_close(void *vh)
{
	struct lmdb_map *h = vh;

	if (h == NULL)
		return;
	mdb_env_close(h->env);
	free(h->ref);
	free(h->src);
	free(h->path);
	free(h);
}

/*
 * Has the file at our path been replaced?  Reopen it if so.  Every
 * failure here leaves the open copy in place: answering from the table we
 * have beats answering nothing (the caller would turn that into deferrals
 * of every message).
 */
static void
refresh(struct lmdb_map *h)
{
	struct str *why;
	struct stat st, nst;
	MDB_env *env;
	MDB_dbi dbi;

	if (stat(h->path, &st) < 0) {
		if (!h->gone_warned)
			log_warn("%s: %s: %s; answering from the copy opened "
			         "before",
			    h->ref, h->path, strerror(errno));
		h->gone_warned = true;
		return;
	}
	h->gone_warned = false;
	if (same_file(&st, &h->id) || (h->bad_set && same_file(&st, &h->bad)))
		return;
	why = str_new(1024);
	if (env_open(h->path, &env, &dbi, &nst, why) < 0) {
		log_warn("%s: cannot reopen the changed table: %s; answering "
		         "from the copy opened before",
		    h->ref, str_c(why));
		h->bad = st;
		h->bad_set = true;
		str_free(&why);
		return;
	}
	str_free(&why);
	mdb_env_close(h->env);
	h->env = env;
	h->dbi = dbi;
	h->id = nst;
	h->bad_set = false;
	log_info("%s: table changed, reopened", h->ref);
	check_age(h);
}

enum map_result
map_lmdb_lookup(void *vh, const char *key, size_t key_len, struct str *value_r,
    struct str *why)
{
	struct lmdb_map *h = vh;
	MDB_val k = {key_len, (void *)key}, v;
	enum map_result res;
	MDB_txn *txn;
	int rc;

	refresh(h);
	if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &txn)) != 0) {
		str_notef(why, "%s: %s", h->ref, mdb_strerror(rc));
		return MAP_TEMP;
	}
	rc = mdb_get(txn, h->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		res = MAP_NOTFOUND;
	} else if (rc != 0) {
		str_notef(why, "%s: lookup: %s", h->ref, mdb_strerror(rc));
		res = MAP_TEMP;
	} else if (value_r == NULL) {
		res = MAP_FOUND;
	} else {
		/* v points into the map: copy before the transaction ends. */
		str_clear(value_r);
		if (str_append(value_r, v.mv_data, v.mv_size) < 0) {
			str_notef(why, "%s: value of %zu bytes is too long",
			    h->ref, v.mv_size);
			res = MAP_TEMP;
		} else {
			res = MAP_FOUND;
		}
	}
	mdb_txn_abort(txn);
	return res;
}
