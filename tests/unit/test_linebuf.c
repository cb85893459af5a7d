/*
 * test_linebuf - lib/linebuf: lines cut at LF (one CR removed), the
 * limit (limit - 1, limit, limit + 1), over-long lines dropped through
 * their LF, bare CR kept, NUL and 8-bit bytes kept, input in any pieces,
 * and a buffer that never grows past twice the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/linebuf.h"

/* Feed text (n bytes) in pieces of step; collect lines as "[..]" or "!". */
static void
run(size_t limit, const char *text, size_t n, size_t step, char *out,
    size_t outsz)
{
	struct linebuf *lb = linebuf_new(limit);
	size_t pos = 0, o = 0;

	out[0] = '\0';
	while (pos < n || linebuf_pending(lb) > 0) {
		size_t k = n - pos < step ? n - pos : step;
		size_t took = linebuf_push(lb, text + pos, k);
		pos += took;
		for (;;) {
			const uint8_t *line;
			size_t len;
			enum linebuf_result r = linebuf_next(lb, &line, &len);
			if (r == LINEBUF_MORE)
				break;
			if (r == LINEBUF_TOOLONG) {
				o += (size_t)snprintf(out + o, outsz - o, "!");
				continue;
			}
			o += (size_t)snprintf(out + o, outsz - o, "[");
			for (size_t i = 0; i < len && o + 4 < outsz; i++)
				out[o++] = line[i] == '\0' ? '0' : (char)line[i];
			out[o] = '\0';
			o += (size_t)snprintf(out + o, outsz - o, "]");
		}
		if (took == 0 && k > 0)
			fail_msg("buffer full with no line to take");
		if (pos >= n)
			break;
	}
	linebuf_free(&lb);
}

struct lcase {
	const char *name;
	size_t limit;
	const char *in;
	size_t n; /* 0: strlen */
	const char *want;
};

static const struct lcase cases[] = {
	{ "empty", 8, "", 0, "" },
	{ "one", 8, "abc\r\n", 0, "[abc]" },
	{ "bare lf", 8, "abc\n", 0, "[abc]" },
	{ "bare cr kept", 8, "a\rb\r\n", 0, "[a\rb]" },
	{ "two crs", 8, "ab\r\r\n", 0, "[ab\r]" },
	{ "no end yet", 8, "abc", 0, "" },
	{ "empty line", 8, "\r\n", 0, "[]" },
	{ "limit-1", 4, "abc\r\n", 0, "[abc]" },
	{ "limit", 4, "abcd\r\n", 0, "[abcd]" },
	{ "limit+1", 4, "abcde\r\nok\r\n", 0, "![ok]" },
	{ "long no lf", 4, "abcdefghijklmnop\r\nok\n", 0, "![ok]" },
	{ "nul kept", 8, "a\0b\n", 4, "[a0b]" },
	{ "8bit", 8, "\xc3\xa9\n", 0, "[\xc3\xa9]" },
	{ "pipelined", 8, "A\r\nB\r\nC\r\n", 0, "[A][B][C]" },
};

static void
test_cases(void **state)
{
	char out[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
		for (size_t step = 1; step <= n + 1; step++) {
			run(cases[i].limit, cases[i].in, n, step, out,
			    sizeof(out));
			if (strcmp(out, cases[i].want) != 0)
				fail_msg("%s step %zu: got \"%s\"",
				    cases[i].name, step, out);
		}
	}
}

static void
test_bounded(void **state)
{
	struct linebuf *lb = linebuf_new(16);
	size_t room;

	(void)linebuf_space(lb, &room);
	assert_true(room <= 2 * 16 + 4);
	/* Peek and skip hand raw bytes over (DATA after a command). */
	assert_int_equal(linebuf_push(lb, "DATA\r\nraw", 9), 9);
	const uint8_t *line, *p;
	size_t len;
	assert_int_equal(linebuf_next(lb, &line, &len), LINEBUF_LINE);
	p = linebuf_peek(lb, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "raw", 3);
	linebuf_skip(lb, 3);
	assert_int_equal(linebuf_pending(lb), 0);
	linebuf_push(lb, "junk", 4);
	linebuf_reset(lb);
	assert_int_equal(linebuf_pending(lb), 0);
	linebuf_free(&lb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
