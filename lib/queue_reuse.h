/*
 * queue_reuse - finished queue files kept in reuse/ for the next message.
 *
 * Creating and deleting a file per message is most of the file-system
 * work of a small message: an inode and a block allocated, then freed
 * (with a discard per freed extent on a `discard` mount, and on an ext4
 * without a journal a scan past every inode freed in the last minute at
 * each allocation).  So qmgr does not unlink a delivered file: it
 * retires it to reuse/, and a writer (lib/queue_write.h) takes one from
 * there, overwrites it from its first byte and cuts it to its new
 * length.  The inode and its blocks live on; the queue id, which joins
 * the arrival time with the inode number, is new.  docs/queue-format.md
 * §6 has the whole story.
 *
 * Order (DESIGN §2): a retired file must never be reachable under its
 * old name once a writer has put another message into it, or a crash
 * could bring the old name back over the new content.  So qmgr retires
 * in generations: queue_reuse_retire() renames from/ID to reuse/G-ID,
 * G the generation being filled; the caller fsyncs the folders it
 * retired from (qmgr: active/, once per loop turn), and only then
 * queue_reuse_publish() makes G the published generation, an 8-byte
 * counter in reuse/.gen that every writer maps read-only: a writer takes
 * only files of a published generation.  Publishing a whole loop turn's
 * files costs one store to memory, no system call.  A writer takes a
 * file by renaming it within reuse/ to QUEUE_REUSE_WRITING + its own name
 * (RENAME_NOREPLACE: of two writers only one gets it), and uses it only
 * when it is a regular file of its own uid with exactly one name (a
 * crash of a journal-less file system can leave a stale second name
 * behind; fsck counts it); anything else is dropped.
 *
 * The counter is stored after the fsync, so after any crash the value on
 * disk is at most the last one stored: a name of a generation above it
 * may not have had its fsync, and qmgr's start removes it.
 *
 * Never: let a writer see a file before its old name's removal is
 * durable, reuse a file that has a second name, or keep more than the
 * caller's limit (qmgr's queue_file_reuse_limit) in reuse/.
 */
#ifndef FACTEUR_QUEUE_REUSE_H
#define FACTEUR_QUEUE_REUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/queue.h"
#include "lib/str.h"

/* A writer's name for a file it took: QUEUE_REUSE_WRITING + its name. */
#define QUEUE_REUSE_WRITING  ".w."
#define QUEUE_REUSE_NAME_MAX 64
/* The published generation (8 bytes, native order). */
#define QUEUE_REUSE_GEN_FILE ".gen"

/* Files larger than this are unlinked, not kept (qmgr's choice). */
#define QUEUE_REUSE_SIZE_MAX (64 * 1024)

/* ---- qmgr: retiring finished files ---- */

/*
 * At qmgr's start: map reuse/.gen for writing (made when missing) and
 * remove what may not be safe or is left over: names of a generation
 * above the published one, and writers' files whose mtime is at least
 * min_age seconds old (as queue_tmp_sweep() does in tmp/).  Returns the
 * number removed, or -1 with why (retiring is then refused).
 */
FCT_MUST_CHECK int queue_reuse_start(
    struct queue *q, uint64_t min_age, struct str *why);

/*
 * True when reuse/ has room for one more file under limit (0: reuse is
 * off).  Counts what writers took at most once a second; in between it
 * trusts its own count, so it may say no while there is room.
 */
bool queue_reuse_room(struct queue *q, size_t limit);

/*
 * Rename folder f's id to reuse/G-id (G: the generation being filled).
 * Returns 0, or -1 with why (errno kept; the caller then removes the
 * file instead).  Only after queue_reuse_start().
 */
FCT_MUST_CHECK int queue_reuse_retire(
    struct queue *q, enum queue_folder f, const char *id, struct str *why);

/*
 * After an fsync of every folder the files of this generation left:
 * publish the generation; the next one begins.
 */
void queue_reuse_publish(struct queue *q);

/*
 * The fsync failed: remove reuse/G-id of this generation (0 or -1), and
 * call queue_reuse_abandon(): this generation is never published, and
 * retiring is refused from then on (the next start sweeps what is left).
 */
FCT_MUST_CHECK int queue_reuse_drop(
    struct queue *q, const char *id, struct str *why);
void queue_reuse_abandon(struct queue *q);

/* ---- writers ---- */

/*
 * Take a file of a published generation for the writer whose temporary
 * name is name: renamed within reuse/ to QUEUE_REUSE_WRITING + name (a
 * rename inside one folder: no cross-folder rename lock), which is
 * written back into name (cap bytes), opened O_WRONLY at offset 0, mode
 * 0600, mtime now (the sweep goes by mtime).  The writer later renames
 * it from reuse/ into incoming/ as it would from tmp/.  Returns the
 * descriptor with the file's present size in *size_r, or -1 when none
 * could be had (name unchanged; the caller creates a file in tmp/).
 */
int queue_reuse_take(struct queue *q, char *name, size_t cap, uint64_t *size_r);

/* ---- the queue's share (lib/queue_dir.c) ---- */

struct queue_reuse;
struct queue_reuse *queue_reuse_new(void);
/* The state kept in q (made on first use). */
struct queue_reuse *queue_reuse_state(struct queue *q);
void queue_reuse_free(struct queue_reuse **rp);

#endif
