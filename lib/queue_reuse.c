/*
 * queue_reuse - finished queue files kept in reuse/ (see queue_reuse.h).
 *
 * Writers read reuse/ in batches of names and try them from a point of
 * their own, so that the smtpd processes of one instance do not all
 * race for the same file; a name another writer took first costs one
 * failed rename.
 *
 * Never: hand out a file with more than one name or of another owner,
 * or follow a symbolic link.
 */
#include "lib/queue_reuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/queue_id.h"

/* Names one listing of reuse/ keeps for a writer. */
#define NAMES_MAX 256
/* Failed takes in a row before a writer gives up and creates a file. */
#define TAKE_TRIES 8
/* A writer that found reuse/ empty looks again after this long. */
#define EMPTY_WAIT_MS 100
/* qmgr counts reuse/ again at most this often when it looks full. */
#define COUNT_EVERY_MS 1000

struct queue_reuse {
	/* A writer's listing: names[next..n) are still to try. */
	char (*names)[QUEUE_ID_SIZE];
	size_t n, next;
	uint64_t empty_until_ms;
	uint32_t rand;
	/* qmgr: files known to be in reuse/, and when last counted. */
	size_t kept;
	bool counted;
	uint64_t counted_ms;
};

struct queue_reuse *
queue_reuse_new(void)
{
	struct queue_reuse *r = x_calloc(1, sizeof(*r));

	r->rand = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time_real_us();
	return r;
}

void
queue_reuse_free(struct queue_reuse **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->names);
	x_free(rp);
}

/* The staged name of id: ".id". */
static void
staged_name(char out[QUEUE_ID_SIZE + 1], const char *id)
{
	out[0] = '.';
	memcpy(out + 1, id, strlen(id) + 1);
}

/*
 * Call fn for the names in reuse/ until it returns false; returns 0 or
 * -1 with why.
 */
static int
list(struct queue *q, bool (*fn)(const char *, void *), void *arg,
    struct str *why)
{
	int fd = openat(queue_folder_fd(q, QUEUE_REUSE), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		str_notef(why, "list reuse/: %s", strerror(errno));
		(void)fd_close(&fd); /* read-only */
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 && !fn(de->d_name, arg))
			break;
	int e = errno;
	(void)closedir(d); /* read-only */
	if (e != 0) {
		str_notef(why, "list reuse/: %s", strerror(e));
		return -1;
	}
	return 0;
}

static bool
count_one(const char *name, void *arg)
{
	if (queue_id_valid(name))
		++*(size_t *)arg;
	return true;
}

bool
queue_reuse_room(struct queue *q, size_t limit)
{
	struct queue_reuse *r = queue_reuse_state(q);
	uint64_t now;

	if (limit == 0)
		return false;
	if (r->counted && r->kept < limit)
		return true;
	now = time_mono_ms();
	if (!r->counted || now - r->counted_ms >= COUNT_EVERY_MS) {
		struct str *why = str_new(256);
		size_t n = 0;
		if (list(q, count_one, &n, why) < 0) {
			log_warn("queue: %s", str_c(why));
			n = limit; /* no reuse until it can be counted */
		}
		str_free(&why);
		r->kept = n;
		r->counted = true;
		r->counted_ms = now;
	}
	return r->kept < limit;
}

int
queue_reuse_retire(
    struct queue *q, enum queue_folder f, const char *id, struct str *why)
{
	char staged[QUEUE_ID_SIZE + 1];

	if (!queue_id_valid(id)) {
		str_notef(why, "not a queue id");
		errno = EINVAL;
		return -1;
	}
	staged_name(staged, id);
	if (fsio_rename_noreplace(queue_folder_fd(q, f), id,
	        queue_folder_fd(q, QUEUE_REUSE), staged) < 0) {
		int e = errno;
		str_notef(why, "rename %s/%s to reuse/: %s",
		    queue_folder_name(f), id, strerror(e));
		errno = e;
		return -1;
	}
	queue_reuse_state(q)->kept++;
	return 0;
}

int
queue_reuse_publish(struct queue *q, const char *id, struct str *why)
{
	int dfd = queue_folder_fd(q, QUEUE_REUSE);
	char staged[QUEUE_ID_SIZE + 1];

	FCT_ASSERT(queue_id_valid(id));
	staged_name(staged, id);
	if (fsio_rename_noreplace(dfd, staged, dfd, id) == 0)
		return 0;
	str_notef(why, "rename reuse/%s: %s", staged, strerror(errno));
	if (fsio_unlinkat(dfd, staged, 0) < 0 && errno != ENOENT)
		str_notef(why, "; remove: %s", strerror(errno));
	struct queue_reuse *r = queue_reuse_state(q);
	if (r->kept > 0)
		r->kept--;
	return -1;
}

int
queue_reuse_sweep_one(struct queue *q, const char *id, struct str *why)
{
	char staged[QUEUE_ID_SIZE + 1];
	struct queue_reuse *r = queue_reuse_state(q);

	FCT_ASSERT(queue_id_valid(id));
	staged_name(staged, id);
	if (r->kept > 0)
		r->kept--;
	if (fsio_unlinkat(queue_folder_fd(q, QUEUE_REUSE), staged, 0) < 0 &&
	    errno != ENOENT) {
		str_notef(why, "remove reuse/%s: %s", staged, strerror(errno));
		return -1;
	}
	return 0;
}

struct sweep {
	struct queue *q;
	uint64_t min_age;
	time_t now;
	int removed;
	struct str *why;
};

static bool
sweep_one(const char *name, void *arg)
{
	struct sweep *s = arg;
	size_t wl = strlen(QUEUE_REUSE_WRITING);
	struct stat st;

	if (strncmp(name, QUEUE_REUSE_WRITING, wl) == 0 && name[wl] != '\0') {
		/* A writer's file: only once no writer can still be at it. */
		if (fstatat(queue_folder_fd(s->q, QUEUE_REUSE), name, &st,
		        AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode) || st.st_mtime > s->now ||
		    (uint64_t)(s->now - st.st_mtime) < s->min_age)
			return true;
	} else if (name[0] != '.' || !queue_id_valid(name + 1)) {
		return true;
	}
	if (fsio_unlinkat(queue_folder_fd(s->q, QUEUE_REUSE), name, 0) < 0) {
		if (errno == ENOENT)
			return true;
		str_notef(s->why, "remove reuse/%s: %s", name, strerror(errno));
		s->removed = -1;
		return false;
	}
	s->removed++;
	return true;
}

int
queue_reuse_sweep(struct queue *q, uint64_t min_age, struct str *why)
{
	struct sweep s = {q, min_age, time(NULL), 0, why};

	if (list(q, sweep_one, &s, why) < 0)
		return -1;
	return s.removed;
}

static bool
collect_one(const char *name, void *arg)
{
	struct queue_reuse *r = arg;

	if (queue_id_valid(name))
		memcpy(r->names[r->n++], name, strlen(name) + 1);
	return r->n < NAMES_MAX;
}

/* Read a new batch of names; false when reuse/ offers none. */
static bool
refill(struct queue *q, struct queue_reuse *r)
{
	struct str *why;
	uint64_t now = time_mono_ms();

	if (now < r->empty_until_ms)
		return false;
	if (r->names == NULL)
		r->names = x_calloc(NAMES_MAX, sizeof(*r->names));
	r->n = r->next = 0;
	why = str_new(256);
	if (list(q, collect_one, r, why) < 0) {
		log_warn("queue: %s", str_c(why));
		r->n = 0;
	}
	str_free(&why);
	if (r->n == 0) {
		r->empty_until_ms = now + EMPTY_WAIT_MS;
		return false;
	}
	/* Start at a point of our own: rotate the batch. */
	r->rand = r->rand * 1103515245u + 12345u;
	size_t k = (r->rand >> 8) % r->n;
	for (size_t i = 0; i < k; i++) {
		char tmp[QUEUE_ID_SIZE];
		memcpy(tmp, r->names[i], sizeof(tmp));
		memcpy(r->names[i], r->names[r->n - k + i], sizeof(tmp));
		memcpy(r->names[r->n - k + i], tmp, sizeof(tmp));
	}
	return true;
}

/* The file just renamed to reuse/name, checked and prepared, or -1. */
static int
open_taken(int rfd, const char *name, uint64_t *size_r)
{
	struct stat st;
	int fd = fsio_openat(rfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid() ||
	    ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) ||
	    fsio_futimens(fd, NULL) < 0) {
		(void)close(fd); /* nothing written */
		return -1;
	}
	*size_r = (uint64_t)st.st_size;
	return fd;
}

int
queue_reuse_take(struct queue *q, char *name, size_t cap, uint64_t *size_r)
{
	struct queue_reuse *r = queue_reuse_state(q);
	int rfd = queue_folder_fd(q, QUEUE_REUSE);
	char mine[QUEUE_REUSE_NAME_MAX];
	struct stat st;

	if (rfd < 0 || snprintf(mine, sizeof(mine), "%s%s", QUEUE_REUSE_WRITING,
	                   name) >= (int)cap)
		return -1;
	for (int tries = 0; tries < TAKE_TRIES; tries++) {
		if (r->next == r->n && !refill(q, r))
			return -1;
		const char *id = r->names[r->next++];
		/*
		 * Gone already (another writer): a lookup says so without
		 * the folder lock a rename takes.
		 */
		if (fstatat(rfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (fsio_rename_noreplace(rfd, id, rfd, mine) < 0) {
			if (errno == ENOENT)
				continue; /* another writer was first */
			return -1;
		}
		int fd = open_taken(rfd, mine, size_r);
		if (fd >= 0) {
			memcpy(name, mine, strlen(mine) + 1);
			return fd;
		}
		/* Not ours to reuse: drop this name (only this one). */
		if (fsio_unlinkat(rfd, mine, 0) < 0 &&
		    (errno != EISDIR ||
		        fsio_unlinkat(rfd, mine, AT_REMOVEDIR) < 0) &&
		    errno != ENOENT)
			log_warn("queue: cannot remove reuse/%s: %m", mine);
	}
	return -1;
}
