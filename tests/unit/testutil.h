/*
 * testutil - helpers the cmocka tests share: removing a temporary folder
 * tree, and building a lookup table from text into a folder.
 *
 * Never: be included outside tests/unit/.
 */
#ifndef FACTEUR_TESTUTIL_H
#define FACTEUR_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/diag.h"
#include "lib/map_build.h"
#include "lib/map_text.h"

/* Remove dir and everything below it; 0 or -1. */
static inline int
test_rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue; /* cannot name it: leave it */
		if (unlink(path) < 0)
			(void)test_rm_rf(path); /* a folder: recurse */
	}
	closedir(d);
	return rmdir(dir);
}

/*
 * Write text to dir/name, build it as a table of format fmt, and return
 * its reference "lmdb:dir/name" (a static buffer), or NULL (the problems
 * are printed).
 */
static inline const char *
test_build_table(const char *dir, const char *name, const char *text,
    enum map_format fmt)
{
	static char ref[4200];
	struct map_owner own = MAP_OWNER_DEFAULT;
	struct diag *d = diag_new();
	char path[4096];
	FILE *f;
	int rc;

	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		diag_free(&d);
		return NULL;
	}
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		diag_free(&d);
		return NULL;
	}
	rc = map_build_file(path, fmt, &own, d);
	if (rc < 0)
		fprintf(stderr, "%s", diag_text(d));
	diag_free(&d);
	n = snprintf(ref, sizeof(ref), "lmdb:%s", path);
	return rc < 0 || n < 0 || (size_t)n >= sizeof(ref) ? NULL : ref;
}

#endif
