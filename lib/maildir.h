/*
 * maildir - write messages into Maildir++ mailboxes (DESIGN §2 rule 3,
 * §5), in the shape Dovecot, mutt and every Maildir tool read.
 *
 * Layout.  A mailbox is <base>/<domain>/<local>/Maildir/ with tmp/, new/
 * and cur/ (Maildir++ subfolders are ".Name/" inside it).  domain and
 * local are checked path components (lib/users.h: no '/', NUL, control
 * byte or leading '.'); every folder below base is opened with
 * openat(O_NOFOLLOW | O_DIRECTORY) relative to its parent's descriptor, so
 * a symbolic link anywhere in the store is refused, never followed (base
 * itself, virtual_mailbox_base, is the administrator's and may sit below
 * links).  Missing folders are made 0700 on first delivery, and after
 * each mkdir (or a mkdir that lost a race: EEXIST) the parent is fsynced
 * before anything is put inside, so a reported delivery never rests on a
 * folder entry that a crash could take away.
 *
 * One delivery:
 *   1. quota: usage (maildir_usage()) + the message's size > quota
 *      (0 = unlimited) refuses it with MAILDIR_QUOTA, nothing written;
 *   2. create tmp/<unique>, O_EXCL | O_NOFOLLOW, 0600;
 *   3. write head + message, CRLF turned into LF (bare CR and LF and
 *      every other byte kept as they are);
 *   4. fsync the file, close it;
 *   5. link it into new/<unique>,S=<size>,W=<vsize> (link(2): never
 *      replaces; EEXIST picks a new name), then unlink tmp/<unique>;
 *   6. fsync each distinct new/ folder of the batch once.
 * maildir_deliver() does 1-5 at once; maildir_write() does 1-3, starts
 * the writeback of the bytes (sync_file_range, a hint) and leaves 4 and
 * 5 to maildir_batch_sync(), which then does 6.  That is the group
 * commit of a delivery agent: it writes every message of many requests,
 * and one pass makes them durable, their fsyncs finding the bytes
 * already on their way to the disk.  What is durable when:
 *   - after maildir_write() returns MAILDIR_OK: nothing (the file is
 *     in tmp/ only; readers never look there);
 *   - after maildir_deliver() returns MAILDIR_OK: the file's bytes (4);
 *     its name in new/ is made but NOT yet durable: a crash now may lose
 *     the message, so it must not be reported;
 *   - after maildir_batch_sync(), for each delivery whose
 *     maildir_batch_result() is STATUS_OK: the file and its name in new/
 *     (and every folder above it) survive a crash: report it delivered.
 *     A delivery whose fsync, link or new/ fsync failed is STATUS_TEMP
 *     (maildir_batch_outcome() says NOSPACE or TEMP): the file may or
 *     may not survive, so the caller defers it (a retry may deliver a
 *     duplicate, which DESIGN §2 rule 2 allows; a loss it forbids).
 * So a caller delivers every message of a batch, syncs once, and only
 * then replies: N messages into M mailboxes cost N file fsyncs and M
 * folder fsyncs instead of 2N.  A failure after step 2 removes the tmp/
 * file again, and nothing ever appears in new/ for it.  A batch keeps
 * at most 64 written files open: past that, maildir_write() does 4 and
 * 5 for them first (6 still waits for maildir_batch_sync()).
 *
 * Names.  <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize> as Dovecot
 * writes them: S= is the size of the file (LF line ends), W= its size
 * with CRLF line ends (RFC 822 size), so quota and IMAP sizes need no
 * stat.  In host, '/' ':' and ',' are written \057 \072 \054 (the
 * Maildir convention).  Q<n> counts deliveries of the process, so names
 * are unique without trusting the clock.
 *
 * Quota.  Usage is the sum of S= (or the file size when a name has none)
 * of the files in new/ and cur/ of the mailbox and of every Maildir++
 * subfolder, found by a directory scan (once per mailbox per batch, then
 * kept up to date by the batch).  The message is counted at its queued
 * (CRLF) size plus head, a little more than it will take.
 *
 * Never: follow a symbolic link below base, replace an existing file,
 * report a delivery before its new/ folder is synced, retry a failed
 * fsync, or leave a file in new/ for a delivery that failed.
 */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"
#include "lib/util.h"

/* Longest file name we make (host is cut to fit). */
#define MAILDIR_NAME_MAX 255

/*
 * Where the message comes from: read up to len bytes at pos (0 = first
 * message byte) into buf.  *n_r is the count, 0 only at the end.
 * STATUS_TEMP or STATUS_PERM with why when it cannot.
 */
typedef enum status maildir_read_fn(void *ctx, uint64_t pos, void *buf,
    size_t len, size_t *n_r, struct str *why);

/* One message to deliver (plain value; every pointer borrowed). */
struct maildir_msg {
	const char *head;      /* header lines to put first (CRLF or LF
	                          ends), or NULL */
	maildir_read_fn *read; /* the message as queued (CRLF) */
	void *ctx;
	uint64_t len; /* bytes read() gives in all */
};

enum maildir_result {
	MAILDIR_OK,      /* maildir_deliver(): written, fsynced, linked
	                    into new/; maildir_write(): written into tmp/
	                    (neither durable before maildir_batch_sync()) */
	MAILDIR_QUOTA,   /* over quota: nothing written */
	MAILDIR_NOSPACE, /* ENOSPC or EDQUOT: nothing left behind (4.3.1) */
	MAILDIR_TEMP,    /* I/O error, a symbolic link or a non-folder in
	                    the store, a source read error: try later */
	MAILDIR_PERM,    /* a name that is not a safe path component, or a
	                    source that says the message is corrupt */
};

/* "ok", "quota", "nospace", "temp", "perm" for logs and tests. */
const char *maildir_result_name(enum maildir_result r);

struct maildir_store;
struct maildir_batch;

/*
 * Open the store at base (an existing folder) for a process on host
 * (myhostname; used in file names).  Returns the store (caller closes)
 * or NULL with why.
 */
FCT_MUST_CHECK struct maildir_store *maildir_store_open(
    const char *base, const char *host, struct str *why);
void maildir_store_close(struct maildir_store **sp);

/* A batch of deliveries into st (borrowed; must outlive the batch). */
struct maildir_batch *maildir_batch_new(struct maildir_store *st);
/* Close the batch's folders and free it; sets *bp NULL; accepts NULL. */
void maildir_batch_free(struct maildir_batch **bp);

/*
 * Deliver m into the mailbox of local@domain (both lower-case path
 * components) with quota bytes (0 = unlimited), steps 1-5 above.  On
 * MAILDIR_OK, *id_r numbers the delivery in the batch.  Otherwise why
 * says what happened and nothing is left in new/.
 */
FCT_MUST_CHECK enum maildir_result maildir_deliver(struct maildir_batch *b,
    const char *domain, const char *local, uint64_t quota,
    const struct maildir_msg *m, size_t *id_r, struct str *why);

/*
 * Steps 1-3 only (see above); the same arguments and results as
 * maildir_deliver().  On MAILDIR_OK the file waits in tmp/, open, for
 * maildir_batch_sync() (or is removed by maildir_batch_free()).
 */
FCT_MUST_CHECK enum maildir_result maildir_write(struct maildir_batch *b,
    const char *domain, const char *local, uint64_t quota,
    const struct maildir_msg *m, size_t *id_r, struct str *why);

/*
 * Steps 4-5 for every delivery maildir_write() left, in the order they
 * were written, then step 6: fsync each new/ folder that got a file
 * since the last sync, once.  Returns the number of deliveries whose
 * fsync or link failed plus the number of folders whose fsync failed
 * (their deliveries become STATUS_TEMP), each with a note in why.
 */
unsigned maildir_batch_sync(struct maildir_batch *b, struct str *why);

/*
 * Delivery id: STATUS_OK when synced and durable; STATUS_TEMP when its
 * fsync, link or folder fsync failed or no sync has covered it yet.
 */
enum status maildir_batch_result(const struct maildir_batch *b, size_t id);
/*
 * The same in more detail: MAILDIR_OK when durable, MAILDIR_NOSPACE when
 * its fsync or link found the disk full, MAILDIR_TEMP otherwise.
 */
enum maildir_result maildir_batch_outcome(
    const struct maildir_batch *b, size_t id);
/*
 * Delivery id's file name in new/ (borrowed from the batch), or NULL
 * when it is not (yet) linked there.
 */
const char *maildir_batch_name(const struct maildir_batch *b, size_t id);
/* Deliveries made so far in the batch. */
size_t maildir_batch_count(const struct maildir_batch *b);

/*
 * Usage in bytes of the mailbox of local@domain (the quota rule above).
 * A mailbox that does not exist yet uses 0.  0 or -1 with why.
 */
FCT_MUST_CHECK int maildir_usage(struct maildir_store *st, const char *domain,
    const char *local, uint64_t *bytes_r, struct str *why);

/*
 * The S= size in a Maildir file name ("...,S=1234,W=1260:2,S"), if it
 * has one.  A pure parser (tests, quota).
 */
bool maildir_name_size(const char *name, uint64_t *size_r);

#endif
