/*
 * cfgtext - configuration files: bounded reads and logical entries.
 *
 * Never: read past the text, or let an entry grow past its bound.
 */
#include "lib/cfgtext.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/str.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

unsigned
cfgtext_entries(const char *file, const uint8_t *text, size_t len,
    size_t max_entry, struct diag *d, cfgtext_entry_fn *fn, void *arg)
{
	unsigned before = diag_errors(d), line = 0, entry_line = 0;
	struct str *entry = str_new(max_entry);
	bool have = false, toolong = false;
	size_t pos = 0;

	for (;;) {
		bool eof = pos >= len;
		const char *l = (const char *)text + pos;
		size_t llen = 0, k = 0;

		if (!eof) {
			const uint8_t *nl = memchr(text + pos, '\n', len - pos);
			llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
			pos += llen + (nl ? 1 : 0);
			line++;
			if (llen > 0 && l[llen - 1] == '\r')
				llen--;
			if (memchr(l, '\0', llen) != NULL) {
				diag_error(d, file, line, "NUL byte in line");
				continue;
			}
			while (k < llen && is_blank(l[k]))
				k++;
			/* Blank and comment lines neither start nor end one. */
			if (k == llen || l[k] == '#')
				continue;
			if (k > 0) {
				if (!have)
					diag_error(d, file, line,
					    "continuation line without an "
					    "entry");
				else if (str_appendc(entry, ' ') < 0 ||
				    str_append(entry, l + k, llen - k) < 0)
					toolong = true;
				continue;
			}
		}
		if (have) {
			if (toolong)
				diag_error(d, file, entry_line,
				    "entry longer than %zu bytes", max_entry);
			else
				fn(str_c(entry), str_len(entry), entry_line,
				    arg);
			have = false;
		}
		if (eof)
			break;
		str_clear(entry);
		toolong = str_append(entry, l, llen) < 0;
		entry_line = line;
		have = true;
	}
	str_free(&entry);
	return diag_errors(d) - before;
}

int
cfgtext_read(const char *path, size_t max, uint8_t **buf_r, size_t *len_r,
    struct diag *d)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		diag_error(d, path, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		diag_error(d, path, 0, "not a regular file of at most %zu bytes",
		    max);
		goto fail;
	}
	buf = x_malloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			diag_error(d, path, 0, "read: %s",
			    n < 0 ? strerror(errno) : "file shrank");
			goto fail;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	(void)fd_close(&fd); /* read-only: nothing to lose */
	*buf_r = buf;
	*len_r = got;
	return 0;
fail:
	free(buf);
	(void)fd_close(&fd); /* read-only: nothing to lose */
	return -1;
}
