/*
 * qmgr - facteur's queue manager (Postfix's qmgr(8)).
 *
 * User: mail_owner.  Resident, one process (master.cf: "qmgr unix-dgram
 * n - n 300 1 qmgr"): its state, the active queue, lives in memory.
 * Socket: public/qmgr, a datagram per trigger (smtpd after each message,
 * master's "W" every wakeup seconds); private/qmgr-admin, which it makes
 * itself, for `mailctl queue` and `mailctl flush` (root only, or the
 * instance's owner in an unprivileged instance).
 *
 * What it does (DESIGN §4): moves incoming/ files into active/, at most
 * qmgr_message_active_limit at once; routes every recipient to a
 * transport and next hop (lib/transport); sends delivery requests to
 * the agents on private/<transport> (lib/deliver) with round-robin
 * between destinations and a per-destination concurrency and recipient
 * limit; marks recipients done in place after each reply (DESIGN §2
 * rule 2); queues bounces (RFC 3464) and forwarded children; moves
 * messages with retries to deferred/ with their next attempt as mtime
 * and the reasons in defer/<id>; removes finished files.
 *
 * Recovery at start: stale tmp/ files are removed and active/ goes back
 * to incoming/; a recipient marked done is never tried again.
 *
 * Timers use CLOCK_MONOTONIC; the wall clock only dates files and logs
 * (lib/backoff.h: a clock stepped back never stalls the queue).
 *
 * STANDARDS: RFC 3461 (NOTIFY, ORCPT, ENVID, RET), RFC 3464 (DSN),
 * RFC 3463 (enhanced status codes).
 *
 * Never: mark a recipient done before its agent answered (and, for a
 * bounce or a forward, before the new queue file is durable); exit
 * because of what an agent or an administrator sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/backoff.h"
#include "lib/log.h"
#include "lib/queue_reuse.h"
#include "qmgr/qmgr.h"

/* Names examined per turn at most (most may be deferred and not due). */
#define EXAMINE_MAX (QMGR_LOAD_BATCH * 64)

/* A deferred file is due: its mtime is its next attempt. */
static bool
deferred_due(struct qmgr *qm, const char *id)
{
	struct stat st;
	uint64_t now = time_real_us() / 1000000;

	if (fstatat(queue_folder_fd(qm->q, QUEUE_DEFERRED), id, &st,
	        AT_SYMLINK_NOFOLLOW) < 0)
		return false; /* gone meanwhile */
	return backoff_due(st.st_mtime < 0 ? 0 : (uint64_t)st.st_mtime, now,
	    qm->p->maximal_backoff_time);
}

/* Load what the scans offer, as far as the active limit allows. */
static void
refill(struct qmgr *qm)
{
	unsigned loaded = 0, examined = 0;
	char id[QUEUE_ID_SIZE];
	bool force;

	while (qm->nmsgs < qm->p->qmgr_message_active_limit &&
	       loaded < QMGR_LOAD_BATCH && examined < EXAMINE_MAX) {
		bool inc = qscan_pending(qm->scan_incoming);
		bool def = qscan_pending(qm->scan_deferred);
		if (!inc && !def)
			return;
		/* Alternate, so that neither folder starves the other. */
		bool use_def = def && (!inc || qm->load_deferred_next);
		qm->load_deferred_next = !use_def;
		examined++;
		if (!qscan_next(use_def ? qm->scan_deferred : qm->scan_incoming,
		        id, &force))
			continue;
		if (use_def && !force && !deferred_due(qm, id))
			continue;
		msg_load(qm, use_def ? QUEUE_DEFERRED : QUEUE_INCOMING, id);
		loaded++;
	}
	if (qm->nmsgs < qm->p->qmgr_message_active_limit &&
	    (qscan_pending(qm->scan_incoming) ||
	        qscan_pending(qm->scan_deferred)))
		qmgr_kick(qm); /* more next turn */
}

static void
kick_cb(struct event_loop *loop, void *arg)
{
	struct qmgr *qm = arg;

	qm->kick_timer = NULL;
	refill(qm);
	sched_run(qm);
	/* After the next requests are out: the disk works while agents do. */
	msg_flush_finished(qm);
}

void
qmgr_kick(struct qmgr *qm)
{
	if (qm->kick_timer == NULL)
		qm->kick_timer = event_timer_add(qm->loop, 0, kick_cb, qm);
}

void
qmgr_scan_incoming(struct qmgr *qm)
{
	qscan_start(qm->scan_incoming, false);
	qmgr_kick(qm);
}

void
qmgr_scan_deferred(struct qmgr *qm, bool force)
{
	qscan_start(qm->scan_deferred, force);
	qmgr_kick(qm);
}

static void
run_cb(struct event_loop *loop, void *arg)
{
	struct qmgr *qm = arg;

	qm->run_timer =
	    event_timer_add(loop, qm->p->queue_run_delay * 1000, run_cb, qm);
	msg_retry_stranded(qm);
	qmgr_scan_incoming(qm);
	qmgr_scan_deferred(qm, false);
}

/*
 * A trigger: "D" scans deferred/ for what is due; anything else ("A"
 * from smtpd after a message, "W" master's wakeup) scans incoming/.
 * public/qmgr is open to every local user, so a trigger only ever
 * hastens work that is due anyway; flushing is for the admin socket.
 */
static void
on_trigger(struct service *svc, const uint8_t *p, size_t n, void *arg)
{
	struct qmgr *qm = arg;

	for (size_t i = 0; i < n; i++)
		switch (p[i]) {
		case 'D':
			qmgr_scan_deferred(qm, false);
			break;
		default:
			qmgr_scan_incoming(qm);
			break;
		}
}

static int
recover_one(const char *id, void *arg)
{
	struct qmgr *qm = arg;
	struct str *why = str_new(512);

	if (queue_move(qm->q, QUEUE_ACTIVE, QUEUE_INCOMING, id, why) < 0)
		msg_strand(qm, id, QUEUE_INCOMING, why); /* and logged */
	else
		log_debug("%s: active -> incoming (recovery)", id);
	str_free(&why);
	return 0;
}

/*
 * DESIGN §2: whatever was active when the last qmgr stopped goes back
 * to incoming/ (its done marks are in the files), and files that a
 * writer left in tmp/ are removed once no writer can still be at work:
 * no smtpd session lasts longer than smtpd_session_time_limit.
 */
static void
recover(struct qmgr *qm)
{
	struct str *why = str_new(1024);
	int n;

	n = queue_tmp_sweep(qm->q, qm->p->smtpd_session_time_limit, why);
	if (n < 0)
		log_warn("tmp/ sweep: %s", str_c(why));
	str_clear(why);
	/* Retired files whose publication may not have been safe yet. */
	if (qm->p->queue_file_reuse_limit > 0 &&
	    queue_reuse_start(qm->q, qm->p->smtpd_session_time_limit, why) <
	        0)
		log_warn("reuse/: %s (finished files are removed)",
		    str_c(why));
	str_clear(why);
	if (queue_scan(qm->q, QUEUE_ACTIVE, recover_one, qm, why) < 0)
		log_err("recovery: %s", str_c(why));
	str_free(&why);
}

/*
 * One qmgr at a time: on a reload master starts the new qmgr while the
 * old one is still finishing its turn of the loop, and the new one's
 * recovery (active/ -> incoming/) must not pull files from under it.
 * An exclusive flock on active/ orders them; the old one lets go when
 * it exits (within ipc_timeout, or master restarts us).
 */
static void
lock_queue(struct qmgr *qm)
{
	int fd = queue_folder_fd(qm->q, QUEUE_ACTIVE);
	struct timespec ts = {0, 50 * 1000000};
	uint64_t waited = 0;

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			log_fatal("lock active/: %m");
		if (waited == 0)
			log_info("waiting for the previous qmgr to exit");
		if (waited >= qm->p->ipc_timeout * 1000)
			log_fatal("another qmgr holds the queue");
		(void)nanosleep(&ts, NULL); /* EINTR: just try sooner */
		waited += 50;
	}
}

static char *
postmaster_address(const struct params *p)
{
	struct str *s = str_new(1024);
	const char *origin = *p->myorigin ? p->myorigin : p->myhostname;

	if (str_appendf(s, "postmaster@%s", origin) < 0)
		log_fatal("myorigin too long");
	return str_take(&s);
}

static void
open_tables(struct qmgr *qm)
{
	struct str *why = str_new(1024);
	const struct params *p = qm->p;

	qm->users = map_open(p->users_map, why);
	if (qm->users == NULL)
		log_fatal("users_map %s: %s", p->users_map, str_c(why));
	if (p->alias_maps[0] != '\0') {
		qm->aliases = map_list_open(p->alias_maps, why);
		if (qm->aliases == NULL)
			log_fatal(
			    "alias_maps %s: %s", p->alias_maps, str_c(why));
	}
	if (p->transport_maps[0] != '\0') {
		qm->tmaps = map_list_open(p->transport_maps, why);
		if (qm->tmaps == NULL)
			log_fatal("transport_maps %s: %s", p->transport_maps,
			    str_c(why));
	}
	qm->resolver = resolve_new(p, qm->users, qm->aliases);
	qm->router = transport_new(p, qm->resolver, qm->tmaps);
	str_free(&why);
}

int
main(int argc, char **argv)
{
	struct service_opts opts = {.program = "qmgr", .resident = true};
	struct qmgr qm = {0};
	struct str *why = str_new(1024);
	int rc;

	qm.svc = service_init(argc, argv, &opts);
	qm.p = service_params(qm.svc);
	qm.loop = service_loop(qm.svc);
	qm.privileged = geteuid() == 0;
	open_tables(&qm);
	if (queue_open(qm.p->queue_directory, qm.p->queue_record_limit, &qm.q,
	        why) < 0)
		log_fatal("queue: %s", str_c(why));
	qm.postmaster = postmaster_address(qm.p);
	service_drop_privileges(qm.svc);

	lock_queue(&qm);
	recover(&qm);
	qm.admin = admin_open(&qm);
	qm.scan_incoming = qscan_new(qm.q, QUEUE_INCOMING);
	qm.scan_deferred = qscan_new(qm.q, QUEUE_DEFERRED);
	qmgr_scan_incoming(&qm);
	qmgr_scan_deferred(&qm, false);
	qm.run_timer =
	    event_timer_add(qm.loop, qm.p->queue_run_delay * 1000, run_cb, &qm);
	str_free(&why);

	rc = service_run_dgram(qm.svc, on_trigger, &qm);

	/* Requests in flight are abandoned: their files wait in active/. */
	admin_close(&qm.admin);
	msg_free_all(&qm);
	sched_free_all(&qm);
	event_timer_cancel(qm.loop, &qm.kick_timer);
	event_timer_cancel(qm.loop, &qm.run_timer);
	event_timer_cancel(qm.loop, &qm.sched_timer);
	qscan_free(&qm.scan_incoming);
	qscan_free(&qm.scan_deferred);
	transport_free(&qm.router);
	resolve_free(&qm.resolver);
	map_list_close(&qm.tmaps);
	map_list_close(&qm.aliases);
	map_close(&qm.users);
	free(qm.postmaster);
	queue_close(&qm.q);
	service_free(&qm.svc);
	return rc;
}
