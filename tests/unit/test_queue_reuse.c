/*
 * test_queue_reuse - finished files kept in reuse/ and written again
 * (lib/queue_reuse.h): retiring in generations and publishing them,
 * what a writer may take and what it must refuse, the new content read
 * back exactly over a longer old one, the room count, the start's sweep
 * of unpublished generations and writers' leftovers.
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

/* Files in reuse/ other than the .gen counter. */
static int
pool(struct fx *f)
{
	return count_in(f, QUEUE_REUSE) -
	       (exists(f, QUEUE_REUSE, ".gen") ? 1 : 0);
}

/* qmgr's start: map reuse/.gen, nothing to sweep in a new queue. */
static void
start(struct fx *f)
{
	assert_int_equal(queue_reuse_start(f->q, 60, f->why), 0);
}

/* The name of id retired in generation g. */
static const char *
gname(char buf[QUEUE_REUSE_NAME_MAX], unsigned g, const char *id)
{
	snprintf(buf, QUEUE_REUSE_NAME_MAX, "%u-%s", g, id);
	return buf;
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
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], n[QUEUE_REUSE_NAME_MAX];
	struct queue_env env = {0};
	struct stat st;
	ino_t ino;
	int fd;

	start(f);
	write_active(f, &big, c1, id1);
	ino = ino_of(f, QUEUE_ACTIVE, id1);
	assert_true(queue_reuse_room(f->q, 10));
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_false(exists(f, QUEUE_ACTIVE, id1));
	assert_true(exists(f, QUEUE_REUSE, gname(n, 1, id1)));

	/* Not published: no writer may have it yet, the next file is new. */
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_OK);
	assert_true(ino_of(f, QUEUE_INCOMING, id2) != ino);
	assert_int_equal(queue_remove(f->q, QUEUE_INCOMING, id2, f->why), 0);

	queue_reuse_publish(f->q);
	assert_true(exists(f, QUEUE_REUSE, gname(n, 1, id1)));

	/* Published: the next writer takes it (after the empty wait). */
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_OK);
	assert_int_equal(pool(f), 0);
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

	start(f);
	write_active(f, &small, c, id1);
	assert_int_equal(queue_expire_mark(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	queue_reuse_publish(f->q);
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id2, f->why), STATUS_OK);
	assert_int_equal(pool(f), 0);
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
	char n[QUEUE_REUSE_NAME_MAX];
	size_t len1, len2;
	uint8_t *before, *after;

	start(f);
	queue_reuse_publish(f->q); /* generation 1, empty */
	write_active(f, &small, c, id1);
	before = slurp(f, QUEUE_ACTIVE, id1, &len1);
	/* A second name for id1 in reuse/, as a crash might leave. */
	assert_int_equal(
	    linkat(queue_folder_fd(f->q, QUEUE_ACTIVE), id1,
	        queue_folder_fd(f->q, QUEUE_REUSE), gname(n, 1, id1), 0),
	    0);
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id2, f->why), STATUS_OK);
	assert_true(
	    ino_of(f, QUEUE_INCOMING, id2) != ino_of(f, QUEUE_ACTIVE, id1));
	assert_int_equal(pool(f), 0); /* the name went */
	after = slurp(f, QUEUE_ACTIVE, id1, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(before, after, len1);

	/* A folder named like a retired file. */
	assert_int_equal(mkdirat(queue_folder_fd(f->q, QUEUE_REUSE),
	                     "1-1xVJ0d2K6I4nHW", 0700),
	    0);
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id3, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(pool(f), 0);
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

	start(f);
	assert_false(queue_reuse_room(f->q, 0));
	for (int i = 0; i < 2; i++) {
		assert_true(queue_reuse_room(f->q, 2));
		write_active(f, &small, c, id);
		assert_int_equal(
		    queue_reuse_retire(f->q, QUEUE_ACTIVE, id, f->why), 0);
		queue_reuse_publish(f->q);
	}
	assert_false(queue_reuse_room(f->q, 2));
	/* A writer takes one; the count notices within a second. */
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id, f->why), STATUS_OK);
	assert_int_equal(pool(f), 1);
	usleep(1100 * 1000);
	assert_true(queue_reuse_room(f->q, 2));
	free(c);
}

/*
 * The next start keeps published generations and removes the rest, and
 * writers' files once no writer can still be at them.
 */
static void
test_start_sweeps(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 6);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], n[QUEUE_REUSE_NAME_MAX];
	int rfd = queue_folder_fd(f->q, QUEUE_REUSE), fd;
	struct timespec old[2] = {{1000, 0}, {1000, 0}};
	uint64_t g = 0;

	start(f);
	write_active(f, &small, c, id1);
	write_active(f, &small, c, id2);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	queue_reuse_publish(f->q);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id2, f->why), 0);
	/* A writer's files: one young, one long dead. */
	fd = openat(rfd, ".w.1.2.3", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	fd = openat(rfd, ".w.4.5.6", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(utimensat(rfd, ".w.4.5.6", old, 0), 0);

	/* As a new qmgr would: generation 2 was never published. */
	assert_int_equal(queue_reuse_start(f->q, 60, f->why), 2);
	assert_true(exists(f, QUEUE_REUSE, gname(n, 1, id1)));
	assert_false(exists(f, QUEUE_REUSE, gname(n, 2, id2)));
	assert_true(exists(f, QUEUE_REUSE, ".w.1.2.3"));
	assert_false(exists(f, QUEUE_REUSE, ".w.4.5.6"));
	fd = openat(rfd, ".gen", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &g, sizeof(g)), (ssize_t)sizeof(g));
	close(fd);
	assert_true(g == 1);
	/* A name that is not a queue id is refused. */
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, "../x", f->why), -1);
	free(c);
}

/* A name too long to be ours is neither swept nor taken. */
static void
test_long_name(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 10);
	int rfd = queue_folder_fd(f->q, QUEUE_REUSE), fd;
	char id[QUEUE_ID_SIZE], longname[200];
	struct stat st;

	start(f);
	queue_reuse_publish(f->q); /* generation 1 */
	/* "000...0001-ID": generation 1 by its digits, but 170 bytes. */
	write_active(f, &small, c, id);
	memset(longname, '0', sizeof(longname));
	snprintf(longname + 150, 50, "1-%s", id);
	fd = openat(rfd, longname, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	assert_int_equal(queue_reuse_start(f->q, 60, f->why), 0);
	assert_true(exists(f, QUEUE_REUSE, longname));
	past_empty_wait();
	assert_int_equal(write_msg(f->q, &small, c, id, f->why), STATUS_OK);
	assert_true(exists(f, QUEUE_REUSE, longname));
	assert_true(ino_of(f, QUEUE_INCOMING, id) != st.st_ino);
	free(c);
}

/*
 * Not started (no qmgr yet): nothing is retired and a writer creates
 * files.  After a failed fsync: dropped, and no more retiring.
 */
static void
test_not_started_and_abandoned(void **state)
{
	struct fx *f = *state;
	uint8_t *c = make_content(small.content_len, 7);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], n[QUEUE_REUSE_NAME_MAX];

	write_active(f, &small, c, id1);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), -1);
	assert_true(exists(f, QUEUE_ACTIVE, id1));
	assert_int_equal(write_msg(f->q, &small, c, id2, f->why), STATUS_OK);
	assert_int_equal(count_in(f, QUEUE_REUSE), 0);

	start(f);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	assert_int_equal(queue_reuse_drop(f->q, id1, f->why), 0);
	assert_false(exists(f, QUEUE_REUSE, gname(n, 1, id1)));
	queue_reuse_abandon(f->q);
	assert_int_equal(
	    queue_move_lazy(f->q, QUEUE_INCOMING, QUEUE_ACTIVE, id2, f->why),
	    0);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id2, f->why), -1);
	assert_int_equal(pool(f), 0);
	free(c);
}

/* A failed cut of the old tail fails the file; nothing is named. */
static void
test_truncate_fails(void **state)
{
	struct fx *f = *state;
	uint8_t *c1 = make_content(big.content_len, 8);
	uint8_t *c2 = make_content(small.content_len, 9);
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];

	start(f);
	write_active(f, &big, c1, id1);
	assert_int_equal(
	    queue_reuse_retire(f->q, QUEUE_ACTIVE, id1, f->why), 0);
	queue_reuse_publish(f->q);
	past_empty_wait();
	hooks_on(f);
	f->h.fault[0] = (struct fsio_fault){FSIO_TRUNCATE, 1, EIO};
	assert_int_equal(write_msg(f->q, &small, c2, id2, f->why), STATUS_TEMP);
	fsio_hooks_set(NULL);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(pool(f), 0);
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
	    T(test_start_sweeps),
	    T(test_long_name),
	    T(test_not_started_and_abandoned),
	    T(test_truncate_fails),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
