/*
 * mastercf - parse master.cf into service entries.
 *
 * Never: keep a half-parsed entry, or accept a program name with a '/'
 * (programs come from daemon_directory only).
 */
#include "lib/mastercf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cfgtext.h"
#include "lib/config.h"
#include "lib/str.h"

#define MASTERCF_FILE_MAX (1 << 20)

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Split text into at most max whitespace-separated words (borrowed). */
static size_t
split_words(char *text, char **words, size_t max, bool *overflow_r)
{
	size_t n = 0;
	char *p = text;

	*overflow_r = false;
	for (;;) {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (n == max) {
			*overflow_r = true;
			break;
		}
		words[n++] = p;
		while (*p != '\0' && !is_space(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

static int
parse_yn(const char *w, bool def, bool *v_r)
{
	if (strcmp(w, "-") == 0)
		*v_r = def;
	else if (strcmp(w, "y") == 0)
		*v_r = true;
	else if (strcmp(w, "n") == 0)
		*v_r = false;
	else
		return -1;
	return 0;
}

static int
parse_num(const char *w, unsigned max, unsigned *v_r)
{
	uint64_t v;
	size_t n = strlen(w);

	if (strcmp(w, "-") == 0) {
		*v_r = 0;
		return 0;
	}
	if (n > 0 && w[n - 1] == '?') /* Postfix: wake only when used */
		n--;
	if (num_parse_u64(w, n, max, &v) < 0)
		return -1;
	*v_r = (unsigned)v;
	return 0;
}

static void
service_free(struct mastercf_service *s)
{
	free(s->name);
	free(s->command);
	free(s->file);
	for (size_t i = 0; i < s->nargs; i++)
		free(s->args[i]);
	free(s->args);
	for (size_t i = 0; i < s->noverrides; i++)
		free(s->overrides[i]);
	free(s->overrides);
	memset(s, 0, sizeof(*s));
}

static int
parse_entry(struct mastercf *mcf, const char *file, unsigned line,
    char *text, struct diag *d)
{
	char *w[8 + MASTERCF_MAX_ARGS];
	bool overflow, unpriv;
	struct mastercf_service s = { 0 };
	size_t n = split_words(text, w, FCT_NELEM(w), &overflow);

	if (overflow) {
		diag_error(d, file, line, "more than %d arguments",
		    MASTERCF_MAX_ARGS);
		return -1;
	}
	if (n < 8) {
		diag_error(d, file, line,
		    "want 8 fields: service type private unpriv chroot "
		    "wakeup maxproc command");
		return -1;
	}
	if (strcmp(w[1], "inet") == 0)
		s.type = MASTERCF_INET;
	else if (strcmp(w[1], "unix") == 0)
		s.type = MASTERCF_UNIX;
	else if (strcmp(w[1], "unix-dgram") == 0)
		s.type = MASTERCF_UNIX_DGRAM;
	else {
		diag_error(d, file, line,
		    "bad service type \"%s\": want inet, unix or unix-dgram",
		    w[1]);
		return -1;
	}
	if (parse_yn(w[2], true, &s.private_) < 0 ||
	    parse_yn(w[3], true, &unpriv) < 0 ||
	    parse_yn(w[4], false, &s.chroot) < 0) {
		diag_error(d, file, line,
		    "private, unpriv and chroot want y, n or -");
		return -1;
	}
	if (!unpriv) {
		diag_error(d, file, line,
		    "unpriv n is refused: only master runs as root");
		return -1;
	}
	if (parse_num(w[5], 86400 * 7, &s.wakeup) < 0) {
		diag_error(d, file, line, "bad wakeup time \"%s\"", w[5]);
		return -1;
	}
	if (parse_num(w[6], 100000, &s.maxproc) < 0) {
		diag_error(d, file, line, "bad process limit \"%s\"", w[6]);
		return -1;
	}
	if (strchr(w[7], '/') != NULL || w[7][0] == '.') {
		diag_error(d, file, line,
		    "command \"%s\" must be a program name in "
		    "daemon_directory", w[7]);
		return -1;
	}
	const char *nm = w[0];
	/* "auth/NAME" lives in the auth folder (see mastercf.h). */
	const char *base = s.type == MASTERCF_UNIX &&
		strncmp(nm, MASTERCF_AUTH_PREFIX,
		    strlen(MASTERCF_AUTH_PREFIX)) == 0
	    ? nm + strlen(MASTERCF_AUTH_PREFIX)
	    : nm;
	if (s.type != MASTERCF_INET &&
	    (base[0] == '\0' || strchr(base, '/') != NULL ||
		base[0] == '.' || strlen(nm) > 64)) {
		diag_error(d, file, line, "bad socket name \"%s\"", nm);
		return -1;
	}
	for (size_t i = 0; i < mcf->n; i++)
		if (strcmp(mcf->v[i].name, nm) == 0 &&
		    mcf->v[i].type == s.type) {
			diag_error(d, file, line,
			    "service %s/%s already defined at line %u", nm,
			    w[1], mcf->v[i].line);
			return -1;
		}
	s.name = x_strdup(nm);
	s.command = x_strdup(w[7]);
	s.file = x_strdup(file);
	s.line = line;
	s.args = x_calloc(n - 8 + 1, sizeof(char *));
	s.overrides = x_calloc(n - 8 + 1, sizeof(char *));
	for (size_t i = 8; i < n; i++) {
		if (strcmp(w[i], "-o") == 0) {
			struct config *scratch = config_new("/");
			if (i + 1 == n ||
			    config_override(scratch, w[i + 1], file, line, d) <
				0) {
				if (i + 1 == n)
					diag_error(d, file, line,
					    "-o wants name=value");
				config_free(&scratch);
				service_free(&s);
				return -1;
			}
			config_free(&scratch);
			s.overrides[s.noverrides++] = x_strdup(w[++i]);
			continue;
		}
		s.args[s.nargs++] = x_strdup(w[i]);
	}
	if (mcf->n == MASTERCF_MAX_SERVICES) {
		diag_error(d, file, line, "more than %d services",
		    MASTERCF_MAX_SERVICES);
		service_free(&s);
		return -1;
	}
	mcf->v = x_realloc(mcf->v, (mcf->n + 1) * sizeof(*mcf->v));
	mcf->v[mcf->n++] = s;
	return 0;
}

struct parse_ctx {
	struct mastercf *mcf;
	const char *file;
	struct diag *d;
};

static void
one_entry(const char *entry, size_t len, unsigned line, void *arg)
{
	struct parse_ctx *pc = arg;
	char *copy = x_strndup(entry, len);

	(void)parse_entry(pc->mcf, pc->file, line, copy, pc->d); /* in d */
	free(copy);
}

unsigned
mastercf_parse(struct mastercf *mcf, const char *file, const uint8_t *text,
    size_t len, struct diag *d)
{
	struct parse_ctx pc = { mcf, file, d };
	unsigned before = diag_errors(d);

	(void)cfgtext_entries(file, text, len, CONFIG_LINE_MAX, d, one_entry,
	    &pc);
	return diag_errors(d) - before;
}

unsigned
mastercf_read(struct mastercf *mcf, const char *config_dir, struct diag *d)
{
	struct str *path = str_new(4096);
	uint8_t *buf = NULL;
	unsigned errors = 1;
	size_t len;

	if (str_appendf(path, "%s/master.cf", config_dir) < 0)
		diag_error(d, config_dir, 0, "path too long");
	else if (cfgtext_read(str_c(path), MASTERCF_FILE_MAX, &buf, &len, d) ==
	    0)
		errors = mastercf_parse(mcf, str_c(path), buf, len, d);
	free(buf);
	str_free(&path);
	return errors;
}

void
mastercf_free(struct mastercf *mcf)
{
	for (size_t i = 0; i < mcf->n; i++)
		service_free(&mcf->v[i]);
	free(mcf->v);
	mcf->v = NULL;
	mcf->n = 0;
}

const char *
mastercf_type_name(enum mastercf_type t)
{
	switch (t) {
	case MASTERCF_INET:
		return "inet";
	case MASTERCF_UNIX:
		return "unix";
	case MASTERCF_UNIX_DGRAM:
		return "unix-dgram";
	}
	return "?";
}

bool
mastercf_same_service(const struct mastercf_service *a,
    const struct mastercf_service *b)
{
	return a->type == b->type && strcmp(a->name, b->name) == 0;
}
