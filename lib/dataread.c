/*
 * dataread - DATA/BDAT content reader, one state machine over raw bytes.
 *
 * States (DATA mode; BDAT uses ST_MID and ST_CR only):
 *   ST_BOL     at a line start: the next byte may begin "." CRLF
 *   ST_MID     inside a line
 *   ST_CR      a CR ended the previous chunk; held, not yet output
 *   ST_DOT     "." at a line start; the dot is dropped (unstuffed)
 *   ST_DOT_CR  "." CR at a line start; the CR is held: LF next is the end
 *   ST_END     done; nothing more is taken
 * Content flows out as runs of input bytes (zero copy); a run is cut
 * where a byte is dropped (a stuffing dot, the terminator) or replaced (a
 * bare CR or LF).  Every decision depends on the bytes alone, never on
 * where a chunk ends, so any split gives the same output.
 *
 * Never: emit a held byte before its successor decides what it is, or
 * take a byte past the terminator or the BDAT chunk.
 */
#include "lib/dataread.h"

#include <string.h>

enum st { ST_BOL, ST_MID, ST_CR, ST_DOT, ST_DOT_CR, ST_END };

struct dataread {
	enum dataread_policy policy;
	uint64_t limit;
	dataread_out_fn *out; /* borrowed */
	void *ctx;            /* borrowed */
	enum st st;
	bool bdat;
	bool bdat_last;     /* the current chunk is LAST */
	uint64_t bdat_left; /* bytes left in the current chunk */
	bool storing;       /* false after reject, too big, out error */
	uint64_t size, stored;
	uint8_t last; /* last content byte, for F_PARTIAL */
	unsigned flags;
};

struct dataread *
dataread_new(enum dataread_policy policy, uint64_t limit, dataread_out_fn *out,
    void *ctx)
{
	struct dataread *dr = x_calloc(1, sizeof(*dr));

	FCT_ASSERT(out != NULL);
	dr->policy = policy;
	dr->limit = limit;
	dr->out = out;
	dr->ctx = ctx;
	dataread_begin_data(dr);
	return dr;
}

void
dataread_free(struct dataread **drp)
{
	x_free(drp);
}

int
dataread_policy_parse(const char *text, enum dataread_policy *policy_r)
{
	if (ascii_strcaseeq(text, "normalize"))
		*policy_r = DATAREAD_NORMALIZE;
	else if (ascii_strcaseeq(text, "reject"))
		*policy_r = DATAREAD_REJECT;
	else
		return -1;
	return 0;
}

static void
begin(struct dataread *dr, bool bdat)
{
	dr->bdat = bdat;
	dr->st = bdat ? ST_MID : ST_BOL;
	dr->bdat_last = false;
	dr->bdat_left = 0;
	dr->storing = true;
	dr->size = dr->stored = 0;
	dr->last = '\n';
	dr->flags = 0;
}

void
dataread_begin_data(struct dataread *dr)
{
	begin(dr, false);
}

void
dataread_begin_bdat(struct dataread *dr)
{
	begin(dr, true);
}

int
dataread_bdat_chunk(struct dataread *dr, uint64_t size, bool last)
{
	if (!dr->bdat || dr->st == ST_END || dr->bdat_left > 0)
		return -1;
	dr->bdat_left = size;
	dr->bdat_last = last;
	return 0;
}

/* Content out: count it, store what the limit and errors allow. */
static void
emit(struct dataread *dr, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	dr->size = n > UINT64_MAX - dr->size ? UINT64_MAX : dr->size + n;
	dr->last = p[n - 1];
	if (!dr->storing)
		return;
	if (dr->limit > 0 && n > dr->limit - dr->stored) {
		/* Store up to the limit exactly, whatever the chunking. */
		n = (size_t)(dr->limit - dr->stored);
		dr->flags |= DATAREAD_F_TOOBIG;
		dr->storing = false;
		if (n == 0)
			return;
	}
	if (dr->out(dr->ctx, p, n) < 0) {
		dr->flags |= DATAREAD_F_OUTERR;
		dr->storing = false;
		return;
	}
	dr->stored += n;
}

static void
flush(struct dataread *dr, const uint8_t *p, size_t from, size_t to)
{
	emit(dr, p + from, to - from);
}

/* A bare CR or LF: normalise to CRLF, or mark the message bad. */
static void
bare(struct dataread *dr, unsigned flag)
{
	dr->flags |= flag;
	if (dr->policy == DATAREAD_REJECT) {
		dr->flags |= DATAREAD_F_REJECT;
		dr->storing = false;
	}
	emit(dr, (const uint8_t *)"\r\n", 2);
}

/*
 * Run the state machine over p[0..n).  Returns the bytes taken: n, or
 * fewer when the terminator ends inside (then dr->st is ST_END).
 */
static size_t
scan(struct dataread *dr, const uint8_t *p, size_t n)
{
	const enum st bol = dr->bdat ? ST_MID : ST_BOL;
	size_t i = 0, run = 0;

	while (i < n) {
		switch (dr->st) {
		case ST_BOL:
			if (p[i] == '.') {
				flush(dr, p, run, i);
				run = ++i;
				dr->st = ST_DOT;
			} else
				dr->st = ST_MID;
			break;
		case ST_MID:
			while (i < n && p[i] != '\r' && p[i] != '\n')
				i++;
			if (i == n)
				break;
			if (p[i] == '\n') {
				flush(dr, p, run, i);
				bare(dr, DATAREAD_F_BARE_LF);
				run = ++i;
			} else if (i + 1 == n) {
				/* CR last in the chunk: hold it. */
				flush(dr, p, run, i);
				run = ++i;
				dr->st = ST_CR;
			} else if (p[i + 1] == '\n') {
				i += 2; /* real CRLF, stays in the run */
				dr->st = bol;
			} else {
				flush(dr, p, run, i);
				bare(dr, DATAREAD_F_BARE_CR);
				run = ++i;
			}
			break;
		case ST_CR: /* only at i == 0 == run */
			if (p[i] == '\n') {
				emit(dr, (const uint8_t *)"\r\n", 2);
				run = ++i;
				dr->st = bol;
			} else {
				bare(dr, DATAREAD_F_BARE_CR);
				dr->st = ST_MID;
			}
			break;
		case ST_DOT: /* run == i: the dot is dropped */
			if (p[i] == '\r') {
				run = ++i;
				dr->st = ST_DOT_CR;
			} else
				dr->st = ST_MID;
			break;
		case ST_DOT_CR: /* run == i: the CR is held */
			if (p[i] == '\n') {
				dr->st = ST_END;
				return i + 1;
			}
			bare(dr, DATAREAD_F_BARE_CR);
			dr->st = ST_MID;
			break;
		case ST_END:
			return i;
		}
	}
	flush(dr, p, run, n);
	return n;
}

enum dataread_result
dataread_feed(struct dataread *dr, const uint8_t *p, size_t n, size_t *used_r)
{
	*used_r = 0;
	if (dr->st == ST_END)
		return DATAREAD_END;
	if (!dr->bdat) {
		*used_r = scan(dr, p, n);
		return dr->st == ST_END ? DATAREAD_END : DATAREAD_MORE;
	}
	if (n > dr->bdat_left)
		n = (size_t)dr->bdat_left;
	*used_r = scan(dr, p, n);
	dr->bdat_left -= n;
	if (dr->bdat_left > 0)
		return DATAREAD_MORE;
	if (!dr->bdat_last)
		return DATAREAD_CHUNK_END;
	/* RFC 3030: the message ends here; a held CR has no LF to come. */
	if (dr->st == ST_CR)
		bare(dr, DATAREAD_F_BARE_CR);
	if (dr->last != '\n')
		dr->flags |= DATAREAD_F_PARTIAL;
	dr->st = ST_END;
	return DATAREAD_END;
}

uint64_t
dataread_bdat_remaining(const struct dataread *dr)
{
	return dr->bdat ? dr->bdat_left : 0;
}

uint64_t
dataread_size(const struct dataread *dr)
{
	return dr->size;
}

uint64_t
dataread_stored(const struct dataread *dr)
{
	return dr->stored;
}

unsigned
dataread_flags(const struct dataread *dr)
{
	return dr->flags;
}

const char *
dataread_reply(const struct dataread *dr)
{
	if (dr->flags & DATAREAD_F_REJECT)
		return "550 5.5.2 Error: bare <CR> or <LF> received";
	if (dr->flags & DATAREAD_F_TOOBIG)
		return "552 5.3.4 Message size exceeds fixed limit";
	if (dr->flags & DATAREAD_F_OUTERR)
		return "451 4.3.0 Error: queue file write error";
	return NULL;
}
