/*
 * queue_dir - queue folders: create/repair, open, move, remove, scan.
 *
 * Never: chown as anyone but root, follow a symbolic link, or rename over
 * an existing name.
 */
#include "lib/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/queue_id.h"
#include "lib/queue_reuse.h"

enum owner_kind { OWN_ROOT, OWN_MAIL, OWN_AUTH };

static const struct folder_def {
	const char *name;
	mode_t mode;
	enum owner_kind owner;
	bool required; /* queue_open() fails without it */
} folder_defs[QUEUE_FOLDER_COUNT] = {
    [QUEUE_INCOMING] = {"incoming", 0700, OWN_MAIL, true},
    [QUEUE_ACTIVE] = {"active", 0700, OWN_MAIL, true},
    [QUEUE_DEFERRED] = {"deferred", 0700, OWN_MAIL, true},
    [QUEUE_HOLD] = {"hold", 0700, OWN_MAIL, true},
    [QUEUE_CORRUPT] = {"corrupt", 0700, OWN_MAIL, true},
    [QUEUE_DEFER] = {"defer", 0700, OWN_MAIL, true},
    [QUEUE_BOUNCE] = {"bounce", 0700, OWN_MAIL, true},
    [QUEUE_TMP] = {"tmp", 0700, OWN_MAIL, true},
    [QUEUE_REUSE] = {"reuse", 0700, OWN_MAIL, true},
    [QUEUE_PRIVATE] = {"private", 0700, OWN_MAIL, false},
    [QUEUE_PUBLIC] = {"public", 0711, OWN_MAIL, false},
    [QUEUE_PID] = {"pid", 0755, OWN_ROOT, false},
    [QUEUE_AUTH] = {"auth", 0750, OWN_AUTH, false},
};

#define ROOT_MODE 0755

struct queue {
	char *root;
	int rootfd;
	int fd[QUEUE_FOLDER_COUNT];
	size_t record_limit;
	uint64_t serial;
	struct queue_reuse *reuse; /* made on first use */
};

const char *
queue_folder_name(enum queue_folder f)
{
	if ((unsigned)f >= QUEUE_FOLDER_COUNT)
		return NULL;
	return folder_defs[f].name;
}

bool
queue_folder_holds_files(enum queue_folder f)
{
	return (unsigned)f < QUEUE_FOLDER_COUNT && folder_defs[f].required &&
	       f != QUEUE_TMP && f != QUEUE_DEFER && f != QUEUE_BOUNCE &&
	       f != QUEUE_REUSE;
}

static int
open_dir(int dirfd, const char *name)
{
	return openat(
	    dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Give the folder open as fd its owner (when root) and mode.  created:
 * a fresh mkdir, whose repair is not news.
 */
static int
fix_folder(int fd, const char *label, mode_t mode, uid_t uid, gid_t gid,
    bool privileged, bool created, struct str *why)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		str_notef(why, "stat %s: %s", label, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		str_notef(why, "%s: not a folder", label);
		return -1;
	}
	if (privileged && (st.st_uid != uid || st.st_gid != gid)) {
		if (fchown(fd, uid, gid) < 0) {
			str_notef(why, "chown %s: %s", label, strerror(errno));
			return -1;
		}
		if (!created)
			log_info("queue: %s: owner %lu:%lu -> %lu:%lu", label,
			    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
			    (unsigned long)uid, (unsigned long)gid);
	}
	if ((st.st_mode & 07777) != mode) {
		if (fchmod(fd, mode) < 0) {
			str_notef(why, "chmod %s: %s", label, strerror(errno));
			return -1;
		}
		if (!created)
			log_info("queue: %s: mode %04o -> %04o", label,
			    (unsigned)(st.st_mode & 07777), (unsigned)mode);
	}
	return 0;
}

/* mkdir that is happy when the folder is there; *created_r says which. */
static int
make_dir(
    int dirfd, const char *name, mode_t mode, bool *created_r, struct str *why)
{
	*created_r = false;
	if (fsio_mkdirat(dirfd, name, mode) == 0) {
		*created_r = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	str_notef(why, "mkdir %s: %s", name, strerror(errno));
	return -1;
}

int
queue_dir_init(const char *root, const struct queue_owner *own, struct str *why)
{
	bool privileged = geteuid() == 0, created, any = false;
	uid_t uid = own != NULL ? own->uid : 0;
	gid_t gid = own != NULL ? own->gid : 0;
	gid_t agid = own != NULL ? own->auth_gid : 0;
	int rootfd = -1, rc = -1;

	if (privileged && own == NULL) {
		str_notef(why, "queue init as root needs the owner");
		return -1;
	}
	if (make_dir(AT_FDCWD, root, ROOT_MODE, &created, why) < 0)
		return -1;
	if ((rootfd = open_dir(AT_FDCWD, root)) < 0) {
		str_notef(why, "open %s: %s", root, strerror(errno));
		return -1;
	}
	if (fix_folder(
	        rootfd, root, ROOT_MODE, 0, 0, privileged, created, why) < 0)
		goto out;
	for (size_t i = 0; i < QUEUE_FOLDER_COUNT; i++) {
		const struct folder_def *d = &folder_defs[i];
		uid_t u = d->owner == OWN_MAIL ? uid : 0;
		gid_t g = d->owner == OWN_MAIL   ? gid
		          : d->owner == OWN_AUTH ? agid
		                                 : 0;
		int fd;

		if (make_dir(rootfd, d->name, d->mode, &created, why) < 0)
			goto out;
		any = any || created;
		if ((fd = open_dir(rootfd, d->name)) < 0) {
			str_notef(why, "open %s/%s: %s", root, d->name,
			    errno == ELOOP || errno == ENOTDIR
			        ? "not a folder (symbolic link?)"
			        : strerror(errno));
			goto out;
		}
		int fixed = fix_folder(
		    fd, d->name, d->mode, u, g, privileged, created, why);
		if (fd_close(&fd) < 0 && fixed == 0) {
			str_notef(
			    why, "close %s: %s", d->name, strerror(errno));
			goto out;
		}
		if (fixed < 0)
			goto out;
	}
	if (any && fsio_fsync_dir(rootfd) < 0) {
		str_notef(why, "fsync %s: %s", root, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	/* Read-only use of rootfd: a close error changes nothing on disk. */
	(void)fd_close(&rootfd);
	return rc;
}

int
queue_open(
    const char *root, size_t record_limit, struct queue **q_r, struct str *why)
{
	struct queue *q = x_calloc(1, sizeof(*q));

	FCT_ASSERT(record_limit > 0);
	q->root = x_strdup(root);
	q->record_limit = record_limit;
	for (size_t i = 0; i < QUEUE_FOLDER_COUNT; i++)
		q->fd[i] = -1;
	if ((q->rootfd = open_dir(AT_FDCWD, root)) < 0) {
		str_notef(why, "open queue %s: %s", root, strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < QUEUE_FOLDER_COUNT; i++) {
		q->fd[i] = open_dir(q->rootfd, folder_defs[i].name);
		if (q->fd[i] < 0 && folder_defs[i].required) {
			str_notef(why, "open %s/%s: %s", root,
			    folder_defs[i].name, strerror(errno));
			goto fail;
		}
	}
	*q_r = q;
	return 0;
fail:
	queue_close(&q);
	return -1;
}

void
queue_close(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	/* Folder descriptors are read-only: close errors lose nothing. */
	for (size_t i = 0; i < QUEUE_FOLDER_COUNT; i++)
		(void)fd_close(&q->fd[i]);
	(void)fd_close(&q->rootfd);
	queue_reuse_free(&q->reuse);
	x_free(&q->root);
	x_free(qp);
}

int
queue_folder_fd(const struct queue *q, enum queue_folder f)
{
	FCT_ASSERT((unsigned)f < QUEUE_FOLDER_COUNT);
	return q->fd[f];
}

size_t
queue_record_limit(const struct queue *q)
{
	return q->record_limit;
}

struct queue_reuse *
queue_reuse_state(struct queue *q)
{
	if (q->reuse == NULL)
		q->reuse = queue_reuse_new();
	return q->reuse;
}

uint64_t
queue_next_serial(struct queue *q)
{
	return ++q->serial;
}

/* The descriptor of f, or -1 with why. */
static int
folder(struct queue *q, enum queue_folder f, struct str *why)
{
	if ((unsigned)f >= QUEUE_FOLDER_COUNT || q->fd[f] < 0) {
		str_notef(why, "queue folder %d not open", (int)f);
		errno = EBADF;
		return -1;
	}
	return q->fd[f];
}

/* Queue-file names are ids; anything else is a caller bug or an attack. */
static int
check_id(const char *id, struct str *why)
{
	if (queue_id_valid(id))
		return 0;
	str_notef(why, "not a queue id");
	errno = EINVAL;
	return -1;
}

int
queue_folder_sync(struct queue *q, enum queue_folder f, struct str *why)
{
	int fd = folder(q, f, why);

	if (fd < 0)
		return -1;
	if (fsio_fsync_dir(fd) < 0) {
		int e = errno;
		str_notef(
		    why, "fsync %s: %s", folder_defs[f].name, strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

int
queue_file_open(struct queue *q, enum queue_folder f, const char *id, int flags,
    struct str *why)
{
	int dfd = folder(q, f, why), fd;

	if (dfd < 0 || check_id(id, why) < 0)
		return -1;
	fd = fsio_openat(dfd, id, flags | O_NOFOLLOW, 0);
	if (fd < 0) {
		int e = errno;
		str_notef(why, "open %s/%s: %s", folder_defs[f].name, id,
		    strerror(e));
		errno = e;
	}
	return fd;
}

static bool
lazy_ok(enum queue_folder f)
{
	return f == QUEUE_INCOMING || f == QUEUE_ACTIVE ||
	    f == QUEUE_DEFERRED;
}

static int
move(struct queue *q, enum queue_folder from, enum queue_folder to,
    const char *id, bool sync, struct str *why)
{
	int ffd = folder(q, from, why), tfd = folder(q, to, why);

	if (ffd < 0 || tfd < 0 || check_id(id, why) < 0)
		return -1;
	FCT_ASSERT(from != to);
	if (fsio_rename_noreplace(ffd, id, tfd, id) < 0) {
		int e = errno;
		str_notef(why, "rename %s/%s to %s/: %s",
		    folder_defs[from].name, id, folder_defs[to].name,
		    strerror(e));
		errno = e;
		return -1;
	}
	if (!sync)
		return 0;
	/* The new name first: then the file is durable somewhere. */
	if (queue_folder_sync(q, to, why) < 0 ||
	    queue_folder_sync(q, from, why) < 0)
		return -1;
	return 0;
}

int
queue_move(struct queue *q, enum queue_folder from, enum queue_folder to,
    const char *id, struct str *why)
{
	return move(q, from, to, id, true, why);
}

int
queue_move_lazy(struct queue *q, enum queue_folder from,
    enum queue_folder to, const char *id, struct str *why)
{
	FCT_ASSERT(lazy_ok(from) && lazy_ok(to));
	return move(q, from, to, id, false, why);
}

int
queue_expire_mark(struct queue *q, enum queue_folder f, const char *id,
    struct str *why)
{
	struct stat st;
	int fd = queue_file_open(q, f, id, O_RDONLY, why);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    fchmod(fd, (st.st_mode & 07777) | QUEUE_MODE_EXPIRE) < 0 ||
	    fsio_fsync(fd) < 0) {
		int e = errno;
		str_notef(why, "%s/%s: mark for expiry: %s",
		    folder_defs[f].name, id, strerror(e));
		(void)close(fd); /* the failure is what counts */
		errno = e;
		return -1;
	}
	(void)close(fd); /* synced above */
	return 0;
}

bool
queue_expire_marked(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & QUEUE_MODE_EXPIRE) != 0;
}

int
queue_corrupt(struct queue *q, enum queue_folder from, const char *id,
    const char *reason, struct str *why)
{
	struct log_esc e;

	if (queue_move(q, from, QUEUE_CORRUPT, id, why) < 0) {
		log_err("%s: cannot move to corrupt/ (%s): %s",
		    log_escape_str(&e, id), reason, str_c(why));
		return -1;
	}
	log_warn("%s: moved to corrupt/: %s", id, reason);
	return 0;
}

int
queue_remove(
    struct queue *q, enum queue_folder f, const char *id, struct str *why)
{
	int dfd = folder(q, f, why);

	if (dfd < 0 || check_id(id, why) < 0)
		return -1;
	if (fsio_unlinkat(dfd, id, 0) < 0) {
		int e = errno;
		str_notef(why, "remove %s/%s: %s", folder_defs[f].name, id,
		    strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

/* opendir() of a folder descriptor without giving it away. */
static DIR *
open_listing(int dfd, const char *name, struct str *why)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		str_notef(why, "list %s: %s", name, strerror(errno));
		/* Nothing written through fd: closing cannot lose data. */
		(void)fd_close(&fd);
		return NULL;
	}
	return d;
}

int
queue_scan(struct queue *q, enum queue_folder f, queue_scan_fn *fn, void *arg,
    struct str *why)
{
	int dfd = folder(q, f, why), rc = 0;
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return -1;
	if (f == QUEUE_TMP) {
		str_notef(why, "tmp/ is never scanned");
		return -1;
	}
	if ((d = open_listing(dfd, folder_defs[f].name, why)) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				str_notef(why, "list %s: %s",
				    folder_defs[f].name, strerror(errno));
				rc = -1;
			}
			break;
		}
		if (!queue_id_valid(de->d_name))
			continue;
		if (fn(de->d_name, arg) != 0) {
			rc = 1;
			break;
		}
	}
	/* A listing closes with no data to lose. */
	(void)closedir(d);
	return rc;
}

int
queue_tmp_sweep(struct queue *q, uint64_t min_age, struct str *why)
{
	int dfd = folder(q, QUEUE_TMP, why), removed = 0;
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || (d = open_listing(dfd, "tmp", why)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode))
			continue;
		if (st.st_mtime > now ||
		    (uint64_t)(now - st.st_mtime) < min_age)
			continue;
		if (fsio_unlinkat(dfd, de->d_name, 0) < 0) {
			if (errno == ENOENT)
				continue;
			str_notef(why, "remove tmp/%s: %s", de->d_name,
			    strerror(errno));
			removed = -1;
			break;
		}
		log_info("queue: removed stale tmp/%s", de->d_name);
		removed++;
	}
	/* A listing closes with no data to lose. */
	(void)closedir(d);
	return removed;
}
