/*
 * test_queue_crash - durability by order (DESIGN §2, STYLE "Tests"):
 * injected ENOSPC/EDQUOT/EIO/EFBIG at each kind of step, short writes,
 * and a crash simulated at every step of writing a queue file.
 *
 * Crash model: after a crash, a file's bytes count only if written
 * before its last fsync, and a name only if made before its folder's
 * last fsync.  From the fsio call log we compute what would be durable
 * and check that nothing acknowledged is lost and that no name that may
 * survive ever points at bytes that may not.
 */
#include "test_queue_fixture.h"

static const struct msg base = {"sender@example.org", 2, 3, 0, 10000};

/* Remove every entry of a folder (between iterations). */
static void
empty_folder(struct fx *f, enum queue_folder fo)
{
	int dfd = queue_folder_fd(f->q, fo);
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			assert_int_equal(unlinkat(dfd, de->d_name, 0), 0);
	closedir(d);
}

static int
first_id(const char *id, void *arg)
{
	snprintf(arg, QUEUE_ID_SIZE, "%s", id);
	return 1;
}

/* The one file in incoming/ parses and holds content c. */
static void
check_incoming(struct fx *f, const struct msg *m, const uint8_t *c)
{
	char id[QUEUE_ID_SIZE] = "";
	struct queue_env env;
	int fd;

	assert_int_equal(
	    queue_scan(f->q, QUEUE_INCOMING, first_id, id, f->why), 1);
	fd = queue_file_open(f->q, QUEUE_INCOMING, id, O_RDONLY, f->why);
	assert_true(fd >= 0);
	if (queue_env_parse(queue_pread_fd, &fd, LIMIT, &env, f->why) !=
	    STATUS_OK)
		fail_msg("%s: %s", id, str_c(f->why));
	check_env(&env, m, c, queue_pread_fd, &fd, 65536);
	queue_env_clear(&env);
	close(fd);
}

static void
test_faults_table(void **state)
{
	static const struct {
		const char *name;
		enum fsio_op op;
		unsigned nth; /* 0: no fault */
		int err;
		size_t short_write;
		size_t content_len;
		enum status want;
		const char *why;
	} cases[] = {
	    {"ENOSPC on create", FSIO_OPEN, 1, ENOSPC, 0, 100, STATUS_TEMP,
	        "No space"},
	    {"ENOSPC first write", FSIO_WRITE, 1, ENOSPC, 0, 100, STATUS_TEMP,
	        "No space"},
	    {"ENOSPC third write", FSIO_WRITE, 3, ENOSPC, 0, 200000,
	        STATUS_TEMP, "No space"},
	    {"EDQUOT", FSIO_WRITE, 2, EDQUOT, 0, 200000, STATUS_TEMP, "quota"},
	    {"EIO write", FSIO_WRITE, 1, EIO, 0, 100, STATUS_TEMP, "write"},
	    {"EFBIG is permanent", FSIO_WRITE, 1, EFBIG, 0, 100, STATUS_PERM,
	        "too large"},
	    {"EIO on length patch", FSIO_PWRITE, 1, EIO, 0, 200000, STATUS_TEMP,
	        "write"},
	    {"EIO on fsync", FSIO_FSYNC, 1, EIO, 0, 100, STATUS_TEMP, "fsync"},
	    {"ENOSPC on rename", FSIO_RENAME_NOREPLACE, 1, ENOSPC, 0, 100,
	        STATUS_TEMP, "rename"},
	    {"EIO on folder fsync", FSIO_DIRSYNC, 1, EIO, 0, 100, STATUS_TEMP,
	        "fsync incoming"},
	    {"EINVAL rename: link fallback", FSIO_RENAME_NOREPLACE, 1, EINVAL,
	        0, 100, STATUS_OK, NULL},
	    {"ENOSYS rename: link fallback", FSIO_RENAME_NOREPLACE, 1, ENOSYS,
	        0, 70000, STATUS_OK, NULL},
	    {"EINTR write is retried", FSIO_WRITE, 1, EINTR, 0, 100, STATUS_OK,
	        NULL},
	    {"short writes", FSIO_WRITE, 0, 0, 1000, 200000, STATUS_OK, NULL},
	    {"one-byte writes", FSIO_WRITE, 0, 0, 1, 3000, STATUS_OK, NULL},
	    {"ENOSPC among short writes", FSIO_WRITE, 50, ENOSPC, 1000, 200000,
	        STATUS_TEMP, "No space"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct msg m = base;
		char id[QUEUE_ID_SIZE];

		m.content_len = cases[i].content_len;
		uint8_t *c = make_content(m.content_len, (uint32_t)i);
		hooks_on(f);
		f->h.fault[0] = (struct fsio_fault){
		    cases[i].op, cases[i].nth, cases[i].err};
		f->h.short_write = cases[i].short_write;
		str_clear(f->why);
		enum status st = write_msg(f->q, &m, c, id, f->why);
		fsio_hooks_set(NULL);
		if (st != cases[i].want)
			fail_msg("%s: status %d (%s)", cases[i].name, st,
			    str_c(f->why));
		if (cases[i].why != NULL &&
		    strstr(str_c(f->why), cases[i].why) == NULL)
			fail_msg("%s: why: %s", cases[i].name, str_c(f->why));
		if (cases[i].nth > 0 && f->h.count[cases[i].op] < cases[i].nth)
			fail_msg("%s: fault never fired", cases[i].name);
		/* Nothing partial anywhere; the good ones complete. */
		assert_int_equal(count_in(f, QUEUE_TMP), 0);
		if (st == STATUS_OK) {
			assert_int_equal(count_in(f, QUEUE_INCOMING), 1);
			check_incoming(f, &m, c);
			empty_folder(f, QUEUE_INCOMING);
		}
		assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
		free(c);
	}
}

/* ENOSPC at each write in turn: always TEMP, never a file. */
static void
test_enospc_every_write(void **state)
{
	struct fx *f = *state;
	struct msg m = base;
	char id[QUEUE_ID_SIZE];
	unsigned writes;

	m.content_len = 150000;
	uint8_t *c = make_content(m.content_len, 7);
	hooks_on(f);
	f->h.short_write = 8192;
	assert_int_equal(write_msg(f->q, &m, c, id, f->why), STATUS_OK);
	fsio_hooks_set(NULL);
	unsigned nw = f->h.count[FSIO_WRITE], npw = f->h.count[FSIO_PWRITE];
	writes = nw + npw;
	assert_true(nw > 15 && npw == 1); /* 150 kB: length patched late */
	empty_folder(f, QUEUE_INCOMING);
	for (unsigned n = 1; n <= writes; n++) {
		hooks_on(f);
		f->h.short_write = 8192;
		f->h.fault[0] =
		    n <= nw ? (struct fsio_fault){FSIO_WRITE, n, ENOSPC}
		            : (struct fsio_fault){FSIO_PWRITE, n - nw, ENOSPC};
		assert_int_equal(
		    write_msg(f->q, &m, c, id, f->why), STATUS_TEMP);
		fsio_hooks_set(NULL);
		assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
		assert_int_equal(count_in(f, QUEUE_TMP), 0);
	}
	free(c);
}

/* What the log says would survive a crash. */
struct model {
	int file_fd;
	long last_write, last_sync; /* log indexes, -1 = none */
	long named;                 /* rename/link into incoming/ */
	bool durable_at_name;       /* bytes durable when named */
	bool name_durable;          /* incoming/ fsynced after naming */
};

static struct model
model_of(const struct fx *f)
{
	int tmp = queue_folder_fd(f->q, QUEUE_TMP);
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);
	struct model m = {-1, -1, -1, -1, false, false};

	for (size_t i = 0; i < f->h.log_len; i++) {
		const struct fsio_event *e = &f->log[i];
		if (e->err != 0)
			continue; /* did nothing */
		switch (e->op) {
		case FSIO_OPEN:
			if (e->fd == tmp)
				m.file_fd = e->fd2;
			break;
		case FSIO_WRITE:
		case FSIO_PWRITE:
			if (e->fd == m.file_fd && e->done > 0)
				m.last_write = (long)i;
			break;
		case FSIO_FSYNC:
		case FSIO_FDATASYNC:
			if (e->fd == m.file_fd)
				m.last_sync = (long)i;
			break;
		case FSIO_RENAME_NOREPLACE:
		case FSIO_LINK:
			if (e->fd == tmp && e->fd2 == inc) {
				m.named = (long)i;
				m.durable_at_name = m.last_sync > m.last_write;
			}
			break;
		case FSIO_DIRSYNC:
			if (e->fd == inc && m.named >= 0)
				m.name_durable = true;
			break;
		default:
			break;
		}
	}
	return m;
}

/*
 * Crash at every step of writing one file, for a few shapes of file.
 * After each crash the "machine restarts": hooks off, check the model
 * and the real folders, clear them.
 */
static void
test_crash_every_step(void **state)
{
	static const struct {
		size_t content_len, short_write;
		int rename_err; /* 0, or EINVAL: link fallback */
	} shapes[] = {
	    {0, 0, 0},
	    {1000, 0, 0},
	    {200000, 0, 0},
	    {100000, 9000, 0},
	    {5000, 0, EINVAL},
	};
	struct fx *f = *state;

	for (size_t s = 0; s < FCT_NELEM(shapes); s++) {
		struct msg m = base;
		char id[QUEUE_ID_SIZE];
		unsigned steps;

		m.content_len = shapes[s].content_len;
		uint8_t *c = make_content(m.content_len, (uint32_t)s);
		/* A clean run counts the steps. */
		hooks_on(f);
		f->h.short_write = shapes[s].short_write;
		f->h.fault[0] = (struct fsio_fault){FSIO_RENAME_NOREPLACE,
		    shapes[s].rename_err ? 1 : 0, shapes[s].rename_err};
		assert_int_equal(write_msg(f->q, &m, c, id, f->why), STATUS_OK);
		fsio_hooks_set(NULL);
		steps = f->h.calls;
		assert_true(steps >= 5); /* open write fsync rename dirsync */
		empty_folder(f, QUEUE_INCOMING);

		for (unsigned n = 1; n <= steps + 1; n++) {
			hooks_on(f);
			f->h.short_write = shapes[s].short_write;
			f->h.fault[0] = (struct fsio_fault){
			    FSIO_RENAME_NOREPLACE, shapes[s].rename_err ? 1 : 0,
			    shapes[s].rename_err};
			f->h.crash_at = n;
			str_clear(f->why);
			enum status st = write_msg(f->q, &m, c, id, f->why);
			fsio_hooks_set(NULL);
			struct model md = model_of(f);

			/* A crash before the end is never acknowledged. */
			if (n <= steps) {
				if (st != STATUS_TEMP)
					fail_msg("shape %zu crash %u: status "
					         "%d",
					    s, n, st);
				assert_true(f->h.crashed);
			} else {
				assert_int_equal(st, STATUS_OK);
				assert_false(f->h.crashed);
			}
			/* Nothing acknowledged is lost. */
			if (st == STATUS_OK) {
				assert_true(md.name_durable);
				assert_true(md.last_sync > md.last_write);
				assert_true(md.durable_at_name);
			}
			/* A name that may survive points at durable bytes. */
			if (md.named >= 0 && !md.durable_at_name)
				fail_msg("shape %zu crash %u: named before "
				         "fsync",
				    s, n);
			/* And in the real folder: complete, or absent. */
			int present = count_in(f, QUEUE_INCOMING);
			assert_true(present <= 1);
			assert_int_equal(present == 1, md.named >= 0);
			if (present)
				check_incoming(f, &m, c);
			/* Restart: qmgr would sweep tmp/. */
			empty_folder(f, QUEUE_INCOMING);
			empty_folder(f, QUEUE_TMP);
		}
		free(c);
	}
}

/* Marking done: a crash before the flush means "not known done". */
static void
test_crash_mark_and_move(void **state)
{
	struct fx *f = *state;
	struct msg m = base;
	char id[QUEUE_ID_SIZE];
	struct queue_env env;

	m.content_len = 10;
	uint8_t *c = make_content(m.content_len, 3);
	assert_int_equal(write_msg(f->q, &m, c, id, f->why), STATUS_OK);
	int fd = queue_file_open(f->q, QUEUE_INCOMING, id, O_RDWR, f->why);
	assert_true(fd >= 0);
	assert_int_equal(
	    queue_env_parse(queue_pread_fd, &fd, LIMIT, &env, f->why),
	    STATUS_OK);
	for (unsigned n = 1; n <= 3; n++) {
		struct queue_rcpt r = env.rcpts[0];
		hooks_on(f);
		f->h.crash_at = n;
		int rc = queue_rcpt_mark_done(fd, &r, f->why);
		fsio_hooks_set(NULL);
		/* Steps: pwrite, fdatasync.  Only a full run reports done. */
		assert_int_equal(rc, n <= 2 ? -1 : 0);
		assert_int_equal(r.flags, n == 1 ? 0 : QUEUE_RCPT_DONE);
		if (n == 1) {
			uint8_t b;
			assert_int_equal(
			    pread(fd, &b, 1, (off_t)env.rcpts[0].flags_off), 1);
			assert_int_equal(b, 0);
		}
	}
	close(fd);
	queue_env_clear(&env);
	/* A move crashed at any step leaves the file in exactly one place. */
	for (unsigned n = 1; n <= 4; n++) {
		hooks_on(f);
		f->h.crash_at = n;
		int rc =
		    queue_move(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, id, f->why);
		fsio_hooks_set(NULL);
		assert_int_equal(rc, n <= 3 ? -1 : 0);
		int in = count_in(f, QUEUE_INCOMING);
		int act = count_in(f, QUEUE_ACTIVE);
		assert_int_equal(in + act, 1);
		assert_int_equal(act, n > 1);
		if (act == 1 && n < 4) {
			struct str *w = str_new(256);
			assert_int_equal(queue_move(f->q, QUEUE_ACTIVE,
			                     QUEUE_INCOMING, id, w),
			    0);
			str_free(&w);
		}
	}
	free(c);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_faults_table),
	    T(test_enospc_every_write),
	    T(test_crash_every_step),
	    T(test_crash_mark_and_move),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
