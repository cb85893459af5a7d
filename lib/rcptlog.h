/*
 * rcptlog - the per-message recipient status log in defer/<id>
 * (DESIGN §2, docs/queue-format.md §5): why each recipient of a
 * deferred message is still waiting, and whether the sender already got
 * a delay warning.  qmgr writes it; showq reads it for mailq.
 *
 * Text, one record a line, values escaped as in the delivery protocol
 * (bytes below 0x21, '%' and 0x7f as %XX; "-" is the empty value):
 *
 *   rcpt INDEX DSN RELAY TEXT    INDEX: the recipient's position in the
 *                                queue file; DSN "4.3.0"; RELAY "none"
 *   warned SECONDS               a delay warning went out at that time
 *
 * Unknown keywords are skipped (a newer writer), a malformed line makes
 * the whole log unreadable (the caller goes on without it: a log only
 * explains, it never decides a delivery).
 *
 * The file is replaced whole: written in tmp/, fsynced, renamed over
 * defer/<id> (fsio_rename: replacing is the point), defer/ fsynced.
 *
 * Never: read more than RCPTLOG_FILE_MAX bytes, or decide whether a
 * recipient is done (only the queue file's DONE flag does).
 */
#ifndef FACTEUR_RCPTLOG_H
#define FACTEUR_RCPTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/queue.h"
#include "lib/str.h"
#include "lib/util.h"

#define RCPTLOG_FILE_MAX (4u << 20) /* a log past this is not read */
#define RCPTLOG_TEXT_MAX 1000       /* text of one entry (cut) */
#define RCPTLOG_RELAY_MAX 300

struct rcptlog_entry {
	size_t index;
	char dsn[16]; /* "4.2.2" */
	char *relay;  /* owned: "none", "local", "mx.example[192.0.2.1]:25" */
	char *text;   /* owned: the reason, as mailq shows it */
};

/* Entries are kept sorted by index, one per index. */
struct rcptlog {
	struct rcptlog_entry *v;
	size_t n;
	uint64_t warned; /* seconds since the epoch; 0: never warned */
};

void rcptlog_clear(struct rcptlog *l);

/*
 * Set the entry for index (replacing one there); copies the strings,
 * cutting text and relay at their maxima.  dsn must look like "4.x.y"
 * (anything else is stored as "4.0.0").
 */
void rcptlog_set(struct rcptlog *l, size_t index, const char *dsn,
    const char *relay, const char *text);
/* The entry for index, or NULL.  Borrowed from l. */
const struct rcptlog_entry *rcptlog_find(const struct rcptlog *l,
    size_t index);

/* Text of l appended to out; -1 past out's cap. */
FCT_MUST_CHECK int rcptlog_format(const struct rcptlog *l, struct str *out);
/* Parse p[0..n) into *l (cleared first); -1 with why (l left empty). */
FCT_MUST_CHECK int rcptlog_parse(const uint8_t *p, size_t n,
    struct rcptlog *l, struct str *why);

/*
 * Read folder f's log of id into *l: 1, or 0 when there is none (an
 * empty log).  -1 with why for an I/O error or a log that does not
 * parse.
 */
FCT_MUST_CHECK int rcptlog_read(struct queue *q, enum queue_folder f,
    const char *id, struct rcptlog *l, struct str *why);
/* Replace folder f's log of id with l, durably (see above). */
FCT_MUST_CHECK int rcptlog_write(struct queue *q, enum queue_folder f,
    const char *id, const struct rcptlog *l, struct str *why);
/* Remove folder f's log of id; a missing log is fine.  Not fsynced. */
FCT_MUST_CHECK int rcptlog_remove(struct queue *q, enum queue_folder f,
    const char *id, struct str *why);

#endif
