/*
 * test_queue - queue folders, writer -> reader round trips, corrupt files,
 * id collisions, marking, moves, scans.  Fault injection and crash tests
 * are in test_queue_crash.c.  Every test works in its own queue under
 * /var/tmp, removed afterwards.
 */
#include "test_queue_fixture.h"

/* ---- folders ---- */

static void
check_modes(const char *root, uid_t mail_uid, gid_t mail_gid, gid_t auth_gid,
    bool privileged)
{
	static const struct {
		const char *name;
		mode_t mode;
		int who; /* 0 root, 1 mail_owner, 2 root:auth */
	} want[] = {
	    {"", 0755, 0},
	    {"incoming", 0700, 1},
	    {"active", 0700, 1},
	    {"deferred", 0700, 1},
	    {"hold", 0700, 1},
	    {"corrupt", 0700, 1},
	    {"tmp", 0700, 1},
	    {"defer", 0700, 1},
	    {"bounce", 0700, 1},
	    {"private", 0700, 1},
	    {"public", 0711, 1},
	    {"pid", 0755, 0},
	    {"auth", 0750, 2},
	};
	char path[256];
	struct stat st;

	for (size_t i = 0; i < FCT_NELEM(want); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, want[i].name);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		if ((st.st_mode & 07777) != want[i].mode)
			fail_msg("%s: mode %o", path, st.st_mode & 07777);
		if (!privileged)
			continue;
		uid_t u = want[i].who == 1 ? mail_uid : 0;
		gid_t g = want[i].who == 1   ? mail_gid
		          : want[i].who == 2 ? auth_gid
		                             : 0;
		if (st.st_uid != u || st.st_gid != g)
			fail_msg("%s: owner %u:%u", path, st.st_uid, st.st_gid);
	}
}

static void
test_dir_init_and_repair(void **state)
{
	struct fx *f = *state;
	bool root = geteuid() == 0;
	struct queue_owner o =
	    root ? (struct queue_owner){65534, 65534, 4242} : me();
	char path[256];

	assert_int_equal(queue_dir_init(f->root, &o, f->why), 0);
	check_modes(f->root, o.uid, o.gid, o.auth_gid, root);
	/* Again: nothing to do, same result. */
	assert_int_equal(queue_dir_init(f->root, &o, f->why), 0);
	check_modes(f->root, o.uid, o.gid, o.auth_gid, root);
	/* Repair a loose mode and (as root) a wrong owner. */
	snprintf(path, sizeof(path), "%s/incoming", f->root);
	assert_int_equal(chmod(path, 0777), 0);
	snprintf(path, sizeof(path), "%s/public", f->root);
	assert_int_equal(chmod(path, 0700), 0);
	if (root) {
		snprintf(path, sizeof(path), "%s/pid", f->root);
		assert_int_equal(chown(path, 65534, 65534), 0);
	}
	assert_int_equal(queue_dir_init(f->root, &o, f->why), 0);
	check_modes(f->root, o.uid, o.gid, o.auth_gid, root);
	/* A symbolic link in place of a folder is refused, not followed. */
	snprintf(path, sizeof(path), "%s/hold", f->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(symlink(f->dir, path), 0);
	str_clear(f->why);
	assert_int_equal(queue_dir_init(f->root, &o, f->why), -1);
	assert_non_null(strstr(str_c(f->why), "hold"));
	/* A missing parent is an error, not mkdir -p. */
	snprintf(path, sizeof(path), "%s/no/such/q", f->dir);
	assert_int_equal(queue_dir_init(path, &o, f->why), -1);
}

/* An ordinary user's instance: everything is that user's, no chown. */
static void
test_dir_init_unprivileged(void **state)
{
	struct fx *f = *state;
	char root[256];
	pid_t pid;
	int status;

	snprintf(root, sizeof(root), "%s/user", f->dir);
	if (geteuid() != 0) {
		struct queue_owner o = {0, 0, 0}; /* ignored */
		assert_int_equal(queue_dir_init(root, &o, f->why), 0);
		check_modes(root, 0, 0, 0, false);
		return;
	}
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(chown(root, 65534, 65534), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue_owner o = {0, 0, 0}; /* ignored */
		struct stat st;
		char p[300];
		if (setgroups(0, NULL) < 0 ||
		    setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(10);
		if (queue_dir_init(root, &o, f->why) < 0)
			_exit(11);
		snprintf(p, sizeof(p), "%s/auth", root);
		if (stat(p, &st) < 0 || st.st_uid != 65534 ||
		    (st.st_mode & 07777) != 0750)
			_exit(12);
		snprintf(p, sizeof(p), "%s/public", root);
		if (stat(p, &st) < 0 || (st.st_mode & 07777) != 0711)
			_exit(13);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	check_modes(root, 0, 0, 0, false);
}

static void
test_open_needs_folders(void **state)
{
	struct fx *f = *state;
	struct queue *q = NULL;
	char path[256];

	assert_string_equal(queue_folder_name(QUEUE_DEFERRED), "deferred");
	assert_null(queue_folder_name(QUEUE_FOLDER_COUNT));
	assert_true(queue_folder_holds_files(QUEUE_HOLD));
	assert_false(queue_folder_holds_files(QUEUE_TMP));
	assert_true(queue_folder_fd(f->q, QUEUE_PID) >= 0);
	snprintf(path, sizeof(path), "%s/active", f->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(queue_open(f->root, LIMIT, &q, f->why), -1);
	assert_null(q);
	assert_non_null(strstr(str_c(f->why), "active"));
	/* Socket folders are optional. */
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/auth", f->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(queue_open(f->root, LIMIT, &q, f->why), 0);
	assert_int_equal(queue_folder_fd(q, QUEUE_AUTH), -1);
	queue_close(&q);
	queue_close(&q);
}

/* ---- round trips ---- */

static void
test_roundtrip(void **state)
{
	static const struct {
		const char *name;
		struct msg m;
	} cases[] = {
	    {"null sender, empty content", {"", 0, 1, 0, 0}},
	    {"attributes", {"a@example.org", 12, 2, 100, 0}},
	    {"many recipients", {"", 3, 1000, 5000, 999}},
	    {"byte-at-a-time content", {"b@x", 0, 3, 3000, 1}},
	    {"content spanning buffers",
	        {"c@x", 1, 5, 3 * QUEUE_WRITE_BUF + 123, 1000}},
	    {"one call of 2.5 buffers", {"", 0, 2, 5 * QUEUE_WRITE_BUF / 2, 0}},
	    {"exactly one buffer", {"d@x", 0, 1, QUEUE_WRITE_BUF, 0}},
	    {"10 MB", {"big@x", 2, 3, 10 << 20, 65000}},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		const struct msg *m = &cases[i].m;
		uint8_t *c = make_content(m->content_len, (uint32_t)i);
		char id[QUEUE_ID_SIZE];
		struct queue_env env;
		size_t len;

		str_clear(f->why);
		if (write_msg(f->q, m, c, id, f->why) != STATUS_OK)
			fail_msg("%s: %s", cases[i].name, str_c(f->why));
		assert_true(queue_id_valid(id));
		/* Through a descriptor. */
		int fd =
		    queue_file_open(f->q, QUEUE_INCOMING, id, O_RDONLY, f->why);
		assert_true(fd >= 0);
		assert_int_equal(
		    queue_env_parse(queue_pread_fd, &fd, LIMIT, &env, f->why),
		    STATUS_OK);
		check_env(&env, m, c, queue_pread_fd, &fd, 4096);
		queue_env_clear(&env);
		close(fd);
		/* Through memory, odd chunks. */
		uint8_t *b = slurp(f, QUEUE_INCOMING, id, &len);
		struct queue_mem mem = {b, len};
		assert_int_equal(
		    queue_env_parse(queue_pread_mem, &mem, LIMIT, &env, f->why),
		    STATUS_OK);
		assert_true(env.file_size == len);
		check_env(&env, m, c, queue_pread_mem, &mem, 777);
		queue_env_clear(&env);
		queue_env_clear(&env);
		free(b);
		free(c);
		assert_int_equal(count_in(f, QUEUE_TMP), 0);
	}
	assert_int_equal(count_in(f, QUEUE_INCOMING), FCT_NELEM(cases));
}

/*
 * The CONTENT length is patched at finish: in the buffer, across the
 * flush boundary, or already flushed.  Move it across the boundary.
 */
static void
test_content_length_patch(void **state)
{
	struct fx *f = *state;
	struct queue *q;
	/*
	 * clen_off = 12 (header) + 13 (T) + 5 + L (S) + 52 (R: 5 + 6 +
	 * "user0@example.org" + "rfc822;User0@Example.ORG") + 1: sweep L so
	 * that the 8-byte field goes from flushed, to split, to buffered.
	 */
	size_t base = QUEUE_WRITE_BUF - 83;
	unsigned pwrites = 0, buffered = 0;

	assert_int_equal(
	    queue_open(f->root, 2 * QUEUE_WRITE_BUF, &q, f->why), 0);
	for (size_t l = base - 12; l < base + 12; l++) {
		char *sender = malloc(l + 1);
		struct msg m = {sender, 0, 1, 300, 7};
		uint8_t *c = make_content(m.content_len, (uint32_t)l);
		char id[QUEUE_ID_SIZE];
		struct queue_env env;
		size_t len;

		memset(sender, 's', l);
		sender[l] = '\0';
		hooks_on(f);
		assert_int_equal(write_msg(q, &m, c, id, f->why), STATUS_OK);
		fsio_hooks_set(NULL);
		if (f->h.count[FSIO_PWRITE] > 0)
			pwrites++;
		else
			buffered++;
		uint8_t *b = slurp(f, QUEUE_INCOMING, id, &len);
		struct queue_mem mem = {b, len};
		assert_int_equal(queue_env_parse(queue_pread_mem, &mem,
		                     2 * QUEUE_WRITE_BUF, &env, f->why),
		    STATUS_OK);
		check_env(&env, &m, c, queue_pread_mem, &mem, 100);
		queue_env_clear(&env);
		free(b);
		free(c);
		free(sender);
	}
	/* L < base: 5 flushed, 7 split (flush then pwrite); 12 buffered. */
	assert_int_equal(pwrites, 12);
	assert_int_equal(buffered, 12);
	queue_close(&q);
}

/* Record limit - 1, limit, limit + 1 for each kind of record. */
static void
test_record_limit(void **state)
{
	enum { L = 1024 };
	static const struct {
		const char *name;
		int kind; /* 0 sender, 1 attr, 2 rcpt */
		size_t payload;
		enum status want;
	} cases[] = {
	    {"sender limit - 1", 0, L - 1, STATUS_OK},
	    {"sender limit", 0, L, STATUS_OK},
	    {"sender limit + 1", 0, L + 1, STATUS_PERM},
	    {"attr limit", 1, L, STATUS_OK},
	    {"attr limit + 1", 1, L + 1, STATUS_PERM},
	    {"rcpt limit", 2, L, STATUS_OK},
	    {"rcpt limit + 1", 2, L + 1, STATUS_PERM},
	};
	struct fx *f = *state;
	struct queue *q;
	char *s = malloc(L + 2);

	assert_int_equal(queue_open(f->root, L, &q, f->why), 0);
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct queue_file *qf;
		enum status st;
		size_t n = cases[i].payload;

		assert_int_equal(
		    queue_file_create(q, 1, &qf, f->why), STATUS_OK);
		switch (cases[i].kind) {
		case 0:
			memset(s, 'a', n);
			s[n] = '\0';
			st = queue_file_sender(qf, s, f->why);
			break;
		case 1: /* "n=" + value */
			memset(s, 'v', n - 2);
			s[n - 2] = '\0';
			st = queue_file_sender(qf, "", f->why);
			assert_int_equal(st, STATUS_OK);
			st = queue_file_attr(qf, "n", s, f->why);
			break;
		default: { /* fixed part + addr + orig */
			size_t al = (n - QUEUE_RCPT_FIXED) / 2;
			size_t ol = n - QUEUE_RCPT_FIXED - al;
			char *o = malloc(ol + 1);
			memset(s, 'r', al);
			s[al] = '\0';
			memset(o, 'o', ol);
			o[ol] = '\0';
			assert_int_equal(
			    queue_file_sender(qf, "", f->why), STATUS_OK);
			st = queue_file_rcpt(qf, s, o, 0, f->why);
			free(o);
			break;
		}
		}
		if (st != cases[i].want)
			fail_msg("%s: status %d", cases[i].name, st);
		/* A dead writer stays dead. */
		if (st != STATUS_OK)
			assert_int_equal(queue_file_commit(qf, f->why), st);
		queue_file_free(&qf);
	}
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
	assert_int_equal(count_in(f, QUEUE_INCOMING), 0);

	/* A reader with a smaller limit than the writer's: corrupt. */
	struct msg m = {s, 0, 1, 10, 0};
	char id[QUEUE_ID_SIZE];
	uint8_t *c = make_content(10, 1);
	struct queue_env env;
	size_t len;
	memset(s, 'a', 600);
	s[600] = '\0';
	assert_int_equal(write_msg(q, &m, c, id, f->why), STATUS_OK);
	uint8_t *b = slurp(f, QUEUE_INCOMING, id, &len);
	struct queue_mem mem = {b, len};
	assert_int_equal(
	    queue_env_parse(queue_pread_mem, &mem, 600, &env, f->why),
	    STATUS_OK);
	queue_env_clear(&env);
	str_clear(f->why);
	assert_int_equal(
	    queue_env_parse(queue_pread_mem, &mem, 599, &env, f->why),
	    STATUS_PERM);
	assert_non_null(strstr(str_c(f->why), "corrupt"));
	assert_int_equal(env.nrcpts, 0);
	assert_null(env.sender);
	free(b);
	free(c);
	free(s);
	queue_close(&q);
}

/* Values the format cannot hold are STATUS_PERM, table-driven. */
static void
test_bad_values(void **state)
{
	static const struct {
		const char *name;
		const char *attr; /* NULL: use rcpt */
		const char *rcpt;
		unsigned notify;
		enum status want;
	} cases[] = {
	    {"empty attr name", "", NULL, 0, STATUS_PERM},
	    {"= in attr name", "a=b", NULL, 0, STATUS_PERM},
	    {"space in attr name", "a b", NULL, 0, STATUS_PERM},
	    {"8-bit attr name", "\xc3\xa9", NULL, 0, STATUS_PERM},
	    {"65-byte attr name",
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aaa",
	        NULL, 0, STATUS_PERM},
	    {"64-byte attr name",
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aa",
	        NULL, 0, STATUS_OK},
	    {"dotted attr name", "x.client-name_2", NULL, 0, STATUS_OK},
	    {"empty rcpt", NULL, "", 0, STATUS_PERM},
	    {"NEVER + SUCCESS", NULL, "a@x",
	        QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_SUCCESS, STATUS_PERM},
	    {"unknown notify bit", NULL, "a@x", 0x10, STATUS_PERM},
	    {"NEVER", NULL, "a@x", QUEUE_NOTIFY_NEVER, STATUS_OK},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct queue_file *qf;
		enum status st;

		assert_int_equal(
		    queue_file_create(f->q, 1, &qf, f->why), STATUS_OK);
		assert_int_equal(queue_file_sender(qf, "", f->why), STATUS_OK);
		if (cases[i].attr != NULL)
			st = queue_file_attr(qf, cases[i].attr, "v", f->why);
		else
			st = queue_file_rcpt(
			    qf, cases[i].rcpt, NULL, cases[i].notify, f->why);
		if (st != cases[i].want)
			fail_msg("%s: status %d", cases[i].name, st);
		queue_file_free(&qf);
	}
	/* Content before any recipient. */
	struct queue_file *qf;
	assert_int_equal(queue_file_create(f->q, 1, &qf, f->why), STATUS_OK);
	assert_int_equal(queue_file_sender(qf, "", f->why), STATUS_OK);
	assert_int_equal(queue_file_content(qf, "x", 1, f->why), STATUS_PERM);
	queue_file_free(&qf);
	assert_int_equal(count_in(f, QUEUE_TMP), 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_dir_init_and_repair),
	    T(test_dir_init_unprivileged),
	    T(test_open_needs_folders),
	    T(test_roundtrip),
	    T(test_content_length_patch),
	    T(test_record_limit),
	    T(test_bad_values),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
