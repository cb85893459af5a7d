/*
 * test_dataread - table-driven tests of lib/dataread, the DATA/BDAT
 * content reader.
 *
 * Every DATA case is fed whole, split in two at every offset, split in
 * three at every pair of offsets (short inputs), and one byte at a time;
 * every result (output, bytes taken, end, flags, sizes) must be the same.
 * Each is also checked against ref_data(), a whole-buffer reference built
 * differently from the state machine: find the first "\r\n.\r\n", cut the
 * content at real CRLFs, unstuff, then normalise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/dataread.h"
#include "lib/str.h"

/* Table rows leave trailing fields out when they do not apply. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define OUT_CAP (4u << 20)

struct sink {
	struct str *s;
	int fail_after; /* fail the call after this many bytes; -1 never */
	size_t calls;
};

static int
sink_out(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *k = ctx;

	assert_true(n > 0);
	k->calls++;
	if (k->fail_after >= 0 && str_len(k->s) + n > (size_t)k->fail_after)
		return -1;
	assert_int_equal(str_append(k->s, p, n), 0);
	return 0;
}

/* What one run of the reader produced. */
struct result {
	enum dataread_result r;
	size_t used;
	unsigned flags;
	uint64_t size, stored;
	const char *reply;
	struct str *out;
};

static void
result_free(struct result *res)
{
	str_free(&res->out);
}

/*
 * Feed in[0..n) to a DATA reader in pieces: cuts[] are the offsets where
 * a new piece starts (ascending, may repeat: empty pieces).
 */
static struct result
run_data(enum dataread_policy pol, uint64_t limit, const uint8_t *in, size_t n,
    const size_t *cuts, size_t ncuts)
{
	struct sink k = {str_new(OUT_CAP), -1, 0};
	struct dataread *dr = dataread_new(pol, limit, sink_out, &k);
	struct result res = {DATAREAD_MORE, 0, 0, 0, 0, NULL, NULL};
	size_t off = 0;

	dataread_begin_data(dr);
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : n, used;

		if (end < off)
			end = off;
		res.r = dataread_feed(dr, in + off, end - off, &used);
		assert_true(used <= end - off);
		if (res.r == DATAREAD_MORE)
			assert_int_equal(used, end - off);
		off += used;
		if (res.r == DATAREAD_END)
			break;
	}
	res.used = off;
	res.flags = dataread_flags(dr);
	res.size = dataread_size(dr);
	res.stored = dataread_stored(dr);
	res.reply = dataread_reply(dr);
	res.out = k.s;
	assert_int_equal(res.stored, str_len(res.out));
	/* After the end nothing more is taken. */
	if (res.r == DATAREAD_END) {
		size_t used = 99;
		assert_int_equal(dataread_feed(dr, in, n, &used), DATAREAD_END);
		assert_int_equal(used, 0);
	}
	dataread_free(&dr);
	assert_null(dr);
	return res;
}

static void
result_same(const char *name, const struct result *a, const struct result *b,
    const char *how)
{
	if (a->r != b->r || a->used != b->used || a->flags != b->flags ||
	    a->size != b->size || a->stored != b->stored ||
	    str_len(a->out) != str_len(b->out) ||
	    memcmp(str_data(a->out), str_data(b->out), str_len(a->out)) != 0)
		fail_msg("%s: %s differs (r %d/%d used %zu/%zu flags %#x/%#x "
		         "out %zu/%zu)",
		    name, how, a->r, b->r, a->used, b->used, a->flags, b->flags,
		    str_len(a->out), str_len(b->out));
}

/*
 * The reference.  Returns true when the end is in in[0..n) and sets
 * *used_r; fills out with the whole normalised content, *bare_at_r with
 * the output length at the first bare CR/LF (SIZE_MAX: none), *flags_r
 * with DATAREAD_F_BARE_*.
 */
static bool
ref_data(const uint8_t *in, size_t n, size_t *used_r, struct str *out,
    size_t *bare_at_r, unsigned *flags_r)
{
	size_t end = SIZE_MAX, clen, pos = 0;

	*bare_at_r = SIZE_MAX;
	*flags_r = 0;
	if (n >= 3 && memcmp(in, ".\r\n", 3) == 0)
		end = 0;
	for (size_t i = 0; end == SIZE_MAX && i + 5 <= n; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			end = i + 2;
	if (end == SIZE_MAX)
		return false;
	*used_r = end + 3;
	clen = end; /* content: in[0..end), ends with CRLF or is empty */
	while (pos < clen) {
		size_t k = pos;

		while (!(in[k] == '\r' && in[k + 1] == '\n'))
			k++;
		if (in[pos] == '.')
			pos++;
		for (; pos < k; pos++) {
			if (in[pos] == '\r' || in[pos] == '\n') {
				if (*bare_at_r == SIZE_MAX)
					*bare_at_r = str_len(out);
				*flags_r |= in[pos] == '\r'
				                ? DATAREAD_F_BARE_CR
				                : DATAREAD_F_BARE_LF;
				assert_int_equal(str_append(out, "\r\n", 2), 0);
			} else
				assert_int_equal(
				    str_append(out, in + pos, 1), 0);
		}
		assert_int_equal(str_append(out, "\r\n", 2), 0);
		pos = k + 2;
	}
	return true;
}

/* Check a result against the reference (when the end is there). */
static void
check_ref(const char *name, enum dataread_policy pol, uint64_t limit,
    const uint8_t *in, size_t n, const struct result *res)
{
	struct str *ref = str_new(OUT_CAP);
	size_t used, bare_at, keep;
	unsigned flags, want;

	if (!ref_data(in, n, &used, ref, &bare_at, &flags)) {
		if (res->r != DATAREAD_MORE)
			fail_msg("%s: end found where there is none", name);
		str_free(&ref);
		return;
	}
	if (res->r != DATAREAD_END || res->used != used)
		fail_msg("%s: end %d at %zu, reference at %zu", name, res->r,
		    res->used, used);
	if (res->size != str_len(ref))
		fail_msg("%s: size %llu, reference %zu", name,
		    (unsigned long long)res->size, str_len(ref));
	keep = str_len(ref);
	want = flags;
	if (pol == DATAREAD_REJECT && bare_at != SIZE_MAX) {
		keep = bare_at;
		want |= DATAREAD_F_REJECT;
	}
	if (limit > 0 && keep > limit) {
		keep = (size_t)limit;
		want |= DATAREAD_F_TOOBIG;
	}
	if (res->flags != want)
		fail_msg(
		    "%s: flags %#x, reference %#x", name, res->flags, want);
	if (str_len(res->out) != keep ||
	    memcmp(str_data(res->out), str_data(ref), keep) != 0)
		fail_msg("%s: output differs from the reference", name);
	str_free(&ref);
}

/*
 * Run one DATA input every way and check all agree with each other and
 * with the reference; returns the one-piece result (caller frees).
 */
static struct result
run_all_ways(const char *name, enum dataread_policy pol, uint64_t limit,
    const uint8_t *in, size_t n, bool three_way)
{
	struct result whole = run_data(pol, limit, in, n, NULL, 0);

	check_ref(name, pol, limit, in, n, &whole);
	for (size_t k = 0; k <= n; k++) {
		struct result r = run_data(pol, limit, in, n, &k, 1);
		result_same(name, &whole, &r, "two-way split");
		result_free(&r);
	}
	if (three_way)
		for (size_t i = 0; i <= n; i++)
			for (size_t j = i; j <= n; j++) {
				size_t cuts[2] = {i, j};
				struct result r =
				    run_data(pol, limit, in, n, cuts, 2);
				result_same(
				    name, &whole, &r, "three-way split");
				result_free(&r);
			}
	{
		size_t *cuts = malloc((n + 1) * sizeof(*cuts));
		struct result r;

		assert_non_null(cuts);
		for (size_t k = 0; k < n; k++)
			cuts[k] = k + 1;
		r = run_data(pol, limit, in, n, cuts, n);
		result_same(name, &whole, &r, "one-byte pieces");
		result_free(&r);
		free(cuts);
	}
	return whole;
}

#define N   DATAREAD_NORMALIZE
#define R   DATAREAD_REJECT
#define BCR DATAREAD_F_BARE_CR
#define BLF DATAREAD_F_BARE_LF
#define REJ DATAREAD_F_REJECT
#define BIG DATAREAD_F_TOOBIG

struct data_case {
	const char *name;
	enum dataread_policy pol;
	const char *in;
	size_t len; /* 0: strlen */
	bool end;
	size_t used; /* bytes taken when end */
	const char *out;
	size_t out_len; /* 0: strlen */
	unsigned flags;
	uint64_t limit;
};

static const struct data_case data_cases[] = {
    /* Ends and pipelining. */
    {"empty input", N, "", 0, false, 0, ""},
    {"empty message", N, ".\r\n", 0, true, 3, ""},
    {"empty message, pipelined", N, ".\r\nQUIT\r\n", 0, true, 3, ""},
    {"simple", N, "Subject: x\r\n\r\nbody\r\n.\r\n", 0, true, 23,
        "Subject: x\r\n\r\nbody\r\n"},
    {"pipelined after end", N, "a\r\n.\r\nQUIT\r\n", 0, true, 6, "a\r\n"},
    {"pipelined smuggle after end", N, "a\r\n.\r\n\n.\r\nMAIL FROM:<x@y>\r\n",
        0, true, 6, "a\r\n"},
    {"two ends", N, "a\r\n.\r\n.\r\n", 0, true, 6, "a\r\n"},
    {"no end", N, "a\r\nb", 0, false, 0, "a\r\nb"},
    {"held CR", N, "a\r", 0, false, 0, "a"},
    {"held dot", N, "a\r\n.", 0, false, 0, "a\r\n"},
    {"held dot CR", N, "a\r\n.\r", 0, false, 0, "a\r\n"},
    {"empty lines", N, "\r\n\r\n.\r\n", 0, true, 7, "\r\n\r\n"},
    {"space dot", N, "a\r\n .\r\n.\r\n", 0, true, 10, "a\r\n .\r\n"},
    {"dot inside line", N, "a.\r\n.\r\n", 0, true, 7, "a.\r\n"},

    /* The smuggling forms: never an end, each normalised. */
    {"LF.CRLF", N, "a\n.\r\nb\r\n.\r\n", 0, true, 11, "a\r\n.\r\nb\r\n", 0,
        BLF},
    {"CRLF.LF", N, "a\r\n.\nb\r\n.\r\n", 0, true, 11, "a\r\n\r\nb\r\n", 0, BLF},
    {"LF.LF", N, "a\n.\nb\r\n.\r\n", 0, true, 10, "a\r\n.\r\nb\r\n", 0, BLF},
    {"CR.CR", N, "a\r.\rb\r\n.\r\n", 0, true, 10, "a\r\n.\r\nb\r\n", 0, BCR},
    {"CRLF.CR", N, "a\r\n.\rb\r\n.\r\n", 0, true, 11, "a\r\n\r\nb\r\n", 0, BCR},
    {"CR.CRLF", N, "a\r.\r\nb\r\n.\r\n", 0, true, 11, "a\r\n.\r\nb\r\n", 0,
        BCR},
    {"LF.CR", N, "a\n.\rb\r\n.\r\n", 0, true, 10, "a\r\n.\r\nb\r\n", 0,
        BCR | BLF},
    {"CR.LF", N, "a\r.\nb\r\n.\r\n", 0, true, 10, "a\r\n.\r\nb\r\n", 0,
        BCR | BLF},
    {"first line LF.CRLF", N, "\n.\r\nx\r\n.\r\n", 0, true, 10,
        "\r\n.\r\nx\r\n", 0, BLF},
    {"first line .LF", N, ".\n.\r\n", 0, false, 0, "\r\n.\r\n", 0, BLF},
    {"first line .CR", N, ".\rx\r\n.\r\n", 0, true, 8, "\r\nx\r\n", 0, BCR},
    {"LF LF dot", N, "a\n\n.\r\n.\r\n", 0, true, 9, "a\r\n\r\n.\r\n", 0, BLF},
    {"CR CR LF", N, "a\r\r\n.\r\n", 0, true, 7, "a\r\n\r\n", 0, BCR},
    {"CR CR CR LF", N, "a\r\r\r\n.\r\n", 0, true, 8, "a\r\n\r\n\r\n", 0, BCR},
    {"dot CR CR LF", N, "a\r\n.\r\r\n.\r\n", 0, true, 10, "a\r\n\r\n\r\n", 0,
        BCR},
    {"dot CR dot", N, "a\r\n.\r.\r\n.\r\n", 0, true, 11, "a\r\n\r\n.\r\n", 0,
        BCR},
    {"LF CR", N, "a\n\r\n.\r\n", 0, true, 7, "a\r\n\r\n", 0, BLF},
    {"only bare", N, "\r\n.\n\r.\r\n.\r\n", 0, true, 11, "\r\n\r\n\r\n.\r\n", 0,
        BCR | BLF},

    /* Reject mode: read to the end, store nothing after the bare. */
    {"reject LF.CRLF", R, "a\n.\r\nb\r\n.\r\n", 0, true, 11, "a", 0, BLF | REJ},
    {"reject CR", R, "abc\rdef\r\n.\r\nQUIT\r\n", 0, true, 12, "abc", 0,
        BCR | REJ},
    {"reject clean", R, "abc\r\n..x\r\n.\r\n", 0, true, 13, "abc\r\n.x\r\n"},
    {"reject CRLF.LF", R, "a\r\n.\nb\r\n.\r\n", 0, true, 11, "a\r\n", 0,
        BLF | REJ},
    {"reject CR CR LF", R, "a\r\r\n.\r\n", 0, true, 7, "a", 0, BCR | REJ},

    /* Dot-stuffing (RFC 5321 §4.5.2). */
    {"stuffed", N, "..a\r\n..\r\n...\r\n.\r\n", 0, true, 17,
        ".a\r\n.\r\n..\r\n"},
    {"stuffed first", N, "..\r\n.\r\n", 0, true, 7, ".\r\n"},
    {"unstuffed dot", N, ".x\r\n.\r\n", 0, true, 7, "x\r\n"},
    {"stuffed after LF kept", N, "a\n..b\r\n.\r\n", 0, true, 10, "a\r\n..b\r\n",
        0, BLF},

    /* NUL and 8-bit bytes pass through. */
    {"NUL", N, "a\0b\r\n\0\r\n.\r\n", 11, true, 11, "a\0b\r\n\0\r\n", 8},
    {"NUL dot", N, "\0\r\n.\0\r\n.\r\n", 10, true, 10, "\0\r\n\0\r\n", 6},
    {"8-bit", N, "\xff\xfe\x80\r\n.\xc3\xa9\r\n.\r\n", 0, true, 13,
        "\xff\xfe\x80\r\n\xc3\xa9\r\n"},

    /* Size limit: content is 12 bytes. */
    {"limit - 1", N, "0123456789\r\n.\r\n", 0, true, 15, "0123456789\r", 0, BIG,
        11},
    {"limit", N, "0123456789\r\n.\r\n", 0, true, 15, "0123456789\r\n", 0, 0,
        12},
    {"limit + 1", N, "0123456789\r\n.\r\n", 0, true, 15, "0123456789\r\n", 0, 0,
        13},
    {"limit small", N, "0123456789\r\n.\r\n", 0, true, 15, "0", 0, BIG, 1},
    {"limit in normalised", N, "abc\ndef\r\n.\r\n", 0, true, 12, "abc\r", 0,
        BLF | BIG, 4},
    {"limit then bare, reject", R, "abcd\ndef\r\n.\r\n", 0, true, 13, "ab", 0,
        BLF | BIG | REJ, 2},
    {"bare at limit, reject", R, "abcd\ndef\r\n.\r\n", 0, true, 13, "abcd", 0,
        BLF | REJ, 4},
};

static void
test_data_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < FCT_NELEM(data_cases); i++) {
		const struct data_case *c = &data_cases[i];
		size_t n = c->len ? c->len : strlen(c->in);
		size_t olen = c->out_len ? c->out_len : strlen(c->out);
		struct result res = run_all_ways(c->name, c->pol, c->limit,
		    (const uint8_t *)c->in, n, n <= 40);

		if ((res.r == DATAREAD_END) != c->end)
			fail_msg("%s: end %d", c->name, res.r);
		if (c->end && res.used != c->used)
			fail_msg("%s: used %zu want %zu", c->name, res.used,
			    c->used);
		if (!c->end && res.used != n)
			fail_msg("%s: used %zu of %zu", c->name, res.used, n);
		if (str_len(res.out) != olen ||
		    memcmp(str_data(res.out), c->out, olen) != 0)
			fail_msg("%s: output '%.*s'", c->name,
			    (int)str_len(res.out), str_c(res.out));
		if (res.flags != c->flags)
			fail_msg("%s: flags %#x want %#x", c->name, res.flags,
			    c->flags);
		result_free(&res);
	}
}

/* The replies, in their order of precedence. */
static void
test_data_replies(void **state)
{
	static const uint8_t bad[] = "ab\nc\r\n.\r\n";
	static const uint8_t ok[] = "abcdef\r\n.\r\n";
	struct result r;

	(void)state;
	r = run_data(R, 0, ok, sizeof(ok) - 1, NULL, 0);
	assert_null(r.reply);
	result_free(&r);
	r = run_data(N, 0, bad, sizeof(bad) - 1, NULL, 0);
	assert_null(r.reply);
	result_free(&r);
	r = run_data(R, 0, bad, sizeof(bad) - 1, NULL, 0);
	assert_string_equal(r.reply, "550 5.5.2 Error: bare <CR> or <LF> "
	                             "received");
	result_free(&r);
	r = run_data(N, 3, ok, sizeof(ok) - 1, NULL, 0);
	assert_string_equal(
	    r.reply, "552 5.3.4 Message size exceeds fixed limit");
	result_free(&r);
	r = run_data(R, 1, bad, sizeof(bad) - 1, NULL, 0);
	assert_int_equal(r.flags, BLF | REJ | BIG);
	assert_string_equal(r.reply, "550 5.5.2 Error: bare <CR> or <LF> "
	                             "received");
	result_free(&r);
}

/* An output error stops storing; reading goes on to the end. */
static void
test_data_outerr(void **state)
{
	static const uint8_t in[] = "line one\r\nline two\r\n.\r\nQUIT\r\n";
	struct sink k = {str_new(100), 5, 0};
	struct dataread *dr = dataread_new(N, 0, sink_out, &k);
	size_t used;

	(void)state;
	assert_int_equal(dataread_feed(dr, in, 12, &used), DATAREAD_MORE);
	assert_int_equal(dataread_flags(dr), DATAREAD_F_OUTERR);
	assert_int_equal(dataread_feed(dr, in + 12, sizeof(in) - 1 - 12, &used),
	    DATAREAD_END);
	assert_int_equal(12 + used, 23);
	assert_int_equal(dataread_stored(dr), 0);
	assert_int_equal(dataread_size(dr), 20);
	assert_int_equal(k.calls, 1);
	assert_string_equal(
	    dataread_reply(dr), "451 4.3.0 Error: queue file write error");
	/* A new message starts clean. */
	k.fail_after = -1;
	dataread_begin_data(dr);
	assert_int_equal(dataread_flags(dr), 0);
	assert_int_equal(
	    dataread_feed(dr, in, sizeof(in) - 1, &used), DATAREAD_END);
	assert_int_equal(used, 23);
	assert_string_equal(str_c(k.s), "line one\r\nline two\r\n");
	assert_null(dataread_reply(dr));
	dataread_free(&dr);
	str_free(&k.s);
}

/*
 * Every combination of the line ends before and after a dot line, with a
 * real end further on and a pipelined command after it: the end is found
 * exactly where the first real CRLF "." CRLF is, never earlier.
 */
static void
test_smuggling_matrix(void **state)
{
	static const char *ends[] = {"\r\n", "\n", "\r", "\r\r\n", "\n\r", ""};
	char in[64], name[64];

	(void)state;
	for (size_t a = 0; a < FCT_NELEM(ends); a++)
		for (size_t b = 0; b < FCT_NELEM(ends); b++)
			for (int pol = 0; pol < 2; pol++) {
				int n = snprintf(in, sizeof(in),
				    "X%s.%sY\r\n.\r\nRSET\r\n", ends[a],
				    ends[b]);
				struct result r;
				bool early =
				    strcmp(ends[b], "\r\n") == 0 &&
				    (strcmp(ends[a], "\r\n") == 0 ||
				        strcmp(ends[a], "\r\r\n") == 0);

				snprintf(name, sizeof(name),
				    "matrix %zu/%zu/%d", a, b, pol);
				r = run_all_ways(name,
				    (enum dataread_policy)pol, 0,
				    (const uint8_t *)in, (size_t)n, true);
				assert_int_equal(r.r, DATAREAD_END);
				/* Early end: "Y\r\n.\r\n" then is content of
				 * the next command, not of this message. */
				if (early)
					assert_int_equal(
					    r.used, strlen(ends[a]) +
					                strlen(ends[b]) + 2);
				else
					assert_int_equal(r.used,
					    (size_t)n - strlen("RSET\r\n"));
				result_free(&r);
			}
}

/* Lines past 998 octets, past 64 KiB, and one of 1 MiB: kept whole. */
static void
test_long_lines(void **state)
{
	static const size_t lens[] = {
	    997, 998, 999, 1000, 65535, 65536, 65537, 1u << 20};

	(void)state;
	for (size_t i = 0; i < FCT_NELEM(lens); i++) {
		size_t n = lens[i] + 2 + lens[i] + 2 + 3 + 4;
		uint8_t *in = malloc(n);
		size_t pieces[] = {1, 7, 4096, 65536};
		struct result whole;

		assert_non_null(in);
		/* a line of 'a's, a stuffed line of dots, end, "QUIT" */
		memset(in, 'a', lens[i]);
		memcpy(in + lens[i], "\r\n", 2);
		memset(in + lens[i] + 2, '.', lens[i]);
		memcpy(in + 2 * lens[i] + 2, "\r\n.\r\nQUIT", 9);
		whole = run_data(N, 0, in, n, NULL, 0);
		check_ref("long", N, 0, in, n, &whole);
		assert_int_equal(whole.r, DATAREAD_END);
		assert_int_equal(whole.used, n - 4);
		assert_int_equal(str_len(whole.out), 2 * lens[i] + 4 - 1);
		assert_int_equal(whole.flags, 0);
		/* Fixed-size pieces, as reads from a socket. */
		for (size_t p = 0; p < FCT_NELEM(pieces); p++) {
			size_t ncuts = n / pieces[p];
			size_t *cuts = malloc((ncuts + 1) * sizeof(*cuts));
			struct result r;

			assert_non_null(cuts);
			for (size_t k = 0; k < ncuts; k++)
				cuts[k] = (k + 1) * pieces[p];
			r = run_data(N, 0, in, n, cuts, ncuts);
			result_same("long", &whole, &r, "fixed pieces");
			result_free(&r);
			free(cuts);
		}
		result_free(&whole);
		free(in);
	}
}

/* A big message past the limit: reading continues to the end. */
static void
test_size_overrun(void **state)
{
	size_t n = (3u << 20) + 5;
	uint8_t *in = malloc(n + 6);
	size_t cuts[64], ncuts = 0;
	struct result r;

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n - 5; i++)
		in[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'x';
	memcpy(in + n - 5, "\r\n.\r\nQUIT\r\n", 11);
	n += 6;
	for (size_t c = 1; c < FCT_NELEM(cuts); c++)
		cuts[ncuts++] = c * 49999;
	r = run_data(N, 1u << 20, in, n, cuts, ncuts);
	assert_int_equal(r.r, DATAREAD_END);
	assert_int_equal(r.used, n - 6);
	assert_int_equal(r.flags, BIG);
	assert_int_equal(r.stored, 1u << 20);
	assert_true(r.size > (3u << 20));
	assert_string_equal(
	    r.reply, "552 5.3.4 Message size exceeds fixed limit");
	result_free(&r);
	free(in);
}

/*
 * BDAT.
 */
struct bdat_case {
	const char *name;
	enum dataread_policy pol;
	const char *chunks[4]; /* the last non-NULL one is LAST */
	const char *out;
	unsigned flags;
};

#define PART DATAREAD_F_PARTIAL

static const struct bdat_case bdat_cases[] = {
    {"one chunk", N, {"abc\r\n"}, "abc\r\n"},
    {"empty message", N, {""}, ""},
    {"CRLF across chunks", N, {"abc\r", "\ndef\r\n"}, "abc\r\ndef\r\n"},
    {"CR across empty chunk", N, {"a\r", "", "\nb\r\n"}, "a\r\nb\r\n"},
    {"CR ends LAST", N, {"abc\r"}, "abc\r\n", BCR},
    {"CR ends LAST after chunks", N, {"abc\r\n", "x\r"}, "abc\r\nx\r\n", BCR},
    {"CR then CRLF", N, {"abc\r", "\r\n"}, "abc\r\n\r\n", BCR},
    {"bare LF", N, {"a\nb"}, "a\r\nb", BLF | PART},
    {"LF starts chunk", N, {"a", "\nb\r\n"}, "a\r\nb\r\n", BLF},
    {"no final CRLF", N, {"abc"}, "abc", PART},
    {"dots untouched", N, {"a\r\n.\r\n", "..b\r\n.\r\n"},
        "a\r\n.\r\n..b\r\n.\r\n"},
    {"zero chunk first", N, {"", "abc\r\n"}, "abc\r\n"},
    {"zero chunk last", N, {"abc\r\n", ""}, "abc\r\n"},
    {"NUL 8-bit", N, {"\xff\x80", "\xc3\xa9\r\n"}, "\xff\x80\xc3\xa9\r\n"},
    {"reject", R, {"ab\rc\r\n"}, "ab", BCR | REJ},
    {"reject across", R, {"ab\r", "c\r\n"}, "ab", BCR | REJ},
    {"reject clean across", R, {"ab\r", "\nc\r\n"}, "ab\r\nc\r\n"},
    {"reject CR at LAST", R, {"ab\r\n", "c\r"}, "ab\r\nc", BCR | REJ},
};

/*
 * Feed the chunks; each chunk's bytes are followed in the buffer by a
 * pipelined "RSET\r\n" that must not be taken.  split: where to cut each
 * chunk (SIZE_MAX: no cut; 0: one-byte pieces; else at that offset).
 */
static struct result
run_bdat(const struct bdat_case *c, size_t split, uint64_t limit)
{
	struct sink k = {str_new(OUT_CAP), -1, 0};
	struct dataread *dr = dataread_new(c->pol, limit, sink_out, &k);
	struct result res = {DATAREAD_MORE, 0, 0, 0, 0, NULL, NULL};
	size_t nchunks = 0;
	uint8_t buf[128];

	while (nchunks < 4 && c->chunks[nchunks] != NULL)
		nchunks++;
	dataread_begin_bdat(dr);
	for (size_t i = 0; i < nchunks; i++) {
		size_t n = strlen(c->chunks[i]), off = 0, used;
		bool last = i + 1 == nchunks;

		assert_true(n + 6 <= sizeof(buf));
		memcpy(buf, c->chunks[i], n);
		memcpy(buf + n, "RSET\r\n", 6);
		assert_int_equal(dataread_bdat_chunk(dr, n, last), 0);
		assert_int_equal(dataread_bdat_remaining(dr), n);
		/* A second announcement before this chunk is done fails. */
		if (n > 0)
			assert_int_equal(dataread_bdat_chunk(dr, 1, false), -1);
		for (;;) {
			size_t piece = n + 6 - off;

			if (split == 0)
				piece = 1;
			else if (split != SIZE_MAX && off < split && split < n)
				piece = split - off;
			res.r = dataread_feed(dr, buf + off, piece, &used);
			off += used;
			if (res.r != DATAREAD_MORE)
				break;
			assert_int_equal(used, piece);
		}
		assert_int_equal(off, n);
		assert_int_equal(
		    res.r, last ? DATAREAD_END : DATAREAD_CHUNK_END);
		res.used += off;
	}
	/* Nothing after LAST. */
	assert_int_equal(dataread_bdat_chunk(dr, 1, true), -1);
	res.flags = dataread_flags(dr);
	res.size = dataread_size(dr);
	res.stored = dataread_stored(dr);
	res.reply = dataread_reply(dr);
	res.out = k.s;
	dataread_free(&dr);
	return res;
}

static void
test_bdat_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < FCT_NELEM(bdat_cases); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		struct result whole = run_bdat(c, SIZE_MAX, 0), r;

		if (strcmp(str_c(whole.out), c->out) != 0)
			fail_msg("%s: output '%s'", c->name, str_c(whole.out));
		if (whole.flags != c->flags)
			fail_msg("%s: flags %#x want %#x", c->name, whole.flags,
			    c->flags);
		r = run_bdat(c, 0, 0);
		result_same(c->name, &whole, &r, "one-byte pieces");
		result_free(&r);
		for (size_t k = 1; k < 16; k++) {
			r = run_bdat(c, k, 0);
			result_same(c->name, &whole, &r, "split");
			result_free(&r);
		}
		result_free(&whole);
	}
}

static void
test_bdat_misuse_and_limit(void **state)
{
	struct sink k = {str_new(100), -1, 0};
	struct dataread *dr = dataread_new(N, 4, sink_out, &k);
	size_t used;

	(void)state;
	/* Not in BDAT mode. */
	assert_int_equal(dataread_bdat_chunk(dr, 10, true), -1);
	dataread_begin_bdat(dr);
	assert_int_equal(dataread_bdat_chunk(dr, 3, false), 0);
	assert_int_equal(dataread_feed(dr, (const uint8_t *)"abc", 3, &used),
	    DATAREAD_CHUNK_END);
	assert_int_equal(dataread_bdat_chunk(dr, 3, true), 0);
	assert_int_equal(
	    dataread_feed(dr, (const uint8_t *)"de", 2, &used), DATAREAD_MORE);
	assert_int_equal(dataread_bdat_remaining(dr), 1);
	assert_int_equal(
	    dataread_feed(dr, (const uint8_t *)"fgh", 3, &used), DATAREAD_END);
	assert_int_equal(used, 1);
	assert_string_equal(str_c(k.s), "abcd");
	assert_int_equal(dataread_flags(dr), BIG | PART);
	assert_int_equal(dataread_size(dr), 6);
	assert_string_equal(
	    dataread_reply(dr), "552 5.3.4 Message size exceeds fixed limit");
	dataread_free(&dr);
	str_free(&k.s);
}

static void
test_policy_parse(void **state)
{
	enum dataread_policy p;

	(void)state;
	assert_int_equal(dataread_policy_parse("normalize", &p), 0);
	assert_int_equal(p, DATAREAD_NORMALIZE);
	assert_int_equal(dataread_policy_parse("reject", &p), 0);
	assert_int_equal(p, DATAREAD_REJECT);
	assert_int_equal(dataread_policy_parse("REJECT", &p), 0);
	assert_int_equal(dataread_policy_parse("", &p), -1);
	assert_int_equal(dataread_policy_parse("yes", &p), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_table),
	    cmocka_unit_test(test_data_replies),
	    cmocka_unit_test(test_data_outerr),
	    cmocka_unit_test(test_smuggling_matrix),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_size_overrun),
	    cmocka_unit_test(test_bdat_table),
	    cmocka_unit_test(test_bdat_misuse_and_limit),
	    cmocka_unit_test(test_policy_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
