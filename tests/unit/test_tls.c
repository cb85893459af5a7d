/*
 * test_tls - lib/tls and the TLS side of lib/conn: self-signed pairs,
 * loading errors that name the file, the check for "mailctl check"
 * (mismatch, expiry), handshakes over a socketpair (protocol and cipher
 * text, resumption, verification, the protocol floor), TLS I/O with
 * partial writes and buffered records, and plain text that arrives where
 * a handshake should.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <openssl/ssl.h>

#include "lib/conn.h"
#include "lib/diag.h"
#include "lib/event.h"
#include "lib/str.h"
#include "lib/tls.h"

static char tmpdir[] = "/var/tmp/facteur-test-tls.XXXXXX";
static char cert[256], key[256];           /* good, 10 years */
static char cert2[256], key2[256];         /* another pair */
static char cert_soon[256], key_soon[256]; /* expires in 7 days */
static char cert_old[256], key_old[256];   /* expired */

#define HOST "mail.example.test"

static void
pair_path(char *c, char *k, const char *name)
{
	snprintf(c, 256, "%s/%s.crt", tmpdir, name);
	snprintf(k, 256, "%s/%s.key", tmpdir, name);
}

static int
make_pair(char *c, char *k, const char *name, int days)
{
	struct str *why = str_new(1024);
	int rc;

	pair_path(c, k, name);
	rc = tls_selfsigned_make(c, k, HOST, days, why);
	if (rc < 0)
		fprintf(stderr, "make %s: %s\n", name, str_c(why));
	str_free(&why);
	return rc;
}

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if (make_pair(cert, key, "good", 3650) < 0 ||
	    make_pair(cert2, key2, "other", 3650) < 0 ||
	    make_pair(cert_soon, key_soon, "soon", 7) < 0 ||
	    make_pair(cert_old, key_old, "old", -2) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	return test_rm_rf(tmpdir);
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void
test_selfsigned(void **state)
{
	struct stat st;
	struct str *why = str_new(1024);

	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(cert, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Never over an existing file. */
	assert_int_equal(tls_selfsigned_make(cert, key, HOST, 1, why), -1);
	assert_non_null(strstr(str_c(why), key));
	str_free(&why);
}

struct load_case {
	const char *name;
	const char *cert, *key;
	const char *want; /* substring of why, "" for success */
};

static void
test_server_load(void **state)
{
	char missing[300], garbage[300], empty[300], keyonly[300];
	char combined[300];

	snprintf(missing, sizeof(missing), "%s/missing.pem", tmpdir);
	snprintf(garbage, sizeof(garbage), "%s/garbage.pem", tmpdir);
	snprintf(empty, sizeof(empty), "%s/empty.pem", tmpdir);
	snprintf(keyonly, sizeof(keyonly), "%s/keyonly.pem", tmpdir);
	snprintf(combined, sizeof(combined), "%s/combined.pem", tmpdir);
	write_text(garbage,
	    "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
	    "-----END CERTIFICATE-----\n",
	    0644);
	write_text(empty, "", 0644);
	{
		/* key and certificate in one file */
		char buf[8192];
		FILE *a = fopen(key, "r"), *b = fopen(cert, "r");
		FILE *o = fopen(combined, "w");
		size_t n;
		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(o);
		while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
			assert_int_equal(fwrite(buf, 1, n, o), n);
		while ((n = fread(buf, 1, sizeof(buf), b)) > 0)
			assert_int_equal(fwrite(buf, 1, n, o), n);
		fclose(a);
		fclose(b);
		assert_int_equal(fclose(o), 0);
	}
	{
		FILE *a = fopen(key, "r"), *o = fopen(keyonly, "w");
		char buf[8192];
		size_t n;
		assert_non_null(a);
		assert_non_null(o);
		while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
			assert_int_equal(fwrite(buf, 1, n, o), n);
		fclose(a);
		assert_int_equal(fclose(o), 0);
	}
	const struct load_case cases[] = {
	    {"good", cert, key, ""},
	    {"combined file", combined, NULL, ""},
	    {"combined, key named", combined, combined, ""},
	    {"missing cert", missing, key, missing},
	    {"missing key", cert, missing, missing},
	    {"garbage cert", garbage, key, garbage},
	    {"empty cert", empty, key, "no PEM certificate"},
	    {"key file as cert", keyonly, key, "no PEM certificate"},
	    {"cert file as key", cert, cert, "no PEM private key"},
	    {"mismatch", cert, key2, "does not match"},
	    {"a folder", tmpdir, key, "not a regular file"},
	};

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		struct str *why = str_new(2048);
		struct tls_ctx *c =
		    tls_server_new(cases[i].cert, cases[i].key, why);

		if (cases[i].want[0] == '\0') {
			if (c == NULL)
				fail_msg("%s: %s", cases[i].name, str_c(why));
		} else {
			if (c != NULL)
				fail_msg("%s: loaded", cases[i].name);
			if (strstr(str_c(why), cases[i].want) == NULL)
				fail_msg("%s: want \"%s\" in \"%s\"",
				    cases[i].name, cases[i].want, str_c(why));
		}
		if (strcmp(cases[i].name, "mismatch") == 0)
			assert_non_null(strstr(str_c(why), key2));
		tls_ctx_free(&c);
		assert_null(c);
		str_free(&why);
	}
	struct str *why = str_new(256);
	assert_null(tls_server_new("", NULL, why));
	str_free(&why);
}

static void
test_check_files(void **state)
{
	time_t now = time(NULL);
	struct diag *d;
	char missing[300], open_key[300];

	snprintf(missing, sizeof(missing), "%s/nope.key", tmpdir);
	d = diag_new();
	assert_int_equal(tls_check_files(cert, key, now, d), 0);
	assert_int_equal(diag_warnings(d), 0);
	diag_free(&d);

	d = diag_new();
	assert_int_equal(tls_check_files(cert_soon, key_soon, now, d), 0);
	assert_int_equal(diag_warnings(d), 1);
	assert_non_null(strstr(diag_text(d), cert_soon));
	if (strstr(diag_text(d), "expires in 7 days") == NULL)
		fail_msg("%s", diag_text(d));
	diag_free(&d);

	/* The same good certificate, seen 3645 days later. */
	d = diag_new();
	assert_int_equal(tls_check_files(cert, key, now + 3645 * 86400L, d), 0);
	assert_int_equal(diag_warnings(d), 1);
	assert_non_null(strstr(diag_text(d), "expires in"));
	diag_free(&d);

	d = diag_new();
	assert_int_equal(tls_check_files(cert_old, key_old, now, d), 0);
	assert_int_equal(diag_warnings(d), 1);
	assert_non_null(strstr(diag_text(d), "expired on"));
	diag_free(&d);

	d = diag_new();
	assert_int_equal(tls_check_files(cert, key2, now, d), 1);
	assert_non_null(strstr(diag_text(d), key2));
	assert_non_null(strstr(diag_text(d), "does not match"));
	diag_free(&d);

	d = diag_new();
	assert_int_equal(tls_check_files(cert, missing, now, d), 1);
	assert_non_null(strstr(diag_text(d), missing));
	diag_free(&d);

	/* A world-readable key is a warning. */
	snprintf(open_key, sizeof(open_key), "%s/open.key", tmpdir);
	{
		char buf[8192];
		FILE *a = fopen(key, "r");
		size_t n = fread(buf, 1, sizeof(buf) - 1, a);
		fclose(a);
		buf[n] = '\0';
		write_text(open_key, buf, 0644);
		assert_int_equal(chmod(open_key, 0644), 0);
	}
	d = diag_new();
	assert_int_equal(tls_check_files(cert, open_key, now, d), 0);
	assert_int_equal(diag_warnings(d), 1);
	assert_non_null(strstr(diag_text(d), "readable by every user"));
	diag_free(&d);
}

/* ---- handshakes over a socketpair ---- */

struct duo {
	struct conn *srv, *cli;
};

static void
duo_open(struct duo *d)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX,
	                     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
	    0);
	d->srv = conn_new(sv[0]);
	d->cli = conn_new(sv[1]);
}

static void
duo_close(struct duo *d)
{
	conn_free(&d->srv);
	conn_free(&d->cli);
}

/* Step both ends until both are done or one fails; the server's result. */
static enum conn_handshake
pump(struct duo *d, enum conn_handshake *cli_r, struct str *why)
{
	enum conn_handshake a = CONN_HS_WANT_READ, b = CONN_HS_WANT_WRITE;

	for (int i = 0; i < 200; i++) {
		if (b != CONN_HS_DONE && b != CONN_HS_ERROR)
			b = conn_handshake(d->cli, why);
		if (a != CONN_HS_DONE && a != CONN_HS_ERROR)
			a = conn_handshake(d->srv, why);
		if ((a == CONN_HS_DONE || a == CONN_HS_ERROR) &&
		    (b == CONN_HS_DONE || b == CONN_HS_ERROR))
			break;
		/* One side failed: the other will fail on its next read. */
		if (a == CONN_HS_ERROR || b == CONN_HS_ERROR) {
			if (i > 20)
				break;
		}
	}
	if (cli_r != NULL)
		*cli_r = b;
	return a;
}

/* Read exactly n bytes from c (non-blocking socketpair: spin a little). */
static void
read_all(struct conn *c, char *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; got < n && i < 100000; i++) {
		ssize_t r = conn_read(c, buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
	}
	assert_int_equal(got, n);
}

static struct tls_ctx *
client_ctx(bool verify, const char *ca)
{
	struct tls_client_opts o = {.ca_file = ca, .verify = verify};
	struct str *why = str_new(1024);
	struct tls_ctx *c = tls_client_new(&o, why);

	if (c == NULL)
		fail_msg("client ctx: %s", str_c(why));
	str_free(&why);
	return c;
}

static struct tls_ctx *
server_ctx(void)
{
	struct str *why = str_new(1024);
	struct tls_ctx *c = tls_server_new(cert, key, why);

	if (c == NULL)
		fail_msg("server ctx: %s", str_c(why));
	str_free(&why);
	return c;
}

static void
test_handshake(void **state)
{
	struct tls_ctx *s = server_ctx(), *c = client_ctx(true, cert);
	struct str *why = str_new(2048), *info = str_new(256);
	struct duo d;
	enum conn_handshake cr;
	char buf[64];

	duo_open(&d);
	/* Plain first: behaviour unchanged. */
	assert_int_equal(conn_wants(d.srv, false), EV_READ);
	assert_int_equal(conn_wants(d.srv, true), EV_READ | EV_WRITE);
	assert_int_equal(conn_write(d.cli, "STARTTLS\r\n", 10), 10);
	read_all(d.srv, buf, 10);
	assert_memory_equal(buf, "STARTTLS\r\n", 10);
	assert_false(conn_tls_started(d.srv));
	assert_int_equal(conn_pending(d.srv), 0);
	assert_int_equal(conn_tls_describe(d.srv, info), 0);
	assert_string_equal(str_c(info), "no TLS");
	str_clear(info);

	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(conn_starttls_client(d.cli, c, HOST, why), 0);
	assert_true(conn_tls_started(d.srv));
	assert_false(conn_tls_active(d.srv));
	assert_int_equal(conn_wants(d.srv, true), EV_READ);
	/* Twice is an error, and a context of the wrong side too. */
	assert_int_equal(conn_starttls_server(d.srv, s, why), -1);
	if (pump(&d, &cr, why) != CONN_HS_DONE || cr != CONN_HS_DONE)
		fail_msg("handshake: %s", str_c(why));
	assert_true(conn_tls_active(d.srv));
	assert_true(conn_tls_active(d.cli));
	assert_true(conn_tls_verified(d.cli));
	assert_false(conn_tls_resumed(d.cli));

	assert_int_equal(conn_tls_describe(d.srv, info), 0);
	assert_string_equal(str_c(info),
	    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");

	/* Data both ways. */
	assert_int_equal(conn_write(d.srv, "220 hi\r\n", 8), 8);
	read_all(d.cli, buf, 8);
	assert_memory_equal(buf, "220 hi\r\n", 8);
	assert_int_equal(conn_write(d.cli, "EHLO x\r\n", 8), 8);
	read_all(d.srv, buf, 8);
	assert_memory_equal(buf, "EHLO x\r\n", 8);

	/* A record read in pieces: the rest waits in conn_pending(). */
	assert_int_equal(conn_write(d.cli, "0123456789", 10), 10);
	read_all(d.srv, buf, 3);
	assert_int_equal(conn_pending(d.srv), 7);
	read_all(d.srv, buf + 3, 7);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(conn_pending(d.srv), 0);

	/* Nothing to read: EAGAIN and wait for EV_READ. */
	assert_int_equal(conn_read(d.srv, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(conn_wants(d.srv, false), EV_READ);

	/* A clean close reads as end of stream. */
	conn_free(&d.cli);
	for (int i = 0; i < 1000; i++) {
		ssize_t r = conn_read(d.srv, buf, sizeof(buf));
		if (r == 0)
			break;
		assert_true(r < 0 && errno == EAGAIN);
		assert_true(i < 999);
	}
	duo_close(&d);
	tls_ctx_free(&s);
	tls_ctx_free(&c);
	str_free(&why);
	str_free(&info);
}

static void
test_resumption(void **state)
{
	struct tls_ctx *s = server_ctx(), *c = client_ctx(false, NULL);
	struct str *why = str_new(2048);
	char buf[8];

	for (int round = 0; round < 3; round++) {
		struct duo d;
		enum conn_handshake cr;

		duo_open(&d);
		assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
		assert_int_equal(conn_starttls_client(d.cli, c, HOST, why), 0);
		if (pump(&d, &cr, why) != CONN_HS_DONE || cr != CONN_HS_DONE)
			fail_msg("handshake: %s", str_c(why));
		assert_int_equal(conn_tls_resumed(d.cli), round > 0);
		assert_int_equal(conn_tls_resumed(d.srv), round > 0);
		/* The client takes its ticket in with the first read. */
		assert_int_equal(conn_write(d.srv, "ok", 2), 2);
		read_all(d.cli, buf, 2);
		duo_close(&d);
	}
	tls_ctx_free(&s);
	tls_ctx_free(&c);
	str_free(&why);
}

static void
test_verification(void **state)
{
	struct tls_ctx *s = server_ctx();
	struct tls_ctx *strict = client_ctx(true, cert);
	struct tls_ctx *other_ca = client_ctx(true, cert2);
	struct tls_ctx *lax = client_ctx(false, cert2);
	struct str *why = str_new(2048);
	enum conn_handshake cr;
	struct duo d;

	/* Wrong name, verifying: the client refuses. */
	duo_open(&d);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(
	    conn_starttls_client(d.cli, strict, "other.example", why), 0);
	(void)pump(&d, &cr, why);
	assert_int_equal(cr, CONN_HS_ERROR);
	assert_non_null(strstr(str_c(why), "certificate"));
	duo_close(&d);

	/* Unknown CA, verifying: refused. */
	str_clear(why);
	duo_open(&d);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(conn_starttls_client(d.cli, other_ca, HOST, why), 0);
	(void)pump(&d, &cr, why);
	assert_int_equal(cr, CONN_HS_ERROR);
	duo_close(&d);

	/* Unknown CA, opportunistic: up, but not verified. */
	str_clear(why);
	duo_open(&d);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(conn_starttls_client(d.cli, lax, HOST, why), 0);
	assert_int_equal(pump(&d, &cr, why), CONN_HS_DONE);
	assert_int_equal(cr, CONN_HS_DONE);
	assert_false(conn_tls_verified(d.cli));
	duo_close(&d);

	tls_ctx_free(&s);
	tls_ctx_free(&strict);
	tls_ctx_free(&other_ca);
	tls_ctx_free(&lax);
	str_free(&why);
}

/* Wait (a hang guard, not a timing) until fd is ready for ev. */
static void
wait_fd(int fd, short ev)
{
	struct pollfd p = {.fd = fd, .events = ev};

	(void)poll(&p, 1, 10000);
}

/* A raw OpenSSL client limited to one protocol version. */
static int
raw_client(int fd, int version, struct str *info)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int rc = -1;

	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_connect_state(ssl);
	for (int i = 0; i < 2000; i++) {
		int r = SSL_do_handshake(ssl);
		if (r == 1) {
			rc = 0;
			if (info != NULL)
				assert_int_equal(tls_describe(ssl, info), 0);
			break;
		}
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
		wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return rc;
}

static void
test_protocol_floor(void **state)
{
	struct tls_ctx *s = server_ctx();
	struct str *why = str_new(2048), *info = str_new(256);
	const struct {
		int version;
		bool ok;
		const char *want;
	} cases[] = {
	    {TLS1_VERSION, false, NULL},
	    {TLS1_1_VERSION, false, NULL},
	    {TLS1_2_VERSION, true,
	        "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 "
	        "(256/256 bits)"},
	    {TLS1_3_VERSION, true, "TLSv1.3 with cipher"},
	};

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		int sv[2];
		pid_t pid;
		int st;

		assert_int_equal(
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		/* The client runs in a child: both ends make progress. */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(sv[0]);
			_exit(raw_client(sv[1], cases[i].version, NULL) == 0
			          ? 0
			          : 1);
		}
		close(sv[1]);
		struct conn *c = conn_new(sv[0]);
		enum conn_handshake r = CONN_HS_WANT_READ;
		str_clear(why);
		assert_int_equal(conn_starttls_server(c, s, why), 0);
		for (int k = 0; k < 20000; k++) {
			r = conn_handshake(c, why);
			if (r == CONN_HS_DONE || r == CONN_HS_ERROR)
				break;
			wait_fd(
			    sv[0], r == CONN_HS_WANT_READ ? POLLIN : POLLOUT);
		}
		if (cases[i].ok) {
			if (r != CONN_HS_DONE)
				fail_msg("version %x: %s", cases[i].version,
				    str_c(why));
			str_clear(info);
			assert_int_equal(conn_tls_describe(c, info), 0);
			if (strncmp(str_c(info), cases[i].want,
			        strlen(cases[i].want)) != 0)
				fail_msg("got \"%s\"", str_c(info));
		} else {
			assert_int_equal(r, CONN_HS_ERROR);
			assert_true(str_len(why) > 0);
			/* Final: no fall-back to plain text. */
			char b[4];
			assert_int_equal(conn_read(c, b, sizeof(b)), -1);
			assert_int_equal(errno, EPROTO);
			assert_int_equal(conn_write(c, "x", 1), -1);
		}
		conn_free(&c);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), cases[i].ok ? 0 : 1);
	}
	tls_ctx_free(&s);
	str_free(&why);
	str_free(&info);
}

static void
test_plaintext_instead_of_handshake(void **state)
{
	struct tls_ctx *s = server_ctx();
	struct str *why = str_new(2048);
	struct duo d;
	char buf[16];
	enum conn_handshake r = CONN_HS_WANT_READ;

	/*
	 * RFC 3207 §4.2: a client that goes on in clear after STARTTLS
	 * ("STARTTLS\r\nRSET\r\n" in one packet, CVE-2011-0411): what is
	 * still in the socket reaches the handshake, which fails.
	 */
	duo_open(&d);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(
	    conn_write(d.cli, "RSET\r\nMAIL FROM:<a@b>\r\n", 23), 23);
	for (int i = 0; i < 10 && r != CONN_HS_ERROR; i++)
		r = conn_handshake(d.srv, why);
	assert_int_equal(r, CONN_HS_ERROR);
	assert_true(str_len(why) > 0);
	assert_int_equal(conn_read(d.srv, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EPROTO);
	duo_close(&d);

	/* A client that hangs up during the handshake: an error too. */
	str_clear(why);
	duo_open(&d);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	conn_free(&d.cli);
	r = conn_handshake(d.srv, why);
	assert_int_equal(r, CONN_HS_ERROR);
	duo_close(&d);

	/* Plain reads and writes before STARTTLS drive no handshake. */
	struct conn *c = conn_new(-1);
	assert_int_equal(conn_handshake(c, why), CONN_HS_ERROR);
	conn_free(&c);
	tls_ctx_free(&s);
	str_free(&why);
}

static void
test_partial_writes(void **state)
{
	struct tls_ctx *s = server_ctx(), *c = client_ctx(false, NULL);
	struct str *why = str_new(2048), *out = str_new(1 << 22);
	enum conn_handshake cr;
	size_t total = 1 << 21, got = 0;
	char *in = malloc(total);
	int bufsz = 4096;
	struct duo d;

	duo_open(&d);
	assert_int_equal(setsockopt(conn_fd(d.srv), SOL_SOCKET, SO_SNDBUF,
	                     &bufsz, sizeof(bufsz)),
	    0);
	assert_int_equal(conn_starttls_server(d.srv, s, why), 0);
	assert_int_equal(conn_starttls_client(d.cli, c, HOST, why), 0);
	assert_int_equal(pump(&d, &cr, why), CONN_HS_DONE);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(str_appendc(out, (char)('a' + i % 26)), 0);
	/*
	 * Write from the front of a string that is consumed as it goes
	 * (so the buffer moves, as smtpd's reply buffer does) while the
	 * other side reads slowly.
	 */
	bool blocked = false;
	while (str_len(out) > 0 || got < total) {
		if (str_len(out) > 0) {
			ssize_t n =
			    conn_write(d.srv, str_data(out), str_len(out));
			if (n > 0)
				str_consume(out, (size_t)n);
			else {
				assert_int_equal(errno, EAGAIN);
				assert_true(conn_wants(d.srv, true) & EV_WRITE);
				blocked = true;
			}
		}
		ssize_t r = conn_read(
		    d.cli, in + got, 1000 < total - got ? 1000 : total - got);
		if (r > 0)
			got += (size_t)r;
	}
	assert_true(blocked);
	for (size_t i = 0; i < total; i++)
		if (in[i] != (char)('a' + i % 26))
			fail_msg("byte %zu differs", i);
	duo_close(&d);
	free(in);
	tls_ctx_free(&s);
	tls_ctx_free(&c);
	str_free(&why);
	str_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selfsigned),
	    cmocka_unit_test(test_server_load),
	    cmocka_unit_test(test_check_files),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_resumption),
	    cmocka_unit_test(test_verification),
	    cmocka_unit_test(test_protocol_floor),
	    cmocka_unit_test(test_plaintext_instead_of_handshake),
	    cmocka_unit_test(test_partial_writes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
