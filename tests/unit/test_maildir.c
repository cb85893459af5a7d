/*
 * test_maildir - Maildir delivery (lib/maildir) in a real folder under
 * /var/tmp: layout and modes, unique names with S= and W=, CRLF -> LF
 * (table-driven, chunk boundaries included), quota, refusal of symbolic
 * links and bad names, and through the fsio seam: ENOSPC, EIO, a crash
 * at each step, the order fsync -> link -> (batch) folder fsync, and
 * one folder fsync per distinct new/ for a batch; and maildir_write(),
 * whose files wait, unsynced and out of new/, for the batch sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/maildir.h"

struct fx {
	char dir[64];
	struct maildir_store *st;
	struct fsio_hooks h;
	struct fsio_event log[512];
};

/* A message in memory; fail makes read() answer that status. */
struct mem {
	const uint8_t *p;
	size_t n;
	enum status fail;
	size_t lie; /* > 0: claim this many more bytes than there are */
};

static enum status
mem_read(void *ctx, uint64_t pos, void *buf, size_t len, size_t *n_r,
    struct str *why)
{
	struct mem *m = ctx;

	if (m->fail != STATUS_OK) {
		str_notef(why, "source failed");
		return m->fail;
	}
	if (pos >= m->n) {
		*n_r = 0;
		return STATUS_OK;
	}
	*n_r = m->n - pos < len ? m->n - pos : len;
	memcpy(buf, m->p + pos, *n_r);
	return STATUS_OK;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct str *why = str_new(256);

	snprintf(f->dir, sizeof(f->dir), "/var/tmp/facteur-maildir-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->st = maildir_store_open(f->dir, "mail.example.test", why);
	str_free(&why);
	if (f->st == NULL)
		return -1;
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fsio_hooks_set(NULL);
	maildir_store_close(&f->st);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Names in dir (sorted), NULL-terminated; *n_r their count. */
static char **
list(const char *dir, size_t *n_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = calloc(1, sizeof(char *));
	size_t n = 0;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			v = realloc(v, (n + 2) * sizeof(char *));
			v[n++] = strdup(de->d_name);
			v[n] = NULL;
		}
		closedir(d);
	}
	*n_r = n;
	return v;
}

static void
list_free(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static size_t
count(struct fx *f, const char *sub)
{
	char path[512];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	list_free(list(path, &n));
	return n;
}

/* Read file sub/name (the only file in sub) into buf; its length. */
static size_t
read_only_file(struct fx *f, const char *sub, char *buf, size_t cap,
    char *name_r, size_t name_cap)
{
	char path[1024];
	size_t n;
	char **v;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	v = list(path, &n);
	assert_int_equal(n, 1);
	snprintf(name_r, name_cap, "%s", v[0]);
	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, sub, v[0]);
	list_free(v);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

/* Deliver text (len bytes) with head into local@domain, sync; result. */
static enum maildir_result
deliver(struct fx *f, const char *domain, const char *local, uint64_t quota,
    const char *head, const void *text, size_t len, struct str *why)
{
	struct maildir_batch *b = maildir_batch_new(f->st);
	struct mem m = {text, len, STATUS_OK, 0};
	struct maildir_msg msg = {head, mem_read, &m, len};
	enum maildir_result r;
	size_t id = 99;

	r = maildir_deliver(b, domain, local, quota, &msg, &id, why);
	if (r == MAILDIR_OK) {
		assert_int_equal(id, 0);
		assert_int_equal(maildir_batch_result(b, id), STATUS_TEMP);
		assert_int_equal(maildir_batch_sync(b, why), 0);
		assert_int_equal(maildir_batch_result(b, id), STATUS_OK);
		assert_non_null(maildir_batch_name(b, id));
	}
	maildir_batch_free(&b);
	return r;
}

#define NEW "example.test/ann/Maildir/new"
#define TMP "example.test/ann/Maildir/tmp"

static void
test_first_delivery(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	char buf[256], name[256], path[512];
	struct stat sb;
	uint64_t size;
	size_t n;

	assert_int_equal(
	    deliver(f, "example.test", "ann", 0,
	        "Return-Path: <a@b>\r\nDelivered-To: ann@example.test\r\n", msg,
	        sizeof(msg) - 1, why),
	    MAILDIR_OK);
	n = read_only_file(f, NEW, buf, sizeof(buf), name, sizeof(name));
	buf[n] = '\0';
	assert_string_equal(buf, "Return-Path: <a@b>\nDelivered-To: "
	                         "ann@example.test\nSubject: hi\n\nbody\n");
	/* <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize> */
	assert_non_null(strstr(name, ".mail.example.test,S="));
	assert_non_null(strstr(name, ".M"));
	assert_true(maildir_name_size(name, &size));
	assert_int_equal(size, n);
	char want[64];
	snprintf(want, sizeof(want), ",S=%zu,W=%zu", n, n + 5);
	assert_non_null(strstr(name, want));
	assert_int_equal(count(f, TMP), 0);
	assert_int_equal(count(f, "example.test/ann/Maildir/cur"), 0);
	/* Every folder made 0700, the file 0600. */
	const char *dirs[] = {"example.test", "example.test/ann",
	    "example.test/ann/Maildir", TMP, NEW,
	    "example.test/ann/Maildir/cur"};
	for (size_t i = 0; i < FCT_NELEM(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, dirs[i]);
		assert_int_equal(lstat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_mode & 07777, 0700);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, NEW, name);
	assert_int_equal(lstat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_nlink, 1);
	str_free(&why);
}

static void
test_unique_names(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	struct maildir_batch *b = maildir_batch_new(f->st);
	struct mem m = {(const uint8_t *)"x\r\n", 3, STATUS_OK, 0};
	struct maildir_msg msg = {NULL, mem_read, &m, 3};
	size_t n, id;
	char **v;

	for (size_t i = 0; i < 200; i++) {
		assert_int_equal(maildir_deliver(b, "example.test", "ann", 0,
		                     &msg, &id, why),
		    MAILDIR_OK);
		assert_int_equal(id, i);
	}
	assert_int_equal(maildir_batch_count(b), 200);
	assert_int_equal(maildir_batch_sync(b, why), 0);
	for (size_t i = 1; i < 200; i++)
		assert_string_not_equal(
		    maildir_batch_name(b, i - 1), maildir_batch_name(b, i));
	maildir_batch_free(&b);
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->dir, NEW);
	v = list(path, &n);
	assert_int_equal(n, 200);
	list_free(v);
	str_free(&why);
}

static void
test_lf_conversion(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		const char *in;
		size_t in_len;
		const char *want;
		size_t want_len;
	} cases[] = {
#define T(nm, i, w) {nm, i, sizeof(i) - 1, w, sizeof(w) - 1}
	    T("empty", "", ""),
	    T("crlf", "a\r\nb\r\n", "a\nb\n"),
	    T("bare lf kept", "a\nb\n", "a\nb\n"),
	    T("bare cr kept", "a\rb\r\n", "a\rb\n"),
	    T("cr cr lf", "a\r\r\nb", "a\r\nb"),
	    T("trailing cr", "a\r", "a\r"),
	    T("crlf only", "\r\n", "\n"),
	    T("lf cr", "\n\r", "\n\r"),
	    T("nul and 8-bit", "a\0\xff\xc3\xa9\r\n", "a\0\xff\xc3\xa9\n"),
	    T("no final line end", "abc", "abc"),
#undef T
	};
	struct str *why = str_new(256);
	char buf[256], name[256];
	uint64_t size;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		char local[32];
		snprintf(local, sizeof(local), "conv%zu", i);
		assert_int_equal(deliver(f, "example.test", local, 0, NULL,
		                     cases[i].in, cases[i].in_len, why),
		    MAILDIR_OK);
		char sub[128];
		snprintf(
		    sub, sizeof(sub), "example.test/%s/Maildir/new", local);
		size_t n = read_only_file(
		    f, sub, buf, sizeof(buf), name, sizeof(name));
		if (n != cases[i].want_len ||
		    memcmp(buf, cases[i].want, n) != 0)
			fail_msg("%s: wrong bytes", cases[i].name);
		assert_true(maildir_name_size(name, &size));
		assert_int_equal(size, n);
	}
	str_free(&why);
}

/* A CR as the last byte of a 32 KiB read and its LF in the next one. */
static void
test_lf_across_chunks(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	size_t len = 100000, n;
	char *in = malloc(len), *out = malloc(len + 1), name[256];

	for (size_t i = 0; i < len; i++)
		in[i] = 'a' + (char)(i % 26);
	/* CRLF pairs straddling each chunk boundary and at the end */
	for (size_t k = 32 * 1024; k + 1 < len; k += 32 * 1024) {
		in[k - 1] = '\r';
		in[k] = '\n';
	}
	in[len - 2] = '\r';
	in[len - 1] = '\n';
	assert_int_equal(
	    deliver(f, "example.test", "big", 0, "H: v\r\n", in, len, why),
	    MAILDIR_OK);
	n = read_only_file(f, "example.test/big/Maildir/new", out, len + 1,
	    name, sizeof(name));
	/* 3 boundary pairs + the final one + the head's: 5 CRs fewer */
	assert_int_equal(n, len + 6 - 5);
	assert_memory_equal(out, "H: v\n", 5);
	assert_null(memchr(out, '\r', n));
	free(in);
	free(out);
	str_free(&why);
}

static void
make_file(struct fx *f, const char *sub, const char *name, size_t size)
{
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, sub, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	for (size_t i = 0; i < size; i++)
		fputc('x', fp);
	fclose(fp);
}

static void
test_quota(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	uint64_t used;

	/* A mailbox that does not exist uses nothing. */
	assert_int_equal(
	    maildir_usage(f->st, "example.test", "carl", &used, why), 0);
	assert_int_equal(used, 0);
	/* First delivery makes the folders; then files of known sizes. */
	assert_int_equal(
	    deliver(f, "example.test", "carl", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	make_file(f, "example.test/carl/Maildir/cur", "1.M1P1.h,S=1000:2,S",
	    3); /* S= wins */
	make_file(f, "example.test/carl/Maildir/cur", "2.M1P1.h:2,", 500);
	make_file(f, "example.test/carl/Maildir/.Sent", "maildirfolder", 0);
	make_file(f, "example.test/carl/Maildir/.Sent/cur", "3.M.h,S=200", 1);
	make_file(f, "example.test/carl/Maildir/.Sent/new", "4.M.h", 50);
	make_file(f, "example.test/carl/Maildir/tmp", "5.M.h,S=9999", 1);
	assert_int_equal(
	    maildir_usage(f->st, "example.test", "carl", &used, why), 0);
	assert_int_equal(used, 1 + 1000 + 500 + 200 + 50);

	/* usage 1751: a 249-byte message fits 2000 exactly, 250 not. */
	char msg[300];
	memset(msg, 'm', sizeof(msg));
	assert_int_equal(
	    deliver(f, "example.test", "carl", 2000, NULL, msg, 250, why),
	    MAILDIR_QUOTA);
	assert_non_null(strstr(str_c(why), "quota"));
	assert_int_equal(count(f, "example.test/carl/Maildir/new"), 1);
	assert_int_equal(count(f, "example.test/carl/Maildir/tmp"), 1);
	assert_int_equal(
	    deliver(f, "example.test", "carl", 2000, NULL, msg, 249, why),
	    MAILDIR_OK);
	assert_int_equal(
	    deliver(f, "example.test", "carl", 2000, NULL, msg, 1, why),
	    MAILDIR_QUOTA);
	/* 0 is unlimited. */
	assert_int_equal(
	    deliver(f, "example.test", "carl", 0, NULL, msg, 300, why),
	    MAILDIR_OK);

	/* Within one batch the usage follows the deliveries. */
	struct maildir_batch *b = maildir_batch_new(f->st);
	struct mem m = {(const uint8_t *)msg, 100, STATUS_OK, 0};
	struct maildir_msg mm = {NULL, mem_read, &m, 100};
	size_t id;
	assert_int_equal(
	    maildir_deliver(b, "example.test", "dora", 250, &mm, &id, why),
	    MAILDIR_OK);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "dora", 250, &mm, &id, why),
	    MAILDIR_OK);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "dora", 250, &mm, &id, why),
	    MAILDIR_QUOTA);
	assert_int_equal(maildir_batch_sync(b, why), 0);
	maildir_batch_free(&b);
	str_free(&why);
}

static void
test_name_size(void **state)
{
	static const struct {
		const char *name;
		bool ok;
		uint64_t size;
	} cases[] = {
	    {"1.M2P3Q4.host,S=123,W=130", true, 123},
	    {"1.M2P3Q4.host,S=123,W=130:2,S", true, 123},
	    {"1.M2P3Q4.host,W=130,S=7:2,", true, 7},
	    {"1.M2P3Q4.host:2,S=5", false, 0},
	    {"1.M2P3Q4.host", false, 0},
	    {"1.M2P3Q4.host,S=", false, 0},
	    {"1.M2P3Q4.host,S=-1", false, 0},
	    {"1.M2P3Q4.host,S=12x", false, 0},
	    {"1.M2P3Q4.host,S=99999999999999999999", false, 0},
	    {"", false, 0},
	    {",S=0", true, 0},
	};
	uint64_t size;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		size = 42;
		if (maildir_name_size(cases[i].name, &size) != cases[i].ok ||
		    (cases[i].ok && size != cases[i].size))
			fail_msg("\"%s\"", cases[i].name);
	}
}

static void
test_refuses_links_and_bad_names(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	char path[512], target[512];

	/* A linked domain folder: refused, nothing written at the target. */
	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	assert_int_equal(mkdir(target, 0700), 0);
	snprintf(path, sizeof(path), "%s/linked.test", f->dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(deliver(f, "linked.test", "ann", 0, NULL, "x", 1, why),
	    MAILDIR_TEMP);
	assert_non_null(strstr(str_c(why), "symbolic link"));
	assert_int_equal(count(f, "elsewhere"), 0);

	/* A linked Maildir, a linked new/: refused too. */
	assert_int_equal(
	    deliver(f, "example.test", "eve", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	snprintf(path, sizeof(path), "%s/example.test/eve/Maildir/new", f->dir);
	char moved[512];
	snprintf(moved, sizeof(moved), "%s/example.test/eve/Maildir/new.old",
	    f->dir);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(symlink(target, path), 0);
	str_clear(why);
	assert_int_equal(
	    deliver(f, "example.test", "eve", 0, NULL, "x", 1, why),
	    MAILDIR_TEMP);
	assert_int_equal(count(f, "elsewhere"), 0);
	assert_int_equal(count(f, "example.test/eve/Maildir/tmp"), 0);
	snprintf(path, sizeof(path), "%s/example.test/fay", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/example.test/fay/Maildir", f->dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(
	    deliver(f, "example.test", "fay", 0, NULL, "x", 1, why),
	    MAILDIR_TEMP);
	assert_int_equal(count(f, "elsewhere"), 0);
	/* A file where a folder should be. */
	make_file(f, "example.test", "gus", 0);
	assert_int_equal(
	    deliver(f, "example.test", "gus", 0, NULL, "x", 1, why),
	    MAILDIR_TEMP);

	/* Names that are not path components. */
	const char *bad[][2] = {{"example.test", "../ann"},
	    {"example.test", ".ann"}, {"example.test", "a/b"},
	    {"example.test", ""}, {"example.test", "a\nb"}, {"..", "ann"},
	    {"ex/ample", "ann"}, {".example", "ann"}, {"example.test", "a@b"}};
	for (size_t i = 0; i < FCT_NELEM(bad); i++) {
		str_clear(why);
		if (deliver(f, bad[i][0], bad[i][1], 0, NULL, "x", 1, why) !=
		    MAILDIR_PERM)
			fail_msg("%s / %s accepted", bad[i][0], bad[i][1]);
	}
	uint64_t used;
	assert_int_equal(maildir_usage(f->st, "..", "x", &used, why), -1);
	str_free(&why);
}

static void
test_source_failures(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	struct maildir_batch *b = maildir_batch_new(f->st);
	struct mem m = {(const uint8_t *)"abc", 3, STATUS_TEMP, 0};
	struct maildir_msg msg = {NULL, mem_read, &m, 3};
	size_t id;

	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &id, why),
	    MAILDIR_TEMP);
	m.fail = STATUS_PERM;
	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &id, why),
	    MAILDIR_PERM);
	/* A source that ends before its length. */
	m.fail = STATUS_OK;
	msg.len = 10;
	str_clear(why);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &id, why),
	    MAILDIR_PERM);
	assert_non_null(strstr(str_c(why), "early"));
	assert_int_equal(maildir_batch_count(b), 0);
	assert_int_equal(maildir_batch_sync(b, why), 0);
	maildir_batch_free(&b);
	assert_int_equal(count(f, NEW), 0);
	assert_int_equal(count(f, TMP), 0);
	str_free(&why);
}

/* Index of the first log entry of op at or after from, or -1. */
static int
find_op(const struct fsio_hooks *h, enum fsio_op op, size_t from)
{
	for (size_t i = from; i < h->log_len; i++)
		if (h->log[i].op == op)
			return (int)i;
	return -1;
}

static void
test_order_and_batch(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	struct maildir_batch *b;
	struct mem m = {(const uint8_t *)"a\r\n", 3, STATUS_OK, 0};
	struct maildir_msg msg = {NULL, mem_read, &m, 3};
	size_t id[3];
	int i_open, i_fsync, i_link, i_unlink, i_dirsync;

	/* Make the mailboxes first: later syncs are the batch's only. */
	assert_int_equal(
	    deliver(f, "example.test", "ann", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	assert_int_equal(
	    deliver(f, "example.test", "bob", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	fsio_hooks_set(&f->h);
	b = maildir_batch_new(f->st);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &id[0], why),
	    MAILDIR_OK);
	/* One file: open, write, fsync, link, unlink, no folder sync yet. */
	i_open = find_op(&f->h, FSIO_OPEN, 0);
	i_fsync = find_op(&f->h, FSIO_FSYNC, 0);
	i_link = find_op(&f->h, FSIO_LINK, 0);
	i_unlink = find_op(&f->h, FSIO_UNLINK, 0);
	assert_true(i_open >= 0 && i_open < find_op(&f->h, FSIO_WRITE, 0));
	assert_true(find_op(&f->h, FSIO_WRITE, 0) < i_fsync);
	assert_true(i_fsync < i_link && i_link < i_unlink);
	assert_int_equal(find_op(&f->h, FSIO_DIRSYNC, 0), -1);
	assert_string_equal(f->h.log[i_link].path, f->h.log[i_open].path);
	assert_non_null(strstr(f->h.log[i_link].path2, ",S=2,W=3"));
	assert_int_equal(f->h.log[i_fsync].fd, f->h.log[i_open].fd2);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "bob", 0, &msg, &id[1], why),
	    MAILDIR_OK);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &id[2], why),
	    MAILDIR_OK);
	assert_int_equal(f->h.count[FSIO_FSYNC], 3);
	assert_int_equal(f->h.count[FSIO_LINK], 3);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(maildir_batch_result(b, id[i]), STATUS_TEMP);
	/* One sync pass: one fsync per distinct new/ (two), after links. */
	size_t before = f->h.log_len;
	assert_int_equal(maildir_batch_sync(b, why), 0);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 2);
	i_dirsync = find_op(&f->h, FSIO_DIRSYNC, before);
	assert_true(i_dirsync > find_op(&f->h, FSIO_LINK, 0));
	assert_int_not_equal(f->h.log[i_dirsync].fd,
	    f->h.log[find_op(&f->h, FSIO_DIRSYNC, (size_t)i_dirsync + 1)].fd);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(maildir_batch_result(b, id[i]), STATUS_OK);
	/* A second sync has nothing to do. */
	assert_int_equal(maildir_batch_sync(b, why), 0);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 2);
	maildir_batch_free(&b);
	fsio_hooks_set(NULL);
	str_free(&why);
}

/*
 * maildir_write() (the group commit's half): nothing fsynced, linked or
 * in new/ before maildir_batch_sync(); the sync fsyncs each file before
 * its link, and new/ once after the last link; a batch freed before its
 * sync takes its files back; a file fsync that fails at sync time fails
 * that delivery alone (NOSPACE); past 64 open files the first ones are
 * settled on the way, and new/ is still synced only once.
 */
static void
test_write_then_sync(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	struct mem m = {(const uint8_t *)"a\r\n", 3, STATUS_OK, 0};
	struct maildir_msg msg = {NULL, mem_read, &m, 3};
	struct maildir_batch *b;
	size_t id[70], before, last_link = 0;
	int i_dirsync = -1;

	assert_int_equal(
	    deliver(f, "example.test", "ann", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	before = count(f, NEW);
	memset(&f->h, 0, sizeof(f->h));
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	fsio_hooks_set(&f->h);
	b = maildir_batch_new(f->st);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(maildir_write(b, "example.test", "ann", 0,
		                     &msg, &id[i], why),
		    MAILDIR_OK);
		assert_int_equal(id[i], i);
	}
	assert_int_equal(f->h.count[FSIO_FSYNC], 0);
	assert_int_equal(f->h.count[FSIO_LINK], 0);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 0);
	assert_int_equal(count(f, NEW), before);
	assert_int_equal(count(f, TMP), 3);
	assert_null(maildir_batch_name(b, 0));
	assert_int_equal(maildir_batch_result(b, 0), STATUS_TEMP);
	assert_int_equal(maildir_batch_outcome(b, 0), MAILDIR_TEMP);
	assert_int_equal(maildir_batch_sync(b, why), 0);
	assert_int_equal(f->h.count[FSIO_FSYNC], 3);
	assert_int_equal(f->h.count[FSIO_LINK], 3);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 1);
	for (size_t i = 0; i < f->h.log_len; i++) {
		const struct fsio_event *e = &f->h.log[i];
		if (e->op == FSIO_DIRSYNC)
			i_dirsync = (int)i;
		if (e->op != FSIO_LINK)
			continue;
		/* the file it links was opened, then fsynced, before */
		int fd = -1;
		bool synced = false;
		for (size_t k = 0; k < i; k++) {
			if (f->h.log[k].op == FSIO_OPEN &&
			    strcmp(f->h.log[k].path, e->path) == 0)
				fd = f->h.log[k].fd2;
			if (f->h.log[k].op == FSIO_FSYNC && fd >= 0 &&
			    f->h.log[k].fd == fd)
				synced = true;
		}
		assert_true(synced);
		last_link = i;
	}
	assert_true(i_dirsync > (int)last_link);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(maildir_batch_result(b, id[i]), STATUS_OK);
		assert_int_equal(maildir_batch_outcome(b, id[i]), MAILDIR_OK);
		assert_non_null(strstr(maildir_batch_name(b, id[i]), ",S=2"));
	}
	assert_int_equal(count(f, NEW), before + 3);
	assert_int_equal(count(f, TMP), 0);
	maildir_batch_free(&b);

	/* Freed before its sync: nothing left anywhere. */
	b = maildir_batch_new(f->st);
	assert_int_equal(
	    maildir_write(b, "example.test", "ann", 0, &msg, &id[0], why),
	    MAILDIR_OK);
	assert_int_equal(count(f, TMP), 1);
	maildir_batch_free(&b);
	assert_int_equal(count(f, TMP), 0);
	assert_int_equal(count(f, NEW), before + 3);

	/* The first file's fsync finds the disk full: only it fails. */
	memset(&f->h, 0, sizeof(f->h));
	f->h.fault[0] = (struct fsio_fault){FSIO_FSYNC, 1, ENOSPC};
	fsio_hooks_set(&f->h);
	b = maildir_batch_new(f->st);
	assert_int_equal(
	    maildir_write(b, "example.test", "ann", 0, &msg, &id[0], why),
	    MAILDIR_OK);
	assert_int_equal(
	    maildir_write(b, "example.test", "ann", 0, &msg, &id[1], why),
	    MAILDIR_OK);
	str_clear(why);
	assert_int_equal(maildir_batch_sync(b, why), 1);
	assert_non_null(strstr(str_c(why), "fsync"));
	assert_int_equal(maildir_batch_outcome(b, id[0]), MAILDIR_NOSPACE);
	assert_int_equal(maildir_batch_result(b, id[0]), STATUS_TEMP);
	assert_null(maildir_batch_name(b, id[0]));
	assert_int_equal(maildir_batch_result(b, id[1]), STATUS_OK);
	assert_int_equal(count(f, NEW), before + 4);
	assert_int_equal(count(f, TMP), 0);
	maildir_batch_free(&b);

	/* 70 files: 64 settled on the way, one new/ fsync in the end. */
	memset(&f->h, 0, sizeof(f->h));
	fsio_hooks_set(&f->h);
	b = maildir_batch_new(f->st);
	for (size_t i = 0; i < 70; i++)
		assert_int_equal(maildir_write(b, "example.test", "ann", 0,
		                     &msg, &id[i], why),
		    MAILDIR_OK);
	assert_int_equal(f->h.count[FSIO_FSYNC], 64);
	assert_int_equal(f->h.count[FSIO_LINK], 64);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 0);
	assert_int_equal(maildir_batch_result(b, id[0]), STATUS_TEMP);
	assert_int_equal(maildir_batch_sync(b, why), 0);
	assert_int_equal(f->h.count[FSIO_FSYNC], 70);
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 1);
	for (size_t i = 0; i < 70; i++)
		assert_int_equal(maildir_batch_result(b, id[i]), STATUS_OK);
	assert_int_equal(count(f, NEW), before + 74);
	maildir_batch_free(&b);
	fsio_hooks_set(NULL);
	str_free(&why);
}

static void
test_new_mailbox_parents_synced(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	int i_open;

	fsio_hooks_set(&f->h);
	assert_int_equal(
	    deliver(f, "new.test", "hal", 0, NULL, "x", 1, why), MAILDIR_OK);
	fsio_hooks_set(NULL);
	/* mkdir domain, local, Maildir, tmp, new, cur: each parent synced
	 * before the message file is created. */
	assert_int_equal(f->h.count[FSIO_MKDIR], 6);
	i_open = find_op(&f->h, FSIO_OPEN, 0);
	size_t syncs = 0;
	for (size_t i = 0; i < (size_t)i_open; i++)
		if (f->h.log[i].op == FSIO_DIRSYNC)
			syncs++;
	assert_int_equal(syncs, 6);
	for (size_t i = 0; i < (size_t)i_open; i++)
		if (f->h.log[i].op == FSIO_MKDIR)
			assert_int_equal(f->h.log[i + 1].op, FSIO_DIRSYNC);
	str_free(&why);
}

/* Fail the first call of op with err; the delivery's result. */
static enum maildir_result
deliver_with_fault(struct fx *f, const char *local, enum fsio_op op, int err,
    unsigned nth, struct str *why)
{
	enum maildir_result r;

	memset(&f->h, 0, sizeof(f->h));
	f->h.log = f->log;
	f->h.log_cap = FCT_NELEM(f->log);
	f->h.fault[0] = (struct fsio_fault){op, nth, err};
	fsio_hooks_set(&f->h);
	str_clear(why);
	r = deliver(f, "example.test", local, 0, NULL, "hello\r\n", 7, why);
	fsio_hooks_set(NULL);
	return r;
}

static void
test_faults(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	static const struct {
		enum fsio_op op;
		int err;
		enum maildir_result want;
	} cases[] = {
	    {FSIO_OPEN, ENOSPC, MAILDIR_NOSPACE},
	    {FSIO_OPEN, EDQUOT, MAILDIR_NOSPACE},
	    {FSIO_WRITE, ENOSPC, MAILDIR_NOSPACE},
	    {FSIO_WRITE, EIO, MAILDIR_TEMP},
	    {FSIO_FSYNC, EIO, MAILDIR_TEMP},
	    {FSIO_FSYNC, ENOSPC, MAILDIR_NOSPACE},
	    {FSIO_LINK, ENOSPC, MAILDIR_NOSPACE},
	    {FSIO_LINK, EIO, MAILDIR_TEMP},
	};

	/* The mailbox exists: faults hit the delivery itself. */
	assert_int_equal(
	    deliver(f, "example.test", "ivy", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		enum maildir_result r = deliver_with_fault(
		    f, "ivy", cases[i].op, cases[i].err, 1, why);
		if (r != cases[i].want)
			fail_msg("%s/%d: got %s", fsio_op_name(cases[i].op),
			    cases[i].err, maildir_result_name(r));
		assert_true(str_len(why) > 0);
		/* Nothing new in new/, nothing left in tmp/. */
		assert_int_equal(count(f, "example.test/ivy/Maildir/new"), 1);
		assert_int_equal(count(f, "example.test/ivy/Maildir/tmp"), 0);
	}
	/* ENOSPC while making a new mailbox: NOSPACE, nothing made. */
	assert_int_equal(
	    deliver_with_fault(f, "jay", FSIO_MKDIR, ENOSPC, 1, why),
	    MAILDIR_NOSPACE);
	assert_int_equal(
	    deliver_with_fault(f, "jay", FSIO_DIRSYNC, EIO, 1, why),
	    MAILDIR_TEMP);
	/* A short write is finished, not a failure. */
	memset(&f->h, 0, sizeof(f->h));
	f->h.short_write = 1;
	fsio_hooks_set(&f->h);
	assert_int_equal(
	    deliver(f, "example.test", "ivy", 0, NULL, "hello\r\n", 7, why),
	    MAILDIR_OK);
	fsio_hooks_set(NULL);
	assert_true(f->h.count[FSIO_WRITE] >= 6);
	assert_int_equal(count(f, "example.test/ivy/Maildir/new"), 2);
	str_free(&why);
}

/* The new/ fsync fails: only that mailbox's deliveries are TEMP. */
static void
test_sync_failure(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	struct mem m = {(const uint8_t *)"a", 1, STATUS_OK, 0};
	struct maildir_msg msg = {NULL, mem_read, &m, 1};
	struct maildir_batch *b;
	size_t a, k;

	assert_int_equal(
	    deliver(f, "example.test", "ann", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	assert_int_equal(
	    deliver(f, "example.test", "kim", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	memset(&f->h, 0, sizeof(f->h));
	f->h.fault[0] = (struct fsio_fault){FSIO_DIRSYNC, 1, EIO};
	fsio_hooks_set(&f->h);
	b = maildir_batch_new(f->st);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "ann", 0, &msg, &a, why),
	    MAILDIR_OK);
	assert_int_equal(
	    maildir_deliver(b, "example.test", "kim", 0, &msg, &k, why),
	    MAILDIR_OK);
	str_clear(why);
	assert_int_equal(maildir_batch_sync(b, why), 1);
	assert_non_null(strstr(str_c(why), "ann@example.test"));
	assert_int_equal(maildir_batch_result(b, a), STATUS_TEMP);
	assert_int_equal(maildir_batch_result(b, k), STATUS_OK);
	assert_int_equal(maildir_batch_result(b, 7), STATUS_TEMP);
	assert_null(maildir_batch_name(b, 7));
	/* Never retried. */
	assert_int_equal(f->h.count[FSIO_DIRSYNC], 2);
	maildir_batch_free(&b);
	fsio_hooks_set(NULL);
	str_free(&why);
}

/*
 * A crash at every step of one delivery: the call and every later one
 * fail.  Whatever happened, the result is not OK unless every step up
 * to the link was done, and new/ never holds a partial file.
 */
static void
test_crash_each_step(void **state)
{
	struct fx *f = *state;
	struct str *why = str_new(256);
	unsigned steps;

	assert_int_equal(
	    deliver(f, "example.test", "lee", 0, NULL, "x", 1, why),
	    MAILDIR_OK);
	memset(&f->h, 0, sizeof(f->h));
	fsio_hooks_set(&f->h);
	assert_int_equal(
	    deliver(f, "example.test", "lee", 0, NULL, "hello\r\n", 7, why),
	    MAILDIR_OK);
	fsio_hooks_set(NULL);
	steps = f->h.calls; /* open write fsync link unlink dirsync */
	assert_int_equal(steps, 6);
	for (unsigned at = 1; at <= steps; at++) {
		struct maildir_batch *b;
		struct mem m = {(const uint8_t *)"hello\r\n", 7, STATUS_OK, 0};
		struct maildir_msg msg = {NULL, mem_read, &m, 7};
		size_t before = count(f, "example.test/lee/Maildir/new"), id;
		enum maildir_result r;
		memset(&f->h, 0, sizeof(f->h));
		f->h.crash_at = at;
		fsio_hooks_set(&f->h);
		b = maildir_batch_new(f->st);
		r = maildir_deliver(
		    b, "example.test", "lee", 0, &msg, &id, why);
		unsigned failed = maildir_batch_sync(b, why);
		fsio_hooks_set(NULL);
		size_t after = count(f, "example.test/lee/Maildir/new");
		if (at <= 4) {
			/* before the link was done: nothing in new/ */
			assert_int_not_equal(r, MAILDIR_OK);
			assert_int_equal(after, before);
		} else {
			/* linked; with the folder sync gone it is not
			 * durable and must not be reported */
			assert_int_equal(r, MAILDIR_OK);
			assert_int_equal(after, before + 1);
			assert_int_equal(failed, 1);
			assert_int_equal(
			    maildir_batch_result(b, id), STATUS_TEMP);
		}
		maildir_batch_free(&b);
	}
	str_free(&why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_first_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lf_conversion, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lf_across_chunks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
	    cmocka_unit_test(test_name_size),
	    cmocka_unit_test_setup_teardown(
	        test_refuses_links_and_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_source_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_order_and_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_write_then_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_new_mailbox_parents_synced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_crash_each_step, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
