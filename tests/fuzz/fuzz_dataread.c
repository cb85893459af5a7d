/*
 * fuzz_dataread - libFuzzer harness for lib/dataread, with invariants.
 *
 * Input: byte 0 = mode (bit 0: reject policy, bit 1: BDAT, bits 2-3:
 * size limit off / byte 1 / byte 1 * 16 / byte 1 * 256), byte 1 = limit,
 * bytes 2-3 = seed of the piece sizes; the rest is the raw client data.
 *
 * The data is read three ways: in one piece, in pseudo-random pieces
 * (empty ones too) and one byte at a time; for BDAT it is also cut into
 * pseudo-random BDAT chunks.  Invariants (abort() on violation):
 *   - all ways give the same output, bytes taken, end, flags and sizes;
 *   - DATA ends exactly after the first CRLF "." CRLF (the data counting
 *     as if it followed a CRLF), never elsewhere, and takes no byte after;
 *   - the output equals ref(), a whole-buffer reference decoder (cut at
 *     real CRLFs, unstuff, normalise bare CR/LF), cut where the policy or
 *     the limit says; BDAT output is the normalised concatenation;
 *   - nothing past the limit is stored.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dataread.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
out_str(void *ctx, const uint8_t *p, size_t n)
{
	check(n > 0);
	check(str_append(ctx, p, n) == 0);
	return 0;
}

struct run {
	enum dataread_result r;
	size_t used;
	unsigned flags;
	uint64_t size, stored;
	struct str *out;
};

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * how: 0 one piece, 1 random pieces, 2 one byte at a time.  For BDAT,
 * random BDAT chunk sizes too (how 0: one chunk).
 */
static struct run
run(enum dataread_policy pol, bool bdat, uint64_t limit, const uint8_t *p,
    size_t n, int how, uint32_t seed)
{
	struct run res = {DATAREAD_MORE, 0, 0, 0, 0, str_new(2 * n + 16)};
	struct dataread *dr = dataread_new(pol, limit, out_str, res.out);
	uint32_t s = seed | 1;
	size_t off = 0, chunk_end = n;
	bool announce = bdat;

	if (bdat)
		dataread_begin_bdat(dr);
	for (;;) {
		size_t piece, used;

		if (announce) {
			/* Announce the next BDAT chunk. */
			size_t c = how == 0 ? n - off : rnd(&s) % 9;
			bool last;

			if (c > n - off)
				c = n - off;
			chunk_end = off + c;
			last = chunk_end == n && (how == 0 || rnd(&s) % 2);
			check(dataread_bdat_chunk(dr, c, last) == 0);
			check(dataread_bdat_remaining(dr) == c);
		}
		piece = how == 0 ? n - off : how == 1 ? rnd(&s) % 7 : 1;
		if (piece > n - off)
			piece = n - off;
		res.r = dataread_feed(dr, p + off, piece, &used);
		check(used <= piece);
		if (res.r == DATAREAD_MORE)
			check(used == piece);
		off += used;
		if (bdat && res.r != DATAREAD_MORE)
			check(off == chunk_end);
		if (res.r == DATAREAD_END || (!bdat && off == n))
			break;
		announce = res.r == DATAREAD_CHUNK_END;
	}
	res.used = off;
	res.flags = dataread_flags(dr);
	res.size = dataread_size(dr);
	res.stored = dataread_stored(dr);
	check(res.stored == str_len(res.out));
	if (limit > 0)
		check(res.stored <= limit);
	check((res.flags & DATAREAD_F_TOOBIG) == 0 || res.size > limit);
	dataread_free(&dr);
	return res;
}

static void
same(const struct run *a, const struct run *b)
{
	check(a->r == b->r && a->used == b->used && a->flags == b->flags);
	check(a->size == b->size && a->stored == b->stored);
	check(str_len(a->out) == str_len(b->out) &&
	      memcmp(str_data(a->out), str_data(b->out), str_len(a->out)) == 0);
}

/* Append a normalised byte; note the first bare CR/LF. */
static void
ref_put(struct str *out, const uint8_t *c, bool bare, size_t *bare_at,
    unsigned *flags)
{
	if (bare) {
		if (*bare_at == SIZE_MAX)
			*bare_at = str_len(out);
		*flags |= *c == '\r' ? DATAREAD_F_BARE_CR : DATAREAD_F_BARE_LF;
		check(str_append(out, "\r\n", 2) == 0);
	} else
		check(str_append(out, c, 1) == 0);
}

/*
 * Reference.  DATA: returns the bytes up to the end (0: no end).  Fills
 * out with the whole normalised content (BDAT: of everything).
 */
static size_t
ref(bool bdat, const uint8_t *p, size_t n, struct str *out, size_t *bare_at,
    unsigned *flags)
{
	size_t end = SIZE_MAX, pos = 0;

	*bare_at = SIZE_MAX;
	*flags = 0;
	if (bdat) {
		for (size_t i = 0; i < n; i++) {
			bool crlf =
			    p[i] == '\r' && i + 1 < n && p[i + 1] == '\n';
			if (crlf) {
				check(str_append(out, "\r\n", 2) == 0);
				i++;
			} else
				ref_put(out, p + i,
				    p[i] == '\r' || p[i] == '\n', bare_at,
				    flags);
		}
		return n;
	}
	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0)
		end = 0;
	for (size_t i = 0; end == SIZE_MAX && i + 5 <= n; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			end = i + 2;
	if (end == SIZE_MAX)
		return 0;
	while (pos < end) {
		size_t k = pos;

		while (!(p[k] == '\r' && p[k + 1] == '\n'))
			k++;
		if (p[pos] == '.')
			pos++;
		for (; pos < k; pos++)
			ref_put(out, p + pos, p[pos] == '\r' || p[pos] == '\n',
			    bare_at, flags);
		check(str_append(out, "\r\n", 2) == 0);
		pos = k + 2;
	}
	return end + 3;
}

static void
check_ref(enum dataread_policy pol, bool bdat, uint64_t limit, const uint8_t *p,
    size_t n, const struct run *r)
{
	struct str *want = str_new(2 * n + 16);
	size_t bare_at, keep, used;
	unsigned flags, wflags;

	used = ref(bdat, p, n, want, &bare_at, &flags);
	if (!bdat && used == 0) {
		/* No end: none may be found, all is taken, and what came
		 * out is a prefix of some content (no terminator inside). */
		check(r->r == DATAREAD_MORE && r->used == n);
		str_free(&want);
		return;
	}
	check(r->r == DATAREAD_END && r->used == used);
	check(r->size == str_len(want));
	keep = str_len(want);
	wflags = flags;
	if (pol == DATAREAD_REJECT && bare_at != SIZE_MAX) {
		keep = bare_at;
		wflags |= DATAREAD_F_REJECT;
	}
	if (limit > 0 && keep > limit) {
		keep = (size_t)limit;
		wflags |= DATAREAD_F_TOOBIG;
	}
	if (bdat && str_len(want) > 0 &&
	    str_data(want)[str_len(want) - 1] != '\n')
		wflags |= DATAREAD_F_PARTIAL;
	check(r->flags == wflags);
	check(str_len(r->out) == keep &&
	      memcmp(str_data(r->out), str_data(want), keep) == 0);
	str_free(&want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum dataread_policy pol;
	bool bdat;
	uint64_t limit = 0;
	uint32_t seed;
	struct run a, b, c;

	if (size < 4)
		return 0;
	pol = (data[0] & 1) ? DATAREAD_REJECT : DATAREAD_NORMALIZE;
	bdat = (data[0] & 2) != 0;
	switch ((data[0] >> 2) & 3) {
	case 1:
		limit = data[1];
		break;
	case 2:
		limit = (uint64_t)data[1] * 16;
		break;
	case 3:
		limit = (uint64_t)data[1] * 256;
		break;
	}
	seed = (uint32_t)data[2] << 8 | data[3];
	data += 4;
	size -= 4;

	a = run(pol, bdat, limit, data, size, 0, seed);
	b = run(pol, bdat, limit, data, size, 1, seed);
	c = run(pol, bdat, limit, data, size, 2, seed);
	same(&a, &b);
	same(&a, &c);
	check_ref(pol, bdat, limit, data, size, &a);
	str_free(&a.out);
	str_free(&b.out);
	str_free(&c.out);
	return 0;
}
