/*
 * queue_read - the queue-file parser (format: lib/queue_format.h).
 *
 * Reads go through a small window so that a file of many short records
 * costs few callbacks; a record longer than the window is read straight
 * into its buffer.  Every length is checked against the record limit
 * before anything is allocated, and every offset sum is checked for
 * overflow.
 *
 * Never: read the content while parsing, accept a record out of order, or
 * return a partly filled envelope.
 */
#include "lib/queue_read.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WIN_SIZE 8192

/* rd_get() outcomes besides 0. */
#define RD_EOF 1
#define RD_ERR (-1)

struct rd {
	queue_pread_fn *fn;
	void *ctx;
	struct str *why;
	uint64_t win_off;
	size_t win_len;
	uint8_t win[WIN_SIZE];
};

ssize_t
queue_pread_mem(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct queue_mem *m = ctx;

	if (off >= m->len)
		return 0;
	size_t n = m->len - (size_t)off;
	if (n > len)
		n = len;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	memcpy(buf, m->data + off, n);
	return (ssize_t)n;
}

ssize_t
queue_pread_fd(void *ctx, void *buf, size_t len, uint64_t off)
{
	const int *fd = ctx;

	if (off > (uint64_t)INT64_MAX) {
		errno = EINVAL;
		return -1;
	}
	return pread(*fd, buf, len, (off_t)off);
}

ssize_t
queue_pread_fdbuf(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct queue_fdbuf *b = ctx;
	ssize_t n;

	if (off >= b->off && off - b->off < b->len) {
		size_t at = (size_t)(off - b->off), k = b->len - at;
		if (k > len)
			k = len;
		memcpy(buf, b->buf + at, k);
		return (ssize_t)k;
	}
	if (len >= sizeof(b->buf))
		return queue_pread_fd(&b->fd, buf, len, off);
	n = queue_pread_fd(&b->fd, b->buf, sizeof(b->buf), off);
	if (n <= 0) {
		b->len = 0;
		return n;
	}
	b->off = off;
	b->len = (size_t)n;
	if ((size_t)n > len)
		n = (ssize_t)len;
	memcpy(buf, b->buf, (size_t)n);
	return n;
}

/*
 * Read n bytes at off from the source, looping over short reads and
 * EINTR.  *got_r may be less than n at the end of the file.
 */
static int
src_read(queue_pread_fn *fn, void *ctx, uint64_t off, uint8_t *dst, size_t n,
    size_t *got_r, struct str *why)
{
	size_t got = 0;

	while (got < n) {
		if (off > UINT64_MAX - got)
			break; /* past any file: end of file */
		ssize_t k = fn(ctx, dst + got, n - got, off + got);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			str_notef(why, "read: %s", strerror(errno));
			return RD_ERR;
		}
		if (k == 0)
			break;
		if ((size_t)k > n - got) {
			str_notef(why, "read: source returned too much");
			return RD_ERR;
		}
		got += (size_t)k;
	}
	*got_r = got;
	return 0;
}

/* Exactly n bytes at off into dst: 0, RD_EOF or RD_ERR. */
static int
rd_get(struct rd *r, uint64_t off, void *dst, size_t n)
{
	size_t got;

	if (n == 0)
		return 0;
	if (off >= r->win_off && off - r->win_off <= r->win_len &&
	    n <= r->win_len - (size_t)(off - r->win_off)) {
		memcpy(dst, r->win + (off - r->win_off), n);
		return 0;
	}
	if (n > WIN_SIZE) {
		if (src_read(r->fn, r->ctx, off, dst, n, &got, r->why) < 0)
			return RD_ERR;
		return got < n ? RD_EOF : 0;
	}
	r->win_len = 0;
	if (src_read(r->fn, r->ctx, off, r->win, WIN_SIZE, &got, r->why) < 0)
		return RD_ERR;
	r->win_off = off;
	r->win_len = got;
	if (got < n)
		return RD_EOF;
	memcpy(dst, r->win, n);
	return 0;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* Where the parser is in the fixed record order. */
enum expect {
	EXP_TIME,
	EXP_SENDER,
	EXP_ATTR_OR_RCPT,
	EXP_RCPT_OR_CONTENT,
	EXP_END,
};

struct parse {
	struct rd *rd;
	size_t limit;
	struct queue_env *env;
	struct str *why;
	uint64_t pos; /* offset of the record being parsed */
	enum expect expect;
	uint8_t *buf; /* payload of the current record */
	size_t buf_cap;
	size_t rcpt_cap, attr_cap;
};

/* Append "corrupt: ..." to why and return STATUS_PERM. */
FCT_PRINTF(2, 3)
static enum status
corrupt(struct parse *p, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	str_notef(p->why, "corrupt: offset %llu: %s",
	    (unsigned long long)p->pos, msg);
	return STATUS_PERM;
}

/* rd_get() result as a status: EOF inside a record is corruption. */
static enum status
get(struct parse *p, uint64_t off, void *dst, size_t n, const char *what)
{
	switch (rd_get(p->rd, off, dst, n)) {
	case 0:
		return STATUS_OK;
	case RD_EOF:
		return corrupt(p, "file ends inside %s", what);
	default:
		return STATUS_TEMP;
	}
}

static bool
has_nul(const uint8_t *b, size_t n)
{
	return n > 0 && memchr(b, '\0', n) != NULL;
}

static char *
dup_bytes(const uint8_t *b, size_t n)
{
	char *s = x_malloc(n + 1);

	if (n > 0)
		memcpy(s, b, n);
	s[n] = '\0';
	return s;
}

static bool
attr_name_ok(const uint8_t *b, size_t n)
{
	if (n == 0 || n > QUEUE_ATTR_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		        (c >= 'a' && c <= 'z') || c == '_' || c == '.' ||
		        c == '-'))
			return false;
	}
	return true;
}

static enum status
do_attr(struct parse *p, const uint8_t *b, size_t n)
{
	const uint8_t *eq = n > 0 ? memchr(b, '=', n) : NULL;
	struct queue_env *env = p->env;

	if (eq == NULL || has_nul(b, n))
		return corrupt(p, "bad attribute");
	size_t nlen = (size_t)(eq - b);
	if (!attr_name_ok(b, nlen))
		return corrupt(p, "bad attribute name");
	if (env->nattrs == p->attr_cap) {
		p->attr_cap = p->attr_cap ? p->attr_cap * 2 : 8;
		env->attrs =
		    x_realloc(env->attrs, p->attr_cap * sizeof(*env->attrs));
	}
	struct queue_attr *a = &env->attrs[env->nattrs++];
	a->name = dup_bytes(b, nlen);
	a->value = dup_bytes(eq + 1, n - nlen - 1);
	return STATUS_OK;
}

static bool
notify_ok(uint8_t v)
{
	if ((v & ~QUEUE_NOTIFY_KNOWN) != 0)
		return false;
	/* RFC 3461 §4.1: NEVER stands alone. */
	return !((v & QUEUE_NOTIFY_NEVER) && v != QUEUE_NOTIFY_NEVER);
}

static enum status
do_rcpt(struct parse *p, const uint8_t *b, size_t n)
{
	struct queue_env *env = p->env;

	if (n < QUEUE_RCPT_FIXED)
		return corrupt(p, "recipient record too short");
	uint8_t flags = b[QUEUE_RCPT_FLAGS_AT];
	uint8_t notify = b[QUEUE_RCPT_NOTIFY_AT];
	uint32_t alen = get_be32(b + QUEUE_RCPT_ADDRLEN_AT);
	size_t rest = n - QUEUE_RCPT_FIXED;
	if ((flags & ~QUEUE_RCPT_FLAGS_KNOWN) != 0)
		return corrupt(p, "unknown recipient flags 0x%02x", flags);
	if (!notify_ok(notify))
		return corrupt(p, "bad notify 0x%02x", notify);
	if (alen == 0 || alen > rest)
		return corrupt(p, "bad recipient address length");
	if (has_nul(b + QUEUE_RCPT_FIXED, rest))
		return corrupt(p, "NUL in recipient");
	if (env->nrcpts == p->rcpt_cap) {
		p->rcpt_cap = p->rcpt_cap ? p->rcpt_cap * 2 : 8;
		env->rcpts =
		    x_realloc(env->rcpts, p->rcpt_cap * sizeof(*env->rcpts));
	}
	struct queue_rcpt *r = &env->rcpts[env->nrcpts++];
	r->addr = dup_bytes(b + QUEUE_RCPT_FIXED, alen);
	r->orig = dup_bytes(b + QUEUE_RCPT_FIXED + alen, rest - alen);
	r->notify = notify;
	r->flags = flags;
	r->flags_off = p->pos + QUEUE_REC_HEAD + QUEUE_RCPT_FLAGS_AT;
	if (flags & QUEUE_RCPT_DONE)
		env->ndone++;
	return STATUS_OK;
}

/* The CONTENT record at p->pos (type already read); *next_r after it. */
static enum status
do_content(struct parse *p, uint64_t *next_r)
{
	uint8_t lb[8];
	enum status st;

	if (p->expect != EXP_RCPT_OR_CONTENT)
		return corrupt(p, "content out of order");
	if ((st = get(p, p->pos + 1, lb, sizeof(lb), "content head")) !=
	    STATUS_OK)
		return st;
	uint64_t len = get_be64(lb), off = p->pos + QUEUE_CONTENT_HEAD;
	if (len > (uint64_t)INT64_MAX - off)
		return corrupt(p, "content length %llu too large",
		    (unsigned long long)len);
	p->env->content_off = off;
	p->env->content_len = len;
	p->expect = EXP_END;
	*next_r = off + len;
	return STATUS_OK;
}

/* Is type allowed now?  Advances p->expect. */
static bool
in_order(struct parse *p, uint8_t type)
{
	switch (p->expect) {
	case EXP_TIME:
		if (type != QUEUE_REC_TIME)
			return false;
		p->expect = EXP_SENDER;
		return true;
	case EXP_SENDER:
		if (type != QUEUE_REC_SENDER)
			return false;
		p->expect = EXP_ATTR_OR_RCPT;
		return true;
	case EXP_ATTR_OR_RCPT:
		if (type == QUEUE_REC_ATTR)
			return true;
		if (type != QUEUE_REC_RCPT)
			return false;
		p->expect = EXP_RCPT_OR_CONTENT;
		return true;
	case EXP_RCPT_OR_CONTENT:
		return type == QUEUE_REC_RCPT;
	case EXP_END:
		return type == QUEUE_REC_END;
	}
	return false;
}

/* One length-prefixed record at p->pos; sets *next_r, *end_r. */
static enum status
do_record(struct parse *p, uint8_t type, uint64_t *next_r, bool *end_r)
{
	uint8_t lb[4];
	enum status st;

	if (type != QUEUE_REC_TIME && type != QUEUE_REC_SENDER &&
	    type != QUEUE_REC_ATTR && type != QUEUE_REC_RCPT &&
	    type != QUEUE_REC_END)
		return corrupt(p, "unknown record type 0x%02x", type);
	if (!in_order(p, type))
		return corrupt(p, "record '%c' out of order", type);
	if ((st = get(p, p->pos + 1, lb, sizeof(lb), "record head")) !=
	    STATUS_OK)
		return st;
	uint32_t len = get_be32(lb);
	if (len > p->limit)
		return corrupt(p, "record '%c' of %lu bytes exceeds limit %zu",
		    type, (unsigned long)len, p->limit);
	if (len > p->buf_cap) {
		p->buf = x_realloc(p->buf, len);
		p->buf_cap = len;
	}
	if ((st = get(p, p->pos + QUEUE_REC_HEAD, p->buf, len, "record")) !=
	    STATUS_OK)
		return st;
	*next_r = p->pos + QUEUE_REC_HEAD + len;
	switch (type) {
	case QUEUE_REC_TIME:
		if (len != 8)
			return corrupt(p, "bad time record");
		p->env->arrival_us = get_be64(p->buf);
		return STATUS_OK;
	case QUEUE_REC_SENDER:
		if (has_nul(p->buf, len))
			return corrupt(p, "NUL in sender");
		p->env->sender = dup_bytes(p->buf, len);
		return STATUS_OK;
	case QUEUE_REC_ATTR:
		return do_attr(p, p->buf, len);
	case QUEUE_REC_RCPT:
		return do_rcpt(p, p->buf, len);
	default: /* QUEUE_REC_END */
		if (len != 0)
			return corrupt(p, "END record with a payload");
		*end_r = true;
		return STATUS_OK;
	}
}

static enum status
parse_header(struct parse *p)
{
	uint8_t h[QUEUE_HEADER_LEN];
	enum status st;

	if ((st = get(p, 0, h, sizeof(h), "header")) != STATUS_OK)
		return st;
	if (memcmp(h, QUEUE_MAGIC, QUEUE_MAGIC_LEN) != 0)
		return corrupt(p, "not a queue file (bad magic)");
	p->env->version = get_be32(h + QUEUE_MAGIC_LEN);
	if (p->env->version != QUEUE_FORMAT_VERSION)
		return corrupt(p, "unknown format version %lu",
		    (unsigned long)p->env->version);
	p->pos = QUEUE_HEADER_LEN;
	return STATUS_OK;
}

static enum status
parse_records(struct parse *p)
{
	enum status st;
	bool end = false;
	uint8_t type;

	while (!end) {
		uint64_t next = 0;

		switch (rd_get(p->rd, p->pos, &type, 1)) {
		case 0:
			break;
		case RD_EOF:
			return corrupt(p, "missing END record");
		default:
			return STATUS_TEMP;
		}
		if (type == QUEUE_REC_CONTENT)
			st = do_content(p, &next);
		else
			st = do_record(p, type, &next, &end);
		if (st != STATUS_OK)
			return st;
		p->pos = next;
	}
	p->env->file_size = p->pos;
	switch (rd_get(p->rd, p->pos, &type, 1)) {
	case 0:
		return corrupt(p, "data after END record");
	case RD_EOF:
		return STATUS_OK;
	default:
		return STATUS_TEMP;
	}
}

enum status
queue_env_parse(queue_pread_fn *fn, void *ctx, size_t record_limit,
    struct queue_env *env_r, struct str *why)
{
	struct rd *r = x_calloc(1, sizeof(*r));
	struct parse p;
	enum status st;

	memset(env_r, 0, sizeof(*env_r));
	memset(&p, 0, sizeof(p));
	r->fn = fn;
	r->ctx = ctx;
	r->why = why;
	p.rd = r;
	p.limit = record_limit;
	p.env = env_r;
	p.why = why;
	p.expect = EXP_TIME;
	st = parse_header(&p);
	if (st == STATUS_OK)
		st = parse_records(&p);
	x_free(&p.buf);
	x_free(&r);
	if (st != STATUS_OK)
		queue_env_clear(env_r);
	return st;
}

void
queue_env_clear(struct queue_env *env)
{
	for (size_t i = 0; i < env->nattrs; i++) {
		x_free(&env->attrs[i].name);
		x_free(&env->attrs[i].value);
	}
	for (size_t i = 0; i < env->nrcpts; i++) {
		x_free(&env->rcpts[i].addr);
		x_free(&env->rcpts[i].orig);
	}
	x_free(&env->attrs);
	x_free(&env->rcpts);
	x_free(&env->sender);
	memset(env, 0, sizeof(*env));
}

const char *
queue_env_attr(const struct queue_env *env, const char *name)
{
	for (size_t i = 0; i < env->nattrs; i++)
		if (strcmp(env->attrs[i].name, name) == 0)
			return env->attrs[i].value;
	return NULL;
}

enum status
queue_content_read(queue_pread_fn *fn, void *ctx, const struct queue_env *env,
    uint64_t pos, void *buf, size_t len, size_t *n_r, struct str *why)
{
	size_t got;

	*n_r = 0;
	if (pos >= env->content_len || len == 0)
		return STATUS_OK;
	if (len > env->content_len - pos)
		len = (size_t)(env->content_len - pos);
	if (src_read(fn, ctx, env->content_off + pos, buf, len, &got, why) < 0)
		return STATUS_TEMP;
	if (got < len) {
		str_notef(why, "corrupt: file ends inside the content");
		return STATUS_PERM;
	}
	*n_r = got;
	return STATUS_OK;
}
