/*
 * linebuf - cut bytes into lines no longer than a caller's limit.
 *
 * The caller reads the socket or file straight into the buffer
 * (linebuf_space/linebuf_wrote) and takes whole lines out with
 * linebuf_next(), which returns one line without its CRLF or LF.  A line
 * longer than the limit is reported once as LINEBUF_TOOLONG and its bytes
 * are dropped up to and including the next LF, so the caller can answer
 * and go on.  The buffer holds at most twice the limit: a pipelining peer
 * cannot make it grow.
 *
 * Never: touch a descriptor, grow past its size, or hand out a line longer
 * than the limit.
 */
#ifndef FACTEUR_LINEBUF_H
#define FACTEUR_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct linebuf;

enum linebuf_result {
	LINEBUF_MORE,	 /* no complete line yet: read more */
	LINEBUF_LINE,	 /* *line_r, *len_r hold one line */
	LINEBUF_TOOLONG, /* a line passed the limit and is being dropped */
};

/* limit: longest line in bytes, not counting CRLF. */
struct linebuf *linebuf_new(size_t limit);
void linebuf_free(struct linebuf **lbp);

/*
 * Where to put new bytes, and how many fit (0 when full of unread lines:
 * take lines out first).  After reading, call linebuf_wrote(n).
 */
uint8_t *linebuf_space(struct linebuf *lb, size_t *room_r);
void linebuf_wrote(struct linebuf *lb, size_t n);
/* Copy bytes in; returns how many fitted. */
size_t linebuf_push(struct linebuf *lb, const void *p, size_t n);

/*
 * Next line.  The pointer is borrowed until the next call on lb.  A bare
 * CR is kept inside the line; one CR before the LF is removed.
 */
enum linebuf_result linebuf_next(struct linebuf *lb, const uint8_t **line_r,
    size_t *len_r);

/* Bytes buffered but not yet taken (pipelined input). */
size_t linebuf_pending(const struct linebuf *lb);
/* Borrow the unread bytes, then drop the first n of them. */
const uint8_t *linebuf_peek(const struct linebuf *lb, size_t *len_r);
void linebuf_skip(struct linebuf *lb, size_t n);
/* Drop everything (RFC 3207 §4.2 after a TLS handshake). */
void linebuf_reset(struct linebuf *lb);
size_t linebuf_limit(const struct linebuf *lb);

#endif
