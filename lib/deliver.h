/*
 * deliver - the request/reply protocol between qmgr and the delivery
 * agents (local, smtp) on private/<transport> (docs/delivery-protocol.md).
 *
 * qmgr connects, sends one request message with a fresh read-only
 * descriptor of the queue file attached (SCM_RIGHTS), and reads one reply
 * message; the connection may then carry the next request.  A message is
 * a sequence of "key value" lines ending with a line "end".  Values are
 * escaped: bytes below 0x21, '%' and 0x7f are written as %XX, so that a
 * value is one word; every other byte (UTF-8 included) is kept.
 *
 *   request                         reply
 *   queue_id 1xVGDs1QPk4T56         status 0 sent 2.0.0 local delivered%20to%20maildir
 *   sender ann@example.org          forward 1 bob@elsewhere.example
 *   nexthop example.test            status 1 forward 2.0.0 local forwarded
 *   arrival 1795387188123456        status 2 defer 4.2.2 local mailbox%20full
 *   envid - | ret FULL|HDRS|-       end
 *   attr NAME VALUE  (any number)
 *   rcpt INDEX NOTIFY ADDRESS ORIG  (INDEX: the recipient's position in
 *   end                              the queue file; NOTIFY: bits)
 *
 * Reply status kinds: sent (2xx, done), defer (4xx, retry), bounce (5xx,
 * failed), forward (done once qmgr has queued the "forward" addresses
 * listed before it for that index, as a child message).  Every recipient
 * of the request gets exactly one status; a reply that leaves one out, or
 * names an index not asked for, is malformed and qmgr defers the lot.
 *
 * Never: accept a line longer than DELIVER_LINE_MAX, more recipients than
 * DELIVER_RCPT_MAX, or a value that does not decode.
 */
#ifndef FACTEUR_DELIVER_H
#define FACTEUR_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"
#include "lib/util.h"

#define DELIVER_LINE_MAX 8192
#define DELIVER_MSG_MAX (4 << 20) /* one request or reply message */
#define DELIVER_RCPT_MAX 10000	  /* recipients in one request */
#define DELIVER_FORWARD_MAX 1000  /* forward addresses per recipient */
#define DELIVER_TEXT_MAX 1000	  /* status text */

struct deliver_rcpt {
	size_t index;	 /* position in the queue file */
	unsigned notify; /* QUEUE_NOTIFY_* bits */
	char *addr;
	char *orig;
};

struct deliver_attr {
	char *name;
	char *value;
};

struct deliver_request {
	char *queue_id;
	char *sender; /* "" = null sender */
	char *nexthop;
	uint64_t arrival_us;
	char *envid; /* NULL: none */
	char *ret;   /* "FULL", "HDRS" or NULL */
	struct deliver_attr *attrs;
	size_t nattrs;
	struct deliver_rcpt *rcpts;
	size_t nrcpts;
};

enum deliver_kind {
	DELIVER_SENT,
	DELIVER_DEFER,
	DELIVER_BOUNCE,
	DELIVER_FORWARD,
};

struct deliver_status {
	size_t index;
	enum deliver_kind kind;
	char dsn[16];  /* "2.0.0" */
	char *relay;   /* "local", "mx.example.org[192.0.2.1]:25" */
	char *text;    /* human text, also the bounce diagnostic */
	char **forward; /* DELIVER_FORWARD: new recipients */
	size_t nforward;
};

struct deliver_reply {
	struct deliver_status *v;
	size_t n;
};

/* Format a request or reply (appended to out); -1 past out's cap. */
FCT_MUST_CHECK int deliver_request_format(const struct deliver_request *rq,
    struct str *out);
FCT_MUST_CHECK int deliver_reply_format(const struct deliver_reply *rp,
    struct str *out);

/*
 * Parse a whole message p[0..n) (through its "end" line).  0 and the
 * struct filled (caller clears it), or -1 with why (nothing to clear).
 */
FCT_MUST_CHECK int deliver_request_parse(const uint8_t *p, size_t n,
    struct deliver_request *rq, struct str *why);
FCT_MUST_CHECK int deliver_reply_parse(const uint8_t *p, size_t n,
    struct deliver_reply *rp, struct str *why);
void deliver_request_clear(struct deliver_request *rq);
void deliver_reply_clear(struct deliver_reply *rp);

/*
 * Check a reply against its request: every requested index has exactly
 * one status and no other index appears.  0 or -1 with why.
 */
FCT_MUST_CHECK int deliver_reply_check(const struct deliver_request *rq,
    const struct deliver_reply *rp, struct str *why);

/*
 * Where a message ends: the length through the "end\n" line in p[0..n),
 * or 0 when it is not complete yet.
 */
size_t deliver_message_len(const uint8_t *p, size_t n);

/* Add a status to a reply (copies the strings). */
void deliver_reply_add(struct deliver_reply *rp, size_t index,
    enum deliver_kind kind, const char *dsn, const char *relay,
    const char *text);
/* Add a forward address to the last status (which must be FORWARD). */
void deliver_reply_add_forward(struct deliver_reply *rp, const char *addr);

const char *deliver_kind_name(enum deliver_kind k);

#endif
