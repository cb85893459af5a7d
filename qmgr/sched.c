/*
 * sched - transports, destinations and the order of deliveries
 * (Postfix's qmgr_transport, qmgr_queue, qmgr_entry).
 *
 * A transport (private/<name>) holds destinations (next hops) in a
 * round-robin list; a destination holds jobs (one message's recipients
 * for that next hop, at most default_destination_recipient_limit) in
 * arrival order.  sched_run() starts a request for the next destination
 * that has a job and fewer than default_destination_concurrency_limit
 * requests in flight, then moves that destination to the back of the
 * list: one busy domain cannot starve the others.  A transport has at
 * most default_process_limit requests in flight (its agents' maxproc).
 *
 * A transport whose agent is missing or crashed is suspended for
 * transport_retry_time: its queued jobs are deferred with "4.3.0 mail
 * transport unavailable" instead of waiting (their messages go to
 * deferred/ and come back after their back-off).
 *
 * Never: start more requests than the limits allow, or free a
 * destination that still has a job queued or in flight.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "qmgr/qmgr.h"

#define UNAVAILABLE "mail transport unavailable"

static struct qxport *
xport_get(struct qmgr *qm, const char *name)
{
	struct qxport *x;
	struct str *path;

	for (x = qm->xports; x != NULL; x = x->next)
		if (strcmp(x->name, name) == 0)
			return x;
	x = x_calloc(1, sizeof(*x));
	x->name = x_strdup(name);
	path = str_new(4096);
	/* The name was checked (lib/transport.h): one path component. */
	str_notef(path, "%s/private/%s", qm->p->queue_directory, name);
	x->path = str_take(&path);
	x->next = qm->xports;
	qm->xports = x;
	return x;
}

/* XXX a linear search: fine for thousands of destinations, not more. */
static struct qdest *
dest_get(struct qxport *x, const char *nexthop)
{
	struct qdest *d;

	for (d = x->head; d != NULL; d = d->next)
		if (strcmp(d->nexthop, nexthop) == 0)
			return d;
	d = x_calloc(1, sizeof(*d));
	d->x = x;
	d->nexthop = x_strdup(nexthop);
	d->prev = x->tail;
	if (x->tail)
		x->tail->next = d;
	else
		x->head = d;
	x->tail = d;
	return d;
}

static void
dest_unlink(struct qdest *d)
{
	struct qxport *x = d->x;

	if (d->prev)
		d->prev->next = d->next;
	else
		x->head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		x->tail = d->prev;
	d->prev = d->next = NULL;
}

/* Free an idle, empty destination. */
static void
dest_maybe_free(struct qdest *d)
{
	if (d->queued > 0 || d->busy > 0)
		return;
	dest_unlink(d);
	free(d->nexthop);
	free(d);
}

/* Move d to the back of its transport's list (round-robin). */
static void
dest_rotate(struct qdest *d)
{
	struct qxport *x = d->x;

	if (x->tail == d)
		return;
	dest_unlink(d);
	d->prev = x->tail;
	x->tail->next = d;
	x->tail = d;
}

static void
job_enqueue(struct qdest *d, struct qjob *j, bool front)
{
	j->dest = d;
	if (front) {
		j->prev = NULL;
		j->next = d->head;
		if (d->head)
			d->head->prev = j;
		else
			d->tail = j;
		d->head = j;
	} else {
		j->next = NULL;
		j->prev = d->tail;
		if (d->tail)
			d->tail->next = j;
		else
			d->head = j;
		d->tail = j;
	}
	d->queued++;
}

static void
job_dequeue(struct qjob *j)
{
	struct qdest *d = j->dest;

	if (j->prev)
		j->prev->next = j->next;
	else
		d->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		d->tail = j->prev;
	j->prev = j->next = NULL;
	d->queued--;
}

void
sched_add(struct qmgr *qm, struct qmsg *m, size_t idx,
    const struct transport_route *rt)
{
	struct qxport *x = xport_get(qm, rt->transport);
	struct qdest *d = dest_get(x, rt->nexthop);
	struct qjob *j = NULL;

	/* This message's queued job for d with room, if there is one. */
	for (size_t i = m->njobs; i-- > 0;)
		if (m->jobs[i]->dest == d && m->jobs[i]->conn == NULL &&
		    m->jobs[i]->n <
		        qm->p->default_destination_recipient_limit) {
			j = m->jobs[i];
			break;
		}
	if (j == NULL) {
		j = x_calloc(1, sizeof(*j));
		j->msg = m;
		m->jobs = x_realloc(m->jobs, (m->njobs + 1) * sizeof(*m->jobs));
		m->jobs[m->njobs++] = j;
		job_enqueue(d, j, false);
	}
	j->idx = x_realloc(j->idx, (j->n + 1) * sizeof(*j->idx));
	j->idx[j->n++] = idx;
	m->r[idx].state = QR_BUSY;
}

static void
arm_timer_cb(struct event_loop *loop, void *arg)
{
	struct qmgr *qm = arg;

	qm->sched_timer = NULL;
	qmgr_kick(qm);
}

/* Wake up when the first suspension or busy wait ends. */
static void
arm_timer(struct qmgr *qm, uint64_t now)
{
	uint64_t next = 0;

	for (struct qxport *x = qm->xports; x != NULL; x = x->next) {
		uint64_t t = x->suspended_until > x->busy_until
		                 ? x->suspended_until
		                 : x->busy_until;
		if (t > now && (next == 0 || t < next))
			next = t;
	}
	event_timer_cancel(qm->loop, &qm->sched_timer);
	if (next != 0)
		qm->sched_timer =
		    event_timer_add(qm->loop, next - now, arm_timer_cb, qm);
}

/* Defer every queued job of a suspended transport. */
static void
drain_suspended(struct qmgr *qm, struct qxport *x)
{
	struct qdest *d = x->head;

	while (d != NULL) {
		struct qdest *next = d->next;
		while (d->head != NULL) {
			struct qjob *j = d->head;
			job_dequeue(j);
			j->dest = NULL;
			/* Ends the job; never touches the scheduler. */
			msg_job_fail(qm, j, "4.3.0", UNAVAILABLE);
		}
		dest_maybe_free(d);
		d = next;
	}
}

/* The first destination of x that may start a request, or NULL. */
static struct qdest *
dest_ready(struct qmgr *qm, struct qxport *x)
{
	for (struct qdest *d = x->head; d != NULL; d = d->next)
		if (d->queued > 0 &&
		    d->busy < qm->p->default_destination_concurrency_limit)
			return d;
	return NULL;
}

void
sched_run(struct qmgr *qm)
{
	uint64_t now = time_mono_ms();

	for (struct qxport *x = qm->xports; x != NULL; x = x->next) {
		if (x->suspended_until > now) {
			drain_suspended(qm, x);
			continue;
		}
		x->suspended_until = 0;
		if (x->busy_until > now)
			continue;
		x->busy_until = 0;
		while (x->busy < qm->p->default_process_limit &&
		       x->suspended_until == 0 && x->busy_until == 0) {
			struct qdest *d = dest_ready(qm, x);
			if (d == NULL)
				break;
			struct qjob *j = d->head;
			job_dequeue(j);
			d->busy++;
			x->busy++;
			dest_rotate(d);
			agent_start(qm, j); /* may suspend x or fail j */
		}
		if (x->suspended_until > now)
			drain_suspended(qm, x);
	}
	arm_timer(qm, now);
}

void
sched_release(struct qmgr *qm, struct qjob *job)
{
	struct qdest *d = job->dest;

	FCT_ASSERT(d->busy > 0 && d->x->busy > 0);
	d->busy--;
	d->x->busy--;
	job->dest = NULL;
	dest_maybe_free(d);
	qmgr_kick(qm);
}

void
sched_busy(struct qmgr *qm, struct qjob *job)
{
	struct qdest *d = job->dest;
	struct qxport *x = d->x;

	FCT_ASSERT(d->busy > 0 && x->busy > 0);
	d->busy--;
	x->busy--;
	job_enqueue(d, job, true);
	x->busy_until = time_mono_ms() + QMGR_BUSY_RETRY_MS;
	log_debug("transport %s: listen queue full, retry soon", x->name);
}

void
sched_retry(struct qmgr *qm, struct qjob *job)
{
	struct qdest *d = job->dest;
	struct qxport *x = d->x;

	FCT_ASSERT(d->busy > 0 && x->busy > 0);
	d->busy--;
	x->busy--;
	job->fresh = true;
	job_enqueue(d, job, true);
	qmgr_kick(qm);
}

void
sched_suspend(struct qmgr *qm, struct qxport *x, const char *reason)
{
	if (x->suspended_until == 0)
		log_warn("transport %s: %s: %s; suspended for %llus", x->name,
		    UNAVAILABLE, reason,
		    (unsigned long long)qm->p->transport_retry_time);
	x->suspended_until =
	    time_mono_ms() + qm->p->transport_retry_time * 1000;
	free(x->reason);
	x->reason = x_strdup(reason);
}

void
sched_unsuspend_all(struct qmgr *qm)
{
	for (struct qxport *x = qm->xports; x != NULL; x = x->next)
		x->suspended_until = x->busy_until = 0;
	qmgr_kick(qm);
}

void
sched_cancel(struct qmgr *qm, struct qmsg *m)
{
	size_t keep = 0;

	for (size_t i = 0; i < m->njobs; i++) {
		struct qjob *j = m->jobs[i];
		if (j->conn != NULL) {
			m->jobs[keep++] = j;
			continue;
		}
		struct qdest *d = j->dest;
		job_dequeue(j);
		for (size_t k = 0; k < j->n; k++)
			if (m->r[j->idx[k]].state == QR_BUSY)
				m->r[j->idx[k]].state = QR_TODO;
		free(j->idx);
		free(j);
		dest_maybe_free(d);
	}
	m->njobs = keep;
}

void
sched_free_all(struct qmgr *qm)
{
	while (qm->xports != NULL) {
		struct qxport *x = qm->xports;
		qm->xports = x->next;
		while (x->head != NULL) {
			struct qdest *d = x->head;
			dest_unlink(d);
			free(d->nexthop);
			free(d);
		}
		agent_close_idle(qm, x);
		free(x->name);
		free(x->path);
		free(x->reason);
		free(x);
	}
}
