/*
 * map_text - text tables to entries: lines, logical entries, formats.
 *
 * Bytes go into a linebuf (MAP_LINE_MAX); each physical line is checked
 * (NUL, control bytes), then joined into the current logical entry or
 * starts a new one; a finished entry is split by its format, checked,
 * folded and handed to the callback.
 *
 * Never: report an error without FILE:LINE, or let a bad entry reach the
 * callback.
 */
#include "lib/map_text.h"

#include <stdlib.h>
#include <string.h>

#include "lib/linebuf.h"
#include "lib/log.h"
#include "lib/users.h"

struct map_text {
	enum map_format fmt;
	char *file;
	struct diag *d;  /* borrowed */
	map_text_fn *fn; /* borrowed */
	void *arg;       /* borrowed */
	struct linebuf *lb;
	struct str *entry; /* the logical entry being joined */
	struct str *key;   /* folded key handed to fn */
	struct str *value; /* normalised value handed to fn */
	struct str *why;
	unsigned line;       /* physical lines seen */
	unsigned entry_line; /* where the entry began */
	bool have;           /* entry holds something */
	bool bad;            /* entry already earned an error */
	bool stopped;        /* fn returned -1 */
	unsigned errors;
};

/* clang-format off */
static const char *const format_names[] = {
	[MAP_FORMAT_TABLE] = "table",
	[MAP_FORMAT_ALIASES] = "aliases",
	[MAP_FORMAT_USERS] = "users",
};
/* clang-format on */

const char *
map_format_name(enum map_format f)
{
	return (size_t)f < FCT_NELEM(format_names) ? format_names[f] : "?";
}

int
map_format_parse(const char *name, enum map_format *f_r)
{
	for (size_t i = 0; i < FCT_NELEM(format_names); i++)
		if (strcmp(name, format_names[i]) == 0) {
			*f_r = (enum map_format)i;
			return 0;
		}
	return -1;
}

enum map_format
map_format_guess(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (strcmp(base, "aliases") == 0)
		return MAP_FORMAT_ALIASES;
	if (strcmp(base, "users") == 0)
		return MAP_FORMAT_USERS;
	return MAP_FORMAT_TABLE;
}

struct map_text *
map_text_new(enum map_format fmt, const char *file, struct diag *d,
    map_text_fn *fn, void *arg)
{
	struct map_text *t = x_calloc(1, sizeof(*t));

	t->fmt = fmt;
	t->file = x_strdup(file);
	t->d = d;
	t->fn = fn;
	t->arg = arg;
	t->lb = linebuf_new(MAP_LINE_MAX);
	t->entry = str_new(MAP_VALUE_MAX);
	t->key = str_new(MAP_KEY_MAX);
	t->value = str_new(MAP_VALUE_MAX);
	t->why = str_new(1024);
	return t;
}

void
map_text_free(struct map_text **tp)
{
	struct map_text *t = *tp;

	if (t == NULL)
		return;
	linebuf_free(&t->lb);
	str_free(&t->entry);
	str_free(&t->key);
	str_free(&t->value);
	str_free(&t->why);
	free(t->file);
	x_free(tp);
}

unsigned
map_text_errors(const struct map_text *t)
{
	return t->errors;
}

/* Report an error at FILE:LINE and count it. */
#define error(t, line, ...)                                                    \
	do {                                                                   \
		diag_error((t)->d, (t)->file, (line), __VA_ARGS__);            \
		(t)->errors++;                                                 \
	} while (0)

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Hand one entry to the callback. */
static void
emit(struct map_text *t, bool implied)
{
	struct map_text_entry e = {
	    .key = str_c(t->key),
	    .key_len = str_len(t->key),
	    .value = str_c(t->value),
	    .value_len = str_len(t->value),
	    .line = t->entry_line,
	    .implied = implied,
	};

	if (!t->stopped && t->fn(&e, t->arg) < 0)
		t->stopped = true;
}

/* Set t->key to the folded key; -1 (reported) when unusable. */
static int
set_key(struct map_text *t, const char *k, size_t len)
{
	struct log_esc esc;

	if (len == 0) {
		error(t, t->entry_line, "missing key");
		return -1;
	}
	if (len > MAP_KEY_MAX) {
		error(t, t->entry_line, "key \"%.40s...\" longer than %d bytes",
		    log_escape(&esc, k, 40), MAP_KEY_MAX);
		return -1;
	}
	str_clear(t->key);
	for (size_t i = 0; i < len; i++)
		if (str_appendc(
		        t->key, (char)ascii_tolower((unsigned char)k[i])) < 0)
			return -1; /* cannot happen: len <= cap */
	return 0;
}

/* "key value": split at the first blank, value trimmed. */
static void
split_blank(
    const char *p, size_t len, size_t *klen_r, const char **v_r, size_t *vlen_r)
{
	size_t k = 0, v, e = len;

	while (k < len && !is_blank(p[k]))
		k++;
	v = k;
	while (v < len && is_blank(p[v]))
		v++;
	while (e > v && is_blank(p[e - 1]))
		e--;
	*klen_r = k;
	*v_r = p + v;
	*vlen_r = e - v;
}

static void
entry_table(struct map_text *t, const char *p, size_t len)
{
	const char *v;
	size_t klen, vlen;

	split_blank(p, len, &klen, &v, &vlen);
	if (set_key(t, p, klen) < 0)
		return;
	if (vlen == 0) {
		error(t, t->entry_line,
		    "missing value for key \"%s\" "
		    "(want \"key value\")",
		    str_c(t->key));
		return;
	}
	str_clear(t->value);
	if (str_append(t->value, v, vlen) < 0)
		return; /* cannot happen: value is part of the entry */
	emit(t, false);
}

static bool
has_prefix_ci(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && ascii_memcaseeq(p, prefix, n);
}

/* One alias target; 0, or -1 (reported). */
static int
alias_target(struct map_text *t, const char *p, size_t len)
{
	static const char refused[] = "<>();\\:";
	struct log_esc esc;
	const char *at;

	if (memchr(p, '"', len) != NULL) {
		error(t, t->entry_line, "quoted targets are not supported yet");
		return -1;
	}
	if (has_prefix_ci(p, len, ":include:")) {
		error(t, t->entry_line, ":include: is not supported yet");
		return -1;
	}
	if (p[0] == '|') {
		error(t, t->entry_line,
		    "delivery to a command (|command) is not supported yet");
		return -1;
	}
	if (p[0] == '/') {
		error(t, t->entry_line,
		    "delivery to a file (/file) is not supported yet");
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (memchr(refused, p[i], sizeof(refused) - 1) != NULL) {
			error(t, t->entry_line,
			    "target \"%s\": '%c' is not supported "
			    "(want plain addresses or names)",
			    log_escape(&esc, p, len), p[i]);
			return -1;
		}
	at = memrchr(p, '@', len);
	if (at != NULL && (at == p || at == p + len - 1)) {
		error(t, t->entry_line, "target \"%s\": empty %s",
		    log_escape(&esc, p, len),
		    at == p ? "local part" : "domain");
		return -1;
	}
	if ((str_len(t->value) > 0 && str_append(t->value, ", ", 2) < 0) ||
	    str_append(t->value, p, len) < 0) {
		error(t, t->entry_line, "targets longer than %d bytes",
		    MAP_VALUE_MAX);
		return -1;
	}
	return 0;
}

static void
entry_aliases(struct map_text *t, const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	size_t klen, i;
	bool bad = false;

	if (colon == NULL) {
		error(t, t->entry_line,
		    "missing ':' (want \"name: target, ...\")");
		return;
	}
	klen = (size_t)(colon - p);
	while (klen > 0 && is_blank(p[klen - 1]))
		klen--;
	if (klen > 0 && p[0] == '"') {
		error(t, t->entry_line, "quoted alias names are not supported");
		return;
	}
	for (i = 0; i < klen; i++)
		if (is_blank(p[i])) {
			error(t, t->entry_line,
			    "blank inside the alias name (want \"name: "
			    "target, ...\")");
			return;
		}
	if (set_key(t, p, klen) < 0)
		return;
	str_clear(t->value);
	i = (size_t)(colon - p) + 1;
	while (i < len) {
		size_t s;

		while (i < len && (is_blank(p[i]) || p[i] == ','))
			i++;
		s = i;
		while (i < len && !is_blank(p[i]) && p[i] != ',')
			i++;
		if (i > s && alias_target(t, p + s, i - s) < 0)
			bad = true;
	}
	if (bad)
		return;
	if (str_len(t->value) == 0) {
		error(t, t->entry_line, "alias \"%s\" has no targets",
		    str_c(t->key));
		return;
	}
	emit(t, false);
}

static void
entry_users(struct map_text *t, const char *p, size_t len)
{
	struct users_entry u;
	const char *v;
	size_t klen, vlen, at;

	split_blank(p, len, &klen, &v, &vlen);
	str_clear(t->why);
	if (klen == 0 || users_address_check(p, klen, &at, t->why) < 0) {
		error(t, t->entry_line, "bad address: %s",
		    klen == 0 ? "missing" : str_c(t->why));
		return;
	}
	if (users_value_parse(v, vlen, &u, t->why) < 0) {
		error(t, t->entry_line, "%s", str_c(t->why));
		return;
	}
	if (set_key(t, p, klen) < 0)
		return;
	str_clear(t->value);
	if (users_value_format(&u, t->value) < 0)
		return; /* cannot happen: the value cap is far larger */
	emit(t, false);
	/* p[at] is '@' (USERS_DOMAIN_PREFIX): the key "@domain". */
	if (set_key(t, p + at, klen - at) < 0)
		return;
	str_clear(t->value);
	emit(t, true);
}

/* The current logical entry is complete. */
static void
entry_end(struct map_text *t)
{
	const char *p = str_c(t->entry);
	size_t len = str_len(t->entry);

	if (!t->have)
		return;
	t->have = false;
	if (t->bad)
		return;
	switch (t->fmt) {
	case MAP_FORMAT_TABLE:
		entry_table(t, p, len);
		break;
	case MAP_FORMAT_ALIASES:
		entry_aliases(t, p, len);
		break;
	case MAP_FORMAT_USERS:
		entry_users(t, p, len);
		break;
	}
}

/* The first NUL or control byte other than tab, or -1. */
static int
find_ctl(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return p[i];
	return -1;
}

/* One physical line (without its line end). */
static void
line(struct map_text *t, const uint8_t *p, size_t len)
{
	size_t k = 0;
	int ctl;

	t->line++;
	while (k < len && is_blank((char)p[k]))
		k++;
	if (k == len || p[k] == '#')
		return; /* blank or comment: neither starts nor ends */
	if (k > 0 && !t->have) {
		error(
		    t, t->line, "continuation line without an entry before it");
		return;
	}
	if (k == 0) {
		entry_end(t);
		str_clear(t->entry);
		t->have = true;
		t->bad = false;
		t->entry_line = t->line;
	}
	if ((ctl = find_ctl(p, len)) >= 0) {
		if (ctl == 0)
			error(t, t->line, "NUL byte in line");
		else
			error(t, t->line, "control byte 0x%02x in line", ctl);
		t->bad = true;
		return;
	}
	if (t->bad)
		return;
	if ((k > 0 && str_appendc(t->entry, ' ') < 0) ||
	    str_append(t->entry, p + k, len - k) < 0) {
		error(t, t->line, "entry longer than %d bytes", MAP_VALUE_MAX);
		t->bad = true;
	}
}

static void
too_long(struct map_text *t)
{
	t->line++;
	error(t, t->line, "line longer than %d bytes", MAP_LINE_MAX);
	/* Whatever this line belonged to is broken; do not guess. */
	if (t->have)
		t->bad = true;
}

/* Take every complete line out of the buffer. */
static void
drain(struct map_text *t)
{
	const uint8_t *l;
	size_t len;

	for (;;) {
		switch (linebuf_next(t->lb, &l, &len)) {
		case LINEBUF_MORE:
			return;
		case LINEBUF_LINE:
			line(t, l, len);
			break;
		case LINEBUF_TOOLONG:
			too_long(t);
			break;
		}
	}
}

int
map_text_feed(struct map_text *t, const uint8_t *p, size_t n)
{
	while (n > 0 && !t->stopped) {
		size_t got = linebuf_push(t->lb, p, n);

		p += got;
		n -= got;
		/*
		 * A drained linebuf holds at most one partial line of
		 * limit + 1 bytes in a buffer of twice the limit, so every
		 * push makes progress.
		 */
		FCT_ASSERT(got > 0);
		drain(t);
	}
	return t->stopped ? -1 : 0;
}

int
map_text_finish(struct map_text *t)
{
	const uint8_t *rest;
	size_t len;

	if (!t->stopped) {
		drain(t);
		rest = linebuf_peek(t->lb, &len);
		if (len > 0) {
			/* The last line had no line end. */
			if (rest[len - 1] == '\r')
				len--;
			if (len > MAP_LINE_MAX)
				too_long(t);
			else
				line(t, rest, len);
			linebuf_reset(t->lb);
		}
		entry_end(t);
	}
	return t->stopped || t->errors > 0 ? -1 : 0;
}

int
map_text_parse(enum map_format fmt, const char *file, const uint8_t *text,
    size_t len, struct diag *d, map_text_fn *fn, void *arg)
{
	struct map_text *t = map_text_new(fmt, file, d, fn, arg);
	int rc;

	if (map_text_feed(t, text, len) < 0)
		rc = -1;
	else
		rc = map_text_finish(t);
	map_text_free(&t);
	return rc;
}
