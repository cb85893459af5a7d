/*
 * admin_proto - the line protocol of qmgr's administration socket,
 * $queue_directory/private/qmgr-admin (docs/admin-protocol.md).
 *
 * One command a line, one answer a line; a connection may carry several:
 *
 *   hold ID|ALL       -> ok N          N: messages affected
 *   release ID|ALL    -> ok N          error TEXT: nothing was done
 *   requeue ID|ALL
 *   delete ID|ALL
 *   flush
 *
 * Shared by qmgr (parses commands, formats answers) and mailctl (the
 * reverse), so that both always agree.
 *
 * Never: accept a line longer than ADMIN_LINE_MAX, an id that is not a
 * canonical queue id, or trailing junk.
 */
#ifndef FACTEUR_ADMIN_PROTO_H
#define FACTEUR_ADMIN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/queue_id.h"
#include "lib/str.h"
#include "lib/util.h"

#define ADMIN_LINE_MAX 512 /* one command or answer, without its LF */
#define ADMIN_SOCKET "private/qmgr-admin" /* under queue_directory */

enum admin_verb {
	ADMIN_HOLD,
	ADMIN_RELEASE,
	ADMIN_REQUEUE,
	ADMIN_DELETE,
	ADMIN_FLUSH,
	ADMIN_EXPIRE,
};

struct admin_cmd {
	enum admin_verb verb;
	bool all;                 /* "ALL" (not for flush) */
	char id[QUEUE_ID_SIZE];   /* "" for ALL and flush */
};

/* "hold", "release", ...; NULL for a bad value. */
const char *admin_verb_name(enum admin_verb v);
/* The verb named by the len bytes at p; -1 when none. */
FCT_MUST_CHECK int admin_verb_parse(const char *p, size_t len,
    enum admin_verb *v_r);

/*
 * Parse one command line (len bytes, without the LF; a trailing CR is
 * allowed).  0 and *c filled, or -1 with why.
 */
FCT_MUST_CHECK int admin_cmd_parse(const char *line, size_t len,
    struct admin_cmd *c, struct str *why);
/* "verb ID\n" appended to out; -1 past its cap. */
FCT_MUST_CHECK int admin_cmd_format(const struct admin_cmd *c,
    struct str *out);

/*
 * Parse one answer line: 0 for "ok N" (*count_r set), 1 for "error
 * TEXT" (the text appended to text_r), -1 for anything else.
 */
FCT_MUST_CHECK int admin_reply_parse(const char *line, size_t len,
    uint64_t *count_r, struct str *text_r);

#endif
