/*
 * queue_read - parse a queue file's envelope; read its content in chunks.
 *
 * queue_env_parse() is a pure parser: it sees the file only through a
 * caller's pread-like callback (never a file offset), so a fuzzer feeds
 * it memory and real code a descriptor.  It checks magic, version, the
 * order and shape of every record (lib/queue_format.h) and the END
 * record, and returns the envelope with, for each recipient, its done
 * flag and the byte offset of that flag (for queue_rcpt_mark_done()).
 * The content is located (offset, length), never loaded.
 *
 * Outcomes: STATUS_OK; STATUS_PERM with "corrupt: ..." in why for an
 * unknown version or any malformed, oversized, missing or trailing record
 * (the caller moves the file to corrupt/: queue_corrupt()); STATUS_TEMP
 * with "read: ..." for an I/O error.
 *
 * Never: guess at a damaged file, allocate a record larger than the
 * record limit, read the content, or trust a length before checking it
 * against what is left.
 */
#ifndef FACTEUR_QUEUE_READ_H
#define FACTEUR_QUEUE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/queue_format.h"
#include "lib/str.h"
#include "lib/util.h"

/*
 * Read up to len bytes at off into buf.  Returns the count (0 at end of
 * file; fewer than len is allowed), or -1 with errno on an I/O error.
 */
typedef ssize_t queue_pread_fn(void *ctx, void *buf, size_t len, uint64_t off);

/* Memory source: ctx is a struct queue_mem. */
struct queue_mem {
	const uint8_t *data; /* borrowed */
	size_t len;
};
ssize_t queue_pread_mem(void *ctx, void *buf, size_t len, uint64_t off);
/* Descriptor source: ctx points to an int holding the descriptor. */
ssize_t queue_pread_fd(void *ctx, void *buf, size_t len, uint64_t off);

/*
 * Descriptor source read ahead in blocks: ctx is a struct queue_fdbuf
 * (fd set, the rest zeroed).  An envelope of a few small records then
 * costs one pread instead of one per record.  Reads of a block or more
 * go straight to the descriptor.
 */
#define QUEUE_FDBUF_SIZE 8192
struct queue_fdbuf {
	int fd;
	uint64_t off; /* file offset of buf[0] */
	size_t len;   /* valid bytes in buf */
	uint8_t buf[QUEUE_FDBUF_SIZE];
};
ssize_t queue_pread_fdbuf(void *ctx, void *buf, size_t len, uint64_t off);

struct queue_attr {
	char *name;  /* owned */
	char *value; /* owned */
};

struct queue_rcpt {
	char *addr;         /* owned: address as given */
	char *orig;         /* owned: ORCPT, or the address as given */
	uint8_t notify;     /* QUEUE_NOTIFY_* bits, 0 = not given */
	uint8_t flags;      /* QUEUE_RCPT_* bits as read */
	uint64_t flags_off; /* byte offset of flags in the file */
};

/* An envelope.  Owns its strings and arrays: queue_env_clear(). */
struct queue_env {
	uint32_t version;
	uint64_t arrival_us; /* µs since the epoch */
	char *sender;        /* "" = null sender */
	struct queue_attr *attrs;
	size_t nattrs;
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	size_t ndone;         /* recipients with QUEUE_RCPT_DONE */
	uint64_t content_off; /* first content byte in the file */
	uint64_t content_len; /* content bytes */
	uint64_t file_size;   /* through the END record */
};

/*
 * Parse the file read through rd(ctx, ...).  record_limit bounds every
 * record but the content.  On STATUS_OK *env_r is filled (caller clears
 * it); otherwise *env_r is left empty and why says what happened.
 */
FCT_MUST_CHECK enum status queue_env_parse(queue_pread_fn *rd, void *ctx,
    size_t record_limit, struct queue_env *env_r, struct str *why);

/* Release what env owns and zero it; accepts a zeroed env. */
void queue_env_clear(struct queue_env *env);

/* The first value of attribute name, or NULL.  Borrowed from env. */
const char *queue_env_attr(const struct queue_env *env, const char *name);

/*
 * Read up to len content bytes starting pos bytes into the content.
 * *n_r is the count, 0 at the end of the content.  A file that ends
 * inside its content is STATUS_PERM "corrupt"; an I/O error STATUS_TEMP.
 */
FCT_MUST_CHECK enum status queue_content_read(queue_pread_fn *rd, void *ctx,
    const struct queue_env *env, uint64_t pos, void *buf, size_t len,
    size_t *n_r, struct str *why);

#endif
