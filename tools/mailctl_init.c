/*
 * mailctl_init - `mailctl init DIR [--port-base N] [--domain D]`: a
 * self-contained instance in DIR (etc/, queue/, mail/, log/) listening
 * on 127.0.0.1: SMTP on N+25 (STARTTLS offered, no AUTH), submission on
 * N+587 (STARTTLS required, then AUTH before MAIL) and submissions on
 * N+465 (implicit TLS, then AUTH before MAIL); on both submission ports
 * a login may only use its own addresses and the aliases that lead to
 * it (smtpd_sender_login_maps = mailboxes:).  Later POP3 N+110, IMAP
 * N+143, and the TLS ports N+993, N+995.
 *
 * Run by root, the instance's mail_owner and mailbox_owner are the system
 * users facteur and vmail (created when missing; an existing account with
 * uid 0 or a login shell is refused), etc/ is root's, and a DIR those
 * users cannot traverse is refused.  Run by anyone else, everything is
 * that user's.
 *
 * Accounts and TLS (DESIGN §1): as root, also the system user
 * facteur-auth (auth_owner) and the group facteur-authclient
 * (authclient_group, members facteur and vmail); an empty etc/passwd
 * (0600) compiled to passwd.lmdb (0640 root:facteur-auth); an auth/client
 * service in master.cf; and a self-signed certificate for mail.DOMAIN
 * made with the OpenSSL API (etc/tls/cert.pem, etc/tls/key.pem 0600),
 * named by smtpd_tls_cert_file and smtpd_tls_key_file.  The demo user
 * has no password: "mailctl user passwd demo@DOMAIN" gives it one.
 *
 * Never: overwrite an existing instance, or make a folder that a
 * non-root user could use to change what root runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libgen.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/priv.h"
#include "lib/queue.h"
#include "lib/str.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "tools/mailctl.h"

#define INIT_MAIL_OWNER "facteur"
#define INIT_MAILBOX_OWNER "vmail"
#define INIT_AUTH_OWNER "facteur-auth"
#define INIT_AUTHCLIENT_GROUP "facteur-authclient"
/* The self-signed certificate's life. */
#define INIT_CERT_DAYS 3650

struct init {
	char *dir;
	unsigned base;
	const char *domain;
	bool root;
	const char *mail_owner, *mailbox_owner;
	uid_t mail_uid, box_uid;
	gid_t mail_gid, box_gid;
	char daemon_dir[4096];
	const char *auth_owner; /* facteur-auth, or the mail_owner */
	gid_t authclient_gid;	/* who may reach auth/ */
};

static FCT_PRINTF(1, 2) int
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mailctl: init: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

/* Run argv, wait; 0 when it exited 0. */
static int
run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static bool
shell_is_login(const char *sh)
{
	const char *base = strrchr(sh, '/');

	base = base ? base + 1 : sh;
	return !(strcmp(base, "nologin") == 0 || strcmp(base, "false") == 0);
}

/* The system user name exists (and is safe), or gets created. */
static int
ensure_system_user(const char *name, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw = getpwnam(name);

	if (pw == NULL) {
		char *argv[] = { "adduser", "--quiet", "--system", "--group",
			"--no-create-home", "--home", "/nonexistent", "--shell",
			"/usr/sbin/nologin", (char *)name, NULL };
		if (run(argv) < 0)
			return fail("cannot create system user %s with adduser",
			    name);
		pw = getpwnam(name);
		if (pw == NULL)
			return fail("user %s still missing after adduser",
			    name);
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return fail("existing account %s has uid or gid 0: refused",
		    name);
	if (shell_is_login(pw->pw_shell))
		return fail("existing account %s has a login shell (%s): "
			    "refused", name, pw->pw_shell);
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

/* The system group name exists (without gid 0), or gets created. */
static int
ensure_system_group(const char *name, gid_t *gid_r)
{
	struct group *gr = getgrnam(name);

	if (gr == NULL) {
		char *argv[] = { "addgroup", "--quiet", "--system",
			(char *)name, NULL };
		if (run(argv) < 0)
			return fail("cannot create system group %s with "
				    "addgroup", name);
		gr = getgrnam(name);
		if (gr == NULL)
			return fail("group %s still missing after addgroup",
			    name);
	}
	if (gr->gr_gid == 0)
		return fail("existing group %s has gid 0: refused", name);
	*gid_r = gr->gr_gid;
	return 0;
}

/* user is a member of group (added with adduser when not). */
static int
ensure_member(const char *user, const char *group)
{
	struct group *gr = getgrnam(group);
	char *argv[] = { "adduser", "--quiet", (char *)user, (char *)group,
		NULL };

	for (char **m = gr != NULL ? gr->gr_mem : NULL; m && *m; m++)
		if (strcmp(*m, user) == 0)
			return 0;
	if (run(argv) < 0)
		return fail("cannot add %s to group %s with adduser", user,
		    group);
	return 0;
}

/*
 * As root: the auth service's user, and the group of its clients
 * (mail_owner and mailbox_owner), DESIGN §1.
 */
static int
ensure_auth_accounts(struct init *in)
{
	uid_t uid;
	gid_t gid;

	in->auth_owner = INIT_AUTH_OWNER;
	if (ensure_system_user(in->auth_owner, &uid, &gid) != 0 ||
	    ensure_system_group(INIT_AUTHCLIENT_GROUP, &in->authclient_gid) !=
		0 ||
	    ensure_member(in->mail_owner, INIT_AUTHCLIENT_GROUP) != 0 ||
	    ensure_member(in->mailbox_owner, INIT_AUTHCLIENT_GROUP) != 0)
		return 1;
	return 0;
}

/* Can uid/gid (with its groups) traverse dir?  Asked in a child. */
static bool
can_traverse(const char *user, const char *dir)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return false;
	if (pid == 0) {
		struct str *why = str_new(256);
		if (priv_drop(user, NULL, why) < 0)
			_exit(2);
		_exit(access(dir, X_OK) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, bool root)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return fail("mkdir %s: %s", path, strerror(errno));
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail("%s: not a folder", path);
	if (chmod(path, mode) < 0)
		return fail("chmod %s: %s", path, strerror(errno));
	if (root && chown(path, uid, gid) < 0)
		return fail("chown %s: %s", path, strerror(errno));
	return 0;
}

/* Write a whole new file durably (never over an existing one). */
static int
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, mode);

	if (fd < 0)
		return fail("create %s: %s", path, strerror(errno));
	if (fsio_write_all(fd, text, strlen(text)) < 0 ||
	    fsio_fsync(fd) < 0) {
		int e = errno;
		(void)close(fd); /* failure reported below */
		return fail("write %s: %s", path, strerror(e));
	}
	if (close(fd) < 0)
		return fail("close %s: %s", path, strerror(errno));
	return 0;
}

/* etc/passwd (empty) and the TLS certificate with its key. */
static int
write_auth_files(const struct init *in, struct str *path, struct str *text)
{
	struct str *cert = str_new(4096), *key = str_new(4096);
	struct str *why = str_new(1024);
	int rc = 1;

	str_clear(text);
	str_clear(path);
	if (str_appendf(text,
		"# passwd: \"address crypt(3)-hash\", read by the auth service "
		"alone.\n# Edit with \"mailctl -c %s/etc user add|passwd|del\""
		".\n", in->dir) < 0 ||
	    str_appendf(path, "%s/etc/passwd", in->dir) < 0) {
		fail("passwd too long");
		goto out;
	}
	if (write_file(str_c(path), str_c(text), 0600) != 0)
		goto out;
	str_clear(path);
	if (str_appendf(path, "%s/etc/tls", in->dir) < 0 ||
	    make_dir(str_c(path), 0755, 0, 0, in->root) != 0)
		goto out;
	if (str_appendf(cert, "%s/cert.pem", str_c(path)) < 0 ||
	    str_appendf(key, "%s/key.pem", str_c(path)) < 0) {
		fail("tls path too long");
		goto out;
	}
	str_clear(text);
	if (str_appendf(text, "mail.%s", in->domain) < 0 ||
	    tls_selfsigned_make(str_c(cert), str_c(key), str_c(text),
		INIT_CERT_DAYS, why) < 0) {
		fail("TLS certificate: %s", str_c(why));
		goto out;
	}
	rc = 0;
out:
	str_free(&cert);
	str_free(&key);
	str_free(&why);
	return rc;
}

static int
write_config(const struct init *in, struct str *path, struct str *text)
{
	time_t now = time(NULL);
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
	str_clear(text);
	if (str_appendf(text,
		"# facteur instance made by \"mailctl init\" on %s.\n"
		"# \"mailctl -c %s/etc config\" shows every parameter.\n"
		"queue_directory = %s/queue\n"
		"daemon_directory = %s\n"
		"virtual_mailbox_base = %s/mail\n"
		"maillog_file = %s/log/maillog\n"
		"myhostname = mail.%s\n"
		"mydomain = %s\n"
		"mydestination = $myhostname, localhost\n"
		"virtual_mailbox_domains = $mydomain\n"
		"inet_interfaces = 127.0.0.1\n"
		"inet_protocols = ipv4\n"
		"mail_owner = %s\n"
		"mailbox_owner = %s\n",
		when, in->dir, in->dir, in->daemon_dir, in->dir, in->dir,
		in->domain, in->domain, in->mail_owner,
		in->mailbox_owner) < 0)
		return fail("main.cf too long");
	if (str_appendf(text,
		"auth_owner = %s\n"
		"smtpd_tls_cert_file = %s/etc/tls/cert.pem\n"
		"smtpd_tls_key_file = %s/etc/tls/key.pem\n"
		"smtpd_tls_security_level = may\n",
		in->auth_owner, in->dir, in->dir) < 0)
		return fail("main.cf too long");
	str_clear(path);
	if (str_appendf(path, "%s/etc/main.cf", in->dir) < 0 ||
	    write_file(str_c(path), str_c(text), 0644) != 0)
		return 1;

	str_clear(text);
	if (str_appendf(text,
		"# facteur master.cf: one service a line (see master(8)).\n"
		"# service           type  private unpriv chroot wakeup "
		"maxproc command\n"
		"127.0.0.1:%u     inet  n       -      n      -      -     "
		"  smtpd\n"
		"127.0.0.1:%u     inet  n       -      n      -      -     "
		"  smtpd\n"
		"    -o smtpd_tls_security_level=encrypt\n"
		"    -o smtpd_sasl_auth_enable=yes\n"
		"    -o smtpd_require_auth=yes\n"
		"    -o smtpd_sender_login_maps=mailboxes:\n"
		"127.0.0.1:%u     inet  n       -      n      -      -     "
		"  smtpd\n"
		"    -o smtpd_tls_wrappermode=yes\n"
		"    -o smtpd_sasl_auth_enable=yes\n"
		"    -o smtpd_require_auth=yes\n"
		"    -o smtpd_sender_login_maps=mailboxes:\n"
		"showq               unix  n       -      n      -      -    "
		"   showq\n"
		"anvil               unix  -       -      n      -      1    "
		"   anvil\n"
		"qmgr                unix-dgram n  -      n      300    1    "
		"   qmgr\n"
		"local               unix  -       -      n      -      -    "
		"   local\n"
		"    -o service_user=$mailbox_owner\n",
		in->base + 25, in->base + 587, in->base + 465) < 0)
		return fail("master.cf too long");
	/* The auth service: master binds $queue_directory/auth/client. */
	if (str_appends(text,
		"auth/client         unix  -       -      n      -      1    "
		"   auth\n"
		"    -o service_user=$auth_owner\n") < 0)
		return fail("master.cf too long");
	str_clear(path);
	if (str_appendf(path, "%s/etc/master.cf", in->dir) < 0 ||
	    write_file(str_c(path), str_c(text), 0644) != 0)
		return 1;

	str_clear(text);
	if (str_appendf(text,
		"# aliases: \"name: target, target\"; rebuild with\n"
		"# \"mailctl -c %s/etc map build %s/etc/aliases\".\n"
		"# A bare name serves mydestination only (lib/resolve.h);\n"
		"# the virtual domain needs its full addresses (RFC 2142).\n"
		"postmaster: demo@%s\n"
		"abuse: demo@%s\n"
		"root: demo@%s\n"
		"postmaster@%s: demo@%s\n"
		"abuse@%s: demo@%s\n",
		in->dir, in->dir, in->domain, in->domain, in->domain,
		in->domain, in->domain, in->domain, in->domain) < 0)
		return fail("aliases too long");
	str_clear(path);
	if (str_appendf(path, "%s/etc/aliases", in->dir) < 0 ||
	    write_file(str_c(path), str_c(text), 0644) != 0)
		return 1;

	str_clear(text);
	if (str_appendf(text,
		"# users: \"address [quota=SIZE] [enabled=yes|no]\"; rebuild "
		"with\n# \"mailctl -c %s/etc map build %s/etc/users\".\n"
		"demo@%s quota=0 enabled=yes\n",
		in->dir, in->dir, in->domain) < 0)
		return fail("users too long");
	str_clear(path);
	if (str_appendf(path, "%s/etc/users", in->dir) < 0 ||
	    write_file(str_c(path), str_c(text), 0644) != 0)
		return 1;
	return write_auth_files(in, path, text);
}

static int
parse_args(int argc, char **argv, struct init *in)
{
	uint64_t v;

	in->base = 10000;
	in->domain = "example.test";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port-base") == 0 && i + 1 < argc) {
			const char *a = argv[++i];
			if (num_parse_u64(a, strlen(a), 65535 - 995, &v) < 0 ||
			    v < 1)
				return fail("bad --port-base \"%s\" (1..%s)", a,
				    "64540");
			in->base = (unsigned)v;
		} else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
			struct str *why = str_new(256);
			in->domain = argv[++i];
			int bad = users_domain_check(in->domain,
			    strlen(in->domain), why);
			if (bad < 0) {
				int r = fail("bad --domain: %s", str_c(why));
				str_free(&why);
				return r;
			}
			str_free(&why);
		} else if (argv[i][0] != '-' && in->dir == NULL) {
			in->dir = argv[i];
		} else {
			fprintf(stderr, "usage: mailctl init DIR [--port-base N] "
					"[--domain D]\n");
			return 2;
		}
	}
	if (in->dir == NULL) {
		fprintf(stderr,
		    "usage: mailctl init DIR [--port-base N] [--domain D]\n");
		return 2;
	}
	return 0;
}

int
cmd_init(int argc, char **argv)
{
	struct init in = { 0 };
	struct str *path = str_new(4096), *text = str_new(8192);
	struct str *why = str_new(1024);
	char *abs = NULL;
	int rc;
	ssize_t n;

	if ((rc = parse_args(argc, argv, &in)) != 0)
		goto out;
	rc = 1;
	in.root = priv_is_root();
	n = readlink("/proc/self/exe", in.daemon_dir,
	    sizeof(in.daemon_dir) - 1);
	if (n <= 0) {
		fail("cannot find my own program folder");
		goto out;
	}
	in.daemon_dir[n] = '\0';
	dirname(in.daemon_dir);
	if (mkdir(in.dir, 0755) < 0 && errno != EEXIST) {
		fail("mkdir %s: %s", in.dir, strerror(errno));
		goto out;
	}
	abs = realpath(in.dir, NULL);
	if (abs == NULL) {
		fail("%s: %s", in.dir, strerror(errno));
		goto out;
	}
	in.dir = abs;
	if (str_appendf(path, "%s/etc/main.cf", in.dir) < 0 ||
	    access(str_c(path), F_OK) == 0) {
		fail("%s already holds an instance (etc/main.cf)", in.dir);
		goto out;
	}
	if (in.root) {
		in.mail_owner = INIT_MAIL_OWNER;
		in.mailbox_owner = INIT_MAILBOX_OWNER;
		if (ensure_system_user(in.mail_owner, &in.mail_uid,
			&in.mail_gid) != 0 ||
		    ensure_system_user(in.mailbox_owner, &in.box_uid,
			&in.box_gid) != 0 ||
		    ensure_auth_accounts(&in) != 0)
			goto out;
		const char *users[] = { in.mail_owner, in.mailbox_owner,
			in.auth_owner };
		for (size_t i = 0; i < FCT_NELEM(users); i++)
			if (!can_traverse(users[i], in.dir)) {
				fail("user %s cannot reach %s: make every "
				     "folder on the way searchable (chmod "
				     "o+x) or choose another place",
				    users[i], in.dir);
				goto out;
			}
		if (priv_check_root_owned(in.daemon_dir, why) < 0) {
			fail("daemon_directory %s", str_c(why));
			goto out;
		}
	} else {
		struct passwd *pw = getpwuid(getuid());
		if (pw == NULL) {
			fail("who am I?");
			goto out;
		}
		in.mail_owner = in.mailbox_owner = x_strdup(pw->pw_name);
		in.auth_owner = in.mail_owner;
		in.mail_uid = in.box_uid = getuid();
		in.mail_gid = in.box_gid = getgid();
		in.authclient_gid = getgid();
	}
	if (make_dir(in.dir, 0755, 0, 0, in.root) != 0)
		goto out;
	const struct {
		const char *sub;
		mode_t mode;
		bool mailbox;
	} dirs[] = { { "etc", 0755, false }, { "log", 0755, false },
		{ "mail", 0700, true } };
	for (size_t i = 0; i < FCT_NELEM(dirs); i++) {
		str_clear(path);
		if (str_appendf(path, "%s/%s", in.dir, dirs[i].sub) < 0 ||
		    make_dir(str_c(path), dirs[i].mode,
			dirs[i].mailbox ? in.box_uid : 0,
			dirs[i].mailbox ? in.box_gid : 0, in.root) != 0)
			goto out;
	}
	if (write_config(&in, path, text) != 0)
		goto out;
	str_clear(path);
	struct queue_owner own = { in.mail_uid, in.mail_gid,
		in.authclient_gid };
	if (str_appendf(path, "%s/queue", in.dir) < 0 ||
	    queue_dir_init(str_c(path), &own, why) < 0) {
		fail("queue: %s", str_c(why));
		goto out;
	}
	const char *tables[] = { "aliases", "users", "passwd" };
	for (size_t i = 0; i < FCT_NELEM(tables); i++) {
		str_clear(path);
		str_clear(why);
		if (str_appendf(path, "%s/etc/%s", in.dir, tables[i]) < 0 ||
		    mailctl_map_build(str_c(path), why) < 0) {
			fail("%s", str_c(why));
			goto out;
		}
	}
	printf("facteur instance created in %s\n"
	       "  domain %s, user demo@%s; postmaster, abuse and root go to "
	       "demo\n"
	       "  SMTP 127.0.0.1:%u, submission 127.0.0.1:%u\n"
	       "  start:  mailctl -c %s/etc start\n"
	       "  send:   swaks --server 127.0.0.1:%u --to demo@%s\n"
	       "  queue:  mailq -c %s/etc\n"
	       "  log:    %s/log/maillog\n",
	    in.dir, in.domain, in.domain, in.base + 25, in.base + 587, in.dir,
	    in.base + 25, in.domain, in.dir, in.dir);
	rc = 0;
out:
	if (!in.root && in.mail_owner != NULL)
		free((char *)in.mail_owner);
	free(abs);
	str_free(&why);
	str_free(&text);
	str_free(&path);
	return rc;
}
