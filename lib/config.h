/*
 * config - main.cf: raw "name = value" settings with their origin, and
 * $name / ${name} expansion against settings and the parameter defaults.
 *
 * main.cf syntax (as Postfix): "name = value" lines, '#' comments on lines
 * of their own, a line that starts with whitespace continues the one
 * before, blank lines ignored.  A later setting of a name replaces an
 * earlier one with a warning.  Service overrides (master.cf "-o
 * name=value") are applied on top with config_override().
 *
 * Never: accept a line it cannot place (every error names FILE:LINE), read
 * a line longer than CONFIG_LINE_MAX, or expand without a depth limit.
 */
#ifndef FACTEUR_CONFIG_H
#define FACTEUR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/str.h"
#include "lib/util.h"

#define CONFIG_LINE_MAX 65536	  /* one logical main.cf entry */
#define CONFIG_FILE_MAX (4 << 20) /* a main.cf larger than this is refused */
#define CONFIG_EXPAND_DEPTH 20
#define CONFIG_VALUE_MAX 65536

struct config;

/* An empty configuration rooted at config_dir (copied). */
struct config *config_new(const char *config_dir);
void config_free(struct config **cfgp);

/*
 * Parse main.cf text.  file names the source in messages.  Problems go to
 * d; returns the number of errors found in this text.
 */
unsigned config_parse(struct config *cfg, const char *file,
    const uint8_t *text, size_t len, struct diag *d);
/* Read and parse $config_dir/main.cf; a missing file is an error. */
unsigned config_read_main(struct config *cfg, struct diag *d);

/*
 * Apply "name=value" from origin (e.g. "master.cf:12").  Returns 0 or -1
 * (malformed), with the problem in d.
 */
FCT_MUST_CHECK int config_override(struct config *cfg, const char *assign,
    const char *origin, unsigned line, struct diag *d);
/* Set name to value directly (used by tools); origin may be NULL. */
void config_set(struct config *cfg, const char *name, const char *value);

const char *config_dir(const struct config *cfg);
/* Raw value as written, or NULL when not set. */
const char *config_raw(const struct config *cfg, const char *name);
/* Where name was set ("main.cf:12") or NULL. */
const char *config_origin(const struct config *cfg, const char *name,
    unsigned *line_r);

/* Visit every name set, in file order. */
typedef void config_visit_fn(const char *name, const char *value,
    const char *file, unsigned line, void *arg);
void config_foreach(const struct config *cfg, config_visit_fn *fn, void *arg);

/*
 * Expand $name and ${name} in text ("$$" is a literal '$') into out,
 * looking names up as set, else as the parameter table's default.  An
 * undefined name or a loop is an error into d (located at file:line when
 * given).  Returns 0 or -1.
 */
FCT_MUST_CHECK int config_expand(const struct config *cfg, const char *text,
    struct str *out, const char *file, unsigned line, struct diag *d);
/* The expanded value of one parameter (set or default) into out. */
FCT_MUST_CHECK int config_expand_name(const struct config *cfg,
    const char *name, struct str *out, struct diag *d);

#endif
