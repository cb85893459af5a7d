/*
 * test_queue_fixture - what the test_queue*.c files share: a queue in a
 * fresh folder under /var/tmp (removed afterwards), a message writer
 * driven by a small spec, and a checker for what the reader returns.
 *
 * Included by test files only; every helper may go unused in one of them.
 */
#ifndef FACTEUR_TEST_QUEUE_FIXTURE_H
#define FACTEUR_TEST_QUEUE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/queue.h"
#include "lib/queue_read.h"
#include "lib/queue_write.h"

#define FX_UNUSED __attribute__((unused))

#define LIMIT 65536

struct fx {
	char dir[64];
	char root[96];
	struct queue *q;
	struct str *why;
	struct fsio_hooks h;
	struct fsio_event log[512];
};

FX_UNUSED static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

FX_UNUSED static struct queue_owner
me(void)
{
	return (struct queue_owner){geteuid(), getegid(), getegid()};
}

FX_UNUSED static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct queue_owner o = me();

	snprintf(f->dir, sizeof(f->dir), "/var/tmp/facteur-queue-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/q", f->dir);
	f->why = str_new(4096);
	if (queue_dir_init(f->root, &o, f->why) < 0 ||
	    queue_open(f->root, LIMIT, &f->q, f->why) < 0) {
		fprintf(stderr, "setup: %s\n", str_c(f->why));
		return -1;
	}
	*state = f;
	return 0;
}

FX_UNUSED static int
teardown(void **state)
{
	struct fx *f = *state;

	fsio_hooks_set(NULL);
	queue_close(&f->q);
	str_free(&f->why);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

FX_UNUSED static void
hooks_on(struct fx *f)
{
	memset(&f->h, 0, sizeof(f->h));
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	fsio_hooks_set(&f->h);
}

/* Entries in folder fd, except . and .. */
FX_UNUSED static int
count_entries(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	DIR *d = fdopendir(fd);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

FX_UNUSED static int
count_in(struct fx *f, enum queue_folder fo)
{
	return count_entries(queue_folder_fd(f->q, fo));
}

/* A message to write. */
struct msg {
	const char *sender;
	size_t nattrs;
	size_t nrcpts;
	size_t content_len;
	size_t chunk; /* bytes per queue_file_content() call */
};

static const unsigned notifies[] = {0, QUEUE_NOTIFY_NEVER,
    QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY,
    QUEUE_NOTIFY_FAILURE};

/* Content with CRLF, bare CR and LF, NUL and 8-bit bytes. */
FX_UNUSED static uint8_t *
make_content(size_t n, uint32_t seed)
{
	static const char rcvd[] = "Received: from x (x [192.0.2.1])\r\n";
	uint8_t *c = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		c[i] = (uint8_t)(seed >> 16);
	}
	memcpy(c, rcvd, n < sizeof(rcvd) - 1 ? n : sizeof(rcvd) - 1);
	return c;
}

FX_UNUSED static void
rcpt_names(size_t i, char *addr, char *orig, size_t cap)
{
	snprintf(addr, cap, "user%zu@example.org", i);
	snprintf(orig, cap, "rfc822;User%zu@Example.ORG", i);
}

FX_UNUSED static enum status
write_msg(struct queue *q, const struct msg *m, const uint8_t *content,
    char id_r[QUEUE_ID_SIZE], struct str *why)
{
	struct queue_file *qf;
	enum status st;
	char a[64], o[64], name[32], val[64];

	if ((st = queue_file_create(q, 1700000000123456, &qf, why)) !=
	    STATUS_OK)
		return st;
	st = queue_file_sender(qf, m->sender, why);
	for (size_t i = 0; st == STATUS_OK && i < m->nattrs; i++) {
		snprintf(name, sizeof(name), "attr_%zu", i);
		snprintf(val, sizeof(val), "value %zu = \xc3\xa9\r\n", i);
		st = queue_file_attr(qf, name, val, why);
	}
	for (size_t i = 0; st == STATUS_OK && i < m->nrcpts; i++) {
		rcpt_names(i, a, o, sizeof(a));
		st = queue_file_rcpt(qf, a, i % 3 == 0 ? o : NULL,
		    notifies[i % FCT_NELEM(notifies)], why);
	}
	for (size_t off = 0; st == STATUS_OK && off < m->content_len;) {
		size_t n = m->content_len - off;
		if (m->chunk > 0 && n > m->chunk)
			n = m->chunk;
		st = queue_file_content(qf, content + off, n, why);
		off += n;
	}
	if (st == STATUS_OK)
		st = queue_file_commit(qf, why);
	if (st == STATUS_OK)
		memcpy(id_r, queue_file_id(qf), strlen(queue_file_id(qf)) + 1);
	queue_file_free(&qf);
	return st;
}

/* The whole file folder/id in memory (caller frees). */
FX_UNUSED static uint8_t *
slurp(struct fx *f, enum queue_folder fo, const char *id, size_t *len_r)
{
	int fd = openat(queue_folder_fd(f->q, fo), id, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len_r = (size_t)st.st_size;
	return b;
}

/* env matches m and content, read back in chunks of chunk bytes. */
FX_UNUSED static void
check_env(const struct queue_env *env, const struct msg *m,
    const uint8_t *content, queue_pread_fn *rd, void *ctx, size_t chunk)
{
	char a[64], o[64], name[32], val[64];
	uint8_t *buf = malloc(chunk);
	uint64_t pos = 0;
	size_t n;
	struct str *why = str_new(1024);

	assert_int_equal(env->version, QUEUE_FORMAT_VERSION);
	assert_true(env->arrival_us == 1700000000123456);
	assert_string_equal(env->sender, m->sender);
	assert_int_equal(env->nattrs, m->nattrs);
	for (size_t i = 0; i < m->nattrs; i++) {
		snprintf(name, sizeof(name), "attr_%zu", i);
		snprintf(val, sizeof(val), "value %zu = \xc3\xa9\r\n", i);
		assert_string_equal(env->attrs[i].name, name);
		assert_string_equal(env->attrs[i].value, val);
		assert_string_equal(queue_env_attr(env, name), val);
	}
	assert_null(queue_env_attr(env, "nope"));
	assert_int_equal(env->nrcpts, m->nrcpts);
	assert_int_equal(env->ndone, 0);
	for (size_t i = 0; i < m->nrcpts; i++) {
		rcpt_names(i, a, o, sizeof(a));
		assert_string_equal(env->rcpts[i].addr, a);
		assert_string_equal(env->rcpts[i].orig, i % 3 == 0 ? o : a);
		assert_int_equal(
		    env->rcpts[i].notify, notifies[i % FCT_NELEM(notifies)]);
		assert_int_equal(env->rcpts[i].flags, 0);
		assert_true(env->rcpts[i].flags_off < env->content_off);
	}
	assert_true(env->content_len == m->content_len);
	assert_true(env->file_size ==
	            env->content_off + env->content_len + QUEUE_REC_HEAD);
	for (;;) {
		assert_int_equal(
		    queue_content_read(rd, ctx, env, pos, buf, chunk, &n, why),
		    STATUS_OK);
		if (n == 0)
			break;
		assert_memory_equal(buf, content + pos, n);
		pos += n;
	}
	assert_true(pos == m->content_len);
	free(buf);
	str_free(&why);
}

#endif
