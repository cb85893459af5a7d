/*
 * queue_write - the new-file writer and in-place recipient marking.
 *
 * Every byte goes through one fixed buffer and lib/fsio.  The content
 * length is not known until the end, so the CONTENT record is written
 * with a zero length and patched (in the buffer, or with one pwrite)
 * by queue_file_finish(), before the file is fsynced or named: nobody
 * can see the file until then.
 *
 * Never: name a file before fsync, rename over a name, or keep going
 * after a failed write or fsync.
 */
#include "lib/queue_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/queue_reuse.h"

/* Ids tried by one claim before giving up (each EEXIST is a surprise). */
#define CLAIM_TRIES 64
/* Temporary names tried before giving up. */
#define CREATE_TRIES 16

enum qf_state {
	QF_SENDER,   /* next: sender */
	QF_ATTRS,    /* next: attributes or recipients */
	QF_RCPTS,    /* next: recipients or content */
	QF_CONTENT,  /* content chunks */
	QF_FINISHED, /* END written and flushed */
	QF_SYNCED,   /* fsynced */
	QF_CLAIMED,  /* named incoming/ID */
	QF_DEAD,     /* failed: only free */
};

struct queue_file {
	struct queue *q; /* borrowed */
	int fd;
	enum qf_state state;
	enum status dead_status;
	char tmpname[64]; /* name in tmpdir; "" once claimed or removed */
	enum queue_folder tmpdir; /* tmp/, or reuse/ for a reused file */
	char id[QUEUE_ID_SIZE];
	char planned[QUEUE_ID_SIZE]; /* first id to try */
	char forced[QUEUE_ID_SIZE];
	uint64_t arrival_us;
	uint64_t ino;
	uint64_t old_size; /* of a reused file: cut to the new size */
	uint64_t flushed;  /* bytes handed to the kernel */
	uint64_t clen_off; /* offset of the content length field */
	uint64_t content_len;
	size_t buf_len;
	uint8_t buf[QUEUE_WRITE_BUF];
};

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* The writer is dead with status st. */
static enum status
die(struct queue_file *qf, enum status st)
{
	qf->state = QF_DEAD;
	qf->dead_status = st;
	return st;
}

/* An I/O call failed (errno set): note it, and kill the writer. */
static enum status
io_error(struct queue_file *qf, const char *what, struct str *why)
{
	int e = errno;

	str_notef(why, "queue file %s: %s", what, strerror(e));
	/* EFBIG: the message is larger than this file system allows. */
	return die(qf, e == EFBIG ? STATUS_PERM : STATUS_TEMP);
}

static enum status
perm(struct queue_file *qf, const char *what, struct str *why)
{
	str_notef(why, "queue file: %s", what);
	return die(qf, STATUS_PERM);
}

/* STATUS_OK when qf may go on, else its death status. */
static enum status
live(struct queue_file *qf, struct str *why)
{
	if (qf->state != QF_DEAD)
		return STATUS_OK;
	str_notef(why, "queue file already failed");
	return qf->dead_status;
}

static uint64_t
pos(const struct queue_file *qf)
{
	return qf->flushed + qf->buf_len;
}

static enum status
flush(struct queue_file *qf, struct str *why)
{
	if (qf->buf_len == 0)
		return STATUS_OK;
	if (fsio_write_all(qf->fd, qf->buf, qf->buf_len) < 0)
		return io_error(qf, "write", why);
	qf->flushed += qf->buf_len;
	qf->buf_len = 0;
	return STATUS_OK;
}

/* Buffered append of n bytes. */
static enum status
put(struct queue_file *qf, const void *p, size_t n, struct str *why)
{
	const uint8_t *b = p;
	enum status st;

	while (n > 0) {
		if (qf->buf_len == QUEUE_WRITE_BUF &&
		    (st = flush(qf, why)) != STATUS_OK)
			return st;
		if (qf->buf_len == 0 && n >= QUEUE_WRITE_BUF) {
			/* A whole buffer or more: skip the copy. */
			if (fsio_write_all(qf->fd, b, n) < 0)
				return io_error(qf, "write", why);
			qf->flushed += n;
			return STATUS_OK;
		}
		size_t k = QUEUE_WRITE_BUF - qf->buf_len;
		if (k > n)
			k = n;
		memcpy(qf->buf + qf->buf_len, b, k);
		qf->buf_len += k;
		b += k;
		n -= k;
	}
	return STATUS_OK;
}

/* Type and u32 length of a record whose payload is len bytes. */
static enum status
put_head(struct queue_file *qf, uint8_t type, size_t len, struct str *why)
{
	uint8_t h[QUEUE_REC_HEAD];

	if (len > queue_record_limit(qf->q) || len > UINT32_MAX)
		return perm(qf, "record exceeds queue_record_limit", why);
	h[0] = type;
	put_be32(h + 1, (uint32_t)len);
	return put(qf, h, sizeof(h), why);
}

enum status
queue_file_create(struct queue *q, uint64_t arrival_us,
    struct queue_file **qf_r, struct str *why)
{
	struct queue_file *qf = x_calloc(1, sizeof(*qf));
	int tmpfd = queue_folder_fd(q, QUEUE_TMP);
	uint8_t h[QUEUE_HEADER_LEN + QUEUE_REC_HEAD + 8];
	struct stat st;
	enum status s;

	*qf_r = NULL;
	qf->q = q;
	qf->fd = -1;
	qf->arrival_us = arrival_us;
	qf->state = QF_SENDER;
	qf->tmpdir = QUEUE_TMP;
	for (int i = 0; i < CREATE_TRIES && qf->fd < 0; i++) {
		int n =
		    snprintf(qf->tmpname, sizeof(qf->tmpname), "%ld.%llu.%llu",
		        (long)getpid(), (unsigned long long)time_real_us(),
		        (unsigned long long)queue_next_serial(q));
		FCT_ASSERT(n > 0 && (size_t)n < sizeof(qf->tmpname));
		/* A finished file from reuse/, else a new one. */
		if (i == 0) {
			qf->fd = queue_reuse_take(
			    q, qf->tmpname, sizeof(qf->tmpname), &qf->old_size);
			qf->tmpdir = qf->fd >= 0 ? QUEUE_REUSE : QUEUE_TMP;
		}
		if (qf->fd < 0)
			qf->fd = fsio_openat(tmpfd, qf->tmpname,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
		if (qf->fd < 0 && errno != EEXIST)
			break;
	}
	if (qf->fd < 0) {
		qf->tmpname[0] = '\0';
		s = io_error(qf, "create", why);
		goto fail;
	}
	if (fstat(qf->fd, &st) < 0) {
		s = io_error(qf, "stat", why);
		goto fail;
	}
	qf->ino = (uint64_t)st.st_ino;
	if (queue_id_make(arrival_us, qf->ino, qf->planned) < 0) {
		s = perm(qf, "arrival time out of range", why);
		goto fail;
	}
	memcpy(h, QUEUE_MAGIC, QUEUE_MAGIC_LEN);
	put_be32(h + QUEUE_MAGIC_LEN, QUEUE_FORMAT_VERSION);
	h[QUEUE_HEADER_LEN] = QUEUE_REC_TIME;
	put_be32(h + QUEUE_HEADER_LEN + 1, 8);
	put_be64(h + QUEUE_HEADER_LEN + QUEUE_REC_HEAD, arrival_us);
	if ((s = put(qf, h, sizeof(h), why)) != STATUS_OK)
		goto fail;
	*qf_r = qf;
	return STATUS_OK;
fail:
	queue_file_free(&qf);
	return s;
}

enum status
queue_file_sender(struct queue_file *qf, const char *sender, struct str *why)
{
	size_t n = strlen(sender);
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state == QF_SENDER);
	if ((st = put_head(qf, QUEUE_REC_SENDER, n, why)) != STATUS_OK ||
	    (st = put(qf, sender, n, why)) != STATUS_OK)
		return st;
	qf->state = QF_ATTRS;
	return STATUS_OK;
}

static bool
attr_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > QUEUE_ATTR_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		        (c >= 'a' && c <= 'z') || c == '_' || c == '.' ||
		        c == '-'))
			return false;
	}
	return true;
}

enum status
queue_file_attr(
    struct queue_file *qf, const char *name, const char *value, struct str *why)
{
	size_t nl = strlen(name), vl = strlen(value), len;
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state == QF_ATTRS);
	if (!attr_name_ok(name))
		return perm(qf, "bad attribute name", why);
	if (!size_add(nl, vl, &len) || !size_add(len, 1, &len))
		return perm(qf, "attribute too long", why);
	if ((st = put_head(qf, QUEUE_REC_ATTR, len, why)) != STATUS_OK ||
	    (st = put(qf, name, nl, why)) != STATUS_OK ||
	    (st = put(qf, "=", 1, why)) != STATUS_OK ||
	    (st = put(qf, value, vl, why)) != STATUS_OK)
		return st;
	return STATUS_OK;
}

enum status
queue_file_rcpt(struct queue_file *qf, const char *addr, const char *orig,
    unsigned notify, struct str *why)
{
	uint8_t fixed[QUEUE_RCPT_FIXED];
	size_t al = strlen(addr), ol, len;
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state == QF_ATTRS || qf->state == QF_RCPTS);
	if (orig == NULL)
		orig = addr;
	ol = strlen(orig);
	if (al == 0)
		return perm(qf, "empty recipient", why);
	if ((notify & ~QUEUE_NOTIFY_KNOWN) != 0 ||
	    ((notify & QUEUE_NOTIFY_NEVER) && notify != QUEUE_NOTIFY_NEVER))
		return perm(qf, "bad NOTIFY", why);
	if (al > UINT32_MAX || !size_add(al, ol, &len) ||
	    !size_add(len, QUEUE_RCPT_FIXED, &len))
		return perm(qf, "recipient too long", why);
	fixed[QUEUE_RCPT_FLAGS_AT] = 0;
	fixed[QUEUE_RCPT_NOTIFY_AT] = (uint8_t)notify;
	put_be32(fixed + QUEUE_RCPT_ADDRLEN_AT, (uint32_t)al);
	if ((st = put_head(qf, QUEUE_REC_RCPT, len, why)) != STATUS_OK ||
	    (st = put(qf, fixed, sizeof(fixed), why)) != STATUS_OK ||
	    (st = put(qf, addr, al, why)) != STATUS_OK ||
	    (st = put(qf, orig, ol, why)) != STATUS_OK)
		return st;
	qf->state = QF_RCPTS;
	return STATUS_OK;
}

/* End the envelope: CONTENT head with a length patched at finish. */
static enum status
begin_content(struct queue_file *qf, struct str *why)
{
	uint8_t h[QUEUE_CONTENT_HEAD] = {QUEUE_REC_CONTENT};
	enum status st;

	if (qf->state != QF_RCPTS)
		return perm(qf, "no recipients", why);
	qf->clen_off = pos(qf) + 1;
	if ((st = put(qf, h, sizeof(h), why)) != STATUS_OK)
		return st;
	qf->state = QF_CONTENT;
	return STATUS_OK;
}

enum status
queue_file_content(
    struct queue_file *qf, const void *p, size_t n, struct str *why)
{
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state <= QF_CONTENT);
	if (qf->state != QF_CONTENT &&
	    (st = begin_content(qf, why)) != STATUS_OK)
		return st;
	if (n > (uint64_t)INT64_MAX - qf->content_len)
		return perm(qf, "content too large", why);
	if ((st = put(qf, p, n, why)) != STATUS_OK)
		return st;
	qf->content_len += n;
	return STATUS_OK;
}

enum status
queue_file_finish(struct queue_file *qf, struct str *why)
{
	uint8_t end[QUEUE_REC_HEAD] = {QUEUE_REC_END};
	uint8_t lb[8];
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state <= QF_CONTENT);
	if (qf->state != QF_CONTENT &&
	    (st = begin_content(qf, why)) != STATUS_OK)
		return st;
	put_be64(lb, qf->content_len);
	if (qf->clen_off >= qf->flushed) {
		/* Still in the buffer (the usual case for small mail). */
		memcpy(qf->buf + (qf->clen_off - qf->flushed), lb, sizeof(lb));
	} else if (qf->clen_off + sizeof(lb) > qf->flushed) {
		/* Split across the flush boundary: flush, then patch. */
		if ((st = flush(qf, why)) != STATUS_OK)
			return st;
		if (fsio_pwrite_all(qf->fd, lb, sizeof(lb), qf->clen_off) < 0)
			return io_error(qf, "write", why);
	} else if (fsio_pwrite_all(qf->fd, lb, sizeof(lb), qf->clen_off) < 0) {
		return io_error(qf, "write", why);
	}
	if ((st = put(qf, end, sizeof(end), why)) != STATUS_OK ||
	    (st = flush(qf, why)) != STATUS_OK)
		return st;
	/* A reused file: what the last message left after END goes. */
	if (qf->old_size > pos(qf) && fsio_ftruncate(qf->fd, pos(qf)) < 0)
		return io_error(qf, "truncate", why);
	qf->state = QF_FINISHED;
	return STATUS_OK;
}

enum status
queue_file_sync(struct queue_file *qf, struct str *why)
{
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state == QF_FINISHED);
	/* A failed fsync is never retried: the pages may be gone. */
	if (fsio_fsync(qf->fd) < 0)
		return io_error(qf, "fsync", why);
	qf->state = QF_SYNCED;
	return STATUS_OK;
}

/* The kth id to try: forced or computed, then the next microseconds. */
static int
claim_id(const struct queue_file *qf, unsigned k, char id_r[QUEUE_ID_SIZE])
{
	uint64_t t = qf->arrival_us, ino = qf->ino;

	if (qf->forced[0] != '\0' && queue_id_parse(qf->forced, &t, &ino) < 0)
		return -1;
	return queue_id_make(t + k, ino, id_r);
}

enum status
queue_file_claim(struct queue_file *qf, struct str *why)
{
	int tmpfd = queue_folder_fd(qf->q, qf->tmpdir);
	int incfd = queue_folder_fd(qf->q, QUEUE_INCOMING);
	char id[QUEUE_ID_SIZE];
	enum status st;

	if ((st = live(qf, why)) != STATUS_OK)
		return st;
	FCT_ASSERT(qf->state == QF_SYNCED);
	for (unsigned k = 0; k < CLAIM_TRIES; k++) {
		if (claim_id(qf, k, id) < 0)
			return perm(qf, "arrival time out of range", why);
		if (fsio_rename_noreplace(tmpfd, qf->tmpname, incfd, id) == 0) {
			memcpy(qf->id, id, sizeof(id));
			qf->tmpname[0] = '\0';
			qf->state = QF_CLAIMED;
			return STATUS_OK;
		}
		if (errno != EEXIST)
			return io_error(qf, "rename", why);
		log_warn("queue: id %s taken, trying the next one", id);
	}
	str_notef(
	    why, "queue file: no free queue id after %d tries", CLAIM_TRIES);
	return die(qf, STATUS_TEMP);
}

enum status
queue_file_commit(struct queue_file *qf, struct str *why)
{
	enum status st;

	if ((st = queue_file_finish(qf, why)) != STATUS_OK ||
	    (st = queue_file_sync(qf, why)) != STATUS_OK ||
	    (st = queue_file_claim(qf, why)) != STATUS_OK)
		return st;
	if (queue_folder_sync(qf->q, QUEUE_INCOMING, why) == 0)
		return STATUS_OK;
	/*
	 * Named but not durably: the client will hear 4xx and send again,
	 * so take the name back rather than deliver twice.
	 */
	if (fsio_unlinkat(queue_folder_fd(qf->q, QUEUE_INCOMING), qf->id, 0) <
	    0)
		log_warn("%s: unacknowledged file left in incoming/: %s",
		    qf->id, strerror(errno));
	qf->id[0] = '\0';
	return die(qf, STATUS_TEMP);
}

const char *
queue_file_id(const struct queue_file *qf)
{
	return qf->id;
}

const char *
queue_file_planned_id(const struct queue_file *qf)
{
	return qf->planned;
}

uint64_t
queue_file_content_size(const struct queue_file *qf)
{
	return qf->content_len;
}

uint64_t
queue_file_size(const struct queue_file *qf)
{
	return pos(qf);
}

void
queue_file_force_id(struct queue_file *qf, const char *id)
{
	FCT_ASSERT(queue_id_valid(id));
	memcpy(qf->forced, id, strlen(id) + 1);
	memcpy(qf->planned, id, strlen(id) + 1);
}

void
queue_file_free(struct queue_file **qfp)
{
	struct queue_file *qf = *qfp;

	if (qf == NULL)
		return;
	if (qf->tmpname[0] != '\0' &&
	    fsio_unlinkat(queue_folder_fd(qf->q, qf->tmpdir), qf->tmpname, 0) <
	        0 &&
	    errno != ENOENT)
		log_warn("queue: cannot remove %s/%s: %s (qmgr sweeps it)",
		    queue_folder_name(qf->tmpdir), qf->tmpname,
		    strerror(errno));
	/*
	 * Close errors: a claimed file was fsynced already, and an
	 * unclaimed one is being thrown away.
	 */
	(void)fd_close(&qf->fd);
	x_free(qfp);
}

int
queue_rcpt_set_done(int fd, struct queue_rcpt *r, struct str *why)
{
	uint8_t cur, v = (uint8_t)(r->flags | QUEUE_RCPT_DONE);
	ssize_t n;

	/*
	 * Sanity check: the byte must be this recipient's flags as parsed,
	 * or a wrong descriptor would get a byte written into its content.
	 */
	do
		n = pread(fd, &cur, 1, (off_t)r->flags_off);
	while (n < 0 && errno == EINTR);
	if (n != 1 ||
	    (cur & ~QUEUE_RCPT_DONE) != (r->flags & ~QUEUE_RCPT_DONE)) {
		str_notef(why, "mark done: flags byte at %llu is not %s",
		    (unsigned long long)r->flags_off,
		    n < 0 ? strerror(errno) : "as parsed");
		return -1;
	}
	if (fsio_pwrite_all(fd, &v, 1, r->flags_off) < 0) {
		str_notef(why, "mark done: write: %s", strerror(errno));
		return -1;
	}
	r->flags = v;
	return 0;
}

int
queue_fd_sync(int fd, struct str *why)
{
	if (fsio_fdatasync(fd) < 0) {
		str_notef(why, "queue file fdatasync: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
queue_rcpt_mark_done(int fd, struct queue_rcpt *r, struct str *why)
{
	if (queue_rcpt_set_done(fd, r, why) < 0)
		return -1;
	return queue_fd_sync(fd, why);
}
