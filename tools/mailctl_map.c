/*
 * mailctl_map - `mailctl map build FILE`: compile a lookup table (format
 * from its name: aliases, users, or a plain table; -t FORMAT to say).
 *
 * Never: leave a half-built table where readers can see it (lib/map_build
 * replaces it atomically).
 */
#include <stdio.h>
#include <string.h>

#include "lib/diag.h"
#include "lib/map_build.h"
#include "tools/mailctl.h"

/* Is path the text of a passwd table (basename "passwd")? */
static bool
is_passwd(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strncmp(base, "lmdb:", 5) == 0)
		base += 5;
	return strcmp(base, "passwd") == 0;
}

/*
 * auth_owner: for a passwd table, whose group may read it (0640
 * root:facteur-auth, DESIGN §1); every other table is 0644.
 */
static int
build(const char *path, enum map_format fmt, const char *auth_owner,
    struct str *why)
{
	struct diag *d = diag_new();
	struct map_owner own = MAP_OWNER_DEFAULT;
	int rc = -1;

	if (is_passwd(path) &&
	    mailctl_passwd_owner(auth_owner, &own, why) < 0) {
		str_notef(why, " (auth_owner, for %s)", path);
		diag_free(&d);
		return -1;
	}
	rc = map_build_file(path, fmt, &own, d);

	if (diag_errors(d) > 0 || diag_warnings(d) > 0)
		diag_print(d, stderr, "mailctl: ");
	if (rc < 0)
		str_notef(why, "%s: table not built", path);
	diag_free(&d);
	return rc;
}

int
mailctl_map_build(const char *path, struct str *why)
{
	struct str *scratch = str_new(256);
	int rc = build(path, map_format_guess(path),
	    param_default("auth_owner", NULL, scratch), why);

	str_free(&scratch);
	return rc;
}

int
cmd_map(struct mailctl *mc, int argc, char **argv)
{
	struct str *why = str_new(512);
	enum map_format fmt;
	const char *path = NULL, *type = NULL;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			type = argv[++i];
		else if (path == NULL)
			path = argv[i];
		else
			path = "";
	}
	if (argc < 3 || strcmp(argv[1], "build") != 0 || path == NULL ||
	    path[0] == '\0') {
		fprintf(stderr,
		    "usage: mailctl map build [-t table|aliases|users] FILE\n");
		str_free(&why);
		return 2;
	}
	if (type != NULL) {
		if (map_format_parse(type, &fmt) < 0) {
			fprintf(stderr, "mailctl: unknown table format %s\n",
			    type);
			str_free(&why);
			return 2;
		}
	} else {
		fmt = map_format_guess(path);
	}
	if (is_passwd(path) && mailctl_load(mc, true) < 0) {
		str_free(&why);
		return 1;
	}
	rc = build(path, fmt, is_passwd(path) ? mc->p.auth_owner : NULL, why);
	if (rc < 0)
		fprintf(stderr, "mailctl: %s\n", str_c(why));
	str_free(&why);
	return rc < 0 ? 1 : 0;
}
