/*
 * queue - the queue directory: its folders, an open queue, and the
 * changes that move, remove or scan whole queue files.
 *
 * queue_dir_init() creates or repairs the folders of DESIGN §2 with their
 * owners and modes (mailctl init, master at start).  queue_open() gives a
 * struct queue holding an O_DIRECTORY descriptor of each folder; every
 * other queue function works relative to those descriptors, so a program
 * chrooted into the queue or started in another directory behaves the
 * same.  New files are written with lib/queue_write.h, read with
 * lib/queue_read.h.
 *
 * Every change goes through lib/fsio and is atomic (DESIGN §2 rule 5): a
 * rename that never replaces, then an fsync of both folders.
 *
 * Never: replace a queue file, follow a symbolic link inside the queue,
 * read a name that is not a valid queue id as a queue file, or scan tmp/.
 */
#ifndef FACTEUR_QUEUE_H
#define FACTEUR_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/str.h"
#include "lib/util.h"

enum queue_folder {
	QUEUE_INCOMING, /* complete new messages, waiting for qmgr */
	QUEUE_ACTIVE,   /* messages qmgr is delivering */
	QUEUE_DEFERRED, /* waiting for the next attempt */
	QUEUE_HOLD,     /* put on hold by an administrator */
	QUEUE_CORRUPT,  /* unreadable files, never deleted automatically */
	QUEUE_DEFER,    /* per-message logs of deferred recipients */
	QUEUE_BOUNCE,   /* per-message logs of failed recipients */
	QUEUE_TMP,      /* files being written; never scanned */
	QUEUE_REUSE,    /* finished files kept for reuse (queue_reuse.h) */
	QUEUE_PRIVATE,  /* service sockets */
	QUEUE_PUBLIC,   /* sockets any local user may reach */
	QUEUE_PID,      /* master's pid and lock */
	QUEUE_AUTH,     /* auth service's client socket */
	QUEUE_FOLDER_COUNT
};

/* The folder's name ("incoming"); NULL for an out-of-range value. */
const char *queue_folder_name(enum queue_folder f);
/* True for the folders that hold queue files (incoming ... hold). */
bool queue_folder_holds_files(enum queue_folder f);

/*
 * Who owns the queue.  Used only when the caller is root; an ordinary
 * user's instance (tests, demo) makes everything its own.
 */
struct queue_owner {
	uid_t uid;      /* mail_owner */
	gid_t gid;      /* mail_owner's group */
	gid_t auth_gid; /* facteur-authclient (may equal gid) */
};

/*
 * Create root (its parent must exist) and every folder, or repair their
 * owner and mode (each repair is logged):
 *   root, pid/                                        root 0755
 *   incoming active deferred hold corrupt tmp
 *   defer bounce private                              mail_owner 0700
 *   public                                            mail_owner 0711
 *   auth                                              root:auth_gid 0750
 * As an ordinary user, owners are left alone (all are the caller's) and
 * only modes are set.  A folder that is a symbolic link or not a folder
 * is an error, never followed.  Returns 0, or -1 with a line in why.
 */
FCT_MUST_CHECK int queue_dir_init(
    const char *root, const struct queue_owner *own, struct str *why);

struct queue;

/*
 * Open the queue at root.  record_limit (queue_record_limit) bounds each
 * envelope record written or read.  Every file folder must exist; socket
 * folders (private public pid auth) are opened when the caller may, and
 * are -1 otherwise.  Returns 0 and *q_r (caller closes), or -1 and why.
 */
FCT_MUST_CHECK int queue_open(
    const char *root, size_t record_limit, struct queue **q_r, struct str *why);
/* Close every descriptor and free *qp; sets it NULL; accepts NULL. */
void queue_close(struct queue **qp);

/* Borrowed O_DIRECTORY descriptor of folder f (-1 when not opened). */
int queue_folder_fd(const struct queue *q, enum queue_folder f);
size_t queue_record_limit(const struct queue *q);
/* A number that differs on every call (temporary file names). */
uint64_t queue_next_serial(struct queue *q);

/* fsync(2) the folder, so that names made or removed in it are durable. */
FCT_MUST_CHECK int queue_folder_sync(
    struct queue *q, enum queue_folder f, struct str *why);

/*
 * Open the queue file id in folder f with O_NOFOLLOW|O_CLOEXEC and flags
 * (O_RDONLY, or O_RDWR to mark recipients).  Returns the descriptor
 * (caller closes), or -1 with why (errno kept: ENOENT when it is gone).
 */
FCT_MUST_CHECK int queue_file_open(struct queue *q, enum queue_folder f,
    const char *id, int flags, struct str *why);

/*
 * Move id from one folder to another: rename that never replaces, then
 * fsync the destination and the source folder.  Returns 0, or -1 with
 * why (EEXIST: a file of that name is already there; nothing moved).
 */
FCT_MUST_CHECK int queue_move(struct queue *q, enum queue_folder from,
    enum queue_folder to, const char *id, struct str *why);

/*
 * The same rename without the folder fsyncs: the move itself may be lost
 * in a crash, and the file is then found under its old name.  Only for
 * moves between folders that recovery treats alike — incoming/, active/
 * and deferred/ all lead back to a delivery attempt — so that losing the
 * move loses nothing (qmgr's load and deferral; two fsyncs saved per
 * message).  Never for hold/ or corrupt/, whose moves an administrator
 * or a reader must be able to rely on.
 */
FCT_MUST_CHECK int queue_move_lazy(struct queue *q, enum queue_folder from,
    enum queue_folder to, const char *id, struct str *why);

/*
 * Forced expiry (Postfix's postsuper -e): the owner's execute bit on a
 * queue file (0700 instead of 0600) says "return this message to its
 * sender at its next delivery attempt".  Setting it is one chmod, made
 * durable with an fsync of the file.  Returns 0, or -1 with why (errno
 * kept: ENOENT when the file is not in folder f).
 */
#define QUEUE_MODE_EXPIRE S_IXUSR
FCT_MUST_CHECK int queue_expire_mark(struct queue *q, enum queue_folder f,
    const char *id, struct str *why);
/* True when the file behind fd carries the forced-expiry mark. */
bool queue_expire_marked(int fd);

/*
 * Move an unreadable file to corrupt/ and log it with reason (a warning,
 * or an error when the move itself fails).  Returns 0 or -1 with why.
 */
FCT_MUST_CHECK int queue_corrupt(struct queue *q, enum queue_folder from,
    const char *id, const char *reason, struct str *why);

/*
 * Remove id from folder f.  The folder is not fsynced: a file removed
 * because every recipient is done (durably marked) is harmless if a
 * crash brings it back; a caller that needs the removal itself to be
 * durable (mailctl queue delete) calls queue_folder_sync() after.
 * Returns 0, or -1 with why (ENOENT kept in errno).
 */
FCT_MUST_CHECK int queue_remove(
    struct queue *q, enum queue_folder f, const char *id, struct str *why);

/*
 * Call fn(id, arg) for each name in folder f that is a valid queue id, in
 * directory order (callers sort when they need arrival order: ids sort
 * by arrival with strcmp).  Other names are skipped.  fn returns 0 to go
 * on, anything else to stop.  Refuses tmp/.  Returns 0 (all seen), 1
 * (stopped by fn) or -1 with why.
 */
typedef int queue_scan_fn(const char *id, void *arg);
FCT_MUST_CHECK int queue_scan(struct queue *q, enum queue_folder f,
    queue_scan_fn *fn, void *arg, struct str *why);

/*
 * Remove files in tmp/ whose mtime is at least min_age seconds old
 * (qmgr at start: DESIGN §2; writers that died left them).  Returns the
 * number removed, or -1 with why.
 */
FCT_MUST_CHECK int queue_tmp_sweep(
    struct queue *q, uint64_t min_age, struct str *why);

#endif
