/*
 * notice - the queue files qmgr writes itself: delivery status
 * notifications (lib/dsn) and the children of forwarded recipients.
 * Both are ordinary new queue files (lib/queue_write), committed into
 * incoming/ (file and folder fsynced) before the caller marks the
 * recipient that needed them done (DESIGN §2 rule 2, §4 step 4).
 *
 * A notice has the null sender, so that a failing notice can never
 * produce another notice to the sender: qmgr sends it to postmaster
 * instead, with the attribute notice=2bounce, and drops that one if it
 * fails too.
 *
 * Never: hold a message's content in memory, or mark anything.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dsn.h"
#include "lib/log.h"
#include "lib/queue_write.h"
#include "qmgr/qmgr.h"

#define COPY_CHUNK 65536

/* Attributes a child keeps from its parent (RFC 3461 §4.3, §4.4). */
static const char *const kept_attrs[] = { "envid", "ret", "body",
	"smtputf8" };

static enum status
sink(void *ctx, const void *p, size_t n, struct str *why)
{
	return queue_file_content(ctx, p, n, why);
}

static enum status
finish(struct queue_file *qf, char id_r[QUEUE_ID_SIZE], struct str *why)
{
	enum status st = queue_file_commit(qf, why);

	if (st == STATUS_OK)
		snprintf(id_r, QUEUE_ID_SIZE, "%s", queue_file_id(qf));
	return st;
}

static bool
seen_before(char *const *addrs, size_t k)
{
	for (size_t j = 0; j < k; j++)
		if (ascii_strcaseeq(addrs[j], addrs[k]))
			return true;
	return false;
}

enum status
notice_forward(struct qmgr *qm, const struct qmsg *m, size_t idx,
    char *const *addrs, size_t naddrs, char id_r[QUEUE_ID_SIZE],
    struct str *why)
{
	const struct queue_rcpt *parent = &m->env.rcpts[idx];
	struct queue_file *qf = NULL;
	struct str *head = str_new(2048);
	uint8_t *buf = NULL;
	uint64_t pos = 0;
	enum status st;
	int fd;

	fd = queue_file_open(qm->q, QUEUE_ACTIVE, m->id, O_RDONLY, why);
	if (fd < 0) {
		str_free(&head);
		return STATUS_TEMP;
	}
#define TRY(call)                                                            \
	do {                                                                 \
		if ((st = (call)) != STATUS_OK)                              \
			goto out;                                            \
	} while (0)
	TRY(queue_file_create(qm->q, time_real_us(), &qf, why));
	TRY(queue_file_sender(qf, m->env.sender, why));
	for (size_t i = 0; i < FCT_NELEM(kept_attrs); i++) {
		const char *v = queue_env_attr(&m->env, kept_attrs[i]);
		if (v != NULL)
			TRY(queue_file_attr(qf, kept_attrs[i], v, why));
	}
	TRY(queue_file_attr(qf, "parent", m->id, why));
	for (size_t k = 0; k < naddrs; k++)
		if (!seen_before(addrs, k))
			TRY(queue_file_rcpt(qf, addrs[k], parent->orig,
			    parent->notify, why));
	/*
	 * As Postfix's local(8) when it forwards: a Delivered-To: for the
	 * recipient that forwarded, so that the loop check of whoever
	 * sees the message come back stops it.
	 */
	if (str_appendf(head, "Delivered-To: %s\r\n", parent->addr) < 0) {
		str_notef(why, "forwarding recipient too long");
		st = STATUS_PERM;
		goto out;
	}
	TRY(queue_file_content(qf, str_data(head), str_len(head), why));
	buf = x_malloc(COPY_CHUNK);
	for (;;) {
		size_t n;
		TRY(queue_content_read(queue_pread_fd, &fd, &m->env, pos, buf,
		    COPY_CHUNK, &n, why));
		if (n == 0)
			break;
		TRY(queue_file_content(qf, buf, n, why));
		pos += n;
	}
	st = finish(qf, id_r, why);
#undef TRY
out:
	queue_file_free(&qf);
	(void)close(fd); /* read-only */
	free(buf);
	str_free(&head);
	return st;
}

/* Remote-MTA: the host of "host[addr]:port"; none for local answers. */
static char *
remote_mta(const char *relay)
{
	size_t n;

	if (relay == NULL || *relay == '\0' || strcmp(relay, "none") == 0 ||
	    strcmp(relay, "local") == 0)
		return NULL;
	n = relay[0] == '[' ? strlen(relay) : strcspn(relay, "[");
	return n > 0 ? x_strndup(relay, n) : NULL;
}

static const char *
notice_kind(enum dsn_action a, bool postmaster_copy)
{
	switch (a) {
	case DSN_ACTION_DELAYED:
		return "delay";
	case DSN_ACTION_DELIVERED:
		return "success";
	case DSN_ACTION_FAILED:
		break;
	}
	return postmaster_copy ? "2bounce" : "bounce";
}

enum status
notice_dsn(struct qmgr *qm, const struct qmsg *m, int action,
    const size_t *idx, size_t n, const char *to, bool postmaster_copy,
    char id_r[QUEUE_ID_SIZE], struct str *why)
{
	const struct params *p = qm->p;
	struct dsn_rcpt *rc = x_calloc(n + 1, sizeof(*rc));
	char **mtas = x_calloc(n + 1, sizeof(*mtas));
	struct dsn_report r = { 0 };
	struct queue_file *qf = NULL;
	const char *ret = queue_env_attr(&m->env, "ret");
	bool null_sender = m->env.sender[0] == '\0';
	uint64_t lifetime = null_sender ? p->bounce_queue_lifetime
					: p->maximal_queue_lifetime;
	enum status st;
	int fd;

	for (size_t k = 0; k < n; k++) {
		const struct qrcpt *q = &m->r[idx[k]];
		mtas[k] = remote_mta(q->relay);
		rc[k].addr = m->env.rcpts[idx[k]].addr;
		rc[k].orig = m->env.rcpts[idx[k]].orig;
		rc[k].status = q->dsn;
		rc[k].remote_mta = mtas[k];
		rc[k].diag = q->text;
	}
	r.action = (enum dsn_action)action;
	r.queue_id = m->id;
	r.reporting_mta = p->myhostname;
	r.sender = m->env.sender;
	r.to = to;
	r.envid = queue_env_attr(&m->env, "envid");
	r.postmaster_copy = postmaster_copy;
	/*
	 * RFC 3461 §4.3: RET=HDRS asks for headers only.  Without RET, the
	 * whole message up to bounce_size_limit (Postfix); past it, and for
	 * delay and success notices, the headers.
	 */
	r.return_full = r.action == DSN_ACTION_FAILED &&
	    (ret == NULL || strcmp(ret, "HDRS") != 0) &&
	    m->env.content_len <= p->bounce_size_limit;
	r.arrival_us = m->env.arrival_us;
	r.now_us = time_real_us();
	r.retry_until_us = m->env.arrival_us + lifetime * 1000000;
	r.rcpts = rc;
	r.nrcpts = n;

	fd = queue_file_open(qm->q, QUEUE_ACTIVE, m->id, O_RDONLY, why);
	if (fd < 0) {
		st = STATUS_TEMP;
		goto out;
	}
#define TRY(call)                                                            \
	do {                                                                 \
		if ((st = (call)) != STATUS_OK)                              \
			goto close;                                          \
	} while (0)
	TRY(queue_file_create(qm->q, time_real_us(), &qf, why));
	TRY(queue_file_sender(qf, "", why));
	TRY(queue_file_attr(qf, "notice",
	    notice_kind(r.action, postmaster_copy), why));
	TRY(queue_file_attr(qf, "parent", m->id, why));
	TRY(queue_file_rcpt(qf, to, NULL, 0, why));
	TRY(dsn_compose(&r, queue_pread_fd, &fd, &m->env, sink, qf, why));
	st = finish(qf, id_r, why);
#undef TRY
close:
	(void)close(fd); /* read-only */
out:
	queue_file_free(&qf);
	for (size_t k = 0; k < n; k++)
		free(mtas[k]);
	free(mtas);
	free(rc);
	return st;
}
