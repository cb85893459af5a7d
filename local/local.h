/*
 * local - what the files of the local delivery agent share.
 *
 *   main.c       the program: tables, store, privilege drop, event loop
 *   session.c    one connection from qmgr: read a request and its one
 *                descriptor, hand it over, write the reply
 *   commit.c     group commit: the requests of many connections share
 *                one batch and one sync before any of them is answered
 *   request.c    one request: check the queue file, expand recipients,
 *                write its files into a batch; after the sync, log and
 *                build the reply
 *   recipient.c  one recipient: resolution and alias expansion into
 *                targets (mailboxes, forward addresses, failures)
 *   headers.c    the message's header facts for loop detection
 *
 * Everything but main.c is built into a library (facteur_local) that
 * tests/unit/test_local.c drives over a socketpair.
 *
 * Never: deliver anything for a request whose descriptor is missing,
 * extra or not a queue file of mail_owner; reply before the batch is
 * durable; exit because of what a peer sent.
 */
#ifndef FACTEUR_LOCAL_H
#define FACTEUR_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/deliver.h"
#include "lib/maildir.h"
#include "lib/map.h"
#include "lib/params.h"
#include "lib/resolve.h"
#include "lib/str.h"

/* What every request needs; main.c (or a test) fills it. */
struct local_ctx {
	const struct params *p;      /* borrowed */
	struct resolver *resolver;   /* borrowed */
	struct map *users;           /* borrowed; may be NULL */
	struct maildir_store *store; /* borrowed */
	uid_t mail_uid;              /* peers and queue files: mail_owner */
};

/* ---- headers.c ---- */

/* Delivered-To values kept at most (more are counted, not kept). */
#define LOCAL_DELIVERED_MAX 100

struct local_headers {
	unsigned received; /* Received: header fields */
	char **delivered;  /* Delivered-To: addresses, lower-case, no <> */
	size_t ndelivered;
};

/*
 * Read the header section of p[0..n) (CRLF or LF line ends; it ends at
 * the first empty line).  complete says whether p is the whole message:
 * if not, a last line without its line end is ignored (it was cut).
 * A pure parser: no I/O.
 */
void local_headers_parse(
    const uint8_t *p, size_t n, bool complete, struct local_headers *h);
void local_headers_clear(struct local_headers *h);
/* Does a Delivered-To: field name addr (any case)? */
bool local_headers_delivered_to(
    const struct local_headers *h, const char *addr);

/* ---- recipient.c ---- */

enum local_target_kind {
	LOCAL_T_MAILBOX, /* deliver into local@domain's Maildir */
	LOCAL_T_FORWARD, /* an address outside our domains: forward */
	LOCAL_T_FAIL,    /* cannot be delivered (dsn, text) */
};

struct local_target {
	enum local_target_kind kind;
	char *addr;  /* to=: user[+tag]@domain, or the address */
	char *local; /* MAILBOX: path components, lower-case */
	char *domain;
	uint64_t quota; /* MAILBOX: bytes, 0 = unlimited */
	char dsn[8];    /* FAIL: "5.1.1" (4.x.x: temporary) */
	char *text;     /* FAIL: why */
	/* request.c's bookkeeping */
	bool linked; /* MAILBOX: written into the batch as delivery id */
	size_t id;
};

struct local_targets {
	struct local_target *v;
	size_t n;
	bool via_alias; /* the recipient was an alias */
};

/*
 * Resolve addr ("local@domain", as in the request) and expand aliases:
 * every final target, at least one (a failure of the recipient as a
 * whole is one FAIL target).  Postmaster and MAILER-DAEMON always
 * resolve (docs/delivery-protocol.md).
 */
void local_rcpt_expand(
    struct local_ctx *ctx, const char *addr, struct local_targets *t);
void local_targets_clear(struct local_targets *t);
/* True unless addr surely resolves to something other than an alias. */
bool local_addr_may_alias(struct local_ctx *ctx, const char *addr);
/* Turn target x into a failure (dsn, text). */
void local_target_fail(
    struct local_target *x, const char *dsn, const char *text);

/* ---- request.c ---- */

struct local_req;

/*
 * Start one whole request message p[0..n) received with nfds
 * descriptors fds (taken: all closed here).  t0_us is when it arrived
 * (time_real_us()).  Writes every mailbox target into b (maildir_write:
 * not durable yet).  Returns the request (the caller syncs b, then
 * calls local_request_finish() and frees it), or NULL when the request
 * does not parse (nothing delivered; close the connection).
 */
FCT_MUST_CHECK struct local_req *local_request_start(struct local_ctx *ctx,
    const uint8_t *p, size_t n, int *fds, size_t nfds, uint64_t t0_us,
    struct maildir_batch *b);
/*
 * After maildir_batch_sync(b): log one line per target and append the
 * reply to out.  0, or -1 when no reply can be formatted (close).
 */
FCT_MUST_CHECK int local_request_finish(
    struct local_req *r, const struct maildir_batch *b, struct str *out);
/* Free; sets *rp NULL; accepts NULL. */
void local_request_free(struct local_req **rp);
/*
 * All of it for one request alone: start it into a batch of its own,
 * sync, finish.  Appends the reply to out.  Returns 0, or -1 when the
 * request does not parse (nothing delivered; close the connection).
 */
FCT_MUST_CHECK int local_request_handle(struct local_ctx *ctx, const uint8_t *p,
    size_t n, int *fds, size_t nfds, uint64_t t0_us, struct str *out);

/* ---- session.c ---- */

struct local_conn;
struct local_commit;

enum local_io {
	LOCAL_IO_MORE,  /* waiting for more bytes */
	LOCAL_IO_CLOSE, /* peer gone or misbehaving: free the connection */
	LOCAL_IO_WAIT,  /* a request waits for its group commit: do not
	                   watch the descriptor until it is answered */
};

/* A connection on fd (taken; non-blocking). */
struct local_conn *local_conn_new(struct local_ctx *ctx, int fd);
/*
 * From now on, hand whole requests to g (borrowed; must outlive the
 * connection) instead of answering each at once: local_conn_read()
 * then returns LOCAL_IO_WAIT after a request, and local_commit_run()
 * answers it and tells owner.
 */
void local_conn_join(struct local_conn *c, struct local_commit *g, void *owner);
/*
 * Close the descriptor and free; sets *cp NULL; accepts NULL.  A
 * request still waiting is finished by its commit, unanswered.
 */
void local_conn_free(struct local_conn **cp);
/*
 * Read what the socket has; for each whole request, handle it and write
 * its reply (waiting at most ipc_timeout for the peer to take it), or,
 * once joined to a group commit, hand it over and return LOCAL_IO_WAIT.
 */
enum local_io local_conn_read(struct local_conn *c);
/* True while part of a request is buffered (or one waits). */
bool local_conn_partial(const struct local_conn *c);

/*
 * For commit.c: the request c handed over is finished; write its reply
 * out (NULL: none could be made, close).  MORE or CLOSE.
 */
enum local_io local_conn_answer(struct local_conn *c, const struct str *out);
/* For commit.c: the owner given to local_conn_join(). */
void *local_conn_owner(const struct local_conn *c);

/* ---- commit.c ---- */

/*
 * Called by local_commit_run() for each connection it answered, with
 * the owner given to local_conn_join() and what to do next with the
 * connection (LOCAL_IO_MORE: watch it again; LOCAL_IO_CLOSE: free it).
 */
typedef void local_answered_fn(void *owner, enum local_io io);

/* A group commit into ctx->store (borrowed). */
struct local_commit *local_commit_new(struct local_ctx *ctx);
/* Free; nothing may wait (local_commit_run() first); sets *gp NULL. */
void local_commit_free(struct local_commit **gp);
/* The batch that requests are written into until the next run. */
struct maildir_batch *local_commit_batch(struct local_commit *g);
/* Requests waiting for the next run. */
size_t local_commit_waiting(const struct local_commit *g);
/*
 * Sync the batch once (every file, then each new/ folder once), then
 * finish every waiting request and write its reply, calling answered
 * for each connection still there; then start a new batch.
 */
void local_commit_run(struct local_commit *g, local_answered_fn *answered);
/* For session.c: c's request r waits (taken); its slot. */
size_t local_commit_add(
    struct local_commit *g, struct local_conn *c, struct local_req *r);
/* For session.c: the connection of slot is gone (its request stays). */
void local_commit_forget(struct local_commit *g, size_t slot);

#endif
