/*
 * diag - bounded list of located errors and warnings.
 *
 * Never: lose the count of problems, even past the kept lines.
 */
#include "lib/diag.h"

#include <stdarg.h>
#include <string.h>

#include "lib/log.h"
#include "lib/str.h"

struct diag {
	struct str *text;
	unsigned errors, warnings, lines;
};

struct diag *
diag_new(void)
{
	struct diag *d = x_calloc(1, sizeof(*d));

	d->text = str_new(DIAG_MAX_LINES * 512);
	return d;
}

void
diag_free(struct diag **dp)
{
	if (*dp == NULL)
		return;
	str_free(&(*dp)->text);
	x_free(dp);
}

static FCT_PRINTF(5, 0) void
diag_add(struct diag *d, const char *kind, const char *file, unsigned line,
    const char *fmt, va_list ap)
{
	char msg[400];

	if (d->lines++ >= DIAG_MAX_LINES)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	if (file != NULL && line > 0)
		str_notef(d->text, "%s:%u: %s%s\n", file, line, kind, msg);
	else if (file != NULL)
		str_notef(d->text, "%s: %s%s\n", file, kind, msg);
	else
		str_notef(d->text, "%s%s\n", kind, msg);
}

void
diag_error(struct diag *d, const char *file, unsigned line, const char *fmt,
    ...)
{
	va_list ap;

	d->errors++;
	va_start(ap, fmt);
	diag_add(d, "error: ", file, line, fmt, ap);
	va_end(ap);
}

void
diag_warn(struct diag *d, const char *file, unsigned line, const char *fmt,
    ...)
{
	va_list ap;

	d->warnings++;
	va_start(ap, fmt);
	diag_add(d, "warning: ", file, line, fmt, ap);
	va_end(ap);
}

unsigned
diag_errors(const struct diag *d)
{
	return d->errors;
}

unsigned
diag_warnings(const struct diag *d)
{
	return d->warnings;
}

const char *
diag_text(const struct diag *d)
{
	return str_c(d->text);
}

void
diag_print(const struct diag *d, FILE *f, const char *prefix)
{
	const char *p = str_c(d->text);

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(f, "%s%.*s\n", prefix, (int)n, p);
		p += n + (nl ? 1 : 0);
	}
	if (d->lines > DIAG_MAX_LINES)
		fprintf(f, "%s(%u more problems not shown)\n", prefix,
		    d->lines - DIAG_MAX_LINES);
}

void
diag_log(const struct diag *d)
{
	const char *p = str_c(d->text);

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		int n = (int)(nl ? (size_t)(nl - p) : strlen(p));
		if (strstr(p, "error: ") != NULL &&
		    (nl == NULL || strstr(p, "error: ") < nl))
			log_err("%.*s", n, p);
		else
			log_warn("%.*s", n, p);
		p += n + (nl ? 1 : 0);
	}
}
