/*
 * test_queue_ops - what happens to queue files after they are written:
 * id collisions (never a replace), marking recipients done in place,
 * moves between folders, corrupt/, scans, removal, abort, the tmp/ sweep
 * and the group-commit shape (many files durable, one folder fsync).
 */
#include "test_queue_fixture.h"

static const struct msg small = {"s@example.org", 1, 5, 300, 0};

/* Write small with a given sender and (optionally) a forced id. */
static enum status
write_forced(struct fx *f, const char *sender, const char *force,
    char id_r[QUEUE_ID_SIZE])
{
	struct queue_file *qf;
	enum status st;

	assert_int_equal(
	    queue_file_create(f->q, 1700000000000000, &qf, f->why), STATUS_OK);
	if (force != NULL)
		queue_file_force_id(qf, force);
	st = queue_file_sender(qf, sender, f->why);
	if (st == STATUS_OK)
		st = queue_file_rcpt(qf, "r@x", NULL, 0, f->why);
	if (st == STATUS_OK)
		st = queue_file_content(qf, "body\r\n", 6, f->why);
	if (st == STATUS_OK)
		st = queue_file_commit(qf, f->why);
	if (st == STATUS_OK) {
		snprintf(id_r, QUEUE_ID_SIZE, "%s", queue_file_id(qf));
		/* The planned id is the final one unless the name was taken. */
		if (force == NULL || strcmp(id_r, force) == 0)
			assert_string_equal(queue_file_planned_id(qf), id_r);
		else
			assert_string_equal(queue_file_planned_id(qf), force);
	}
	queue_file_free(&qf);
	return st;
}

static void
parse_in(
    struct fx *f, enum queue_folder fo, const char *id, struct queue_env *env)
{
	int fd = queue_file_open(f->q, fo, id, O_RDONLY, f->why);

	assert_true(fd >= 0);
	assert_int_equal(
	    queue_env_parse(queue_pread_fd, &fd, LIMIT, env, f->why),
	    STATUS_OK);
	close(fd);
}

/* Forcing the same id twice must not replace the first file. */
static void
test_id_collision(void **state)
{
	struct fx *f = *state;
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id3[QUEUE_ID_SIZE];
	const char *forced = "1r31eq0W7E5BAN";
	struct queue_env env;
	uint64_t t1, t2, t3, i1, i2;

	assert_int_equal(write_forced(f, "first@x", forced, id1), STATUS_OK);
	assert_string_equal(id1, forced);
	assert_int_equal(write_forced(f, "second@x", forced, id2), STATUS_OK);
	assert_int_equal(write_forced(f, "third@x", forced, id3), STATUS_OK);
	assert_string_not_equal(id1, id2);
	assert_string_not_equal(id2, id3);
	assert_string_not_equal(id1, id3);
	/* The next ids: one and two microseconds later, same inode part. */
	assert_int_equal(queue_id_parse(id1, &t1, &i1), 0);
	assert_int_equal(queue_id_parse(id2, &t2, &i2), 0);
	assert_int_equal(queue_id_time(id3, &t3), 0);
	assert_true(t2 == t1 + 1 && t3 == t1 + 2 && i1 == i2);
	assert_true(strcmp(id1, id2) < 0 && strcmp(id2, id3) < 0);
	/* The first file is intact. */
	parse_in(f, QUEUE_INCOMING, id1, &env);
	assert_string_equal(env.sender, "first@x");
	queue_env_clear(&env);
	parse_in(f, QUEUE_INCOMING, id2, &env);
	assert_string_equal(env.sender, "second@x");
	queue_env_clear(&env);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 3);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
}

/* An arrival time the id cannot hold is refused at creation. */
static void
test_time_out_of_range(void **state)
{
	struct fx *f = *state;
	struct queue_file *qf = NULL;

	assert_int_equal(
	    queue_file_create(f->q, UINT64_MAX, &qf, f->why), STATUS_PERM);
	assert_null(qf);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
}

/* Ids come from the inode: two files of one microsecond differ. */
static void
test_ids_unique(void **state)
{
	struct fx *f = *state;
	char ids[50][QUEUE_ID_SIZE];

	for (size_t i = 0; i < FCT_NELEM(ids); i++) {
		assert_int_equal(write_forced(f, "", NULL, ids[i]), STATUS_OK);
		assert_true(queue_id_valid(ids[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
	assert_int_equal(count_in(f, QUEUE_INCOMING), FCT_NELEM(ids));
}

static void
test_mark_done(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 1);
	char id[QUEUE_ID_SIZE], other[QUEUE_ID_SIZE];
	struct queue_env env, env2;
	int fd;

	assert_int_equal(write_msg(f->q, &small, c, id, f->why), STATUS_OK);
	assert_int_equal(write_forced(f, "o@x", NULL, other), STATUS_OK);
	fd = queue_file_open(f->q, QUEUE_INCOMING, id, O_RDWR, f->why);
	assert_true(fd >= 0);
	assert_int_equal(
	    queue_env_parse(queue_pread_fd, &fd, LIMIT, &env, f->why),
	    STATUS_OK);
	hooks_on(f);
	assert_int_equal(queue_rcpt_mark_done(fd, &env.rcpts[1], f->why), 0);
	assert_int_equal(queue_rcpt_set_done(fd, &env.rcpts[3], f->why), 0);
	assert_int_equal(queue_rcpt_set_done(fd, &env.rcpts[4], f->why), 0);
	assert_int_equal(queue_fd_sync(fd, f->why), 0);
	fsio_hooks_set(NULL);
	/* One-byte pwrite at the flag, then a flush; batch: one flush. */
	assert_int_equal(f->h.log_len, 5);
	assert_int_equal(f->log[0].op, FSIO_PWRITE);
	assert_int_equal(f->log[0].len, 1);
	assert_true(f->log[0].off == env.rcpts[1].flags_off);
	assert_int_equal(f->log[1].op, FSIO_FDATASYNC);
	assert_int_equal(f->log[1].fd, fd);
	assert_int_equal(f->log[2].op, FSIO_PWRITE);
	assert_int_equal(f->log[3].op, FSIO_PWRITE);
	assert_int_equal(f->log[4].op, FSIO_FDATASYNC);
	assert_int_equal(env.rcpts[1].flags, QUEUE_RCPT_DONE);
	/* Marking twice is harmless. */
	assert_int_equal(queue_rcpt_mark_done(fd, &env.rcpts[1], f->why), 0);
	assert_int_equal(
	    queue_env_parse(queue_pread_fd, &fd, LIMIT, &env2, f->why),
	    STATUS_OK);
	assert_int_equal(env2.ndone, 3);
	for (size_t i = 0; i < env2.nrcpts; i++)
		assert_int_equal(env2.rcpts[i].flags,
		    i == 1 || i == 3 || i == 4 ? QUEUE_RCPT_DONE : 0);
	/* The same file is otherwise unchanged: content intact. */
	uint8_t back[300];
	size_t n;
	assert_int_equal(queue_content_read(queue_pread_fd, &fd, &env2, 0, back,
	                     sizeof(back), &n, f->why),
	    STATUS_OK);
	assert_int_equal(n, small.content_len);
	assert_memory_equal(back, c, n);
	assert_string_equal(env2.rcpts[4].addr, "user4@example.org");
	close(fd);
	queue_env_clear(&env2);
	/* A wrong descriptor is refused, nothing written. */
	fd = queue_file_open(f->q, QUEUE_INCOMING, other, O_RDWR, f->why);
	assert_true(fd >= 0);
	env.rcpts[0].flags_off = 30; /* inside the other file's envelope */
	hooks_on(f);
	assert_int_equal(queue_rcpt_mark_done(fd, &env.rcpts[0], f->why), -1);
	fsio_hooks_set(NULL);
	assert_int_equal(f->h.count[FSIO_PWRITE], 0);
	close(fd);
	queue_env_clear(&env);
	free(c);
}

static void
test_move(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	struct queue_env env;
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);
	int act = queue_folder_fd(f->q, QUEUE_ACTIVE);

	assert_int_equal(write_forced(f, "m@x", NULL, id), STATUS_OK);
	hooks_on(f);
	assert_int_equal(
	    queue_move(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, id, f->why), 0);
	fsio_hooks_set(NULL);
	/* Rename, then fsync of the destination, then of the source. */
	assert_int_equal(f->h.log_len, 3);
	assert_int_equal(f->log[0].op, FSIO_RENAME_NOREPLACE);
	assert_int_equal(f->log[0].fd, inc);
	assert_int_equal(f->log[0].fd2, act);
	assert_int_equal(f->log[1].op, FSIO_DIRSYNC);
	assert_int_equal(f->log[1].fd, act);
	assert_int_equal(f->log[2].op, FSIO_DIRSYNC);
	assert_int_equal(f->log[2].fd, inc);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	assert_int_equal(count_in(f, QUEUE_ACTIVE), 1);
	assert_int_equal(
	    queue_move(f->q, QUEUE_ACTIVE, QUEUE_DEFERRED, id, f->why), 0);
	/* A name already taken at the destination: nothing moves. */
	assert_int_equal(write_forced(f, "n@x", id, id2), STATUS_OK);
	assert_string_equal(id, id2);
	str_clear(f->why);
	assert_int_equal(
	    queue_move(f->q, QUEUE_INCOMING, QUEUE_DEFERRED, id, f->why), -1);
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(str_c(f->why), "deferred"));
	parse_in(f, QUEUE_DEFERRED, id, &env);
	assert_string_equal(env.sender, "m@x");
	queue_env_clear(&env);
	parse_in(f, QUEUE_INCOMING, id, &env);
	assert_string_equal(env.sender, "n@x");
	queue_env_clear(&env);
	/* Gone, or not an id. */
	assert_int_equal(
	    queue_move(f->q, QUEUE_HOLD, QUEUE_ACTIVE, id, f->why), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(
	    queue_move(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, "../tmp/x", f->why),
	    -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_move_lazy(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_SIZE];
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);
	int act = queue_folder_fd(f->q, QUEUE_ACTIVE);

	assert_int_equal(write_forced(f, "m@x", NULL, id), STATUS_OK);
	hooks_on(f);
	assert_int_equal(
	    queue_move_lazy(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, id, f->why),
	    0);
	fsio_hooks_set(NULL);
	/* The rename alone: no folder is synced. */
	assert_int_equal(f->h.log_len, 1);
	assert_int_equal(f->log[0].op, FSIO_RENAME_NOREPLACE);
	assert_int_equal(f->log[0].fd, inc);
	assert_int_equal(f->log[0].fd2, act);
	assert_int_equal(count_in(f, QUEUE_ACTIVE), 1);
	assert_int_equal(
	    queue_move_lazy(f->q, QUEUE_ACTIVE, QUEUE_DEFERRED, id, f->why),
	    0);
	assert_int_equal(count_in(f, QUEUE_DEFERRED), 1);
}

static void
test_expire_mark(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_SIZE];
	int fd;

	assert_int_equal(write_forced(f, "m@x", NULL, id), STATUS_OK);
	fd = queue_file_open(f->q, QUEUE_INCOMING, id, O_RDONLY, f->why);
	assert_true(fd >= 0);
	assert_false(queue_expire_marked(fd));
	assert_int_equal(queue_expire_mark(f->q, QUEUE_INCOMING, id, f->why),
	    0);
	assert_true(queue_expire_marked(fd));
	close(fd);
	/* Not there: ENOENT, nothing marked. */
	assert_int_equal(queue_expire_mark(f->q, QUEUE_HOLD, id, f->why), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_corrupt(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_SIZE];

	assert_int_equal(write_forced(f, "c@x", NULL, id), STATUS_OK);
	assert_int_equal(
	    queue_corrupt(f->q, QUEUE_INCOMING, id, "corrupt: testing", f->why),
	    0);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	assert_int_equal(count_in(f, QUEUE_CORRUPT), 1);
	assert_int_equal(
	    queue_corrupt(f->q, QUEUE_INCOMING, id, "again", f->why), -1);
	assert_int_equal(count_in(f, QUEUE_CORRUPT), 1);
}

struct seen {
	char ids[8][QUEUE_ID_SIZE];
	size_t n, stop_after;
};

static int
collect(const char *id, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < FCT_NELEM(s->ids));
	snprintf(s->ids[s->n++], QUEUE_ID_SIZE, "%s", id);
	return s->stop_after > 0 && s->n >= s->stop_after;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_scan(void **state)
{
	static const char *const junk[] = {"foo", ".hidden", "123.456.7",
	    "0000000000", "00000000000x-", "zzzzzz4C91LygHa16AHYG"};
	struct fx *f = *state;
	char ids[3][QUEUE_ID_SIZE];
	struct seen s = {.n = 0};
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(write_forced(f, "", NULL, ids[i]), STATUS_OK);
	for (size_t i = 0; i < FCT_NELEM(junk); i++) {
		int fd = openat(inc, junk[i], O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(mkdirat(inc, "00000000001", 0700), 0);
	assert_int_equal(
	    queue_scan(f->q, QUEUE_INCOMING, collect, &s, f->why), 0);
	/* The directory named like an id is listed: callers open it and
	 * fail; scanning does not stat every entry. */
	assert_int_equal(s.n, 4);
	qsort(s.ids, s.n, QUEUE_ID_SIZE, cmp_id);
	qsort(ids, 3, QUEUE_ID_SIZE, cmp_id);
	assert_string_equal(s.ids[0], "00000000001");
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(s.ids[i + 1], ids[i]);
	/* Stopping early. */
	s = (struct seen){.stop_after = 2};
	assert_int_equal(
	    queue_scan(f->q, QUEUE_INCOMING, collect, &s, f->why), 1);
	assert_int_equal(s.n, 2);
	/* tmp/ is never scanned; an empty folder is fine. */
	s = (struct seen){.n = 0};
	assert_int_equal(queue_scan(f->q, QUEUE_TMP, collect, &s, f->why), -1);
	assert_int_equal(queue_scan(f->q, QUEUE_HOLD, collect, &s, f->why), 0);
	assert_int_equal(s.n, 0);
}

static void
test_remove_and_open(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_SIZE];
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);

	assert_int_equal(write_forced(f, "", NULL, id), STATUS_OK);
	assert_int_equal(queue_remove(f->q, QUEUE_INCOMING, id, f->why), 0);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	assert_int_equal(queue_remove(f->q, QUEUE_INCOMING, id, f->why), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(queue_remove(f->q, QUEUE_INCOMING, "a/b", f->why), -1);
	assert_int_equal(queue_folder_sync(f->q, QUEUE_INCOMING, f->why), 0);
	/* A symbolic link named like an id is not followed. */
	assert_int_equal(symlinkat("/etc/passwd", inc, "00000000001"), 0);
	assert_int_equal(queue_file_open(f->q, QUEUE_INCOMING, "00000000001",
	                     O_RDONLY, f->why),
	    -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(
	    queue_file_open(f->q, QUEUE_INCOMING, "../../x", O_RDONLY, f->why),
	    -1);
	assert_int_equal(queue_file_open(f->q, QUEUE_INCOMING, "00000000002",
	                     O_RDONLY, f->why),
	    -1);
	assert_int_equal(errno, ENOENT);
}

/* Abort at every stage leaves tmp/ and incoming/ empty. */
static void
test_abort(void **state)
{
	struct fx *f = *state;
	uint8_t big[QUEUE_WRITE_BUF + 10] = {0};

	for (int stage = 0; stage < 6; stage++) {
		struct queue_file *qf;
		assert_int_equal(
		    queue_file_create(f->q, 1, &qf, f->why), STATUS_OK);
		assert_int_equal(count_in(f, QUEUE_TMP), 1);
		if (stage > 0)
			assert_int_equal(
			    queue_file_sender(qf, "", f->why), STATUS_OK);
		if (stage > 1)
			assert_int_equal(
			    queue_file_rcpt(qf, "a@b", NULL, 0, f->why),
			    STATUS_OK);
		if (stage > 2)
			assert_int_equal(
			    queue_file_content(qf, big, sizeof(big), f->why),
			    STATUS_OK);
		if (stage > 3)
			assert_int_equal(
			    queue_file_finish(qf, f->why), STATUS_OK);
		if (stage > 4)
			assert_int_equal(
			    queue_file_sync(qf, f->why), STATUS_OK);
		assert_string_equal(queue_file_id(qf), "");
		queue_file_free(&qf);
		assert_null(qf);
		assert_int_equal(count_in(f, QUEUE_TMP), 0);
		assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	}
	queue_file_free(&(struct queue_file *){NULL});
}

static void
test_tmp_sweep(void **state)
{
	struct fx *f = *state;
	int tmp = queue_folder_fd(f->q, QUEUE_TMP);
	struct timespec old[2] = {{1000, 0}, {1000, 0}};
	int fd;

	fd = openat(tmp, "123.1.1", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(futimens(fd, old), 0);
	close(fd);
	fd = openat(tmp, "123.1.2", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(queue_tmp_sweep(f->q, 3600, f->why), 1);
	assert_int_equal(count_in(f, QUEUE_TMP), 1);
	assert_int_equal(queue_tmp_sweep(f->q, 3600, f->why), 0);
	assert_int_equal(queue_tmp_sweep(f->q, 0, f->why), 1);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
}

/*
 * Group commit: several files finished and fsynced, then claimed, then
 * one fsync of incoming/ covers them all.
 */
static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	struct queue_file *qf[4];
	int inc = queue_folder_fd(f->q, QUEUE_INCOMING);
	size_t renames = 0, dirsyncs = 0, last_rename = 0;

	hooks_on(f);
	for (size_t i = 0; i < FCT_NELEM(qf); i++) {
		assert_int_equal(
		    queue_file_create(f->q, 5 + i, &qf[i], f->why), STATUS_OK);
		assert_int_equal(
		    queue_file_sender(qf[i], "", f->why), STATUS_OK);
		assert_int_equal(
		    queue_file_rcpt(qf[i], "a@b", NULL, 0, f->why), STATUS_OK);
		assert_int_equal(queue_file_finish(qf[i], f->why), STATUS_OK);
		assert_int_equal(queue_file_sync(qf[i], f->why), STATUS_OK);
	}
	for (size_t i = 0; i < FCT_NELEM(qf); i++)
		assert_int_equal(queue_file_claim(qf[i], f->why), STATUS_OK);
	assert_int_equal(queue_folder_sync(f->q, QUEUE_INCOMING, f->why), 0);
	fsio_hooks_set(NULL);
	for (size_t i = 0; i < f->h.log_len; i++) {
		if (f->log[i].op == FSIO_RENAME_NOREPLACE) {
			renames++;
			last_rename = i;
		}
		if (f->log[i].op == FSIO_DIRSYNC) {
			dirsyncs++;
			assert_int_equal(f->log[i].fd, inc);
			assert_true(i > last_rename);
		}
	}
	assert_int_equal(renames, FCT_NELEM(qf));
	assert_int_equal(dirsyncs, 1);
	for (size_t i = 0; i < FCT_NELEM(qf); i++) {
		assert_true(queue_id_valid(queue_file_id(qf[i])));
		queue_file_free(&qf[i]);
	}
	assert_int_equal(count_in(f, QUEUE_INCOMING), FCT_NELEM(qf));
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_id_collision),
	    T(test_ids_unique),
	    T(test_time_out_of_range),
	    T(test_mark_done),
	    T(test_move),
	    T(test_move_lazy),
	    T(test_expire_mark),
	    T(test_corrupt),
	    T(test_scan),
	    T(test_remove_and_open),
	    T(test_abort),
	    T(test_tmp_sweep),
	    T(test_group_commit),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
