/*
 * test_queue_read - the queue-file parser on damaged input: unknown
 * versions, bad magic, a file cut at every length, garbled bytes,
 * hand-built records out of order or out of shape, and I/O errors from
 * the source.  Corrupt is STATUS_PERM, I/O is STATUS_TEMP, never a crash.
 */
#include "test_queue_fixture.h"

/* A good file written by the writer: 3 rcpts, 2 attrs, 500 bytes. */
static uint8_t *
good_file(struct fx *f, size_t *len_r)
{
	struct msg m = {"sender@example.org", 2, 3, 500, 0};
	uint8_t *c = make_content(m.content_len, 42);
	char id[QUEUE_ID_SIZE];

	assert_int_equal(write_msg(f->q, &m, c, id, f->why), STATUS_OK);
	free(c);
	return slurp(f, QUEUE_INCOMING, id, len_r);
}

static enum status
parse_mem(const uint8_t *b, size_t len, size_t limit, struct queue_env *env,
    struct str *why)
{
	struct queue_mem mem = {b, len};

	str_clear(why);
	return queue_env_parse(queue_pread_mem, &mem, limit, env, why);
}

/* A failed parse leaves an empty envelope. */
static void
assert_empty(const struct queue_env *env)
{
	assert_null(env->sender);
	assert_null(env->rcpts);
	assert_null(env->attrs);
	assert_int_equal(env->nrcpts, 0);
}

static void
test_good(void **state)
{
	struct fx *f = *state;
	struct queue_env env;
	size_t len;
	uint8_t *b = good_file(f, &len);

	assert_memory_equal(b, QUEUE_MAGIC, QUEUE_MAGIC_LEN);
	assert_int_equal(parse_mem(b, len, LIMIT, &env, f->why), STATUS_OK);
	assert_int_equal(env.nrcpts, 3);
	assert_true(env.file_size == len);
	assert_int_equal(b[len - QUEUE_REC_HEAD], QUEUE_REC_END);
	queue_env_clear(&env);
	free(b);
}

static void
test_versions(void **state)
{
	static const struct {
		uint32_t version;
		enum status want;
	} cases[] = {
	    {0, STATUS_PERM},
	    {1, STATUS_OK},
	    {2, STATUS_PERM},
	    {0x100, STATUS_PERM},
	    {0x01000000, STATUS_PERM},
	    {0xffffffff, STATUS_PERM},
	};
	struct fx *f = *state;
	struct queue_env env;
	size_t len;
	uint8_t *b = good_file(f, &len);

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		uint32_t v = cases[i].version;
		b[8] = (uint8_t)(v >> 24);
		b[9] = (uint8_t)(v >> 16);
		b[10] = (uint8_t)(v >> 8);
		b[11] = (uint8_t)v;
		enum status st = parse_mem(b, len, LIMIT, &env, f->why);
		if (st != cases[i].want)
			fail_msg("version %u: status %d", v, st);
		if (st == STATUS_OK) {
			queue_env_clear(&env);
			continue;
		}
		assert_empty(&env);
		assert_non_null(strstr(str_c(f->why), "corrupt"));
		assert_non_null(strstr(str_c(f->why), "version"));
	}
	/* Every byte of the magic matters. */
	for (size_t i = 0; i < QUEUE_MAGIC_LEN; i++) {
		b[i] ^= 0x20;
		assert_int_equal(
		    parse_mem(b, len, LIMIT, &env, f->why), STATUS_PERM);
		assert_non_null(strstr(str_c(f->why), "magic"));
		b[i] ^= 0x20;
	}
	free(b);
}

/* Missing END: a good file cut at every length is corrupt. */
static void
test_truncated_every_length(void **state)
{
	struct fx *f = *state;
	struct queue_env env;
	size_t len;
	uint8_t *b = good_file(f, &len);

	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so ASan sees any overread. */
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, b, n);
		enum status st = parse_mem(cut, n, LIMIT, &env, f->why);
		if (st != STATUS_PERM)
			fail_msg("cut at %zu: status %d", n, st);
		assert_empty(&env);
		assert_non_null(strstr(str_c(f->why), "corrupt"));
		free(cut);
	}
	free(b);
}

/* Anything after END is corrupt too. */
static void
test_trailing_data(void **state)
{
	struct fx *f = *state;
	struct queue_env env;
	size_t len;
	uint8_t *b = good_file(f, &len);
	uint8_t *more = malloc(len + QUEUE_REC_HEAD);

	memcpy(more, b, len);
	more[len] = '\n';
	assert_int_equal(
	    parse_mem(more, len + 1, LIMIT, &env, f->why), STATUS_PERM);
	assert_non_null(strstr(str_c(f->why), "after END"));
	memcpy(more + len, b + len - QUEUE_REC_HEAD, QUEUE_REC_HEAD);
	assert_int_equal(
	    parse_mem(more, len + QUEUE_REC_HEAD, LIMIT, &env, f->why),
	    STATUS_PERM);
	free(more);
	free(b);
}

/*
 * Every byte of the envelope garbled three ways: OK or corrupt, never a
 * crash, never an I/O error.  Garbled content is still a good file.
 */
static void
test_garbled(void **state)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	struct fx *f = *state;
	struct queue_env env;
	size_t len, perm = 0, total = 0;
	uint8_t *b = good_file(f, &len);

	assert_int_equal(parse_mem(b, len, LIMIT, &env, f->why), STATUS_OK);
	uint64_t coff = env.content_off, clen = env.content_len;
	queue_env_clear(&env);
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < FCT_NELEM(masks); k++) {
			b[i] ^= masks[k];
			enum status st = parse_mem(b, len, LIMIT, &env, f->why);
			b[i] ^= masks[k];
			total++;
			if (st == STATUS_PERM) {
				assert_empty(&env);
				perm++;
				continue;
			}
			if (st != STATUS_OK)
				fail_msg("byte %zu ^ %02x: status %d", i,
				    masks[k], st);
			if (i >= coff && i < coff + clen)
				assert_true(env.content_len == clen);
			assert_true(env.nrcpts >= 1);
			assert_true(
			    env.content_off + env.content_len <= env.file_size);
			queue_env_clear(&env);
		}
	}
	/* Content bytes never matter; most envelope bytes do. */
	assert_true(perm > 0);
	assert_true(total - perm >= 3 * clen);
	free(b);
}

/* ---- hand-built files ---- */

struct fb {
	uint8_t b[4096];
	size_t len;
};

static void
fb_bytes(struct fb *x, const void *p, size_t n)
{
	assert_true(x->len + n <= sizeof(x->b));
	memcpy(x->b + x->len, p, n);
	x->len += n;
}

static void
fb_be(struct fb *x, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		uint8_t c = (uint8_t)(v >> (8 * i));
		fb_bytes(x, &c, 1);
	}
}

/* One record of the given type, payload given as (p, n). */
static void
fb_rec(struct fb *x, char type, const void *p, size_t n)
{
	fb_bytes(x, &type, 1);
	fb_be(x, n, 4);
	fb_bytes(x, p, n);
}

/*
 * Build a file from a tiny script, one token a character:
 *   H header   T time   S sender "s@x"   N null sender   A attr "a=b"
 *   R rcpt     D done rcpt   C content "hi"   Z empty content   E end
 *   X unknown type   t bad time length   e END with payload
 *   f rcpt with unknown flag   n rcpt with NEVER|SUCCESS
 *   0 rcpt addr_len 0   L rcpt addr_len past the payload
 *   u NUL in rcpt   U NUL in sender   q attr without '='
 *   k attr bad name   B content length 2^63   O content past EOF
 *   G record length 0xffffffff   s rcpt shorter than its fixed part
 */
static void
fb_script(struct fb *x, const char *script)
{
	static const uint8_t t8[8] = {0, 6, 0x0a, 0, 0, 0, 0, 1};

	x->len = 0;
	for (const char *p = script; *p != '\0'; p++) {
		switch (*p) {
		case 'H':
			fb_bytes(x, QUEUE_MAGIC, QUEUE_MAGIC_LEN);
			fb_be(x, QUEUE_FORMAT_VERSION, 4);
			break;
		case 'T':
			fb_rec(x, 'T', t8, 8);
			break;
		case 't':
			fb_rec(x, 'T', t8, 7);
			break;
		case 'S':
			fb_rec(x, 'S', "s@x", 3);
			break;
		case 'N':
			fb_rec(x, 'S', "", 0);
			break;
		case 'U':
			fb_rec(x, 'S', "s\0x", 3);
			break;
		case 'A':
			fb_rec(x, 'A', "a=b", 3);
			break;
		case 'q':
			fb_rec(x, 'A', "ab", 2);
			break;
		case 'k':
			fb_rec(x, 'A', "a b=c", 5);
			break;
		case 'R':
			fb_rec(x, 'R', "\0\0\0\0\0\3r@xr@x", 12);
			break;
		case 'D':
			fb_rec(x, 'R', "\1\4\0\0\0\3r@x", 9);
			break;
		case 'f':
			fb_rec(x, 'R', "\2\0\0\0\0\3r@x", 9);
			break;
		case 'n':
			fb_rec(x, 'R', "\0\3\0\0\0\3r@x", 9);
			break;
		case '0':
			fb_rec(x, 'R', "\0\0\0\0\0\0r@x", 9);
			break;
		case 'L':
			fb_rec(x, 'R', "\0\0\0\0\0\4r@x", 9);
			break;
		case 'u':
			fb_rec(x, 'R', "\0\0\0\0\0\3r\0x", 9);
			break;
		case 's':
			fb_rec(x, 'R', "\0\0\0\0\0", 5);
			break;
		case 'C':
			fb_bytes(x, "C", 1);
			fb_be(x, 2, 8);
			fb_bytes(x, "hi", 2);
			break;
		case 'Z':
			fb_bytes(x, "C", 1);
			fb_be(x, 0, 8);
			break;
		case 'B':
			fb_bytes(x, "C", 1);
			fb_be(x, UINT64_C(1) << 63, 8);
			break;
		case 'O':
			fb_bytes(x, "C", 1);
			fb_be(x, 1000, 8);
			fb_bytes(x, "hi", 2);
			break;
		case 'E':
			fb_rec(x, 'E', "", 0);
			break;
		case 'e':
			fb_rec(x, 'E', "x", 1);
			break;
		case 'X':
			fb_rec(x, 'X', "x", 1);
			break;
		case 'G':
			fb_bytes(x, "S", 1);
			fb_be(x, 0xffffffff, 4);
			break;
		default:
			fail_msg("bad script token %c", *p);
		}
	}
}

static void
test_records_table(void **state)
{
	static const struct {
		const char *script;
		enum status want;
		const char *why; /* expected in the message, or NULL */
	} cases[] = {
	    {"HTSRCE", STATUS_OK, NULL},
	    {"HTNRZE", STATUS_OK, NULL},
	    {"HTSAARRRCE", STATUS_OK, NULL},
	    {"HTSDRCE", STATUS_OK, NULL},
	    {"", STATUS_PERM, "header"},
	    {"H", STATUS_PERM, "missing END"},
	    {"HTSRC", STATUS_PERM, "missing END"},
	    {"HTSRCEE", STATUS_PERM, "after END"},
	    {"HSTRCE", STATUS_PERM, "order"},
	    {"HTTSRCE", STATUS_PERM, "order"},
	    {"HTSSRCE", STATUS_PERM, "order"},
	    {"HTSCE", STATUS_PERM, "order"},
	    {"HTSRACE", STATUS_PERM, "order"},
	    {"HTSRCCE", STATUS_PERM, "order"},
	    {"HTSRE", STATUS_PERM, "order"},
	    {"HTSRCRE", STATUS_PERM, "order"},
	    {"HTXSRCE", STATUS_PERM, "unknown record type"},
	    {"HtSRCE", STATUS_PERM, "time"},
	    {"HTSRCe", STATUS_PERM, "payload"},
	    {"HTURCE", STATUS_PERM, "NUL in sender"},
	    {"HTSqRCE", STATUS_PERM, "bad attribute"},
	    {"HTSkRCE", STATUS_PERM, "attribute name"},
	    {"HTSfCE", STATUS_PERM, "flags"},
	    {"HTSnCE", STATUS_PERM, "notify"},
	    {"HTS0CE", STATUS_PERM, "address length"},
	    {"HTSLCE", STATUS_PERM, "address length"},
	    {"HTSuCE", STATUS_PERM, "NUL in recipient"},
	    {"HTSsCE", STATUS_PERM, "too short"},
	    {"HTSRBE", STATUS_PERM, "too large"},
	    {"HTSROE", STATUS_PERM, "missing END"},
	    {"HTG", STATUS_PERM, "exceeds limit"},
	};
	struct fx *f = *state;
	struct queue_env env;
	struct fb x;

	for (size_t i = 0; i < FCT_NELEM(cases); i++) {
		fb_script(&x, cases[i].script);
		enum status st = parse_mem(x.b, x.len, 1024, &env, f->why);
		if (st != cases[i].want)
			fail_msg("%s: status %d (%s)", cases[i].script, st,
			    str_c(f->why));
		if (cases[i].why != NULL &&
		    strstr(str_c(f->why), cases[i].why) == NULL)
			fail_msg("%s: %s", cases[i].script, str_c(f->why));
		if (st == STATUS_OK)
			queue_env_clear(&env);
		else
			assert_empty(&env);
	}
	/* The done flag and its offset. */
	fb_script(&x, "HTSDRCE");
	assert_int_equal(parse_mem(x.b, x.len, 1024, &env, f->why), STATUS_OK);
	assert_int_equal(env.ndone, 1);
	assert_int_equal(env.rcpts[0].flags, QUEUE_RCPT_DONE);
	assert_int_equal(env.rcpts[0].notify, QUEUE_NOTIFY_FAILURE);
	assert_int_equal(x.b[env.rcpts[0].flags_off], 1);
	assert_int_equal(x.b[env.rcpts[1].flags_off], 0);
	assert_string_equal(env.rcpts[1].orig, "r@x");
	assert_string_equal(env.rcpts[0].orig, "");
	assert_true(env.content_len == 2);
	assert_memory_equal(x.b + env.content_off, "hi", 2);
	queue_env_clear(&env);
}

/* ---- the source ---- */

/* A memory source that misbehaves on purpose. */
struct bad_src {
	struct queue_mem mem;
	uint64_t fail_at; /* reads touching [fail_at, ...) fail with EIO */
	size_t max_read;  /* > 0: return at most this much */
	int eintr;        /* fail this many reads with EINTR first */
	bool too_much;    /* claim one byte more than asked */
};

static ssize_t
bad_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct bad_src *s = ctx;

	if (s->eintr > 0) {
		s->eintr--;
		errno = EINTR;
		return -1;
	}
	if (off + len > s->fail_at) {
		errno = EIO;
		return -1;
	}
	if (s->max_read > 0 && len > s->max_read)
		len = s->max_read;
	ssize_t n = queue_pread_mem(&s->mem, buf, len, off);
	if (s->too_much && n >= 0)
		return (ssize_t)len + 1;
	return n;
}

static void
test_source_errors(void **state)
{
	struct fx *f = *state;
	struct queue_env env;
	size_t len;
	uint8_t *b = good_file(f, &len);
	struct bad_src s;

	/* EIO anywhere in the file: STATUS_TEMP, never corrupt. */
	for (uint64_t at = 0; at <= len; at += 7) {
		s = (struct bad_src){{b, len}, at, 0, 0, false};
		str_clear(f->why);
		assert_int_equal(
		    queue_env_parse(bad_pread, &s, LIMIT, &env, f->why),
		    STATUS_TEMP);
		assert_non_null(strstr(str_c(f->why), "read:"));
		assert_empty(&env);
	}
	/* Short reads and EINTR are not errors. */
	s = (struct bad_src){{b, len}, UINT64_MAX, 1, 3, false};
	str_clear(f->why);
	if (queue_env_parse(bad_pread, &s, LIMIT, &env, f->why) != STATUS_OK)
		fail_msg("short reads: %s", str_c(f->why));
	/* Content reads through the same source. */
	uint8_t buf[64];
	size_t n;
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 0, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_OK);
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 500, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 490, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_OK);
	assert_int_equal(n, 10);
	s.fail_at = env.content_off + 10;
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 0, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_TEMP);
	/* A file that shrank under us: its content is corrupt. */
	s = (struct bad_src){
	    {b, (size_t)env.content_off + 100}, UINT64_MAX, 0, 0, false};
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 36, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_OK);
	str_clear(f->why);
	assert_int_equal(queue_content_read(bad_pread, &s, &env, 90, buf,
	                     sizeof(buf), &n, f->why),
	    STATUS_PERM);
	assert_non_null(strstr(str_c(f->why), "corrupt"));
	queue_env_clear(&env);
	/* A source that returns more than asked is an error, not trusted. */
	s = (struct bad_src){{b, len}, UINT64_MAX, 0, 0, true};
	assert_int_equal(
	    queue_env_parse(bad_pread, &s, LIMIT, &env, f->why), STATUS_TEMP);
	free(b);
}

/* The read-ahead source gives what pread gives, at every offset. */
static void
test_fdbuf(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * QUEUE_FDBUF_SIZE + 123;
	uint8_t *data = make_content(n, 9), *a = malloc(n + 1),
	        *b = malloc(n + 1);
	char path[160];
	struct queue_fdbuf *rb = calloc(1, sizeof(*rb));
	uint32_t seed = 7;
	int fd;

	snprintf(path, sizeof(path), "%s/fdbuf", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	rb->fd = fd;
	for (int i = 0; i < 2000; i++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t off = (seed >> 8) % (n + 10);
		seed = seed * 1103515245u + 12345u;
		size_t len = i % 50 == 0 ? QUEUE_FDBUF_SIZE + (seed >> 8) % 100
		                         : (seed >> 8) % 300;
		ssize_t got = queue_pread_fdbuf(rb, a, len, off);
		ssize_t want = pread(fd, b, len, (off_t)off);
		/* Short reads are allowed; what comes must match. */
		assert_true(got >= 0 && got <= want);
		assert_true(got > 0 || want == 0 || len == 0);
		assert_memory_equal(a, b, (size_t)got);
	}
	close(fd);
	free(rb);
	free(data);
	free(a);
	free(b);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_fdbuf),
	    T(test_good),
	    T(test_versions),
	    T(test_truncated_every_length),
	    T(test_trailing_data),
	    T(test_garbled),
	    T(test_records_table),
	    T(test_source_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
