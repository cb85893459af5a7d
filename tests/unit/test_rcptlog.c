/*
 * test_rcptlog - lib/rcptlog, the defer/<id> logs: format and parse
 * round trips (escapes, empty values, 8-bit, the text limit), parse
 * refusals (table-driven: empty words, bad escapes, NUL, missing
 * newline, bad index or dsn), sorted set/find, and the file life cycle
 * in a real queue (missing = empty, replace, remove, no tmp/ leftovers,
 * fsio order: file fsync before the rename, folder fsync after).
 */
#include "test_queue_fixture.h"

#include "lib/rcptlog.h"

static void
test_round_trip(void **state)
{
	struct rcptlog l = { 0 }, back = { 0 };
	struct str *out = str_new(1 << 20), *why = str_new(512);
	struct str *big = str_new(4096);

	for (int i = 0; i < RCPTLOG_TEXT_MAX + 10; i++)
		assert_int_equal(str_appendc(big, 'x'), 0);
	rcptlog_set(&l, 7, "4.3.0", "none", "mail transport unavailable");
	rcptlog_set(&l, 2, "4.2.2", "local", "mailbox full 100% (quota)");
	rcptlog_set(&l, 0, "4.4.1", "mx.example[192.0.2.1]:25",
	    "connect to mx: Connection\trefused\r\n");
	rcptlog_set(&l, 3, "4.0.0", "", "");
	rcptlog_set(&l, 4, "4.0.0", "-", "-");
	rcptlog_set(&l, 5, "4.0.0", "none", "caf\xc3\xa9 \x7f");
	rcptlog_set(&l, 6, "bogus", "none", str_c(big));
	rcptlog_set(&l, 2, "4.2.1", "local", "replaced");
	l.warned = 1700000000;
	assert_int_equal(l.n, 7);
	for (size_t i = 1; i < l.n; i++)
		assert_true(l.v[i - 1].index < l.v[i].index);

	assert_int_equal(rcptlog_format(&l, out), 0);
	/* One word per value: no blank or control byte inside a line. */
	assert_null(memchr(str_data(out), '\t', str_len(out)));
	assert_null(memchr(str_data(out), '\r', str_len(out)));
	assert_int_equal(rcptlog_parse(str_data(out), str_len(out), &back,
			     why),
	    0);
	assert_int_equal(back.n, l.n);
	assert_int_equal(back.warned, 1700000000);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(back.v[i].index, l.v[i].index);
		assert_string_equal(back.v[i].dsn, l.v[i].dsn);
		assert_string_equal(back.v[i].relay, l.v[i].relay);
		assert_string_equal(back.v[i].text, l.v[i].text);
	}
	assert_string_equal(rcptlog_find(&back, 2)->text, "replaced");
	assert_string_equal(rcptlog_find(&back, 4)->text, "-");
	assert_string_equal(rcptlog_find(&back, 3)->relay, "");
	assert_string_equal(rcptlog_find(&back, 6)->dsn, "4.0.0");
	assert_int_equal(strlen(rcptlog_find(&back, 6)->text),
	    RCPTLOG_TEXT_MAX);
	assert_null(rcptlog_find(&back, 1));
	assert_null(rcptlog_find(&back, 8));
	rcptlog_clear(&l);
	rcptlog_clear(&back);
	str_free(&out);
	str_free(&why);
	str_free(&big);
}

static void
test_parse_table(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		int rc;
		size_t n;
	} cases[] = {
		{ "", 0, 0, 0 },
		{ "rcpt 0 4.0.0 none why\n", 0, 0, 1 },
		{ "rcpt 0 4.0.0 none why\nrcpt 0 4.1.0 x y\n", 0, 0, 1 },
		{ "future record with words\nrcpt 1 4.0.0 - -\n", 0, 0, 1 },
		{ "warned 17\n", 0, 0, 0 },
		{ "rcpt 0 4.0.0 none why", 0, -1, 0 },      /* no newline */
		{ "\n", 0, -1, 0 },                         /* empty line */
		{ "rcpt  0 4.0.0 none why\n", 0, -1, 0 },   /* empty word */
		{ "rcpt 0 4.0.0 none why \n", 0, -1, 0 },   /* trailing */
		{ "rcpt 0 4.0.0 none\n", 0, -1, 0 },        /* short */
		{ "rcpt 0 4.0.0 none a b\n", 0, -1, 0 },    /* long */
		{ "rcpt -1 4.0.0 none a\n", 0, -1, 0 },
		{ "rcpt x 4.0.0 none a\n", 0, -1, 0 },
		{ "rcpt 99999999999 4.0.0 none a\n", 0, -1, 0 },
		{ "rcpt 0 4.0 none a\n", 0, -1, 0 },
		{ "rcpt 0 x.0.0 none a\n", 0, -1, 0 },
		{ "rcpt 0 4.0.0 none %0\n", 0, -1, 0 },     /* cut escape */
		{ "rcpt 0 4.0.0 none %zz\n", 0, -1, 0 },
		{ "rcpt 0 4.0.0 none %00\n", 0, -1, 0 },    /* escaped NUL */
		{ "rcpt 0 4.0.0 none a\0b\n", 21, -1, 0 },  /* raw NUL */
		{ "rcpt 0 4.0.0 none a\rb\n", 0, -1, 0 },   /* raw CR refused */
		{ "warned\n", 0, -1, 0 },
		{ "warned x\n", 0, -1, 0 },
	};
	struct str *why = str_new(512);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct rcptlog l = { 0 };
		size_t len = cases[i].len ? cases[i].len
					  : strlen(cases[i].text);
		int rc = rcptlog_parse((const uint8_t *)cases[i].text, len,
		    &l, why);
		if (rc != cases[i].rc || l.n != cases[i].n)
			fail_msg("case %zu: want %d/%zu, got %d/%zu (%s)", i,
			    cases[i].rc, cases[i].n, rc, l.n, str_c(why));
		rcptlog_clear(&l);
		str_clear(why);
	}
	str_free(&why);
}

static void
test_files(void **state)
{
	struct fx *f = *state;
	const char *id = "1r31eq0W7E5BAN";
	struct rcptlog l = { 0 }, back = { 0 };

	/* Missing: an empty log. */
	assert_int_equal(rcptlog_read(f->q, QUEUE_DEFER, id, &back, f->why),
	    0);
	assert_int_equal(back.n, 0);
	/* A bad id is refused. */
	assert_int_equal(rcptlog_read(f->q, QUEUE_DEFER, "../x", &back,
			     f->why),
	    -1);

	rcptlog_set(&l, 1, "4.3.0", "none", "first");
	hooks_on(f);
	assert_int_equal(rcptlog_write(f->q, QUEUE_DEFER, id, &l, f->why), 0);
	fsio_hooks_set(NULL);
	/* The order: write, fsync, rename over the log, fsync defer/. */
	int wrote = -1, synced = -1, renamed = -1, dsynced = -1;
	for (size_t i = 0; i < f->h.log_len; i++) {
		enum fsio_op op = f->log[i].op;
		if (op == FSIO_WRITE && wrote < 0)
			wrote = (int)i;
		if (op == FSIO_FSYNC)
			synced = (int)i;
		if (op == FSIO_RENAME)
			renamed = (int)i;
		if (op == FSIO_DIRSYNC)
			dsynced = (int)i;
	}
	assert_true(wrote >= 0 && wrote < synced && synced < renamed &&
	    renamed < dsynced);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);

	rcptlog_set(&l, 1, "4.3.0", "none", "second");
	l.warned = 5;
	assert_int_equal(rcptlog_write(f->q, QUEUE_DEFER, id, &l, f->why), 0);
	assert_int_equal(rcptlog_read(f->q, QUEUE_DEFER, id, &back, f->why),
	    1);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.v[0].text, "second");
	assert_int_equal(back.warned, 5);
	rcptlog_clear(&back);

	/* A write that fails leaves the old log and no tmp/ file. */
	memset(&f->h, 0, sizeof(f->h));
	f->h.fault[0] = (struct fsio_fault){ FSIO_FSYNC, 1, EIO };
	fsio_hooks_set(&f->h);
	rcptlog_set(&l, 1, "4.3.0", "none", "third");
	assert_int_equal(rcptlog_write(f->q, QUEUE_DEFER, id, &l, f->why), -1);
	fsio_hooks_set(NULL);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(rcptlog_read(f->q, QUEUE_DEFER, id, &back, f->why),
	    1);
	assert_string_equal(back.v[0].text, "second");
	rcptlog_clear(&back);

	assert_int_equal(rcptlog_remove(f->q, QUEUE_DEFER, id, f->why), 0);
	assert_int_equal(rcptlog_remove(f->q, QUEUE_DEFER, id, f->why), 0);
	assert_int_equal(rcptlog_read(f->q, QUEUE_DEFER, id, &back, f->why),
	    0);
	assert_int_equal(back.n, 0);
	rcptlog_clear(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test_setup_teardown(test_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
