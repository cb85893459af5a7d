/*
 * config - main.cf parsing and $name expansion.
 *
 * Settings are kept in a small array in file order; lookups are linear
 * (a main.cf has dozens of lines, and programs resolve it once at start).
 *
 * Never: trust the text: every line is bounded, every name checked for
 * shape, every expansion bounded in depth and size.
 */
#include "lib/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cfgtext.h"
#include "lib/params.h"

struct setting {
	char *name;
	char *value;
	char *file;
	unsigned line;
};

struct config {
	char *dir;
	struct setting *v;
	size_t n, alloc;
};

struct config *
config_new(const char *config_dir)
{
	struct config *cfg = x_calloc(1, sizeof(*cfg));

	cfg->dir = x_strdup(config_dir);
	return cfg;
}

void
config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->v[i].name);
		free(cfg->v[i].value);
		free(cfg->v[i].file);
	}
	free(cfg->v);
	free(cfg->dir);
	x_free(cfgp);
}

static struct setting *
find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (strcmp(cfg->v[i].name, name) == 0)
			return &cfg->v[i];
	return NULL;
}

static void
put(struct config *cfg, const char *name, size_t nlen, const char *value,
    size_t vlen, const char *file, unsigned line)
{
	char *nm = x_strndup(name, nlen);
	struct setting *s = find(cfg, nm);

	if (s == NULL) {
		if (cfg->n == cfg->alloc) {
			cfg->alloc = cfg->alloc ? cfg->alloc * 2 : 32;
			cfg->v = x_realloc(cfg->v, cfg->alloc * sizeof(*cfg->v));
		}
		s = &cfg->v[cfg->n++];
		s->name = nm;
	} else {
		free(nm);
		free(s->value);
		free(s->file);
	}
	s->value = x_strndup(value, vlen);
	s->file = file ? x_strdup(file) : NULL;
	s->line = line;
}

void
config_set(struct config *cfg, const char *name, const char *value)
{
	put(cfg, name, strlen(name), value, strlen(value), NULL, 0);
}

static bool
is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One logical entry: "name = value" (already joined from continuation
 * lines).  Returns 0 or -1 with the problem reported.
 */
static int
parse_entry(struct config *cfg, const char *file, unsigned line,
    const char *p, size_t len, struct diag *d)
{
	size_t i = 0, nstart, nend, vstart, vend;

	while (i < len && is_space((unsigned char)p[i]))
		i++;
	nstart = i;
	while (i < len && is_name_char((unsigned char)p[i]))
		i++;
	nend = i;
	while (i < len && is_space((unsigned char)p[i]))
		i++;
	if (nend == nstart || i >= len || p[i] != '=') {
		diag_error(d, file, line,
		    "bad syntax: expected \"name = value\"");
		return -1;
	}
	i++;
	while (i < len && is_space((unsigned char)p[i]))
		i++;
	vstart = i;
	vend = len;
	while (vend > vstart && is_space((unsigned char)p[vend - 1]))
		vend--;
	for (size_t k = vstart; k < vend; k++)
		if ((unsigned char)p[k] < 0x20 && p[k] != '\t') {
			diag_error(d, file, line,
			    "control character in value of %.*s",
			    (int)(nend - nstart), p + nstart);
			return -1;
		}
	struct setting *old;
	char *nm = x_strndup(p + nstart, nend - nstart);
	if ((old = find(cfg, nm)) != NULL && old->file != NULL &&
	    strcmp(old->file, file) == 0)
		diag_warn(d, file, line, "%s is set again (first at line %u)",
		    nm, old->line);
	if (!param_known(nm))
		diag_warn(d, file, line, "unknown parameter %s", nm);
	free(nm);
	put(cfg, p + nstart, nend - nstart, p + vstart, vend - vstart, file,
	    line);
	return 0;
}

struct parse_ctx {
	struct config *cfg;
	const char *file;
	struct diag *d;
};

static void
one_entry(const char *entry, size_t len, unsigned line, void *arg)
{
	struct parse_ctx *pc = arg;

	(void)parse_entry(pc->cfg, pc->file, line, entry, len, pc->d);
}

unsigned
config_parse(struct config *cfg, const char *file, const uint8_t *text,
    size_t len, struct diag *d)
{
	struct parse_ctx pc = { cfg, file, d };
	unsigned before = diag_errors(d);

	(void)cfgtext_entries(file, text, len, CONFIG_LINE_MAX, d, one_entry,
	    &pc);
	return diag_errors(d) - before;
}

unsigned
config_read_main(struct config *cfg, struct diag *d)
{
	struct str *path = str_new(4096);
	uint8_t *buf = NULL;
	unsigned errors = 1;
	size_t len;

	if (str_appendf(path, "%s/main.cf", cfg->dir) < 0)
		diag_error(d, cfg->dir, 0, "configuration path too long");
	else if (cfgtext_read(str_c(path), CONFIG_FILE_MAX, &buf, &len, d) == 0)
		errors = config_parse(cfg, str_c(path), buf, len, d);
	free(buf);
	str_free(&path);
	return errors;
}

int
config_override(struct config *cfg, const char *assign, const char *origin,
    unsigned line, struct diag *d)
{
	const char *eq = strchr(assign, '=');
	size_t nlen;

	if (eq == NULL || eq == assign) {
		diag_error(d, origin, line, "bad override \"%s\": want name=value",
		    assign);
		return -1;
	}
	nlen = (size_t)(eq - assign);
	while (nlen > 0 && is_space((unsigned char)assign[nlen - 1]))
		nlen--;
	for (size_t i = 0; i < nlen; i++)
		if (!is_name_char((unsigned char)assign[i])) {
			diag_error(d, origin, line, "bad parameter name in \"%s\"",
			    assign);
			return -1;
		}
	eq++;
	while (is_space((unsigned char)*eq))
		eq++;
	char *nm = x_strndup(assign, nlen);
	if (!param_known(nm))
		diag_warn(d, origin, line, "unknown parameter %s", nm);
	free(nm);
	put(cfg, assign, nlen, eq, strlen(eq), origin, line);
	return 0;
}

const char *
config_dir(const struct config *cfg)
{
	return cfg->dir;
}

const char *
config_raw(const struct config *cfg, const char *name)
{
	const struct setting *s;

	if (strcmp(name, "config_directory") == 0)
		return cfg->dir;
	s = find(cfg, name);
	return s ? s->value : NULL;
}

const char *
config_origin(const struct config *cfg, const char *name, unsigned *line_r)
{
	const struct setting *s = find(cfg, name);

	if (s == NULL)
		return NULL;
	if (line_r != NULL)
		*line_r = s->line;
	return s->file;
}

void
config_foreach(const struct config *cfg, config_visit_fn *fn, void *arg)
{
	for (size_t i = 0; i < cfg->n; i++)
		fn(cfg->v[i].name, cfg->v[i].value, cfg->v[i].file,
		    cfg->v[i].line, arg);
}

/* The value a name stands for before expansion, or NULL if undefined. */
static const char *
lookup_raw(const struct config *cfg, const char *name, struct str *scratch)
{
	const char *v = config_raw(cfg, name);

	if (v != NULL)
		return v;
	return param_default(name, cfg, scratch);
}

static int
expand_rec(const struct config *cfg, const char *text, struct str *out,
    unsigned depth, const char *file, unsigned line, struct diag *d)
{
	if (depth > CONFIG_EXPAND_DEPTH) {
		diag_error(d, file, line,
		    "parameter expansion nested too deep (a loop?)");
		return -1;
	}
	for (const char *p = text; *p != '\0';) {
		const char *dollar = strchr(p, '$');
		size_t lit = dollar ? (size_t)(dollar - p) : strlen(p);

		if (str_append(out, p, lit) < 0)
			goto toolong;
		if (dollar == NULL)
			break;
		p = dollar + 1;
		if (*p == '$') {
			if (str_appendc(out, '$') < 0)
				goto toolong;
			p++;
			continue;
		}
		const char *nstart = p, *nend;
		bool braced = (*p == '{' || *p == '(');
		char close = *p == '{' ? '}' : ')';
		if (braced)
			nstart = ++p;
		while (is_name_char((unsigned char)*p))
			p++;
		nend = p;
		if (nend == nstart || (braced && *p != close)) {
			diag_error(d, file, line, "bad $ expression in \"%s\"",
			    text);
			return -1;
		}
		if (braced)
			p++;
		char *nm = x_strndup(nstart, (size_t)(nend - nstart));
		struct str *scratch = str_new(CONFIG_VALUE_MAX);
		const char *v = lookup_raw(cfg, nm, scratch);
		int rc = 0;
		if (v == NULL) {
			diag_error(d, file, line, "undefined parameter $%s",
			    nm);
			rc = -1;
		} else {
			char *copy = x_strdup(v);
			rc = expand_rec(cfg, copy, out, depth + 1, file, line,
			    d);
			free(copy);
		}
		str_free(&scratch);
		free(nm);
		if (rc < 0)
			return -1;
	}
	return 0;
toolong:
	diag_error(d, file, line, "expanded value longer than %zu bytes",
	    str_cap(out));
	return -1;
}

int
config_expand(const struct config *cfg, const char *text, struct str *out,
    const char *file, unsigned line, struct diag *d)
{
	return expand_rec(cfg, text, out, 0, file, line, d);
}

int
config_expand_name(const struct config *cfg, const char *name,
    struct str *out, struct diag *d)
{
	struct str *scratch = str_new(CONFIG_VALUE_MAX);
	const char *v = lookup_raw(cfg, name, scratch);
	unsigned line = 0;
	const char *file = config_origin(cfg, name, &line);
	int rc;

	if (v == NULL) {
		diag_error(d, NULL, 0, "unknown parameter %s", name);
		str_free(&scratch);
		return -1;
	}
	char *copy = x_strdup(v);
	rc = config_expand(cfg, copy, out, file, line, d);
	free(copy);
	str_free(&scratch);
	return rc;
}
