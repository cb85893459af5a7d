/*
 * request - one delivery request from qmgr, start to reply.
 *
 *   1. parse it (lib/deliver); check its one descriptor: a regular file
 *      of mail_owner with one link, opened read-only (DESIGN §4);
 *   2. parse the queue file's envelope and read its header section with
 *      pread() only (lib/queue_read), for the loop checks;
 *   3. expand each recipient (recipient.c) and write each mailbox
 *      target into its Maildir's tmp/ (lib/maildir maildir_write()),
 *      all into one batch (local_request_start());
 *   4. sync the batch once: every file, then each distinct new/
 *      folder (maildir_batch_sync(), by the caller: the batch may hold
 *      the requests of many connections, commit.c), and only then
 *   5. log one line per target and build the reply, one status per
 *      requested recipient (local_request_finish(); DESIGN §2 rule 3).
 *
 * A recipient that is an alias ends as one status for many targets:
 * any temporary failure defers it whole (a retry may deliver again to
 * the targets that got it: DESIGN §2 rule 2 allows a duplicate, never a
 * loss); if nothing was delivered or forwarded, a permanent failure
 * bounces it; otherwise the failed targets that are plain addresses are
 * forwarded too, so that the child message bounces them with a DSN to
 * the sender, and the recipient is "forward" (or "sent").
 *
 * Never: deliver for a request with a bad descriptor, read the queue
 * file but through pread(), or build the reply before the batch sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/queue_read.h"
#include "local/local.h"

#define RELAY "local"
/* Return-Path: and Delivered-To: lines (two addresses and names). */
#define HEAD_MAX 4096

struct local_req {
	struct local_ctx *ctx;
	struct deliver_request rq;
	struct deliver_reply rp;
	struct local_targets *t; /* one per recipient */
	int fd;
	struct queue_env env;
	struct local_headers hdr;
	uint64_t t0_us;
	struct str *why;
	bool delivering; /* targets were written: finish them after sync */
};

/* The message source for lib/maildir: the queue file's content. */
struct src {
	int fd;
	const struct queue_env *env;
};

static enum status
src_read(void *ctx, uint64_t pos, void *buf, size_t len, size_t *n_r,
    struct str *why)
{
	struct src *s = ctx;

	return queue_content_read(
	    queue_pread_fd, &s->fd, s->env, pos, buf, len, n_r, why);
}

/* One Postfix-shaped line about one target of one recipient. */
static void
log_target(struct local_req *r, const char *to, const char *orig,
    const char *dsn, const char *status, const char *text)
{
	uint64_t now = time_real_us(), arr = r->rq.arrival_us;
	char total[32], a[32], d[32];
	struct log_esc e1, e2, e3;
	bool show_orig = orig != NULL && !ascii_strcaseeq(orig, to);

	log_fmt_delay(total, sizeof(total), now > arr ? now - arr : 0);
	log_fmt_delay(a, sizeof(a), r->t0_us > arr ? r->t0_us - arr : 0);
	log_fmt_delay(d, sizeof(d), now > r->t0_us ? now - r->t0_us : 0);
	log_info("%s: to=<%s>%s%s%s, relay=" RELAY ", delay=%s, "
	         "delays=%s/0/0/%s, dsn=%s, status=%s (%s)",
	    r->rq.queue_id, log_escape_str(&e1, to),
	    show_orig ? ", orig_to=<" : "",
	    show_orig ? log_escape_str(&e2, orig) : "", show_orig ? ">" : "",
	    total, a, d, dsn, status, log_escape_str(&e3, text));
}

static enum deliver_kind
kind_of(const char *dsn)
{
	return dsn[0] == '5' ? DELIVER_BOUNCE : DELIVER_DEFER;
}

static const char *
status_word(enum deliver_kind k)
{
	return k == DELIVER_BOUNCE  ? "bounced"
	       : k == DELIVER_DEFER ? "deferred"
	                            : "sent";
}

/* Every recipient gets the same failure (nothing was delivered). */
static void
fail_all(struct local_req *r, const char *dsn, const char *text)
{
	enum deliver_kind k = kind_of(dsn);

	for (size_t i = 0; i < r->rq.nrcpts; i++) {
		const struct deliver_rcpt *rc = &r->rq.rcpts[i];
		log_target(r, rc->addr, NULL, dsn, status_word(k), text);
		deliver_reply_add(&r->rp, rc->index, k, dsn, RELAY, text);
	}
}

/* Step 1: the descriptor (DESIGN §4).  0, or -1 with why. */
static int
check_fd(struct local_req *r, int *fds, size_t nfds)
{
	struct stat st;
	int fl;

	if (nfds != 1) {
		str_notef(
		    r->why, "request with %zu descriptors, not one", nfds);
		return -1;
	}
	r->fd = fds[0];
	fds[0] = -1;
	if (fstat(r->fd, &st) < 0) {
		str_notef(r->why, "fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		str_notef(r->why, "descriptor is not a regular file");
		return -1;
	}
	if (st.st_uid != r->ctx->mail_uid) {
		str_notef(r->why, "queue file owned by uid %lu, not mail_owner",
		    (unsigned long)st.st_uid);
		return -1;
	}
	if (st.st_nlink != 1) {
		str_notef(r->why, "queue file has %lu links, not one",
		    (unsigned long)st.st_nlink);
		return -1;
	}
	fl = fcntl(r->fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY) {
		str_notef(r->why, "queue file descriptor is not read-only");
		return -1;
	}
	return 0;
}

/* Step 2: envelope and header facts.  STATUS_OK or why. */
static enum status
read_queue_file(struct local_req *r)
{
	size_t limit = (size_t)r->ctx->p->header_size_limit;
	uint64_t len;
	uint8_t *buf;
	size_t got = 0, n;
	enum status st;

	st = queue_env_parse(queue_pread_fd, &r->fd,
	    (size_t)r->ctx->p->queue_record_limit, &r->env, r->why);
	if (st != STATUS_OK)
		return st;
	len = r->env.content_len < limit ? r->env.content_len : limit;
	buf = x_malloc((size_t)len + 1);
	while (got < len) {
		st = queue_content_read(queue_pread_fd, &r->fd, &r->env, got,
		    buf + got, (size_t)len - got, &n, r->why);
		if (st != STATUS_OK) {
			free(buf);
			return st;
		}
		if (n == 0)
			break;
		got += n;
	}
	local_headers_parse(buf, got, got == r->env.content_len, &r->hdr);
	free(buf);
	return STATUS_OK;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Step 3 for one mailbox target. */
static void
deliver_one(
    struct local_req *r, struct maildir_batch *b, struct local_target *x)
{
	const struct params *p = r->ctx->p;
	struct str *head = str_new(HEAD_MAX);
	struct str *why = str_new(1024);
	struct src s = {r->fd, &r->env};
	struct maildir_msg m = {NULL, src_read, &s, r->env.content_len};
	enum maildir_result res;
	char mailbox[2 * RESOLVE_PART_MAX + 2];

	snprintf(mailbox, sizeof(mailbox), "%s@%s", x->local, x->domain);
	/* Our own Delivered-To: for this mailbox: we have seen it before. */
	if (local_headers_delivered_to(&r->hdr, x->addr) ||
	    local_headers_delivered_to(&r->hdr, mailbox)) {
		str_notef(why, "mail forwarding loop for %s", x->addr);
		local_target_fail(x, "5.4.6", str_c(why));
		goto out;
	}
	if (str_appendf(head, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	        r->rq.sender, x->addr) < 0) {
		local_target_fail(x, "5.1.3", "address too long");
		goto out;
	}
	m.head = str_c(head);
	res = maildir_write(b, x->domain, x->local, x->quota, &m, &x->id, why);
	switch (res) {
	case MAILDIR_OK:
		x->linked = true;
		break;
	case MAILDIR_QUOTA:
		/* Dovecot's words; Postfix's virtual says "mailbox full". */
		str_notef(why, " (quota exceeded)");
		local_target_fail(x,
		    strcmp(p->quota_exceeded_action, "bounce") == 0 ? "5.2.2"
		                                                    : "4.2.2",
		    str_c(why));
		break;
	case MAILDIR_NOSPACE:
		local_target_fail(x, "4.3.1", str_c(why));
		break;
	case MAILDIR_TEMP:
	case MAILDIR_PERM:
		/* A store or queue file problem: never lose, retry. */
		log_warn(
		    "%s: maildir %s: %s", r->rq.queue_id, mailbox, str_c(why));
		local_target_fail(x, "4.3.0", str_c(why));
		break;
	}
out:
	str_free(&why);
	str_free(&head);
}

/* Step 5 for recipient i: log its targets, add its status. */
static void
finish_rcpt(struct local_req *r, size_t i, const struct maildir_batch *b)
{
	const struct deliver_rcpt *rc = &r->rq.rcpts[i];
	struct local_targets *t = &r->t[i];
	const struct local_target *temp = NULL, *perm = NULL;
	size_t delivered = 0, forward = 0;
	enum deliver_kind k;

	for (size_t k2 = 0; k2 < t->n; k2++) {
		struct local_target *x = &t->v[k2];
		if (x->kind == LOCAL_T_MAILBOX && x->linked) {
			enum maildir_result res =
			    maildir_batch_outcome(b, x->id);
			if (res == MAILDIR_NOSPACE)
				local_target_fail(x, "4.3.1",
				    "mailbox sync failed: disk full");
			else if (res != MAILDIR_OK)
				local_target_fail(
				    x, "4.3.0", "mailbox sync failed");
		}
		if (x->kind == LOCAL_T_MAILBOX)
			delivered++;
		else if (x->kind == LOCAL_T_FORWARD)
			forward++;
		else if (x->dsn[0] == '4' && temp == NULL)
			temp = x;
		else if (x->dsn[0] == '5' && perm == NULL)
			perm = x;
	}
	if (temp != NULL || (delivered == 0 && forward == 0)) {
		const struct local_target *f = temp ? temp : perm;
		k = kind_of(f->dsn);
		for (size_t k2 = 0; k2 < t->n; k2++) {
			const struct local_target *x = &t->v[k2];
			if (x->kind == LOCAL_T_MAILBOX)
				log_target(r, x->addr, rc->addr, "2.0.0",
				    "sent", "delivered to maildir");
			else if (x->kind == LOCAL_T_FAIL)
				log_target(r, x->addr, rc->addr, x->dsn,
				    status_word(kind_of(x->dsn)), x->text);
		}
		deliver_reply_add(&r->rp, rc->index, k, f->dsn, RELAY, f->text);
		return;
	}
	/* Something arrived: forward what failed for good, if we may. */
	for (size_t k2 = 0; k2 < t->n; k2++) {
		struct local_target *x = &t->v[k2];
		if (x->kind == LOCAL_T_FAIL &&
		    !local_addr_may_alias(r->ctx, x->addr)) {
			log_target(r, x->addr, rc->addr, "2.0.0", "sent",
			    "forwarded as a new message after a failure");
			x->kind = LOCAL_T_FORWARD;
			forward++;
		}
	}
	for (size_t k2 = 0; k2 < t->n; k2++) {
		const struct local_target *x = &t->v[k2];
		if (x->kind == LOCAL_T_MAILBOX)
			log_target(r, x->addr, rc->addr, "2.0.0", "sent",
			    "delivered to maildir");
		else if (x->kind == LOCAL_T_FAIL)
			/* XXX an alias again: no DSN can tell the sender. */
			log_target(
			    r, x->addr, rc->addr, x->dsn, "bounced", x->text);
		else if (x->text == NULL)
			log_target(r, x->addr, rc->addr, "2.0.0", "sent",
			    "forwarded as a new message");
	}
	if (forward == 0) {
		deliver_reply_add(&r->rp, rc->index, DELIVER_SENT, "2.0.0",
		    RELAY, "delivered to maildir");
		return;
	}
	char text[64];
	snprintf(text, sizeof(text), "forwarded to %zu address%s", forward,
	    forward == 1 ? "" : "es");
	deliver_reply_add(
	    &r->rp, rc->index, DELIVER_FORWARD, "2.0.0", RELAY, text);
	for (size_t k2 = 0; k2 < t->n; k2++)
		if (t->v[k2].kind == LOCAL_T_FORWARD)
			deliver_reply_add_forward(&r->rp, t->v[k2].addr);
}

/* Step 3: every mailbox target of every recipient into b. */
static void
write_all(struct local_req *r, struct maildir_batch *b)
{
	r->t = x_calloc(r->rq.nrcpts, sizeof(*r->t));
	for (size_t i = 0; i < r->rq.nrcpts; i++) {
		local_rcpt_expand(r->ctx, r->rq.rcpts[i].addr, &r->t[i]);
		for (size_t k = 0; k < r->t[i].n; k++)
			if (r->t[i].v[k].kind == LOCAL_T_MAILBOX)
				deliver_one(r, b, &r->t[i].v[k]);
	}
	r->delivering = true;
}

static bool
indexes_unique(const struct deliver_request *rq)
{
	for (size_t i = 0; i < rq->nrcpts; i++)
		for (size_t k = i + 1; k < rq->nrcpts; k++)
			if (rq->rcpts[i].index == rq->rcpts[k].index)
				return false;
	return true;
}

struct local_req *
local_request_start(struct local_ctx *ctx, const uint8_t *p, size_t n, int *fds,
    size_t nfds, uint64_t t0_us, struct maildir_batch *b)
{
	struct local_req *r = x_calloc(1, sizeof(*r));
	struct log_esc e;

	r->ctx = ctx;
	r->fd = -1;
	r->t0_us = t0_us;
	r->why = str_new(1024);
	if (deliver_request_parse(p, n, &r->rq, r->why) < 0) {
		log_warn("bad request from qmgr: %s",
		    log_escape_str(&e, str_c(r->why)));
		goto bad;
	}
	if (!indexes_unique(&r->rq)) {
		log_warn("%s: bad request from qmgr: a recipient index twice",
		    log_escape_str(&e, r->rq.queue_id));
		goto bad;
	}
	if (check_fd(r, fds, nfds) < 0) {
		log_warn("%s: refused: %s", log_escape_str(&e, r->rq.queue_id),
		    str_c(r->why));
		fail_all(r, "4.3.0", "bad queue file descriptor");
		goto out;
	}
	if (has_ctl(r->rq.sender) || has_ctl(r->rq.queue_id)) {
		log_warn("bad request from qmgr: control bytes");
		fail_all(r, "4.3.0", "bad sender in request");
		goto out;
	}
	switch (read_queue_file(r)) {
	case STATUS_OK:
		break;
	case STATUS_TEMP:
	case STATUS_PERM:
		log_warn("%s: queue file: %s", r->rq.queue_id, str_c(r->why));
		fail_all(r, "4.3.0", "cannot read the queue file");
		goto out;
	}
	if (r->hdr.received > ctx->p->hopcount_limit) {
		char text[96];
		snprintf(text, sizeof(text),
		    "mail forwarding loop: %u Received: header fields",
		    r->hdr.received);
		fail_all(r, "5.4.6", text);
		goto out;
	}
	write_all(r, b);
out:
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			(void)close(fds[i]); /* read-only queue file */
	/* Everything is read: the queue file is not needed any more. */
	(void)fd_close(&r->fd); /* read-only queue file */
	return r;
bad:
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			(void)close(fds[i]); /* read-only queue file */
	local_request_free(&r);
	return NULL;
}

int
local_request_finish(
    struct local_req *r, const struct maildir_batch *b, struct str *out)
{
	if (r->delivering)
		for (size_t i = 0; i < r->rq.nrcpts; i++)
			finish_rcpt(r, i, b);
	if (deliver_reply_format(&r->rp, out) < 0) {
		/* Too large to say: all of it again later (duplicates). */
		log_warn("%s: reply too large: deferring every recipient",
		    r->rq.queue_id);
		str_clear(out);
		deliver_reply_clear(&r->rp);
		fail_all(r, "4.3.0", "reply too large");
		if (deliver_reply_format(&r->rp, out) < 0)
			return -1;
	}
	return 0;
}

void
local_request_free(struct local_req **rp)
{
	struct local_req *r = *rp;

	if (r == NULL)
		return;
	(void)fd_close(&r->fd); /* read-only queue file */
	if (r->t != NULL)
		for (size_t i = 0; i < r->rq.nrcpts; i++)
			local_targets_clear(&r->t[i]);
	free(r->t);
	local_headers_clear(&r->hdr);
	queue_env_clear(&r->env);
	deliver_reply_clear(&r->rp);
	deliver_request_clear(&r->rq);
	str_free(&r->why);
	x_free(rp);
}

int
local_request_handle(struct local_ctx *ctx, const uint8_t *p, size_t n,
    int *fds, size_t nfds, uint64_t t0_us, struct str *out)
{
	struct maildir_batch *b = maildir_batch_new(ctx->store);
	struct str *why = str_new(4096);
	struct local_req *r;
	int rc = -1;

	r = local_request_start(ctx, p, n, fds, nfds, t0_us, b);
	if (r != NULL) {
		/* Step 4: every file, then one fsync per new/, then reply. */
		if (maildir_batch_sync(b, why) > 0)
			log_warn("%s: %s", r->rq.queue_id, str_c(why));
		rc = local_request_finish(r, b, out);
	}
	local_request_free(&r);
	maildir_batch_free(&b);
	str_free(&why);
	return rc;
}
