/*
 * dsn - compose a delivery status notification (RFC 3464) about a queued
 * message: a multipart/report from MAILER-DAEMON with a text/plain
 * explanation, a message/delivery-status part (one block per recipient)
 * and the original message (message/rfc822) or its headers
 * (text/rfc822-headers).
 *
 * The composer never holds the original in memory: it reads the content
 * through the queue reader's pread-like callback in chunks and hands its
 * output, in chunks, to the caller's sink (qmgr writes it into a new
 * queue file with lib/queue_write).  What it produces besides the
 * original is bounded by the number of recipients.
 *
 * The MIME boundary is checked against the content so that it never
 * occurs in the part it encloses (RFC 2046 §5.1.1).  Text from agents
 * (diagnostics, relays) is made one header line safe: control bytes
 * become spaces and long fields are folded (RFC 5322 §2.2.3).
 *
 * STANDARDS: RFC 3464 (delivery-status), RFC 3462/6522 (multipart/
 * report), RFC 3461 (ORCPT, ENVID, RET), RFC 3834 (Auto-Submitted),
 * RFC 2046 (boundaries).
 *
 * Never: read the queue file other than through the callback, write a
 * boundary that occurs in the content, or decide who gets the notice
 * (that is qmgr's job: NOTIFY, null senders, postmaster copies).
 */
#ifndef FACTEUR_DSN_H
#define FACTEUR_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/queue_read.h"
#include "lib/str.h"
#include "lib/util.h"

/* What happened to the recipients of one notice (RFC 3464 §2.3.3). */
enum dsn_action {
	DSN_ACTION_FAILED,    /* bounce: "Undelivered Mail Returned ..." */
	DSN_ACTION_DELAYED,   /* delay warning */
	DSN_ACTION_DELIVERED, /* NOTIFY=SUCCESS */
};

/* One recipient block (all borrowed). */
struct dsn_rcpt {
	const char *addr;       /* Final-Recipient */
	const char *orig;       /* ORCPT as queued ("rfc822;a@b"), or NULL */
	const char *status;     /* "5.1.1" */
	const char *remote_mta; /* host the reply came from, or NULL */
	const char *diag;       /* the reason; "550 5.1.1 ..." is SMTP's */
};

/* One notice (all borrowed). */
struct dsn_report {
	enum dsn_action action;
	const char *queue_id;      /* the original message's id */
	const char *reporting_mta; /* $myhostname */
	const char *sender;        /* the original envelope sender */
	const char *to;            /* who gets this notice */
	const char *envid;         /* ENVID or NULL */
	bool postmaster_copy;      /* a bounce of a bounce, to postmaster */
	bool return_full;          /* message/rfc822; else headers only */
	uint64_t arrival_us;       /* of the original */
	uint64_t now_us;           /* Date:, Message-Id:, the boundary */
	uint64_t retry_until_us;   /* DELAYED: Will-Retry-Until; 0: none */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* Where the notice goes: return STATUS_OK, or a failure with why. */
typedef enum status dsn_sink_fn(void *ctx, const void *p, size_t n,
    struct str *why);

/*
 * Compose the notice r about the message env (whose content is read
 * through rd(rdctx, ...)) and pass it to sink in chunks.  Returns
 * STATUS_OK, the sink's failure, or the reader's (STATUS_TEMP for I/O,
 * STATUS_PERM for a damaged file), with why.
 */
FCT_MUST_CHECK enum status dsn_compose(const struct dsn_report *r,
    queue_pread_fn *rd, void *rdctx, const struct queue_env *env,
    dsn_sink_fn *sink, void *ctx, struct str *why);

/* The Subject: of a notice (for logs and tests). */
const char *dsn_subject(const struct dsn_report *r);

#endif
