/*
 * mailctl_user - `mailctl user add|del|passwd|list|disable|enable`: the
 * accounts (DESIGN §1, §6), kept in two text tables and their LMDB
 * files, with no hand-run second tool.
 *
 *   user add ADDRESS [--password-stdin] [--quota SIZE]
 *   user passwd ADDRESS [--password-stdin]
 *   user del|disable|enable ADDRESS
 *   user list
 *   user test ADDRESS [--password-stdin] [--client ADDR]
 *
 * users (users_map: address, quota, enabled; 0644) and passwd
 * (passwd_map: address and crypt(3) hash; text 0600 root, table 0640
 * root:auth_owner's group) are edited as text: the entry's lines are
 * replaced, every other line (comments included) is kept; the new text
 * is written to a temporary file, synced and renamed over the old one,
 * and the table is rebuilt (lib/map_build: also atomic).  Running
 * programs see the rebuilt tables at their next lookup (lib/map), so
 * nothing needs a reload.  Changes are ordered so that a crash between
 * the two tables never grants more than before: a new account gets its
 * password before its users entry, a deleted one loses its users entry
 * first.  One user command runs at a time (flock on the folder).
 *
 * The password is read from the terminal without echo (twice), or as
 * one line from standard input with --password-stdin; it is hashed with
 * yescrypt and wiped at once.  Addresses with '/', NUL, control bytes or
 * a leading '.' in a part are refused (lib/users.h).  The mail store is
 * left alone by "del".
 *
 * "user test" asks the running auth service, as smtpd does (lib/
 * auth_client), and prints ok (exit 0), fail (1) or unavailable (3).
 *
 * Never: print or log a password or a hash, write a table in place, or
 * leave the passwd text readable by anyone but root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/auth_client.h"
#include "lib/diag.h"
#include "lib/event.h"
#include "lib/fsio.h"
#include "lib/map.h"
#include "lib/map_build.h"
#include "lib/map_text.h"
#include "lib/passwd.h"
#include "lib/priv.h"
#include "lib/sasl.h"
#include "lib/secret.h"
#include "lib/users.h"
#include "tools/mailctl.h"

/* Largest text table this command edits. */
#define USER_TEXT_MAX (64 * 1024 * 1024)

struct text_file {
	const char *path;
	char *data; /* NUL-terminated */
	size_t len;
	bool exists;
	struct stat st;
};

static FCT_PRINTF(1, 2) int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mailctl: user: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

int
mailctl_passwd_owner(
    const char *auth_owner, struct map_owner *own, struct str *why)
{
	uid_t uid;
	gid_t gid;

	*own = MAP_OWNER_DEFAULT;
	if (!priv_is_root()) {
		own->mode = 0600;
		return 0;
	}
	if (priv_user_lookup(auth_owner, &uid, &gid, why) < 0)
		return -1;
	own->uid = 0;
	own->gid = gid;
	own->mode = 0640;
	return 0;
}

/* The file name of an lmdb: reference ("lmdb:/etc/facteur/users"). */
static const char *
table_file(const char *ref, const char *param)
{
	const char *type, *name;
	size_t tlen;

	if (!map_ref_split(ref, &type, &tlen, &name) || tlen != 4 ||
	    memcmp(type, "lmdb", 4) != 0 || name[0] != '/') {
		fail("%s = %s: only lmdb: tables with an absolute path are "
		     "edited here",
		    param, ref);
		return NULL;
	}
	return name;
}

static int
read_text(struct text_file *t)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t off = 0;

	t->exists = false;
	t->data = NULL;
	t->len = 0;
	if (fd < 0) {
		if (errno != ENOENT)
			return fail("%s: %s", t->path, strerror(errno));
		t->data = x_strdup("");
		return 0;
	}
	if (fstat(fd, &t->st) < 0 || !S_ISREG(t->st.st_mode) ||
	    t->st.st_size > USER_TEXT_MAX) {
		(void)close(fd); /* read-only */
		return fail("%s: not a regular file, or larger than %d bytes",
		    t->path, USER_TEXT_MAX);
	}
	t->data = x_malloc((size_t)t->st.st_size + 1);
	while (off < (size_t)t->st.st_size) {
		ssize_t n =
		    read(fd, t->data + off, (size_t)t->st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)close(fd); /* read-only */
			return fail("%s: read: %s", t->path,
			    n < 0 ? strerror(errno) : "file shrank");
		}
		off += (size_t)n;
	}
	(void)close(fd); /* read-only */
	t->data[off] = '\0';
	t->len = off;
	t->exists = true;
	if (memchr(t->data, '\0', t->len) != NULL)
		return fail("%s: holds a NUL byte: fix it first", t->path);
	return 0;
}

static void
text_free(struct text_file *t)
{
	if (t->data != NULL) {
		explicit_bzero(t->data, t->len);
		free(t->data);
	}
	t->data = NULL;
}

static int
ignore_entry(const struct map_text_entry *e, void *arg)
{
	return 0;
}

/* Does the text parse as a table of format fmt?  Problems printed. */
static int
text_valid(const struct text_file *t, enum map_format fmt)
{
	struct diag *d = diag_new();
	int rc;

	rc = map_text_parse(fmt, t->path, (const uint8_t *)t->data, t->len, d,
	    ignore_entry, NULL);
	if (rc < 0 && diag_errors(d) > 0) {
		diag_print(d, stderr, "mailctl: ");
		diag_free(&d);
		return fail("%s has errors: fix them first", t->path);
	}
	diag_free(&d);
	return 0;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Find the entry for key (folded): its first byte and the byte after
 * its last line (continuation lines included).  Returns false when
 * there is none.
 */
static bool
find_entry(const struct text_file *t, const char *key, size_t *start_r,
    size_t *end_r, struct str *value_r)
{
	size_t i = 0, klen = strlen(key);
	bool in_entry = false;

	while (i < t->len) {
		size_t ls = i, le;
		const char *nl = memchr(t->data + i, '\n', t->len - i);

		le = nl ? (size_t)(nl - t->data) + 1 : t->len;
		i = le;
		const char *l = t->data + ls;
		size_t n = le - ls;
		while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
			n--;
		size_t k = 0;
		while (k < n && blank(l[k]))
			k++;
		if (k == n || l[k] == '#')
			continue; /* blank and comment lines stand alone */
		if (k > 0) {
			/* a continuation line */
			if (in_entry) {
				*end_r = le;
				str_notef(
				    value_r, " %.*s", (int)(n - k), l + k);
			}
			continue;
		}
		if (in_entry)
			return true;
		size_t w = 0;
		while (w < n && !blank(l[w]))
			w++;
		if (w == klen && ascii_memcaseeq(l, key, klen)) {
			in_entry = true;
			*start_r = ls;
			*end_r = le;
			str_clear(value_r);
			size_t v = w;
			while (v < n && blank(l[v]))
				v++;
			str_notef(value_r, "%.*s", (int)(n - v), l + v);
		}
	}
	return in_entry;
}

/* The text with [start, end) replaced by line (may be ""). */
static char *
text_splice(const struct text_file *t, size_t start, size_t end,
    const char *line, size_t *len_r)
{
	size_t ll = strlen(line), n = t->len - (end - start) + ll + 1;
	char *out = x_malloc(n + 1);
	size_t o = 0;

	memcpy(out, t->data, start);
	o = start;
	/* An old last line without its LF: end it before appending. */
	if (start == end && start == t->len && start > 0 &&
	    t->data[start - 1] != '\n' && ll > 0)
		out[o++] = '\n';
	memcpy(out + o, line, ll);
	o += ll;
	memcpy(out + o, t->data + end, t->len - end);
	o += t->len - end;
	out[o] = '\0';
	*len_r = o;
	return out;
}

/* Replace t's file with text, atomically and durably. */
static int
write_text(
    const struct text_file *t, const char *text, size_t len, mode_t new_mode)
{
	struct str *tmp = str_new(4096), *dir = str_new(4096);
	const char *slash = strrchr(t->path, '/');
	mode_t mode = t->exists ? (t->st.st_mode & 07777) : new_mode;
	int fd = -1, dfd = -1, rc = 1;

	if (slash == NULL ||
	    str_appendf(tmp, "%s.tmp.%ld", t->path, (long)getpid()) < 0 ||
	    str_append(dir, t->path, (size_t)(slash - t->path) + 1) < 0) {
		fail("%s: path too long", t->path);
		goto out;
	}
	fd = fsio_openat(AT_FDCWD, str_c(tmp),
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fail("create %s: %s", str_c(tmp), strerror(errno));
		goto out;
	}
	/* Owner and mode first: the text never shows with wider ones. */
	if ((t->exists && priv_is_root() &&
	        fchown(fd, t->st.st_uid, t->st.st_gid) < 0) ||
	    fchmod(fd, mode) < 0 || fsio_write_all(fd, text, len) < 0 ||
	    fsio_fsync(fd) < 0) {
		fail("write %s: %s", str_c(tmp), strerror(errno));
		goto unlink;
	}
	if (fd_close(&fd) < 0) {
		fail("close %s: %s", str_c(tmp), strerror(errno));
		goto unlink;
	}
	if (fsio_rename(AT_FDCWD, str_c(tmp), AT_FDCWD, t->path) < 0) {
		fail("rename %s: %s", str_c(tmp), strerror(errno));
		goto unlink;
	}
	dfd = open(str_c(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsio_fsync_dir(dfd) < 0) {
		fail("fsync %s: %s", str_c(dir), strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
unlink:
	(void)unlink(str_c(tmp)); /* best effort: the failure is reported */
out:
	(void)fd_close(&fd);  /* only on failure paths */
	(void)fd_close(&dfd); /* read-only */
	str_free(&tmp);
	str_free(&dir);
	return rc;
}

static int
rebuild(const char *path, enum map_format fmt, const struct map_owner *own)
{
	struct diag *d = diag_new();
	int rc = map_build_file(path, fmt, own, d);

	if (diag_errors(d) > 0 || diag_warnings(d) > 0)
		diag_print(d, stderr, "mailctl: ");
	diag_free(&d);
	if (rc < 0)
		return fail("%s: table not built", path);
	return 0;
}

/* Read one line of password: terminal without echo, or stdin. */
static int
read_line_fd(int fd, struct secret *pw)
{
	secret_clear(pw);
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || c == '\n')
			break;
		if (secret_append(pw, &c, 1) < 0) {
			explicit_bzero(&c, 1);
			/* Too long: swallow the rest of the line. */
			while (read(fd, &c, 1) == 1 && c != '\n')
				;
			explicit_bzero(&c, 1);
			secret_clear(pw);
			errno = EMSGSIZE;
			return -1;
		}
		explicit_bzero(&c, 1);
	}
	if (secret_len(pw) > 0 && secret_data(pw)[secret_len(pw) - 1] == '\r')
		secret_chop(pw, 1);
	return 0;
}

static int
prompt(int tty, const char *what, struct secret *pw)
{
	struct termios old, noecho;
	int rc;

	if (write(tty, what, strlen(what)) < 0 || tcgetattr(tty, &old) < 0)
		return -1;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	if (tcsetattr(tty, TCSAFLUSH, &noecho) < 0)
		return -1;
	rc = read_line_fd(tty, pw);
	(void)tcsetattr(tty, TCSAFLUSH, &old); /* best effort restore */
	if (write(tty, "\n", 1) < 0)
		rc = -1;
	return rc;
}

static int
read_password(bool from_stdin, struct secret *pw)
{
	if (from_stdin) {
		if (read_line_fd(0, pw) < 0)
			return fail(
			    "reading the password: %s", strerror(errno));
	} else {
		int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
		struct secret *again = secret_new(SASL_PASS_MAX);
		int bad;

		if (tty < 0) {
			secret_free(&again);
			return fail("no terminal to ask for the password on: "
			            "use --password-stdin");
		}
		bad = prompt(tty, "New password: ", pw) < 0 ||
		      prompt(tty, "Retype new password: ", again) < 0;
		(void)close(tty); /* a terminal: nothing to lose */
		if (bad) {
			secret_free(&again);
			return fail("reading the password from the terminal "
			            "failed");
		}
		bad = secret_len(pw) != secret_len(again) ||
		      memcmp(secret_data(pw), secret_data(again),
		          secret_len(pw)) != 0;
		secret_free(&again);
		if (bad)
			return fail("the passwords differ");
	}
	if (secret_len(pw) == 0)
		return fail("empty password refused");
	if (memchr(secret_data(pw), '\0', secret_len(pw)) != NULL)
		return fail("a password with a NUL byte cannot be used");
	return 0;
}

struct user_ctx {
	struct mailctl *mc;
	char addr[SASL_ID_MAX + 1];
	struct text_file users, passwd;
	struct map_owner users_own, passwd_own;
	int lock_fd;
};

/* Check and fold the address. */
static int
take_address(struct user_ctx *u, const char *arg)
{
	struct str *why = str_new(256);
	size_t len = strlen(arg), at;

	if (len > SASL_ID_MAX || users_address_check(arg, len, &at, why) < 0) {
		int rc = fail("bad address \"%s\": %s", arg,
		    len > SASL_ID_MAX ? "too long" : str_c(why));
		str_free(&why);
		return rc;
	}
	str_free(&why);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)arg[i] <= ' ') {
			return fail("bad address \"%s\": a blank is not "
			            "allowed",
			    arg);
		}
		u->addr[i] = (char)ascii_tolower((unsigned char)arg[i]);
	}
	u->addr[len] = '\0';
	return 0;
}

static int
open_tables(struct user_ctx *u)
{
	struct str *why = str_new(256);
	const char *up, *pp;
	int rc;

	if (mailctl_load(u->mc, true) < 0)
		return 1;
	up = table_file(u->mc->p.users_map, "users_map");
	pp = table_file(u->mc->p.passwd_map, "passwd_map");
	if (up == NULL || pp == NULL)
		return 1;
	u->users.path = up;
	u->passwd.path = pp;
	u->users_own = MAP_OWNER_DEFAULT;
	if (mailctl_passwd_owner(u->mc->p.auth_owner, &u->passwd_own, why) <
	    0) {
		rc = fail("auth_owner: %s", str_c(why));
		str_free(&why);
		return rc;
	}
	str_free(&why);
	/* One user command at a time: lock the folder of the users table. */
	struct str *dir = str_new(4096);
	const char *slash = strrchr(up, '/');
	if (str_append(dir, up, (size_t)(slash - up) + 1) < 0 ||
	    (u->lock_fd =
	            open(str_c(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    flock(u->lock_fd, LOCK_EX) < 0) {
		rc = fail("lock %s: %s", str_c(dir), strerror(errno));
		str_free(&dir);
		return rc;
	}
	str_free(&dir);
	if (read_text(&u->users) != 0 || read_text(&u->passwd) != 0 ||
	    text_valid(&u->users, MAP_FORMAT_USERS) != 0 ||
	    text_valid(&u->passwd, MAP_FORMAT_TABLE) != 0)
		return 1;
	return 0;
}

/* Replace (or add, or with line "" remove) addr's entry in t. */
static int
put_entry(struct user_ctx *u, struct text_file *t, const char *line,
    enum map_format fmt, const struct map_owner *own, mode_t new_mode)
{
	struct str *old = str_new(MAP_VALUE_MAX);
	size_t start, end, len;
	char *text;
	int rc;

	if (!find_entry(t, u->addr, &start, &end, old))
		start = end = t->len;
	str_wipe(old);
	str_free(&old);
	text = text_splice(t, start, end, line, &len);
	rc = write_text(t, text, len, new_mode);
	explicit_bzero(text, len);
	free(text);
	if (rc == 0)
		rc = rebuild(t->path, fmt, own);
	return rc;
}

static bool
has_entry(const struct text_file *t, const char *addr, struct str *value)
{
	size_t s, e;

	return find_entry(t, addr, &s, &e, value);
}

/*
 * Read a password (terminal without echo, or stdin), hash it and write
 * u->addr's passwd entry.  0, or 1 after saying why.  The password and
 * its hash are wiped before returning.
 */
static int
set_password(struct user_ctx *u, bool from_stdin)
{
	struct secret *pw = secret_new(SASL_PASS_MAX);
	struct str *hash = str_new(PASSWD_HASH_MAX), *why = str_new(256);
	struct str *line = str_new(MAP_LINE_MAX);
	int rc = 1;

	if (read_password(from_stdin, pw) != 0)
		goto out;
	if (passwd_hash_make(secret_c(pw), secret_len(pw), NULL, hash, why) <
	    0) {
		fail("%s", str_c(why));
		goto out;
	}
	secret_free(&pw);
	if (str_appendf(line, "%s %s\n", u->addr, str_c(hash)) < 0 ||
	    put_entry(u, &u->passwd, str_c(line), MAP_FORMAT_TABLE,
	        &u->passwd_own, 0600) != 0)
		goto out;
	rc = 0;
out:
	secret_free(&pw);
	str_wipe(hash);
	str_wipe(line);
	str_free(&hash);
	str_free(&why);
	str_free(&line);
	return rc;
}

static int
user_add(struct user_ctx *u, bool from_stdin, uint64_t quota)
{
	struct str *line = str_new(MAP_LINE_MAX), *v = str_new(MAP_VALUE_MAX);
	struct users_entry e = {quota, true};
	int rc = 1;

	if (has_entry(&u->users, u->addr, v) ||
	    has_entry(&u->passwd, u->addr, v)) {
		fail("%s already exists (use \"user passwd\" to change its "
		     "password)",
		    u->addr);
		goto out;
	}
	/* The password first: without its users entry it opens nothing. */
	if (set_password(u, from_stdin) != 0)
		goto out;
	if (str_appendf(line, "%s ", u->addr) < 0 ||
	    users_value_format(&e, line) < 0 || str_appendc(line, '\n') < 0 ||
	    put_entry(u, &u->users, str_c(line), MAP_FORMAT_USERS,
	        &u->users_own, 0644) != 0)
		goto out;
	printf("user %s added\n", u->addr);
	rc = 0;
out:
	str_free(&line);
	str_free(&v);
	return rc;
}

static int
user_passwd(struct user_ctx *u, bool from_stdin)
{
	struct str *v = str_new(MAP_VALUE_MAX);
	int rc = 1;

	if (!has_entry(&u->users, u->addr, v)) {
		fail("no user %s (use \"user add\")", u->addr);
		goto out;
	}
	if (set_password(u, from_stdin) != 0)
		goto out;
	printf("password of %s changed\n", u->addr);
	rc = 0;
out:
	str_free(&v);
	return rc;
}

static int
user_del(struct user_ctx *u)
{
	struct str *v = str_new(MAP_VALUE_MAX);
	bool in_users = has_entry(&u->users, u->addr, v);
	bool in_passwd = has_entry(&u->passwd, u->addr, v);
	int rc = 1;

	str_wipe(v);
	if (!in_users && !in_passwd) {
		fail("no user %s", u->addr);
		goto out;
	}
	/* The users entry first: without it the password opens nothing. */
	if (in_users && put_entry(u, &u->users, "", MAP_FORMAT_USERS,
	                    &u->users_own, 0644) != 0)
		goto out;
	if (in_passwd && put_entry(u, &u->passwd, "", MAP_FORMAT_TABLE,
	                     &u->passwd_own, 0600) != 0)
		goto out;
	printf("user %s deleted (its mailbox is left alone)\n", u->addr);
	rc = 0;
out:
	str_free(&v);
	return rc;
}

static int
user_enable(struct user_ctx *u, bool on)
{
	struct str *v = str_new(MAP_VALUE_MAX), *why = str_new(256);
	struct str *line = str_new(MAP_LINE_MAX);
	struct users_entry e;
	int rc = 1;

	if (!has_entry(&u->users, u->addr, v)) {
		fail("no user %s", u->addr);
		goto out;
	}
	if (users_value_parse(str_c(v), str_len(v), &e, why) < 0) {
		fail("%s: entry of %s: %s", u->users.path, u->addr, str_c(why));
		goto out;
	}
	e.enabled = on;
	if (str_appendf(line, "%s ", u->addr) < 0 ||
	    users_value_format(&e, line) < 0 || str_appendc(line, '\n') < 0 ||
	    put_entry(u, &u->users, str_c(line), MAP_FORMAT_USERS,
	        &u->users_own, 0644) != 0)
		goto out;
	printf("user %s %s\n", u->addr, on ? "enabled" : "disabled");
	rc = 0;
out:
	str_free(&v);
	str_free(&why);
	str_free(&line);
	return rc;
}

struct list_ctx {
	struct user_ctx *u;
};

static int
list_one(const struct map_text_entry *e, void *arg)
{
	struct list_ctx *l = arg;
	struct str *v = str_new(MAP_VALUE_MAX);
	bool pw;

	if (e->implied)
		goto out;
	pw = has_entry(&l->u->passwd, e->key, v);
	str_wipe(v);
	printf("%s %s password=%s\n", e->key, e->value, pw ? "yes" : "no");
out:
	str_free(&v);
	return 0;
}

static int
user_list(struct user_ctx *u)
{
	struct diag *d = diag_new();
	struct list_ctx l = {u};
	int rc;

	rc = map_text_parse(MAP_FORMAT_USERS, u->users.path,
	    (const uint8_t *)u->users.data, u->users.len, d, list_one, &l);
	diag_free(&d);
	return rc < 0 ? 1 : 0;
}

struct test_ctx {
	struct event_loop *loop;
	enum auth_result r;
	struct str *why;
};

static void
test_done(enum auth_result r, const char *why, void *arg)
{
	struct test_ctx *t = arg;

	t->r = r;
	str_notef(t->why, "%s", why);
	event_stop(t->loop);
}

/* Ask the running auth service, as smtpd would. */
static int
user_test(struct user_ctx *u, bool from_stdin, const char *client)
{
	struct secret *pw = secret_new(SASL_PASS_MAX);
	struct str *path = str_new(4096);
	struct test_ctx t = {
	    event_new(), AUTH_RESULT_UNAVAILABLE, str_new(512)};
	int rc = 1;

	if (mailctl_load(u->mc, true) < 0)
		goto out;
	if (str_appendf(path, "%s/%s", u->mc->p.queue_directory,
	        AUTH_CLIENT_SOCKET) < 0) {
		fail("queue_directory too long");
		goto out;
	}
	if (from_stdin) {
		if (read_password(true, pw) != 0)
			goto out;
	} else {
		int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
		int bad = tty < 0 || prompt(tty, "Password: ", pw) < 0;
		if (tty >= 0)
			(void)close(tty); /* a terminal: nothing to lose */
		if (bad) {
			fail("no terminal to ask for the password on: use "
			     "--password-stdin");
			goto out;
		}
	}
	(void)auth_client_start(t.loop, str_c(path),
	    u->mc->p.auth_client_timeout * 1000, "mailctl", client, u->addr,
	    strlen(u->addr), secret_c(pw), secret_len(pw), test_done, &t);
	secret_free(&pw);
	if (event_run(t.loop) < 0) {
		fail("event loop: %s", strerror(errno));
		goto out;
	}
	switch (t.r) {
	case AUTH_RESULT_OK:
		printf("ok\n");
		rc = 0;
		break;
	case AUTH_RESULT_FAIL:
		printf("fail\n");
		rc = 1;
		break;
	case AUTH_RESULT_UNAVAILABLE:
		printf("unavailable: %s\n", str_c(t.why));
		rc = 3;
		break;
	}
out:
	secret_free(&pw);
	str_free(&path);
	str_free(&t.why);
	event_free(&t.loop);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: mailctl user add ADDRESS [--password-stdin] "
	    "[--quota SIZE]\n"
	    "       mailctl user passwd ADDRESS [--password-stdin]\n"
	    "       mailctl user del|disable|enable ADDRESS\n"
	    "       mailctl user list\n"
	    "       mailctl user test ADDRESS [--password-stdin] "
	    "[--client ADDR]\n");
	return 2;
}

int
cmd_user(struct mailctl *mc, int argc, char **argv)
{
	struct user_ctx u = {.mc = mc, .lock_fd = -1};
	const char *sub, *addr = NULL, *client = "local";
	bool from_stdin = false;
	uint64_t quota = 0;
	int rc;

	if (argc < 2)
		return usage();
	sub = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			from_stdin = true;
		else if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc) {
			if (param_parse_size(argv[++i], &quota) < 0)
				return fail("bad --quota \"%s\" (bytes with "
				            "an optional k, m or g)",
				    argv[i]);
		} else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc) {
			client = argv[++i];
		} else if (argv[i][0] != '-' && addr == NULL)
			addr = argv[i];
		else
			return usage();
	}
	bool want_addr = strcmp(sub, "list") != 0;
	if (want_addr != (addr != NULL))
		return usage();
	if ((from_stdin && strcmp(sub, "add") != 0 &&
	        strcmp(sub, "passwd") != 0 && strcmp(sub, "test") != 0) ||
	    (quota != 0 && strcmp(sub, "add") != 0))
		return usage();
	if (strcmp(sub, "add") != 0 && strcmp(sub, "del") != 0 &&
	    strcmp(sub, "passwd") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "disable") != 0 && strcmp(sub, "enable") != 0 &&
	    strcmp(sub, "test") != 0)
		return usage();
	if (strcmp(sub, "test") == 0) {
		/* Any name: the service decides (as for a SASL login). */
		if (strlen(addr) > SASL_ID_MAX)
			return fail("name too long");
		memcpy(u.addr, addr, strlen(addr) + 1);
		return user_test(&u, from_stdin, client);
	}
	if (addr != NULL && take_address(&u, addr) != 0)
		return 1;
	if ((rc = open_tables(&u)) != 0)
		goto out;
	if (strcmp(sub, "add") == 0)
		rc = user_add(&u, from_stdin, quota);
	else if (strcmp(sub, "passwd") == 0)
		rc = user_passwd(&u, from_stdin);
	else if (strcmp(sub, "del") == 0)
		rc = user_del(&u);
	else if (strcmp(sub, "disable") == 0)
		rc = user_enable(&u, false);
	else if (strcmp(sub, "enable") == 0)
		rc = user_enable(&u, true);
	else
		rc = user_list(&u);
out:
	text_free(&u.users);
	text_free(&u.passwd);
	(void)fd_close(&u.lock_fd); /* releases the lock */
	return rc;
}
