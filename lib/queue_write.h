/*
 * queue_write - write a new queue file, and mark recipients done in place.
 *
 * A new file is created in tmp/ (O_EXCL, O_NOFOLLOW, 0600), receives its
 * envelope records, then the content streamed through a fixed buffer
 * (content of any size is never held in memory), then an END record.
 * Calls must come in this order:
 *
 *   queue_file_create     TIME record (arrival)
 *   queue_file_sender     once
 *   queue_file_attr       any number, before the first recipient
 *   queue_file_rcpt       one or more
 *   queue_file_content    any number of chunks (none: empty content)
 *   queue_file_commit     or its steps, below
 *   queue_file_free       always (removes tmp/ file if not committed)
 *
 * Commit (DESIGN §2 rule 1) is four steps, each its own function so that a
 * group-commit batcher can make many files durable and then fsync
 * incoming/ once, without touching protocol code:
 *
 *   queue_file_finish     END record, flush the buffer
 *   queue_file_sync       fsync the file
 *   queue_file_claim      renameat2(tmp/x -> incoming/ID, NOREPLACE);
 *                         on EEXIST, the next id (never replace)
 *   queue_folder_sync     fsync incoming/ (lib/queue.h)
 *
 * Only after the last step may a caller acknowledge the message (250).
 *
 * Outcomes: STATUS_OK; STATUS_TEMP for I/O errors (ENOSPC, EDQUOT, EIO,
 * ...: a full disk is never a loss); STATUS_PERM for a value the format
 * cannot hold (a record past the record limit, a bad attribute name) and
 * for EFBIG.  why (caller-owned) gets one line.  After any failure the
 * file is dead: every later call returns the same status, and
 * queue_file_free() removes it.
 *
 * Never: hold the content in memory, give a file its name before it is
 * durable, replace an existing queue file, or leave a partial file
 * anywhere but tmp/.
 */
#ifndef FACTEUR_QUEUE_WRITE_H
#define FACTEUR_QUEUE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/queue.h"
#include "lib/queue_format.h"
#include "lib/queue_id.h"
#include "lib/queue_read.h"
#include "lib/str.h"
#include "lib/util.h"

/* Content buffer of a writer: writes reach the file in chunks this big. */
#define QUEUE_WRITE_BUF 65536

struct queue_file;

/*
 * Create a new file in q's tmp/ for a message that arrived at arrival_us
 * (µs since the epoch, e.g. time_real_us()).  q is borrowed and must
 * outlive the writer.  On STATUS_OK *qf_r is the writer (caller frees).
 */
FCT_MUST_CHECK enum status queue_file_create(struct queue *q,
    uint64_t arrival_us, struct queue_file **qf_r, struct str *why);

/* The envelope sender; "" is the null sender <>. */
FCT_MUST_CHECK enum status queue_file_sender(
    struct queue_file *qf, const char *sender, struct str *why);

/*
 * One attribute, name=value: client_name, client_addr, helo, protocol,
 * sasl_method, sasl_username, envid, ret, body, smtputf8, or any other.
 * name is [A-Za-z0-9_.-], 1 to QUEUE_ATTR_NAME_MAX bytes.
 */
FCT_MUST_CHECK enum status queue_file_attr(struct queue_file *qf,
    const char *name, const char *value, struct str *why);

/*
 * One recipient: addr as given (not empty), orig the ORCPT (RFC 3461) or
 * NULL for addr itself, notify the QUEUE_NOTIFY_* bits (0 = not given;
 * NEVER only alone).
 */
FCT_MUST_CHECK enum status queue_file_rcpt(struct queue_file *qf,
    const char *addr, const char *orig, unsigned notify, struct str *why);

/*
 * Append n bytes of content: raw, CRLF line endings, after dot-unstuffing,
 * starting with the Received: header.  The first call ends the envelope.
 */
FCT_MUST_CHECK enum status queue_file_content(
    struct queue_file *qf, const void *p, size_t n, struct str *why);

/* The four commit steps (see the header comment), and all of them. */
FCT_MUST_CHECK enum status queue_file_finish(
    struct queue_file *qf, struct str *why);
FCT_MUST_CHECK enum status queue_file_sync(
    struct queue_file *qf, struct str *why);
FCT_MUST_CHECK enum status queue_file_claim(
    struct queue_file *qf, struct str *why);
/*
 * finish + sync + claim + fsync incoming/.  When the last step fails the
 * new name is removed again (best effort) and STATUS_TEMP returned: the
 * message was never acknowledged, so a copy a crash may bring back is at
 * most a duplicate.
 */
FCT_MUST_CHECK enum status queue_file_commit(
    struct queue_file *qf, struct str *why);

/* The queue id once claimed, "" before.  Borrowed from qf. */
const char *queue_file_id(const struct queue_file *qf);
/*
 * The id the file will get, known from creation (arrival time + inode),
 * for the Received: header smtpd writes before commit.  It is the final
 * id unless that name is already taken at claim time, which needs a file
 * whose name does not match its inode (a forced id, a queue restored from
 * a backup); then the final id is a few microseconds later, so logs and
 * the 250 reply use queue_file_id().  Borrowed from qf.
 */
const char *queue_file_planned_id(const struct queue_file *qf);
/* Content bytes so far; whole-file bytes so far. */
uint64_t queue_file_content_size(const struct queue_file *qf);
uint64_t queue_file_size(const struct queue_file *qf);

/*
 * Close the writer and free *qfp (sets it NULL; accepts NULL).  A file
 * not yet claimed is removed from tmp/ (this is "abort").
 */
void queue_file_free(struct queue_file **qfp);

/*
 * Test only: claim under id (a valid id) first; on EEXIST the writer goes
 * on with the ids after it (next microsecond, same inode part).
 */
void queue_file_force_id(struct queue_file *qf, const char *id);

/*
 * Mark recipient r of the file open read-write as fd done: one pwrite of
 * its flags byte (DESIGN §2 rule 5), then fdatasync.  r->flags is updated.
 * queue_rcpt_set_done() is the pwrite alone, for a caller that marks
 * several recipients and then calls queue_fd_sync() once.
 * Returns 0, or -1 with why.
 */
FCT_MUST_CHECK int queue_rcpt_mark_done(
    int fd, struct queue_rcpt *r, struct str *why);
FCT_MUST_CHECK int queue_rcpt_set_done(
    int fd, struct queue_rcpt *r, struct str *why);
FCT_MUST_CHECK int queue_fd_sync(int fd, struct str *why);

#endif
