/*
 * test_queue_reuse - finished files kept in reuse/ and written again
 * (lib/queue_reuse.h): the two-step retire, what a writer may take and
 * what it must refuse, the new content read back exactly over a longer
 * old one, the room count and the sweep of unpublished names.
 */
#include "test_queue_fixture.h"

#include "lib/queue_reuse.h"

static const struct msg big = {"big@example.org", 3, 40, 20000, 777};
static const struct msg small = {"s@example.org", 1, 2, 100, 0};

static ino_t
ino_of(struct fx *f, enum queue_folder fo, const char *name)
{
	struct stat st;

	assert_int_equal(
	    fstatat(queue_folder_fd(f->q, fo), name, &st, AT_SYMLINK_NOFOLLOW),
	    0);
	return st.st_ino;
}

static bool
exists(struct fx *f, enum queue_folder fo, const char *name)
{
	struct stat st;

	return fstatat(queue_folder_fd(f->q, fo), name, &st,
	           AT_SYMLINK_NOFOLLOW) == 0;
}

/* A writer that found reuse/ empty looks again after 100 ms. */
static void
past_empty_wait(void)
{
	usleep(150 * 1000);
}

/* Write m and move it to active/, as qmgr would before finishing it. */
static void
write_active(struct fx *f, const struct msg *m, const uint8_t *content,
    char id[QUEUE_ID_SIZE])
{
	assert_int_equal(write_msg(f->q, m, content, id, f->why), STATUS_OK);
	assert_int_equal(
	    queue_move_lazy(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, id, f->why), 0);
}

/* A retired file is taken only once published; it is then written anew. */
static void
test_retire_publish_take(void **state)
{
	struct fx *f = *state;
	uint8_t *c1 = make_content(big.content_len, 1);
	uint8_t *c2 = make_content(small.content_len, 2);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], staged[QUEUE_ID_SIZE + 1];
	struct queue_env env = {0};
	ino_t ino;
	int fd;

	write_active(f, &big, c1, id1);
	ino = ino_of(f, QUEUE_ACTIVE, id1);
	assert_true(queue_reuse_room(f->q, 10));
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_false(exists(f, QUEUE_ACTIVE, id1));
	snprintf(staged, sizeof(staged), ".%s", id1);
	assert_true(exists(f, QUEUE_REUSE, staged));

	/* Staged: no writer may have it yet, so the next file is new. */
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_OK);
	assert_true(ino_of(f, QUEUE_INCOMING, id2) != ino);
	assert_int_equal(queue_remove(f->q, QUEUE_INCOMING, id2, f->why), 0);

	assert_int_equal(queue_reuse_publish(f->q, id1, f->why), 0);
	assert_false(exists(f, QUEUE_REUSE, staged));
	assert_true(exists(f, QUEUE_REUSE, id1));

	/* Published: the next writer takes it (after the empty wait). */
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_REUSE), 0);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_true(ino_of(f, QUEUE_INCOMING, id2) == ino);
	/*
	 * Same inode and (in this test) the same arrival time: the same id,
	 * as when a file system hands out a freed inode number again.
	 */
	assert_string_equal(id1, id2);

	/* Nothing of the longer old message is left: read back exactly. */
	fd = queue_file_open(f->q, QUEUE_INCOMING, id2, O_RDONLY, f->why);
	assert_true(fd >= 0);
	assert_int_equal(
	    queue_env_parse(queue_pread_fd, &fd, LIMIT, &env, f->why),
	    STATUS_OK);
	check_env(&env, &small, c2, queue_pread_fd, &fd, 64);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size == env.file_size);
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	queue_env_clear(&env);
	free(c1);
	free(c2);
}

/* The expiry mark (mode 0700) does not come back with a reused file. */
static void
test_reused_mode(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 3);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	int fd;

	write_active(f, &small, c, id1);
	assert_int_equal(queue_expire_mark(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(queue_reuse_publish(f->q, id1, f->why), 0);
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id2, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_REUSE), 0);
	fd = queue_file_open(f->q, QUEUE_INCOMING, id2, O_RDONLY, f->why);
	assert_true(fd >= 0);
	assert_false(queue_expire_marked(fd));
	close(fd);
	free(c);
}

/*
 * A name in reuse/ that is not a lone regular file is never written:
 * a file with a second name (the other name keeps its bytes), a folder.
 */
static void
test_take_refuses(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 4);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id3[QUEUE_ID_SIZE];
	size_t len1, len2;
	uint8_t *before, *after;

	write_active(f, &small, c, id1);
	before = slurp(f, QUEUE_ACTIVE, id1, &len1);
	/* A second name for id1 in reuse/, as a crash might leave. */
	past_empty_wait();
	assert_int_equal(linkat(queue_folder_fd(f->q, QUEUE_ACTIVE), id1,
	                     queue_folder_fd(f->q, QUEUE_REUSE), id1, 0),
	    0);
	assert_int_equal(write_msg(f->q, &small, c, id2, f->why), STATUS_OK);
	assert_true(
	    ino_of(f, QUEUE_INCOMING, id2) != ino_of(f, QUEUE_ACTIVE, id1));
	assert_int_equal(count_in(f, QUEUE_REUSE), 0); /* the name went */
	after = slurp(f, QUEUE_ACTIVE, id1, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(before, after, len1);

	/* A folder named like a queue id. */
	assert_int_equal(
	    mkdirat(queue_folder_fd(f->q, QUEUE_REUSE), "1xVJ0d2K6I4nHW", 0700),
	    0);
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id3, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 2);
	free(before);
	free(after);
	free(c);
}

/* The room count, and reuse off with a limit of 0. */
static void
test_room(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 5);
	char id[QUEUE_ID_SIZE];

	assert_false(queue_reuse_room(f->q, 0));
	for (int i = 0; i < 2; i++) {
		assert_true(queue_reuse_room(f->q, 2));
		write_active(f, &small, c, id);
		assert_int_equal(
		    queue_reuse_retire(f->q, QUEUE_ACTIVE, id, f->why), 0);
		assert_int_equal(queue_reuse_publish(f->q, id, f->why), 0);
	}
	assert_false(queue_reuse_room(f->q, 2));
	/* A writer takes one; the count notices within a second. */
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_REUSE), 1);
	usleep(1100 * 1000);
	assert_true(queue_reuse_room(f->q, 2));
	free(c);
}

/* Unpublished names go at the sweep; published ones stay. */
static void
test_sweep(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 6);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];

	write_active(f, &small, c, id1);
	write_active(f, &small, c, id2);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id2, f->why), 0);
	assert_int_equal(queue_reuse_publish(f->q, id2, f->why), 0);
	assert_int_equal(queue_reuse_sweep(f->q, 60, f->why), 1);
	assert_int_equal(count_in(f, QUEUE_REUSE), 1);
	assert_true(exists(f, QUEUE_REUSE, id2));
	assert_int_equal(queue_reuse_sweep(f->q, 60, f->why), 0);

	/* A writer's file stays while a writer may still be at it. */
	int rfd = queue_folder_fd(f->q, QUEUE_REUSE);
	struct timespec old[2] = {{1000, 0}, {1000, 0}};
	assert_int_equal(renameat(rfd, id2, rfd, ".w.123.456.7"), 0);
	assert_int_equal(queue_reuse_sweep(f->q, 60, f->why), 0);
	assert_true(exists(f, QUEUE_REUSE, ".w.123.456.7"));
	assert_int_equal(utimensat(rfd, ".w.123.456.7", old, 0), 0);
	assert_int_equal(queue_reuse_sweep(f->q, 60, f->why), 1);
	assert_int_equal(count_in(f, QUEUE_REUSE), 0);
	/* A name that is not a queue id is refused. */
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, "../x", f->why), -1);
	free(c);
}

/* A failed cut of the old tail fails the file; nothing is named. */
static void
test_truncate_fails(void **state)
{
	struct fx *f = *state;
	uint8_t *c1 = make_content(big.content_len, 7);
	uint8_t *c2 = make_content(small.content_len, 8);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];

	write_active(f, &big, c1, id1);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(queue_reuse_publish(f->q, id1, f->why), 0);
	past_empty_wait();
	hooks_on(f);
	f->h.fault[0] = (struct fsio_fault){FSIO_TRUNCATE, 1, EIO};
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_TEMP);
	fsio_hooks_set(NULL);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(count_in(f, QUEUE_REUSE), 0);
	free(c1);
	free(c2);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_retire_publish_take),
	    T(test_reused_mode),
	    T(test_take_refuses),
	    T(test_room),
	    T(test_sweep),
	    T(test_truncate_fails),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
