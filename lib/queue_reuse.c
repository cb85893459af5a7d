/*
 * queue_reuse - finished queue files kept in reuse/ (see queue_reuse.h).
 *
 * Writers read reuse/ in batches of names and try them from a point of
 * their own, so that the smtpd processes of one instance do not all
 * race for the same file; a name another writer took first costs one
 * lookup.  The published generation is read from a shared read-only
 * mapping of reuse/.gen, with acquire order against qmgr's release.
 *
 * Never: hand out a file with more than one name or of another owner,
 * or of a generation not yet published; follow a symbolic link.
 */
#include "lib/queue_reuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	char (*names)[QUEUE_REUSE_NAME_MAX];
	size_t n, next;
	uint64_t empty_until_ms;
	uint32_t rand;
	/* reuse/.gen mapped: read-only by writers, read-write by qmgr. */
	uint64_t *gen;
	bool gen_rw;
	/* qmgr: the generation being filled; abandoned after a failure. */
	uint64_t filling;
	bool abandoned;
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
	if ((*rp)->gen != NULL)
		(void)munmap((*rp)->gen, sizeof(uint64_t));
	free((*rp)->names);
	x_free(rp);
}

/* "G-id": a retired file of generation g. */
static void
gen_name(char out[QUEUE_REUSE_NAME_MAX], uint64_t g, const char *id)
{
	int n = snprintf(
	    out, QUEUE_REUSE_NAME_MAX, "%llu-%s", (unsigned long long)g, id);

	FCT_ASSERT(n > 0 && n < QUEUE_REUSE_NAME_MAX);
}

/* The generation of a "G-id" name; false for any other name. */
static bool
parse_name(const char *name, uint64_t *g_r)
{
	uint64_t g = 0;
	const char *p = name;

	/* Bounded first: leading zeros would make any length parse. */
	if (strnlen(name, QUEUE_REUSE_NAME_MAX) >= QUEUE_REUSE_NAME_MAX ||
	    *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (g > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		g = g * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '-' || !queue_id_valid(p + 1))
		return false;
	*g_r = g;
	return true;
}

/* Map reuse/.gen (rw: qmgr, made when missing).  0 or -1 with why. */
static int
map_gen(struct queue *q, struct queue_reuse *r, bool rw, struct str *why)
{
	int rfd = queue_folder_fd(q, QUEUE_REUSE), fd;
	struct stat st;
	void *p;

	if (r->gen != NULL && (r->gen_rw || !rw))
		return 0;
	fd = rw ? fsio_openat(rfd, QUEUE_REUSE_GEN_FILE,
	              O_RDWR | O_CREAT | O_NOFOLLOW, 0600)
	        : openat(rfd, QUEUE_REUSE_GEN_FILE,
	              O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		str_notef(why, "open reuse/%s: %s", QUEUE_REUSE_GEN_FILE,
		    strerror(errno));
		return -1;
	}
	/*
	 * A new counter gets its bytes written, never a hole: a store to a
	 * mapped hole needs a block, and on a full file system that is a
	 * SIGBUS, not an error.
	 */
	static const uint64_t zero = 0;
	errno = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_size < (off_t)sizeof(uint64_t) &&
	        (!rw || fsio_pwrite_all(fd, &zero, sizeof(zero), 0) < 0))) {
		str_notef(why, "reuse/%s: %s", QUEUE_REUSE_GEN_FILE,
		    errno != 0 ? strerror(errno) : "not a counter");
		(void)close(fd); /* nothing of value written */
		return -1;
	}
	p = mmap(NULL, sizeof(uint64_t),
	    rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	(void)close(fd); /* the mapping stays */
	if (p == MAP_FAILED) {
		str_notef(why, "map reuse/%s: %s", QUEUE_REUSE_GEN_FILE,
		    strerror(errno));
		return -1;
	}
	if (r->gen != NULL)
		(void)munmap(r->gen, sizeof(uint64_t));
	r->gen = p;
	r->gen_rw = rw;
	return 0;
}

static uint64_t
published(const struct queue_reuse *r)
{
	return __atomic_load_n(r->gen, __ATOMIC_ACQUIRE);
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
	uint64_t g;

	if (parse_name(name, &g))
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
	struct queue_reuse *r = queue_reuse_state(q);
	char name[QUEUE_REUSE_NAME_MAX];

	if (r->gen == NULL || !r->gen_rw || r->abandoned) {
		str_notef(why, "reuse/ not started");
		errno = EINVAL;
		return -1;
	}
	if (!queue_id_valid(id)) {
		str_notef(why, "not a queue id");
		errno = EINVAL;
		return -1;
	}
	gen_name(name, r->filling, id);
	if (fsio_rename_noreplace(queue_folder_fd(q, f), id,
	        queue_folder_fd(q, QUEUE_REUSE), name) < 0) {
		int e = errno;
		str_notef(why, "rename %s/%s to reuse/: %s",
		    queue_folder_name(f), id, strerror(e));
		errno = e;
		return -1;
	}
	r->kept++;
	return 0;
}

void
queue_reuse_publish(struct queue *q)
{
	struct queue_reuse *r = queue_reuse_state(q);

	FCT_ASSERT(r->gen != NULL && r->gen_rw && !r->abandoned);
	__atomic_store_n(r->gen, r->filling, __ATOMIC_RELEASE);
	r->filling++;
}

void
queue_reuse_abandon(struct queue *q)
{
	queue_reuse_state(q)->abandoned = true;
}

int
queue_reuse_drop(struct queue *q, const char *id, struct str *why)
{
	struct queue_reuse *r = queue_reuse_state(q);
	char name[QUEUE_REUSE_NAME_MAX];

	FCT_ASSERT(queue_id_valid(id));
	gen_name(name, r->filling, id);
	if (r->kept > 0)
		r->kept--;
	if (fsio_unlinkat(queue_folder_fd(q, QUEUE_REUSE), name, 0) < 0 &&
	    errno != ENOENT) {
		str_notef(why, "remove reuse/%s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

struct sweep {
	struct queue *q;
	uint64_t min_age, gen;
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
	uint64_t g;

	if (strncmp(name, QUEUE_REUSE_WRITING, wl) == 0 && name[wl] != '\0') {
		/* A writer's file: only once no writer can still be at it. */
		if (fstatat(queue_folder_fd(s->q, QUEUE_REUSE), name, &st,
		        AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode) || st.st_mtime > s->now ||
		    (uint64_t)(s->now - st.st_mtime) < s->min_age)
			return true;
	} else if (!parse_name(name, &g) || g <= s->gen) {
		return true; /* published (or not ours): stays */
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
queue_reuse_start(struct queue *q, uint64_t min_age, struct str *why)
{
	struct queue_reuse *r = queue_reuse_state(q);
	struct sweep s = {q, min_age, 0, time(NULL), 0, why};

	if (map_gen(q, r, true, why) < 0)
		return -1;
	s.gen = published(r);
	if (list(q, sweep_one, &s, why) < 0)
		return -1;
	r->filling = s.gen + 1;
	return s.removed;
}

struct collect {
	struct queue_reuse *r;
	uint64_t gen; /* published */
};

static bool
collect_one(const char *name, void *arg)
{
	struct collect *c = arg;
	uint64_t g;

	if (parse_name(name, &g) && g <= c->gen)
		memcpy(c->r->names[c->r->n++], name, strlen(name) + 1);
	return c->r->n < NAMES_MAX;
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
	if (map_gen(q, r, false, why) == 0) {
		struct collect c = {r, published(r)};
		if (list(q, collect_one, &c, why) < 0) {
			log_warn("queue: %s", str_c(why));
			r->n = 0;
		}
	} /* else no qmgr has made it yet: nothing to take */
	str_free(&why);
	if (r->n == 0) {
		r->empty_until_ms = now + EMPTY_WAIT_MS;
		return false;
	}
	/* Start at a point of our own: rotate the batch. */
	r->rand = r->rand * 1103515245u + 12345u;
	size_t k = (r->rand >> 8) % r->n;
	for (size_t i = 0; i < k; i++) {
		char tmp[QUEUE_REUSE_NAME_MAX];
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
