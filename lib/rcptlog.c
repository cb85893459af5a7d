/*
 * rcptlog - defer/<id> recipient status logs (see rcptlog.h).
 *
 * Never: trust an index or a length from the file before checking it.
 */
#include "lib/rcptlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/pctword.h"
#include "lib/queue_id.h"

#define INDEX_MAX (UINT64_C(1) << 32)

void
rcptlog_clear(struct rcptlog *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].relay);
		free(l->v[i].text);
	}
	free(l->v);
	*l = (struct rcptlog){ 0 };
}

/* Position of index in l->v, or where it would go. */
static size_t
position(const struct rcptlog *l, size_t index, bool *found_r)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].index == index) {
			*found_r = true;
			return mid;
		}
		if (l->v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = false;
	return lo;
}

static bool
dsn_ok(const char *dsn)
{
	size_t n = strlen(dsn);

	if (n < 5 || n >= sizeof(((struct rcptlog_entry *)0)->dsn) ||
	    (dsn[0] != '2' && dsn[0] != '4' && dsn[0] != '5') || dsn[1] != '.')
		return false;
	return strspn(dsn + 2, "0123456789.") == n - 2;
}

void
rcptlog_set(struct rcptlog *l, size_t index, const char *dsn,
    const char *relay, const char *text)
{
	bool found;
	size_t at = position(l, index, &found);
	struct rcptlog_entry *e;

	if (found) {
		e = &l->v[at];
		free(e->relay);
		free(e->text);
	} else {
		l->v = x_realloc(l->v, (l->n + 1) * sizeof(*l->v));
		memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(*l->v));
		l->n++;
		e = &l->v[at];
	}
	e->index = index;
	snprintf(e->dsn, sizeof(e->dsn), "%s",
	    dsn != NULL && dsn_ok(dsn) ? dsn : "4.0.0");
	e->relay = x_strndup(relay ? relay : "", RCPTLOG_RELAY_MAX);
	e->text = x_strndup(text ? text : "", RCPTLOG_TEXT_MAX);
}

const struct rcptlog_entry *
rcptlog_find(const struct rcptlog *l, size_t index)
{
	bool found;
	size_t at = position(l, index, &found);

	return found ? &l->v[at] : NULL;
}

int
rcptlog_format(const struct rcptlog *l, struct str *out)
{
	int rc = 0;

	for (size_t i = 0; i < l->n && rc == 0; i++) {
		rc |= str_appendf(out, "rcpt %zu ", l->v[i].index);
		rc |= pctword_put(out, l->v[i].dsn);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, l->v[i].relay);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, l->v[i].text);
		rc |= str_appendc(out, '\n');
	}
	if (l->warned != 0)
		rc |= str_appendf(out, "warned %llu\n",
		    (unsigned long long)l->warned);
	return rc ? -1 : 0;
}

#define WORDS_MAX 5

/* Split line into words at single spaces; -1 for empty words or too many. */
static int
split(const char *line, size_t n, const char **w, size_t *wl, size_t *nw)
{
	size_t i = 0;

	*nw = 0;
	if (n == 0)
		return -1;
	while (i <= n) {
		size_t start = i;
		while (i < n && line[i] != ' ')
			i++;
		if (i == start || *nw == WORDS_MAX)
			return -1;
		w[*nw] = line + start;
		wl[(*nw)++] = i - start;
		i++;
	}
	return 0;
}

static int
parse_line(const char *line, size_t len, struct rcptlog *l, struct str *why)
{
	const char *w[WORDS_MAX];
	size_t wl[WORDS_MAX], nw;
	uint64_t v;

	if (split(line, len, w, wl, &nw) < 0) {
		str_notef(why, "bad line");
		return -1;
	}
	if (wl[0] == 6 && memcmp(w[0], "warned", 6) == 0) {
		if (nw != 2 || num_parse_u64(w[1], wl[1], UINT64_MAX, &v) < 0) {
			str_notef(why, "bad warned line");
			return -1;
		}
		l->warned = v;
		return 0;
	}
	if (!(wl[0] == 4 && memcmp(w[0], "rcpt", 4) == 0))
		return 0; /* a newer writer's record */
	if (nw != 5 || num_parse_u64(w[1], wl[1], INDEX_MAX, &v) < 0) {
		str_notef(why, "bad rcpt line");
		return -1;
	}
	char *dsn = pctword_get(w[2], wl[2]);
	char *relay = pctword_get(w[3], wl[3]);
	char *text = pctword_get(w[4], wl[4]);
	int rc = 0;
	if (dsn == NULL || relay == NULL || text == NULL || !dsn_ok(dsn)) {
		str_notef(why, "bad rcpt values");
		rc = -1;
	} else {
		rcptlog_set(l, (size_t)v, dsn, relay, text);
	}
	free(dsn);
	free(relay);
	free(text);
	return rc;
}

int
rcptlog_parse(const uint8_t *p, size_t n, struct rcptlog *l, struct str *why)
{
	size_t start = 0;

	*l = (struct rcptlog){ 0 };
	if (n > RCPTLOG_FILE_MAX) {
		str_notef(why, "log too long");
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		str_notef(why, "NUL in log");
		return -1;
	}
	while (start < n) {
		const uint8_t *nl = memchr(p + start, '\n', n - start);
		if (nl == NULL) {
			str_notef(why, "last line without newline");
			goto bad;
		}
		size_t len = (size_t)(nl - (p + start));
		if (parse_line((const char *)p + start, len, l, why) < 0)
			goto bad;
		start += len + 1;
	}
	return 0;
bad:
	rcptlog_clear(l);
	return -1;
}

int
rcptlog_read(struct queue *q, enum queue_folder f, const char *id,
    struct rcptlog *l, struct str *why)
{
	int dfd = queue_folder_fd(q, f), fd, rc = -1;
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	*l = (struct rcptlog){ 0 };
	if (dfd < 0 || !queue_id_valid(id)) {
		str_notef(why, "rcptlog: bad folder or id");
		return -1;
	}
	fd = openat(dfd, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		str_notef(why, "open %s/%s: %s", queue_folder_name(f), id,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > RCPTLOG_FILE_MAX) {
		str_notef(why, "%s/%s: not a log or too long",
		    queue_folder_name(f), id);
		goto out;
	}
	buf = x_malloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got,
		    (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_notef(why, "read %s/%s: %s", queue_folder_name(f),
			    id, strerror(errno));
			goto out;
		}
		if (n == 0)
			break; /* shrank meanwhile: parse what is there */
		got += (size_t)n;
	}
	rc = rcptlog_parse(buf, got, l, why) < 0 ? -1 : 1;
out:
	free(buf);
	(void)close(fd); /* read-only */
	return rc;
}

int
rcptlog_write(struct queue *q, enum queue_folder f, const char *id,
    const struct rcptlog *l, struct str *why)
{
	int tfd = queue_folder_fd(q, QUEUE_TMP), dfd = queue_folder_fd(q, f);
	struct str *text = str_new(RCPTLOG_FILE_MAX);
	char name[64];
	int fd = -1, rc = -1, e;

	if (tfd < 0 || dfd < 0 || !queue_id_valid(id)) {
		str_notef(why, "rcptlog: bad folder or id");
		goto out;
	}
	if (rcptlog_format(l, text) < 0) {
		str_notef(why, "rcptlog: log too long");
		goto out;
	}
	snprintf(name, sizeof(name), "rcptlog.%s.%llu", id,
	    (unsigned long long)queue_next_serial(q));
	fd = fsio_openat(tfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		str_notef(why, "create tmp/%s: %s", name, strerror(errno));
		goto out;
	}
	if (fsio_write_all(fd, str_data(text), str_len(text)) < 0 ||
	    fsio_fsync(fd) < 0) {
		e = errno;
		str_notef(why, "write tmp/%s: %s", name, strerror(e));
		goto unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		str_notef(why, "close tmp/%s: %s", name, strerror(errno));
		goto unlink;
	}
	fd = -1;
	/* Replacing the old log is the point (lib/fsio.h). */
	if (fsio_rename(tfd, name, dfd, id) < 0) {
		str_notef(why, "rename tmp/%s to %s/%s: %s", name,
		    queue_folder_name(f), id, strerror(errno));
		goto unlink;
	}
	if (queue_folder_sync(q, f, why) < 0)
		goto out;
	rc = 0;
	goto out;
unlink:
	/* Best effort: a stale tmp/ file is swept at the next start. */
	if (fsio_unlinkat(tfd, name, 0) < 0 && errno != ENOENT)
		str_notef(why, " (and tmp/%s stays)", name);
out:
	if (fd >= 0)
		(void)close(fd); /* failed file, removed above */
	str_free(&text);
	return rc;
}

int
rcptlog_remove(struct queue *q, enum queue_folder f, const char *id,
    struct str *why)
{
	int dfd = queue_folder_fd(q, f);

	if (dfd < 0 || !queue_id_valid(id)) {
		str_notef(why, "rcptlog: bad folder or id");
		return -1;
	}
	if (fsio_unlinkat(dfd, id, 0) < 0 && errno != ENOENT) {
		str_notef(why, "remove %s/%s: %s", queue_folder_name(f), id,
		    strerror(errno));
		return -1;
	}
	return 0;
}
