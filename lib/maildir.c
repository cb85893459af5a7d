/*
 * maildir - Maildir++ delivery with batched folder syncs (lib/maildir.h).
 *
 * Every write, fsync, mkdir, link and unlink goes through lib/fsio, so
 * tests can inject faults and read back the order of the steps.  Plain
 * openat() is used only to open existing folders for reading.
 *
 * Never: follow a symbolic link below base, replace a file, or leave a
 * file in new/ for a failed delivery.
 */
#include "lib/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/users.h"

#define MAILDIR_HOST_MAX   64          /* escaped host bytes in a name */
#define MAILDIR_CHUNK      (32 * 1024) /* bytes read from the source at once */
#define MAILDIR_NAME_TRIES 8           /* fresh names tried on EEXIST */
#define MAILDIR_WRITTEN_MAX 64          /* files written, not yet fsynced */
#define MAILDIR_DIR_MODE   0700
#define MAILDIR_FILE_MODE  0600

struct maildir_store {
	int basefd;
	char *host;       /* escaped for file names */
	uint64_t counter; /* Q<n>: deliveries of this process */
};

struct mbox {
	char *domain, *local;
	int md, tmp, new; /* Maildir/, tmp/, new/ */
	bool have_usage;
	uint64_t usage;
	bool pending; /* a file linked into new/ since the last sync */
};

/*
 * WRITTEN: in tmp/, fd open, not fsynced, not in new/ (maildir_write());
 * LINKED: fsynced and linked into new/, the folder not yet synced;
 * DURABLE: new/ synced since; FAILED: res says why, nothing in new/ (or
 * new/'s sync failed).
 */
enum dlv_state { DLV_WRITTEN, DLV_LINKED, DLV_DURABLE, DLV_FAILED };

struct dlv {
	size_t mbox;
	char *name;    /* WRITTEN: the tmp/ name; then the new/ name */
	int fd;        /* WRITTEN: the file, open for writing */
	uint64_t size; /* S= and W= for the new/ name */
	uint64_t vsize;
	enum dlv_state state;
	enum maildir_result res; /* FAILED: why */
};

struct maildir_batch {
	struct maildir_store *st; /* borrowed */
	struct mbox *mb;
	size_t nmb;
	struct dlv *d;
	size_t nd;
	size_t nwritten; /* deliveries in DLV_WRITTEN (open descriptors) */
};

static void drop_tmp(struct mbox *mb, const char *name);
static unsigned settle_written(struct maildir_batch *b);

static const char *const result_names[] = {
    "ok", "quota", "nospace", "temp", "perm"};

const char *
maildir_result_name(enum maildir_result r)
{
	return (size_t)r < FCT_NELEM(result_names) ? result_names[r] : "?";
}

/* A failed system call: ENOSPC and EDQUOT are NOSPACE, the rest TEMP. */
static enum maildir_result
errno_result(int e)
{
	return e == ENOSPC || e == EDQUOT ? MAILDIR_NOSPACE : MAILDIR_TEMP;
}

struct maildir_store *
maildir_store_open(const char *base, const char *host, struct str *why)
{
	struct maildir_store *st;
	struct str *h;
	int fd;

	/* base is the administrator's path: links above the store are ok. */
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		str_notef(why, "mail store %s: %s", base, strerror(errno));
		return NULL;
	}
	h = str_new(MAILDIR_HOST_MAX);
	for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
		int rc;
		if (*p == '/')
			rc = str_appends(h, "\\057");
		else if (*p == ':')
			rc = str_appends(h, "\\072");
		else if (*p == ',')
			rc = str_appends(h, "\\054");
		else if (*p < 0x21 || *p == 0x7f || *p == '\\')
			rc = str_appendc(h, '_');
		else
			rc = str_appendc(h, (char)*p);
		if (rc < 0)
			break; /* cut: the rest of the name keeps it unique */
	}
	if (str_len(h) == 0 && str_set(h, "localhost") < 0)
		FCT_ASSERT(0);
	st = x_calloc(1, sizeof(*st));
	st->basefd = fd;
	st->host = str_take(&h);
	return st;
}

void
maildir_store_close(struct maildir_store **sp)
{
	struct maildir_store *st = *sp;

	if (st == NULL)
		return;
	(void)fd_close(&st->basefd); /* a read-only folder */
	free(st->host);
	x_free(sp);
}

struct maildir_batch *
maildir_batch_new(struct maildir_store *st)
{
	struct maildir_batch *b = x_calloc(1, sizeof(*b));

	b->st = st;
	return b;
}

void
maildir_batch_free(struct maildir_batch **bp)
{
	struct maildir_batch *b = *bp;

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nd; i++) {
		struct dlv *d = &b->d[i];
		if (d->state == DLV_WRITTEN) {
			/* Never synced nor reported: take it back. */
			(void)fd_close(&d->fd); /* the file is dropped */
			drop_tmp(&b->mb[d->mbox], d->name);
		}
		free(d->name);
	}
	free(b->d);
	for (size_t i = 0; i < b->nmb; i++) {
		struct mbox *m = &b->mb[i];
		/* Read-only folder descriptors: nothing to lose on close. */
		(void)fd_close(&m->md);
		(void)fd_close(&m->tmp);
		(void)fd_close(&m->new);
		free(m->domain);
		free(m->local);
	}
	free(b->mb);
	x_free(bp);
}

size_t
maildir_batch_count(const struct maildir_batch *b)
{
	return b->nd;
}

/*
 * Open folder name below parent, never through a link.  With create, a
 * missing folder is made and parent fsynced (also when another process
 * made it first: its sync may not have happened yet).  Returns the
 * descriptor, or -1 with *res and why; ENOENT without create gives -1
 * with errno ENOENT and *res MAILDIR_OK.
 */
static int
open_dir(int parent, const char *name, bool create, enum maildir_result *res,
    struct str *why)
{
	int fd;

	*res = MAILDIR_OK;
	for (int tries = 0; tries < 2; tries++) {
		fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == ELOOP || errno == ENOTDIR) {
			str_notef(why,
			    "%s: a symbolic link or not a folder "
			    "in the mail store: refused",
			    name);
			*res = MAILDIR_TEMP;
			return -1;
		}
		if (errno != ENOENT) {
			str_notef(why, "open %s: %s", name, strerror(errno));
			*res = errno_result(errno);
			return -1;
		}
		if (!create || tries > 0)
			break;
		if (fsio_mkdirat(parent, name, MAILDIR_DIR_MODE) < 0 &&
		    errno != EEXIST) {
			str_notef(why, "mkdir %s: %s", name, strerror(errno));
			*res = errno_result(errno);
			return -1;
		}
		if (fsio_fsync_dir(parent) < 0) {
			str_notef(why, "fsync of the folder above %s: %s", name,
			    strerror(errno));
			*res = errno_result(errno);
			return -1;
		}
	}
	if (create) {
		str_notef(why, "open %s: %s", name, strerror(errno));
		*res = MAILDIR_TEMP;
	}
	errno = ENOENT;
	return -1;
}

/* Check domain and local as path components; PERM with why if not. */
static bool
names_ok(const char *domain, const char *local, struct str *why)
{
	return users_domain_check(domain, strlen(domain), why) == 0 &&
	       users_local_check(local, strlen(local), why) == 0;
}

/*
 * Open (create) <domain>/<local>/Maildir/{tmp,new,cur}: the Maildir fd
 * in *md_r, or -1 with *res (create false: ENOENT -> -1, *res OK).
 */
static int
open_maildir(int basefd, const char *domain, const char *local, bool create,
    enum maildir_result *res, struct str *why)
{
	const char *path[] = {domain, local, "Maildir"};
	int fd = basefd, next;

	for (size_t i = 0; i < FCT_NELEM(path); i++) {
		next = open_dir(fd, path[i], create, res, why);
		if (fd != basefd)
			(void)close(fd); /* read-only folder */
		if (next < 0)
			return -1;
		fd = next;
	}
	return fd;
}

/* Sum of the sizes of the messages in folder sub of dirfd. */
static int
scan_sizes(int dirfd, const char *sub, uint64_t *sum, struct str *why)
{
	enum maildir_result res;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = open_dir(dirfd, sub, false, &res, why);
	if (fd < 0)
		return res == MAILDIR_OK ? 0 : -1; /* missing: empty */
	d = fdopendir(fd);
	if (d == NULL) {
		str_notef(why, "%s: %s", sub, strerror(errno));
		(void)close(fd); /* read-only folder */
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		uint64_t size;
		struct stat sb;
		if (de->d_name[0] == '.')
			continue;
		if (!maildir_name_size(de->d_name, &size)) {
			if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
			        0 ||
			    !S_ISREG(sb.st_mode))
				continue; /* gone (moved by a reader), or odd */
			size = (uint64_t)sb.st_size;
		}
		*sum = *sum + size < *sum ? UINT64_MAX : *sum + size;
	}
	if (errno != 0) {
		str_notef(why, "read %s: %s", sub, strerror(errno));
		(void)closedir(d);
		return -1;
	}
	(void)closedir(d); /* read-only folder */
	return 0;
}

/* Usage of an open Maildir: new/, cur/, and every .Folder/ below. */
static int
usage_of(int md, uint64_t *bytes_r, struct str *why)
{
	struct str *scratch;
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if (scan_sizes(md, "new", &sum, why) < 0 ||
	    scan_sizes(md, "cur", &sum, why) < 0)
		return -1;
	fd = openat(md, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		str_notef(why, "Maildir: %s", strerror(errno));
		if (fd >= 0)
			(void)close(fd); /* read-only folder */
		return -1;
	}
	scratch = str_new(256);
	while ((de = readdir(d)) != NULL) {
		enum maildir_result res;
		int sub;
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		str_clear(scratch);
		sub = open_dir(md, de->d_name, false, &res, scratch);
		if (sub < 0)
			continue; /* not a folder we count */
		int rc = scan_sizes(sub, "new", &sum, why) < 0 ||
		         scan_sizes(sub, "cur", &sum, why) < 0;
		(void)close(sub); /* read-only folder */
		if (rc) {
			(void)closedir(d); /* read-only folder */
			str_free(&scratch);
			return -1;
		}
	}
	(void)closedir(d); /* read-only folder */
	str_free(&scratch);
	*bytes_r = sum;
	return 0;
}

int
maildir_usage(struct maildir_store *st, const char *domain, const char *local,
    uint64_t *bytes_r, struct str *why)
{
	enum maildir_result res;
	int md, rc;

	*bytes_r = 0;
	if (!names_ok(domain, local, why))
		return -1;
	md = open_maildir(st->basefd, domain, local, false, &res, why);
	if (md < 0)
		return res == MAILDIR_OK ? 0 : -1;
	rc = usage_of(md, bytes_r, why);
	(void)close(md); /* read-only folder */
	return rc;
}

bool
maildir_name_size(const char *name, uint64_t *size_r)
{
	const char *end = strchr(name, ':');
	const char *p = strchr(name, ',');

	if (end == NULL)
		end = name + strlen(name);
	while (p != NULL && p < end) {
		const char *f = p + 1;
		const char *fe = memchr(f, ',', (size_t)(end - f));
		if (fe == NULL)
			fe = end;
		if (fe - f > 2 && f[0] == 'S' && f[1] == '=' &&
		    num_parse_u64(
		        f + 2, (size_t)(fe - f - 2), UINT64_MAX, size_r) == 0)
			return true;
		p = fe < end ? fe : NULL;
	}
	return false;
}

/* The batch's entry for local@domain, opening (creating) it. */
static struct mbox *
mbox_get(struct maildir_batch *b, const char *domain, const char *local,
    enum maildir_result *res, struct str *why)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	struct mbox m = {.md = -1, .tmp = -1, .new = -1};
	int cur = -1;

	for (size_t i = 0; i < b->nmb; i++)
		if (strcmp(b->mb[i].domain, domain) == 0 &&
		    strcmp(b->mb[i].local, local) == 0)
			return &b->mb[i];
	m.md = open_maildir(b->st->basefd, domain, local, true, res, why);
	if (m.md < 0)
		return NULL;
	for (size_t i = 0; i < FCT_NELEM(subs); i++) {
		int fd = open_dir(m.md, subs[i], true, res, why);
		if (fd < 0) {
			(void)fd_close(&m.md); /* read-only folders */
			(void)fd_close(&m.tmp);
			(void)fd_close(&m.new);
			return NULL;
		}
		if (i == 0)
			m.tmp = fd;
		else if (i == 1)
			m.new = fd;
		else
			cur = fd;
	}
	(void)fd_close(&cur); /* only made sure it exists */
	m.domain = x_strdup(domain);
	m.local = x_strdup(local);
	b->mb = x_realloc(b->mb, (b->nmb + 1) * sizeof(*b->mb));
	b->mb[b->nmb] = m;
	return &b->mb[b->nmb++];
}

/* CRLF -> LF over a stream: a CR is held back until the next byte. */
struct lfconv {
	bool cr;        /* a CR is pending */
	bool last_cr;   /* the last byte written out was a CR */
	uint64_t size;  /* bytes out */
	uint64_t vsize; /* bytes out with every bare LF counted as CRLF */
};

static void
out_byte(struct lfconv *c, uint8_t *out, size_t *o, uint8_t b)
{
	out[(*o)++] = b;
	c->size++;
	c->vsize += (b == '\n' && !c->last_cr) ? 2 : 1;
	c->last_cr = b == '\r';
}

/* Convert n bytes of in into out (room for n + 1); returns bytes out. */
static size_t
lf_convert(struct lfconv *c, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = in[i];
		if (c->cr) {
			c->cr = false;
			if (b == '\n') {
				out_byte(c, out, &o, '\n');
				continue;
			}
			out_byte(c, out, &o, '\r');
		}
		if (b == '\r')
			c->cr = true;
		else
			out_byte(c, out, &o, b);
	}
	return o;
}

static size_t
lf_finish(struct lfconv *c, uint8_t *out)
{
	size_t o = 0;

	if (c->cr) {
		c->cr = false;
		out_byte(c, out, &o, '\r');
	}
	return o;
}

/* Write head and message, converted, to fd. */
static enum maildir_result
write_message(
    int fd, const struct maildir_msg *m, struct lfconv *c, struct str *why)
{
	uint8_t *in = x_malloc(MAILDIR_CHUNK),
	        *out = x_malloc(MAILDIR_CHUNK + 1);
	enum maildir_result res = MAILDIR_OK;
	uint64_t pos = 0;
	size_t n, o;

	if (m->head != NULL) {
		const uint8_t *h = (const uint8_t *)m->head;
		size_t hl = strlen(m->head);
		for (size_t off = 0; off < hl; off += n) {
			n = hl - off < MAILDIR_CHUNK ? hl - off : MAILDIR_CHUNK;
			o = lf_convert(c, h + off, n, out);
			if (fsio_write_all(fd, out, o) < 0)
				goto werr;
		}
	}
	while (pos < m->len) {
		uint64_t left = m->len - pos;
		size_t want =
		    left < MAILDIR_CHUNK ? (size_t)left : MAILDIR_CHUNK;
		enum status s = m->read(m->ctx, pos, in, want, &n, why);
		if (s != STATUS_OK) {
			res = s == STATUS_PERM ? MAILDIR_PERM : MAILDIR_TEMP;
			goto out;
		}
		if (n == 0 || n > want) {
			str_notef(why, "message ends %llu bytes early",
			    (unsigned long long)left);
			res = MAILDIR_PERM;
			goto out;
		}
		pos += n;
		o = lf_convert(c, in, n, out);
		if (fsio_write_all(fd, out, o) < 0)
			goto werr;
	}
	o = lf_finish(c, out);
	if (o > 0 && fsio_write_all(fd, out, o) < 0)
		goto werr;
	goto out;
werr:
	str_notef(why, "write: %s", strerror(errno));
	res = errno_result(errno);
out:
	free(in);
	free(out);
	return res;
}

/* "<secs>.M<usec>P<pid>Q<n>.<host>" into name. */
static int
make_base(struct maildir_store *st, struct str *name)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	str_clear(name);
	return str_appendf(name, "%llu.M%luP%ldQ%llu.%s",
	    (unsigned long long)tv.tv_sec, (unsigned long)tv.tv_usec,
	    (long)getpid(), (unsigned long long)++st->counter, st->host);
}

/* Remove tmp/name after a failure; nothing durable rests on it. */
static void
drop_tmp(struct mbox *mb, const char *name)
{
	if (fsio_unlinkat(mb->tmp, name, 0) < 0 && errno != ENOENT)
		log_warn("maildir %s@%s: cannot remove tmp/%s: %m", mb->local,
		    mb->domain, name);
}

/*
 * Steps 1-3 and the start of step 4: quota, a new file in tmp/, the
 * bytes, and writeback started (not waited for).  On MAILDIR_OK the
 * delivery is DLV_WRITTEN with its descriptor open.
 */
enum maildir_result
maildir_write(struct maildir_batch *b, const char *domain, const char *local,
    uint64_t quota, const struct maildir_msg *m, size_t *id_r, struct str *why)
{
	struct str *tmpname = str_new(MAILDIR_NAME_MAX);
	struct lfconv conv = {0};
	enum maildir_result res;
	struct mbox *mb;
	size_t mbi;
	int fd = -1, tries;

	if (!names_ok(domain, local, why)) {
		res = MAILDIR_PERM;
		goto out;
	}
	/* Bound the open descriptors: settle what waits (step 4, 5). */
	if (b->nwritten >= MAILDIR_WRITTEN_MAX)
		settle_written(b);
	mb = mbox_get(b, domain, local, &res, why);
	if (mb == NULL)
		goto out;
	mbi = (size_t)(mb - b->mb);

	/* 1. quota */
	if (quota > 0) {
		uint64_t need = m->len, hl = m->head ? strlen(m->head) : 0;
		if (!mb->have_usage) {
			if (usage_of(mb->md, &mb->usage, why) < 0) {
				res = MAILDIR_TEMP;
				goto out;
			}
			mb->have_usage = true;
		}
		need = need + hl < need ? UINT64_MAX : need + hl;
		if (mb->usage > quota || need > quota - mb->usage) {
			str_notef(why,
			    "mailbox is over quota (%llu of %llu "
			    "bytes used, message %llu)",
			    (unsigned long long)mb->usage,
			    (unsigned long long)quota,
			    (unsigned long long)need);
			res = MAILDIR_QUOTA;
			goto out;
		}
	}

	/* 2. a new file in tmp/ */
	for (tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
		if (make_base(b->st, tmpname) < 0) {
			str_notef(why, "file name too long");
			res = MAILDIR_TEMP;
			goto out;
		}
		fd = fsio_openat(mb->tmp, str_c(tmpname),
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
		    MAILDIR_FILE_MODE);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		str_notef(
		    why, "create tmp/%s: %s", str_c(tmpname), strerror(errno));
		res = errno_result(errno);
		goto out;
	}

	/* 3. the bytes */
	res = write_message(fd, m, &conv, why);
	if (res != MAILDIR_OK) {
		(void)close(fd); /* the file is dropped */
		drop_tmp(mb, str_c(tmpname));
		goto out;
	}
	/*
	 * 4 begins: start writing the bytes out now, so that the fsyncs of
	 * a batch find them on their way (each fsync then waits for its
	 * own data no longer than for the cache flush).  Only a hint: the
	 * fsync in settle() is what makes the file durable, and reports
	 * any error, so a failure here is ignored.
	 */
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	mb->usage += conv.size;
	b->d = x_realloc(b->d, (b->nd + 1) * sizeof(*b->d));
	b->d[b->nd] = (struct dlv){.mbox = mbi,
	    .name = str_take(&tmpname),
	    .fd = fd,
	    .size = conv.size,
	    .vsize = conv.vsize,
	    .state = DLV_WRITTEN,
	    .res = MAILDIR_OK};
	b->nwritten++;
	*id_r = b->nd++;
out:
	str_free(&tmpname);
	return res;
}

/*
 * Steps 4 and 5 for delivery d (WRITTEN): fsync, close, link into new/
 * under a name that tells the size, unlink the tmp/ name.  LINKED, or
 * FAILED with d->res and why (nothing in new/, tmp/ cleaned).
 */
static void
settle(struct maildir_batch *b, struct dlv *d, struct str *why)
{
	struct mbox *mb = &b->mb[d->mbox];
	struct str *newname = str_new(MAILDIR_NAME_MAX);
	bool linked = false;
	int rc;

	FCT_ASSERT(d->state == DLV_WRITTEN);
	b->nwritten--;
	d->state = DLV_FAILED;
	d->res = MAILDIR_OK;
	if (fsio_fsync(d->fd) < 0) {
		str_notef(why, "fsync: %s", strerror(errno));
		d->res = errno_result(errno);
	}
	rc = close(d->fd);
	d->fd = -1;
	if (rc < 0 && d->res == MAILDIR_OK) {
		str_notef(why, "close: %s", strerror(errno));
		d->res = errno_result(errno);
	}
	if (d->res != MAILDIR_OK)
		goto fail;
	for (int tries = 0; tries < MAILDIR_NAME_TRIES && !linked; tries++) {
		str_clear(newname);
		if (tries > 0 && make_base(b->st, newname) < 0)
			break;
		if (str_appendf(newname, "%s,S=%llu,W=%llu",
		        tries > 0 ? "" : d->name, (unsigned long long)d->size,
		        (unsigned long long)d->vsize) < 0)
			break;
		if (fsio_linkat(mb->tmp, d->name, mb->new, str_c(newname), 0) ==
		    0)
			linked = true;
		else if (errno != EEXIST) {
			str_notef(why, "link into new/: %s", strerror(errno));
			d->res = errno_result(errno);
			goto fail;
		}
	}
	if (!linked) {
		str_notef(why, "no free name in new/");
		d->res = MAILDIR_TEMP;
		goto fail;
	}
	/*
	 * The file is in new/ now: a tmp/ name left behind by a failed
	 * unlink is only clutter (readers sweep tmp/), not a reason to
	 * report the delivery as failed and deliver it twice.
	 */
	drop_tmp(mb, d->name);
	free(d->name);
	d->name = str_take(&newname);
	d->state = DLV_LINKED;
	mb->pending = true;
	str_free(&newname);
	return;
fail:
	drop_tmp(mb, d->name);
	x_free(&d->name); /* nothing of it in new/ */
	mb->usage = mb->usage > d->size ? mb->usage - d->size : 0;
	str_free(&newname);
}

/* Settle every WRITTEN delivery; failures are logged (their own why). */
static unsigned
settle_written(struct maildir_batch *b)
{
	struct str *why = str_new(1024);
	unsigned failed = 0;

	for (size_t i = 0; i < b->nd && b->nwritten > 0; i++) {
		struct dlv *d = &b->d[i];
		if (d->state != DLV_WRITTEN)
			continue;
		str_clear(why);
		settle(b, d, why);
		if (d->state == DLV_FAILED) {
			log_warn("maildir %s@%s: %s", b->mb[d->mbox].local,
			    b->mb[d->mbox].domain, str_c(why));
			failed++;
		}
	}
	str_free(&why);
	return failed;
}

enum maildir_result
maildir_deliver(struct maildir_batch *b, const char *domain, const char *local,
    uint64_t quota, const struct maildir_msg *m, size_t *id_r, struct str *why)
{
	enum maildir_result res;
	size_t id;

	res = maildir_write(b, domain, local, quota, m, &id, why);
	if (res != MAILDIR_OK)
		return res;
	settle(b, &b->d[id], why);
	if (b->d[id].state == DLV_FAILED) {
		/* The last one: forget it, as if never made. */
		res = b->d[id].res;
		free(b->d[id].name);
		b->nd--;
		return res;
	}
	*id_r = id;
	return MAILDIR_OK;
}

unsigned
maildir_batch_sync(struct maildir_batch *b, struct str *why)
{
	unsigned failed = 0;

	/* 4, 5 for what maildir_write() left: file fsyncs, then links. */
	for (size_t i = 0; i < b->nd && b->nwritten > 0; i++) {
		struct dlv *d = &b->d[i];
		if (d->state != DLV_WRITTEN)
			continue;
		settle(b, d, why);
		if (d->state == DLV_FAILED) {
			str_notef(why, " (%s@%s)", b->mb[d->mbox].local,
			    b->mb[d->mbox].domain);
			failed++;
		}
	}
	/* 6. */
	for (size_t i = 0; i < b->nmb; i++) {
		struct mbox *mb = &b->mb[i];
		enum dlv_state to = DLV_DURABLE;
		enum maildir_result res = MAILDIR_OK;
		if (!mb->pending)
			continue;
		mb->pending = false;
		if (fsio_fsync_dir(mb->new) < 0) {
			/* Never retried: the kernel may have dropped it. */
			res = errno_result(errno);
			str_notef(why, "fsync of %s@%s new/: %s", mb->local,
			    mb->domain, strerror(errno));
			to = DLV_FAILED;
			failed++;
		}
		for (size_t k = 0; k < b->nd; k++)
			if (b->d[k].mbox == i && b->d[k].state == DLV_LINKED) {
				b->d[k].state = to;
				b->d[k].res = res;
			}
	}
	return failed;
}

enum maildir_result
maildir_batch_outcome(const struct maildir_batch *b, size_t id)
{
	if (id >= b->nd)
		return MAILDIR_TEMP;
	switch (b->d[id].state) {
	case DLV_DURABLE:
		return MAILDIR_OK;
	case DLV_FAILED:
		return b->d[id].res == MAILDIR_OK ? MAILDIR_TEMP : b->d[id].res;
	default:
		return MAILDIR_TEMP; /* no sync has covered it yet */
	}
}

enum status
maildir_batch_result(const struct maildir_batch *b, size_t id)
{
	if (id >= b->nd || b->d[id].state != DLV_DURABLE)
		return STATUS_TEMP;
	return STATUS_OK;
}

const char *
maildir_batch_name(const struct maildir_batch *b, size_t id)
{
	/* A WRITTEN delivery's name is its tmp/ one: not in new/ yet. */
	return id < b->nd && b->d[id].state != DLV_WRITTEN ? b->d[id].name
	                                                   : NULL;
}
