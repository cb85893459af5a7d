/*
 * message - one message in the active queue, from load to its end.
 *
 * Load: incoming/ or deferred/ -> active/ (queue_move_lazy), parse the
 * envelope, log "from=<>, size=, nrcpt= (queue active)", route every
 * recipient not marked done and queue it (sched.c).
 *
 * A reply: "sent" recipients are marked done at once (one pwrite each,
 * one fdatasync for the reply: DESIGN §2 rule 2), a "forward" recipient
 * once its child file is durable; "bounce" and success-notice
 * recipients wait for the end of the round, when their DSN is queued
 * first and they are marked after it.  A crash between a reply and its
 * mark repeats that delivery; it never loses one.
 *
 * End of a round (no job left): expiry (maximal_queue_lifetime, or
 * bounce_queue_lifetime for a null sender, counted after an attempt
 * only), the non-delivery notice (to the sender; a null sender's goes
 * to postmaster with the null sender, and a postmaster's notice that
 * fails is dropped and logged, never bounced again), success notices
 * (NOTIFY=SUCCESS), one delay warning (delay_warning_time, NOTIFY
 * DELAY or not given), then either "removed" or defer/<id> and a move
 * to deferred/ (mtime = next attempt), hold/ or incoming/.
 *
 * Never: mark a recipient done before the reply that settles it, or
 * before the queue file its settling needs is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/backoff.h"
#include "lib/dsn.h"
#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/queue_format.h"
#include "lib/queue_reuse.h"
#include "lib/queue_write.h"
#include "qmgr/qmgr.h"

struct qmsg *
msg_find(struct qmgr *qm, const char *id)
{
	for (struct qmsg *m = qm->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void
msg_destroy(struct qmgr *qm, struct qmsg *m)
{
	FCT_ASSERT(m->njobs == 0);
	if (m->prev)
		m->prev->next = m->next;
	else
		qm->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	qm->nmsgs--;
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		free(m->r[i].relay);
		free(m->r[i].text);
	}
	free(m->r);
	free(m->jobs);
	free(m->unmarked);
	queue_env_clear(&m->env);
	rcptlog_clear(&m->log);
	free(m);
}

static void
rcpt_set(struct qmsg *m, size_t i, enum qrcpt_state st, const char *dsn,
    const char *relay, const char *text)
{
	struct qrcpt *r = &m->r[i];

	r->state = st;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	free(r->relay);
	free(r->text);
	r->relay = x_strdup(relay ? relay : "none");
	r->text = x_strndup(text ? text : "", DELIVER_TEXT_MAX);
}

/* qmgr's own to= line (Postfix: relay=none when no agent answered). */
static void
log_own(struct qmsg *m, size_t i, const char *status)
{
	uint64_t now = time_real_us(), arr = m->env.arrival_us;
	char total[32], a[32], b[32];
	struct log_esc e1, e2;

	log_fmt_delay(total, sizeof(total), now > arr ? now - arr : 0);
	log_fmt_delay(a, sizeof(a), m->active_us > arr ? m->active_us - arr
	    : 0);
	log_fmt_delay(b, sizeof(b), now > m->active_us ? now - m->active_us
	    : 0);
	log_info("%s: to=<%s>, relay=none, delay=%s, delays=%s/%s/0/0, "
		 "dsn=%s, status=%s (%s)",
	    m->id, log_escape_str(&e1, m->env.rcpts[i].addr), total, a, b,
	    m->r[i].dsn, status, log_escape_str(&e2, m->r[i].text));
}

static void
job_forget(struct qmsg *m, struct qjob *job)
{
	for (size_t i = 0; i < m->njobs; i++)
		if (m->jobs[i] == job) {
			m->jobs[i] = m->jobs[--m->njobs];
			break;
		}
	free(job->idx);
	free(job);
}

static void msg_finish(struct qmgr *qm, struct qmsg *m);

static void
finished_add(struct qmgr *qm, const struct qmsg *m)
{
	if (qm->nfinished == qm->afinished) {
		qm->afinished = qm->afinished ? qm->afinished * 2 : 64;
		qm->finished = x_realloc(qm->finished,
		    qm->afinished * sizeof(*qm->finished));
	}
	struct qfinished *f = &qm->finished[qm->nfinished++];
	snprintf(f->id, sizeof(f->id), "%s", m->id);
	f->reusable = m->env.content_len <= QUEUE_REUSE_SIZE_MAX;
	f->has_log = m->has_log;
	f->retired = false;
}

void
msg_flush_finished(struct qmgr *qm)
{
	struct str *why = str_new(1024);
	bool synced;

	if (qm->nfinished == 0) {
		str_free(&why);
		return;
	}
	for (size_t i = 0; i < qm->nfinished; i++) {
		struct qfinished *f = &qm->finished[i];
		str_clear(why);
		if (f->reusable &&
		    queue_reuse_room(qm->q, qm->p->queue_file_reuse_limit)) {
			if (queue_reuse_retire(qm->q, QUEUE_ACTIVE, f->id,
			        why) == 0)
				f->retired = true;
			else if (errno != ENOENT)
				log_warn("%s: %s", f->id, str_c(why));
		}
		str_clear(why);
		if (!f->retired &&
		    queue_remove(qm->q, QUEUE_ACTIVE, f->id, why) < 0 &&
		    errno != ENOENT)
			log_warn("%s: %s", f->id, str_c(why));
		str_clear(why);
		if (f->has_log &&
		    rcptlog_remove(qm->q, QUEUE_DEFER, f->id, why) < 0)
			log_warn("%s: %s", f->id, str_c(why));
		log_info("%s: removed", f->id);
	}
	/*
	 * One fsync makes every removal durable; a crash before it brings
	 * those files back and their deliveries are repeated, never lost.
	 * Only then may a writer reuse a retired file.
	 */
	str_clear(why);
	synced = queue_folder_sync(qm->q, QUEUE_ACTIVE, why) == 0;
	if (!synced)
		log_warn("%s", str_c(why));
	bool retired = false;
	for (size_t i = 0; i < qm->nfinished; i++) {
		struct qfinished *f = &qm->finished[i];
		str_clear(why);
		if (!f->retired)
			continue;
		retired = true;
		/* Not known to be gone from active/: never reuse. */
		if (!synced && queue_reuse_drop(qm->q, f->id, why) < 0)
			log_warn("%s: %s", f->id, str_c(why));
	}
	/*
	 * One store publishes this turn's files (lib/queue_reuse.h).  After
	 * a failed fsync nothing of this generation may ever be published:
	 * reuse stops until the next qmgr, whose start removes what is left.
	 */
	if (retired && synced)
		queue_reuse_publish(qm->q);
	else if (retired)
		queue_reuse_abandon(qm->q);
	qm->nfinished = 0;
	str_free(&why);
}

void
msg_job_done(struct qmgr *qm, struct qjob *job)
{
	struct qmsg *m = job->msg;

	FCT_ASSERT(job->conn == NULL);
	job_forget(m, job);
	if (m->njobs == 0)
		msg_finish(qm, m);
}

void
msg_job_fail(struct qmgr *qm, struct qjob *job, const char *dsn,
    const char *text)
{
	struct qmsg *m = job->msg;
	bool perm = dsn[0] == '5';

	for (size_t k = 0; k < job->n && !m->deleted; k++) {
		rcpt_set(m, job->idx[k], perm ? QR_BOUNCE : QR_DEFER, dsn,
		    "none", text);
		log_own(m, job->idx[k], perm ? "bounced" : "deferred");
	}
	msg_job_done(qm, job);
}

/*
 * DESIGN §2 rule 2: one pwrite per recipient, one fdatasync for all.
 * Returns 0 (all QR_DONE) or -1 with why (none is taken as done).
 */
static int
mark_done(struct qmgr *qm, struct qmsg *m, const size_t *idx, size_t n,
    struct str *why)
{
	int fd;

	if (n == 0)
		return 0;
	fd = queue_file_open(qm->q, QUEUE_ACTIVE, m->id, O_RDWR, why);
	if (fd < 0)
		return -1;
	for (size_t k = 0; k < n; k++)
		if (queue_rcpt_set_done(fd, &m->env.rcpts[idx[k]], why) < 0) {
			(void)close(fd); /* failure reported */
			return -1;
		}
	if (queue_fd_sync(fd, why) < 0) {
		(void)close(fd); /* failure reported */
		return -1;
	}
	(void)close(fd); /* every byte is synced above */
	for (size_t k = 0; k < n; k++)
		m->r[idx[k]].state = QR_DONE;
	return 0;
}

/*
 * Done recipients of a message whose round ends with this reply: they
 * are kept in memory, and the end of the round either removes the file
 * (nothing left: no mark is needed, and one fsync of active/ covers many
 * removals) or writes them with the round's other marks, before the file
 * can be moved and tried again (rule 2 holds: the next attempt always
 * sees them).  A crash before then repeats the delivery of this message
 * in flight, as a crash before an fdatasync would.
 */
static void
mark_later(struct qmsg *m, const size_t *idx, size_t n)
{
	m->unmarked = x_realloc(m->unmarked,
	    (m->nunmarked + n + 1) * sizeof(*m->unmarked));
	for (size_t k = 0; k < n; k++) {
		m->unmarked[m->nunmarked++] = idx[k];
		m->r[idx[k]].state = QR_DONE;
	}
}

/* A mark that failed: the recipients are tried again later. */
static void
mark_failed(struct qmsg *m, const size_t *idx, size_t n, struct str *why)
{
	log_err("%s: cannot mark %zu recipient%s done: %s", m->id, n,
	    n == 1 ? "" : "s", str_c(why));
	for (size_t k = 0; k < n; k++)
		rcpt_set(m, idx[k], QR_DEFER, "4.3.0", "none",
		    "queue file write error");
}

static bool
wants(const struct qmsg *m, size_t i, unsigned bit)
{
	unsigned notify = m->env.rcpts[i].notify;

	if (notify & QUEUE_NOTIFY_NEVER)
		return false;
	/* RFC 3461 §4.1: no NOTIFY means FAILURE (and DELAY, as Postfix). */
	if (notify == 0)
		return bit != QUEUE_NOTIFY_SUCCESS;
	return (notify & bit) != 0;
}

void
msg_job_reply(struct qmgr *qm, struct qjob *job,
    const struct deliver_reply *rp)
{
	struct qmsg *m = job->msg;
	struct str *why = str_new(1024);
	size_t *mark = x_calloc(rp->n + 1, sizeof(*mark)), nmark = 0;
	char child[QUEUE_ID_SIZE];
	struct log_esc e;
	enum status st;

	for (size_t k = 0; k < rp->n && !m->deleted; k++) {
		const struct deliver_status *s = &rp->v[k];
		size_t i = s->index;

		switch (s->kind) {
		case DELIVER_SENT:
			rcpt_set(m, i, QR_BUSY, s->dsn, s->relay, s->text);
			if (m->env.sender[0] != '\0' &&
			    wants(m, i, QUEUE_NOTIFY_SUCCESS))
				m->r[i].state = QR_NOTIFY;
			else
				mark[nmark++] = i;
			break;
		case DELIVER_DEFER:
			rcpt_set(m, i, QR_DEFER, s->dsn, s->relay, s->text);
			break;
		case DELIVER_BOUNCE:
			rcpt_set(m, i, QR_BOUNCE, s->dsn, s->relay, s->text);
			break;
		case DELIVER_FORWARD:
			str_clear(why);
			st = notice_forward(qm, m, i, s->forward, s->nforward,
			    child, why);
			if (st == STATUS_OK) {
				log_info("%s: forwarded for <%s> as %s "
					 "(%zu recipient%s)",
				    m->id,
				    log_escape_str(&e, m->env.rcpts[i].addr),
				    child, s->nforward,
				    s->nforward == 1 ? "" : "s");
				rcpt_set(m, i, QR_BUSY, s->dsn, s->relay,
				    s->text);
				mark[nmark++] = i;
			} else if (st == STATUS_PERM) {
				/* Never going to fit: the sender hears of it. */
				log_warn("%s: cannot queue forwarded message: "
					 "%s", m->id, str_c(why));
				rcpt_set(m, i, QR_BOUNCE, "5.3.0", "none",
				    "cannot queue forwarded message");
				log_own(m, i, "bounced");
			} else {
				log_warn("%s: cannot queue forwarded message: "
					 "%s", m->id, str_c(why));
				rcpt_set(m, i, QR_DEFER, "4.3.0", "none",
				    "cannot queue forwarded message");
				log_own(m, i, "deferred");
			}
			break;
		}
	}
	str_clear(why);
	/* The last job of the round: its end decides (mark_later). */
	if (!m->deleted && m->njobs == 1)
		mark_later(m, mark, nmark);
	else if (!m->deleted && mark_done(qm, m, mark, nmark, why) < 0)
		mark_failed(m, mark, nmark, why);
	free(mark);
	str_free(&why);
	msg_job_done(qm, job);
}

/* Set the file's mtime (next attempt, docs/queue-format.md §5). */
static void
set_next_attempt(struct qmgr *qm, const char *id, uint64_t when)
{
	struct str *why = str_new(512);
	struct timespec ts[2] = { { (time_t)when, 0 }, { (time_t)when, 0 } };
	int fd = queue_file_open(qm->q, QUEUE_ACTIVE, id, O_RDONLY, why);

	if (fd < 0 || fsio_futimens(fd, ts) < 0)
		log_warn("%s: cannot set next attempt time: %s", id,
		    fd < 0 ? str_c(why) : strerror(errno));
	if (fd >= 0)
		(void)close(fd); /* read-only */
	str_free(&why);
}

static bool
is_postmaster_notice(const struct qmsg *m)
{
	const char *v = queue_env_attr(&m->env, "notice");

	return v != NULL && strcmp(v, "2bounce") == 0;
}

/* Recipients in state st (and, when bit != 0, wanting that notice). */
static size_t
collect(const struct qmsg *m, enum qrcpt_state st, unsigned bit,
    bool want, size_t *v)
{
	size_t n = 0;

	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->r[i].state == st &&
		    (bit == 0 || wants(m, i, bit) == want))
			v[n++] = i;
	return n;
}

/*
 * Non-delivery notices for the QR_BOUNCE recipients; appends to mark
 * those settled (noticed or not wanting a notice).  A notice that cannot
 * be queued leaves its recipients deferred.
 */
static void
notify_failures(struct qmgr *qm, struct qmsg *m, size_t *mark,
    size_t *nmark, size_t *tmp)
{
	struct str *why = str_new(1024);
	size_t n = collect(m, QR_BOUNCE, QUEUE_NOTIFY_FAILURE, true, tmp);
	bool null_sender = m->env.sender[0] == '\0';
	const char *to = null_sender ? qm->postmaster : m->env.sender;
	char nid[QUEUE_ID_SIZE];
	enum status st;

	*nmark += collect(m, QR_BOUNCE, QUEUE_NOTIFY_FAILURE, false,
	    mark + *nmark);
	if (n == 0)
		goto out;
	if (null_sender && is_postmaster_notice(m)) {
		/* A bounce of a bounce of a bounce: never loop. */
		log_info("%s: undeliverable postmaster notification "
			 "discarded", m->id);
	} else if ((st = notice_dsn(qm, m, DSN_ACTION_FAILED, tmp, n, to,
			null_sender, nid, why)) == STATUS_PERM) {
		/* No retry can make it: settle them without a notice. */
		log_err("%s: cannot compose non-delivery notification: %s",
		    m->id, str_c(why));
	} else if (st != STATUS_OK) {
		log_warn("%s: cannot queue non-delivery notification: %s",
		    m->id, str_c(why));
		for (size_t k = 0; k < n; k++)
			m->r[tmp[k]].state = QR_DEFER;
		goto out;
	} else {
		log_info("%s: %s non-delivery notification: %s", m->id,
		    null_sender ? "postmaster" : "sender", nid);
	}
	memcpy(mark + *nmark, tmp, n * sizeof(*tmp));
	*nmark += n;
out:
	str_free(&why);
}

static void
notify_success(struct qmgr *qm, struct qmsg *m, size_t *mark, size_t *nmark)
{
	struct str *why = str_new(1024);
	size_t n = collect(m, QR_NOTIFY, 0, true, mark + *nmark);
	char nid[QUEUE_ID_SIZE];

	if (n == 0)
		goto out;
	/* Delivered either way: a lost notice is no reason to deliver again. */
	if (notice_dsn(qm, m, DSN_ACTION_DELIVERED, mark + *nmark, n,
		m->env.sender, false, nid, why) != STATUS_OK)
		log_warn("%s: cannot queue delivery status notification: %s",
		    m->id, str_c(why));
	else
		log_info("%s: sender delivery status notification: %s", m->id,
		    nid);
	*nmark += n;
out:
	str_free(&why);
}

static void
notify_delay(struct qmgr *qm, struct qmsg *m, uint64_t now, size_t *tmp)
{
	const struct params *p = qm->p;
	uint64_t arrival = m->env.arrival_us / 1000000;
	struct str *why;
	char nid[QUEUE_ID_SIZE];
	size_t n;

	if (p->delay_warning_time == 0 || m->env.sender[0] == '\0' ||
	    m->log.warned != 0 || now < arrival ||
	    now - arrival < p->delay_warning_time)
		return;
	n = collect(m, QR_DEFER, QUEUE_NOTIFY_DELAY, true, tmp);
	if (n == 0)
		return;
	why = str_new(1024);
	if (notice_dsn(qm, m, DSN_ACTION_DELAYED, tmp, n, m->env.sender, false,
		nid, why) != STATUS_OK) {
		log_warn("%s: cannot queue delay notification: %s", m->id,
		    str_c(why));
	} else {
		log_info("%s: sender delay notification: %s", m->id, nid);
		m->log.warned = now;
	}
	str_free(&why);
}

/* The defer/ log for what is left: this round's reasons, else the old. */
static void
write_log(struct qmgr *qm, struct qmsg *m)
{
	struct rcptlog nl = { .warned = m->log.warned };
	struct str *why = str_new(1024);

	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct qrcpt *r = &m->r[i];
		const struct rcptlog_entry *old;
		if (r->state == QR_DEFER)
			rcptlog_set(&nl, i, r->dsn, r->relay, r->text);
		else if (r->state != QR_DONE &&
		    (old = rcptlog_find(&m->log, i)) != NULL)
			rcptlog_set(&nl, i, old->dsn, old->relay, old->text);
	}
	if (rcptlog_write(qm->q, QUEUE_DEFER, m->id, &nl, why) < 0)
		log_warn("%s: defer log: %s", m->id, str_c(why));
	rcptlog_clear(&nl);
	str_free(&why);
}

/*
 * Out of active/ into to: a held message must stay held, durably; the
 * others may come back after a crash (lib/queue.h, queue_move_lazy).
 */
static int
move_out(struct qmgr *qm, const char *id, enum queue_folder to,
    struct str *why)
{
	return to == QUEUE_HOLD ? queue_move(qm->q, QUEUE_ACTIVE, to, id, why)
				: queue_move_lazy(qm->q, QUEUE_ACTIVE, to, id,
				      why);
}

/*
 * The move out of active/ failed and the message leaves memory: remember
 * the file, or it would wait there, undelivered, for the next qmgr's
 * recovery, which for a resident qmgr may be never (it did: a full ext4
 * whose deferred/ could not grow by a block, test_full_disk.py).
 * msg_retry_stranded() moves it on at every queue run and flush.
 */
void
msg_strand(struct qmgr *qm, const char *id, enum queue_folder to,
    struct str *why)
{
	size_t i;

	log_err("%s: %s (left in active/; tried again at the next queue run)",
	    id, str_c(why));
	for (i = 0; i < qm->nstranded; i++)
		if (strcmp(qm->stranded[i].id, id) == 0)
			break;
	if (i == qm->nstranded) {
		qm->stranded = x_realloc(qm->stranded,
		    (qm->nstranded + 1) * sizeof(*qm->stranded));
		qm->nstranded++;
	}
	snprintf(qm->stranded[i].id, sizeof(qm->stranded[i].id), "%s", id);
	qm->stranded[i].to = to;
}

void
msg_retry_stranded(struct qmgr *qm)
{
	struct str *why = str_new(512);
	size_t keep = 0;

	for (size_t i = 0; i < qm->nstranded; i++) {
		const struct qstrand *s = &qm->stranded[i];
		str_clear(why);
		if (move_out(qm, s->id, s->to, why) == 0) {
			log_info("%s: moved from active/ to %s/", s->id,
			    queue_folder_name(s->to));
			if (s->to == QUEUE_INCOMING)
				qmgr_scan_incoming(qm);
		} else if (errno != ENOENT) {
			log_debug("%s: still in active/: %s", s->id,
			    str_c(why));
			qm->stranded[keep++] = *s;
		}
	}
	qm->nstranded = keep;
	str_free(&why);
}

static void
msg_finish(struct qmgr *qm, struct qmsg *m)
{
	const struct params *p = qm->p;
	uint64_t now = time_real_us() / 1000000;
	uint64_t arrival = m->env.arrival_us / 1000000;
	bool null_sender = m->env.sender[0] == '\0';
	size_t *mark = NULL, *tmp = NULL, nmark = 0, left = 0;
	struct str *why = str_new(1024);
	struct log_esc e;

	if (m->deleted)
		goto out;
	mark = x_calloc(m->env.nrcpts + 1, sizeof(*mark));
	tmp = x_calloc(m->env.nrcpts + 1, sizeof(*tmp));
	/*
	 * Expiry, only after an attempt (a held message never expires):
	 * past its lifetime, or forced by an administrator.
	 */
	if (!m->hold && collect(m, QR_DEFER, 0, true, tmp) > 0 &&
	    (m->expire ||
		backoff_expired(arrival, now,
		    null_sender ? p->bounce_queue_lifetime
				: p->maximal_queue_lifetime))) {
		log_info("%s: from=<%s>, status=expired, returned to sender",
		    m->id, log_escape_str(&e, m->env.sender));
		for (size_t i = 0; i < m->env.nrcpts; i++)
			if (m->r[i].state == QR_DEFER)
				m->r[i].state = QR_BOUNCE;
	}
	notify_failures(qm, m, mark, &nmark, tmp);
	notify_success(qm, m, mark, &nmark);
	notify_delay(qm, m, now, tmp);
	/* mark holds distinct recipients, none of them done yet. */
	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->r[i].state != QR_DONE)
			left++;
	FCT_ASSERT(left >= nmark);
	left -= nmark;
	if (left == 0) {
		/* Nothing left: the file goes; no mark needs writing. */
		for (size_t k = 0; k < nmark; k++)
			m->r[mark[k]].state = QR_DONE;
		finished_add(qm, m);
		goto out;
	}
	/* The file stays: every done recipient is written first. */
	for (size_t k = 0; k < m->nunmarked; k++)
		mark[nmark++] = m->unmarked[k];
	m->nunmarked = 0;
	if (mark_done(qm, m, mark, nmark, why) < 0)
		mark_failed(m, mark, nmark, why);
	str_clear(why);
	enum queue_folder to = m->hold ? QUEUE_HOLD
	    : m->requeue		   ? QUEUE_INCOMING
					   : QUEUE_DEFERRED;
	write_log(qm, m);
	set_next_attempt(qm, m->id, to != QUEUE_DEFERRED ? now
	    : now + backoff_delay(arrival, now, p->minimal_backoff_time,
		  p->maximal_backoff_time));
	if (move_out(qm, m->id, to, why) < 0)
		msg_strand(qm, m->id, to, why);
	else if (to == QUEUE_INCOMING)
		qmgr_scan_incoming(qm);
out:
	free(mark);
	free(tmp);
	str_free(&why);
	msg_destroy(qm, m);
	qmgr_kick(qm);
}

/* Back to deferred/ after a failed load; the next scan tries again. */
static void
unload(struct qmgr *qm, const char *id)
{
	struct str *why = str_new(512);

	if (move_out(qm, id, QUEUE_DEFERRED, why) < 0)
		msg_strand(qm, id, QUEUE_DEFERRED, why);
	str_free(&why);
}

void
msg_load(struct qmgr *qm, enum queue_folder from, const char *id)
{
	struct str *why = str_new(1024);
	struct transport_route rt = { 0 };
	struct queue_env env = { 0 };
	struct log_esc e;
	struct qmsg *m;
	enum status st;
	int fd;

	/* A message in memory is in active/: never found in from. */
	/* Lazy: a crash may bring it back to from, which is just as good. */
	if (queue_move_lazy(qm->q, from, QUEUE_ACTIVE, id, why) < 0) {
		if (errno != ENOENT) /* gone meanwhile: nothing to say */
			log_warn("%s: %s", id, str_c(why));
		goto out;
	}
	fd = queue_file_open(qm->q, QUEUE_ACTIVE, id, O_RDONLY, why);
	if (fd < 0) {
		log_warn("%s: %s", id, str_c(why));
		unload(qm, id);
		goto out;
	}
	struct queue_fdbuf *rb = x_calloc(1, sizeof(*rb));
	rb->fd = fd;
	st = queue_env_parse(queue_pread_fdbuf, rb, queue_record_limit(qm->q),
	    &env, why);
	free(rb);
	bool expire = queue_expire_marked(fd);
	(void)close(fd); /* read-only */
	if (st == STATUS_PERM) {
		struct str *why2 = str_new(512);
		/* Stranded for incoming/: read again, refused again. */
		if (queue_corrupt(qm->q, QUEUE_ACTIVE, id, str_c(why),
			why2) < 0)
			msg_strand(qm, id, QUEUE_INCOMING, why2);
		str_free(&why2);
		goto out;
	}
	if (st != STATUS_OK) {
		log_warn("%s: %s", id, str_c(why));
		unload(qm, id);
		goto out;
	}
	m = x_calloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->env = env;
	m->expire = expire;
	m->r = x_calloc(env.nrcpts + 1, sizeof(*m->r));
	m->active_us = time_real_us();
	str_clear(why);
	int lrc = rcptlog_read(qm->q, QUEUE_DEFER, id, &m->log, why);
	if (lrc < 0)
		log_warn("%s: defer log ignored: %s", id, str_c(why));
	m->has_log = lrc != 0;
	m->next = qm->msgs;
	if (qm->msgs)
		qm->msgs->prev = m;
	qm->msgs = m;
	qm->nmsgs++;
	log_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id,
	    log_escape_str(&e, m->env.sender),
	    (unsigned long long)m->env.content_len, m->env.nrcpts);
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		if (m->env.rcpts[i].flags & QUEUE_RCPT_DONE) {
			m->r[i].state = QR_DONE;
			continue;
		}
		str_clear(why);
		st = transport_lookup(qm->router, m->env.rcpts[i].addr, &rt,
		    why);
		if (st == STATUS_OK) {
			sched_add(qm, m, i, &rt);
		} else if (st == STATUS_TEMP) {
			str_notef(why, " (address resolver failure)");
			rcpt_set(m, i, QR_DEFER, "4.3.0", "none", str_c(why));
			log_own(m, i, "deferred");
		} else {
			rcpt_set(m, i, QR_BOUNCE, "5.1.3", "none", str_c(why));
			log_own(m, i, "bounced");
		}
		transport_route_clear(&rt);
	}
	if (m->njobs == 0)
		msg_finish(qm, m);
out:
	str_free(&why);
}

void
msg_hold(struct qmgr *qm, struct qmsg *m)
{
	m->hold = true;
	sched_cancel(qm, m);
	if (m->njobs == 0)
		msg_finish(qm, m);
}

void
msg_requeue(struct qmgr *qm, struct qmsg *m)
{
	m->requeue = true;
}

int
msg_delete(struct qmgr *qm, struct qmsg *m, struct str *why)
{
	if (queue_remove(qm->q, QUEUE_ACTIVE, m->id, why) < 0 &&
	    errno != ENOENT)
		return -1;
	if (queue_folder_sync(qm->q, QUEUE_ACTIVE, why) < 0)
		return -1;
	if (rcptlog_remove(qm->q, QUEUE_DEFER, m->id, why) < 0)
		log_warn("%s: %s", m->id, str_c(why));
	log_info("%s: removed", m->id);
	m->deleted = true;
	sched_cancel(qm, m);
	if (m->njobs == 0)
		msg_finish(qm, m);
	return 0;
}

void
msg_free_all(struct qmgr *qm)
{
	/* The next qmgr's recovery moves stranded files on. */
	x_free(&qm->stranded);
	qm->nstranded = 0;
	/* Finished files still to remove: do it now (cheap, and tidy). */
	msg_flush_finished(qm);
	x_free(&qm->finished);
	qm->afinished = 0;
	while (qm->msgs != NULL) {
		struct qmsg *m = qm->msgs;
		sched_cancel(qm, m);
		while (m->njobs > 0) {
			struct qjob *j = m->jobs[m->njobs - 1];
			if (j->conn != NULL)
				agent_abort(qm, j->conn);
			job_forget(m, j);
		}
		msg_destroy(qm, m);
	}
}
