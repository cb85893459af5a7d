/*
 * qmgr.h - what qmgr's files share.
 *
 *   main.c     the program: set-up, recovery, triggers, timers, scans
 *   scan.c     incremental scans of incoming/ and deferred/
 *   message.c  one message in the active queue: load, replies, finish
 *   notice.c   new queue files qmgr writes: DSNs and forwarded children
 *   sched.c    transports, destinations, round-robin, concurrency
 *   agent.c    one delivery request on private/<transport>
 *   admin.c    the administration socket (private/qmgr-admin)
 *
 * Ownership: struct qmgr owns the messages; a message owns its jobs'
 * recipient lists; a job sits in its destination's queue until an agent
 * connection takes it; a connection owns the job until the reply is
 * handled.
 *
 * Never: include this anywhere but qmgr/.
 */
#ifndef FACTEUR_QMGR_QMGR_H
#define FACTEUR_QMGR_QMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/admin_proto.h"
#include "lib/deliver.h"
#include "lib/event.h"
#include "lib/map.h"
#include "lib/params.h"
#include "lib/queue.h"
#include "lib/queue_read.h"
#include "lib/rcptlog.h"
#include "lib/resolve.h"
#include "lib/service.h"
#include "lib/str.h"
#include "lib/transport.h"

/*
 * Messages loaded into the active queue per turn of the event loop, so
 * that a scan of a large queue never keeps agents' replies waiting for
 * long (every load is a rename and two folder fsyncs).
 */
#define QMGR_LOAD_BATCH 16
/* How soon a transport whose listen queue was full is tried again. */
#define QMGR_BUSY_RETRY_MS 1000
/* Administration connections at once. */
#define QMGR_ADMIN_CONN_MAX 8

/* Where a recipient stands in the current round. */
enum qrcpt_state {
	QR_TODO,   /* waiting for a request (or its request was cancelled) */
	QR_BUSY,   /* in a request */
	QR_DONE,   /* marked done in the queue file */
	QR_DEFER,  /* 4xx: try again later */
	QR_BOUNCE, /* 5xx: done once the non-delivery notice is queued */
	QR_NOTIFY, /* delivered; done once the success notice is queued */
};

struct qrcpt {
	enum qrcpt_state state;
	char dsn[16];
	char *relay; /* owned; last status */
	char *text;  /* owned */
};

struct qjob;

struct qmsg {
	struct qmsg *prev, *next; /* qmgr's list */
	char id[QUEUE_ID_SIZE];
	struct queue_env env;
	struct qrcpt *r;    /* one per env.rcpts[] */
	struct rcptlog log; /* defer/<id> as read at load */
	bool has_log;       /* defer/<id> exists (or may: unreadable) */
	uint64_t active_us; /* when it entered active/ (wall clock) */
	struct qjob **jobs; /* jobs queued or in flight */
	size_t njobs;
	bool hold;        /* admin: move to hold/ when the round ends */
	bool requeue;     /* admin: back to incoming/ when it ends */
	bool deleted;     /* admin: file removed; forget it */
	bool expire;      /* forced expiry: bounce what is left after
	                     this attempt (QUEUE_MODE_EXPIRE) */
	size_t *unmarked; /* done in memory, not yet in the file */
	size_t nunmarked;
};

struct qdest;
struct qconn;

struct qjob {
	struct qjob *prev, *next; /* its destination's queue */
	struct qmsg *msg;         /* borrowed */
	struct qdest *dest;       /* borrowed */
	struct qconn *conn;       /* while in flight */
	size_t *idx;              /* recipient indexes */
	size_t n;
	bool fresh; /* a kept connection failed it: connect anew */
};

struct qxport;

struct qdest {
	struct qdest *prev, *next; /* its transport's round-robin list */
	struct qxport *x;
	char *nexthop;
	struct qjob *head, *tail;
	size_t queued;
	unsigned busy;
};

struct qxport {
	struct qxport *next;
	char *name;
	char *path; /* $queue_directory/private/<name> */
	struct qdest *head, *tail;
	unsigned busy;
	uint64_t suspended_until; /* monotonic ms; 0: usable */
	uint64_t busy_until;      /* monotonic ms: listen queue was full */
	char *reason;             /* why it is suspended */
	struct qidle *idle;       /* connections kept between requests */
	size_t nidle;
};

struct qscan;
struct qadmin;

/*
 * A file left in active/ after its message left memory, because the
 * rename that should have taken it on failed (a full disk: on ext4 a
 * folder that must grow by a block to take one more name).  Nothing
 * else would ever move it before the next qmgr's recovery, so it is
 * tried again at every queue run and flush.
 */
struct qstrand {
	char id[QUEUE_ID_SIZE];
	enum queue_folder to; /* where it was going */
};

struct qmgr {
	struct service *svc;     /* borrowed */
	const struct params *p;  /* borrowed from svc */
	struct event_loop *loop; /* borrowed from svc */
	struct queue *q;
	struct map *users;
	struct map_list *aliases;
	struct map_list *tmaps;
	struct resolver *resolver;
	struct transport *router;
	char *postmaster; /* postmaster@$myorigin: bounces of bounces */
	bool privileged;  /* started by root: admin peers must be root */

	struct qmsg *msgs;
	size_t nmsgs;
	struct qxport *xports;
	unsigned nconns;

	struct qscan *scan_incoming;
	struct qscan *scan_deferred;
	bool load_deferred_next; /* alternate between the two scans */
	struct event_timer *kick_timer;
	struct event_timer *run_timer;   /* queue_run_delay */
	struct event_timer *sched_timer; /* suspensions, busy transports */
	struct qadmin *admin;
	struct qstrand *stranded;
	size_t nstranded;
	/* Finished messages whose files go after the next requests are out
	 * (one active/ fsync for all of them: msg_flush_finished). */
	struct qfinished *finished;
	size_t nfinished, afinished;
};

/* A finished message whose file is still in active/. */
struct qfinished {
	char id[QUEUE_ID_SIZE];
	bool reusable; /* small enough for reuse/ (lib/queue_reuse.h) */
	bool has_log;  /* defer/<id> to remove too */
	bool retired;  /* renamed to reuse/.ID, published after the fsync */
};

/* main.c */
/* Run the loader and the scheduler soon (coalesced; never reentrant). */
void qmgr_kick(struct qmgr *qm);
/* Start (or restart) a scan of incoming/ or deferred/. */
void qmgr_scan_incoming(struct qmgr *qm);
void qmgr_scan_deferred(struct qmgr *qm, bool force);

/* scan.c: names of a folder, a few at a time, then again on request. */
struct qscan *qscan_new(struct queue *q, enum queue_folder f);
void qscan_free(struct qscan **sp);
/* Start a pass (or ask for another one after the current pass). */
void qscan_start(struct qscan *s, bool force);
/* True while a pass is under way or asked for. */
bool qscan_pending(const struct qscan *s);
/* The next id of the pass, copied to id_r; false at the end. */
bool qscan_next(struct qscan *s, char id_r[QUEUE_ID_SIZE], bool *force_r);

/* message.c */
/* Load id from folder (incoming or deferred) into the active queue. */
void msg_load(struct qmgr *qm, enum queue_folder from, const char *id);
/* A job's reply (checked against its request), or NULL and a failure. */
void msg_job_reply(
    struct qmgr *qm, struct qjob *job, const struct deliver_reply *rp);
/*
 * Defer (or with dsn 5.x.x bounce) every recipient of job with one
 * reason, logging qmgr's own to= line for each; then the job is over.
 */
void msg_job_fail(
    struct qmgr *qm, struct qjob *job, const char *dsn, const char *text);
/* The job is over: free it; finish its message when it was the last. */
void msg_job_done(struct qmgr *qm, struct qjob *job);
struct qmsg *msg_find(struct qmgr *qm, const char *id);
/* Admin requests on a message in the active queue. */
void msg_hold(struct qmgr *qm, struct qmsg *m);
void msg_requeue(struct qmgr *qm, struct qmsg *m);
/* Remove the file now (durably); 0 or -1 with why. */
int msg_delete(struct qmgr *qm, struct qmsg *m, struct str *why);
/*
 * id could not be moved out of active/ into to (why says why): log it
 * and remember it (struct qstrand).
 */
void msg_strand(
    struct qmgr *qm, const char *id, enum queue_folder to, struct str *why);
/* Move the stranded files on, as far as the disk allows now. */
void msg_retry_stranded(struct qmgr *qm);
/*
 * Retire (lib/queue_reuse.h) or remove the files of messages finished
 * since the last call, then fsync active/ once for all of them, then
 * publish the retired ones in reuse/ (called after the scheduler has
 * sent the next requests, so the disk works while the agents do).
 */
void msg_flush_finished(struct qmgr *qm);
void msg_free_all(struct qmgr *qm);

/* notice.c */
/*
 * Queue a child of m for recipient index idx (forwarded by an agent to
 * addrs): original sender, ENVID, RET, ORCPT and NOTIFY of the parent,
 * a Delivered-To: header first.  Durable before it returns STATUS_OK.
 */
FCT_MUST_CHECK enum status notice_forward(struct qmgr *qm, const struct qmsg *m,
    size_t idx, char *const *addrs, size_t naddrs, char id_r[QUEUE_ID_SIZE],
    struct str *why);
/*
 * Queue a DSN about m's recipients idx[0..n) with action (lib/dsn.h) to
 * to (postmaster_copy: a bounce of a null-sender message).  Durable
 * before it returns STATUS_OK.
 */
FCT_MUST_CHECK enum status notice_dsn(struct qmgr *qm, const struct qmsg *m,
    int action, const size_t *idx, size_t n, const char *to,
    bool postmaster_copy, char id_r[QUEUE_ID_SIZE], struct str *why);

/* sched.c */
/* Queue recipient idx of m for route rt (adds to or makes a job). */
void sched_add(struct qmgr *qm, struct qmsg *m, size_t idx,
    const struct transport_route *rt);
/* Start what the limits allow; defer what suspended transports hold. */
void sched_run(struct qmgr *qm);
/* Take m's queued (not in-flight) jobs out; their recipients go TODO. */
void sched_cancel(struct qmgr *qm, struct qmsg *m);
/* A request on job ended: release the concurrency it held. */
void sched_release(struct qmgr *qm, struct qjob *job);
/* The transport cannot take requests: suspend it (logged). */
void sched_suspend(struct qmgr *qm, struct qxport *x, const char *reason);
/* Its listen queue is full: retry it soon, job back in front. */
void sched_busy(struct qmgr *qm, struct qjob *job);
/* A kept connection had gone stale: job back in front, at once. */
void sched_retry(struct qmgr *qm, struct qjob *job);
/* Lift every suspension (mailctl flush). */
void sched_unsuspend_all(struct qmgr *qm);
void sched_free_all(struct qmgr *qm);

/* agent.c */
/* Start a request for job; on any failure the job is handled here. */
void agent_start(struct qmgr *qm, struct qjob *job);
/* Abandon the request (message deleted or qmgr ending). */
void agent_abort(struct qmgr *qm, struct qconn *c);
/* Close the connections x keeps between requests. */
void agent_close_idle(struct qmgr *qm, struct qxport *x);

/* admin.c */
/* Listen on private/qmgr-admin; fatal allowed (before the loop). */
struct qadmin *admin_open(struct qmgr *qm);
void admin_close(struct qadmin **ap);

#endif
