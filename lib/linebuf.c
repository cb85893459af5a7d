/*
 * linebuf - bounded line reader over a fixed buffer.
 *
 * Layout: buf[start, end) holds unread bytes; lines are cut at LF.  When
 * discarding an over-long line, bytes up to the next LF are thrown away.
 *
 * Never: read or write outside buf, or return a line longer than limit.
 */
#include "lib/linebuf.h"

#include <stdlib.h>
#include <string.h>

struct linebuf {
	uint8_t *buf;
	size_t size;  /* bytes allocated */
	size_t limit; /* longest line, without CRLF */
	size_t start, end;
	bool discarding;
};

struct linebuf *
linebuf_new(size_t limit)
{
	struct linebuf *lb = x_calloc(1, sizeof(*lb));
	size_t size;

	FCT_ASSERT(limit > 0 && size_mul(limit, 2, &size) &&
	    size_add(size, 4, &size));
	lb->buf = x_malloc(size);
	lb->size = size;
	lb->limit = limit;
	return lb;
}

void
linebuf_free(struct linebuf **lbp)
{
	if (*lbp == NULL)
		return;
	free((*lbp)->buf);
	x_free(lbp);
}

static void
compact(struct linebuf *lb)
{
	if (lb->start == 0)
		return;
	memmove(lb->buf, lb->buf + lb->start, lb->end - lb->start);
	lb->end -= lb->start;
	lb->start = 0;
}

uint8_t *
linebuf_space(struct linebuf *lb, size_t *room_r)
{
	if (lb->end == lb->size)
		compact(lb);
	*room_r = lb->size - lb->end;
	return lb->buf + lb->end;
}

void
linebuf_wrote(struct linebuf *lb, size_t n)
{
	FCT_ASSERT(n <= lb->size - lb->end);
	lb->end += n;
}

size_t
linebuf_push(struct linebuf *lb, const void *p, size_t n)
{
	size_t room;
	uint8_t *dst = linebuf_space(lb, &room);

	if (n > room)
		n = room;
	memcpy(dst, p, n);
	linebuf_wrote(lb, n);
	return n;
}

enum linebuf_result
linebuf_next(struct linebuf *lb, const uint8_t **line_r, size_t *len_r)
{
	for (;;) {
		uint8_t *p = lb->buf + lb->start;
		size_t avail = lb->end - lb->start;
		uint8_t *lf = memchr(p, '\n', avail);

		if (lb->discarding) {
			if (lf == NULL) {
				lb->start = lb->end = 0;
				return LINEBUF_MORE;
			}
			lb->start += (size_t)(lf - p) + 1;
			lb->discarding = false;
			continue;
		}
		if (lf == NULL) {
			/* limit + CR may be waiting for its LF. */
			if (avail > lb->limit + 1) {
				lb->discarding = true;
				lb->start = lb->end = 0;
				return LINEBUF_TOOLONG;
			}
			if (lb->start > 0 && lb->end == lb->size)
				compact(lb);
			return LINEBUF_MORE;
		}
		size_t len = (size_t)(lf - p);
		lb->start += len + 1;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > lb->limit)
			return LINEBUF_TOOLONG;
		*line_r = p;
		*len_r = len;
		return LINEBUF_LINE;
	}
}

size_t
linebuf_pending(const struct linebuf *lb)
{
	return lb->end - lb->start;
}

const uint8_t *
linebuf_peek(const struct linebuf *lb, size_t *len_r)
{
	*len_r = lb->end - lb->start;
	return lb->buf + lb->start;
}

void
linebuf_skip(struct linebuf *lb, size_t n)
{
	FCT_ASSERT(n <= lb->end - lb->start);
	lb->start += n;
	if (lb->start == lb->end)
		lb->start = lb->end = 0;
}

void
linebuf_reset(struct linebuf *lb)
{
	lb->start = lb->end = 0;
	lb->discarding = false;
}

size_t
linebuf_limit(const struct linebuf *lb)
{
	return lb->limit;
}
