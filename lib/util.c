/*
 * util - checked arithmetic, number parsing, allocation and assertions.
 *
 * Never: return a value computed from an overflowed size, or print to
 * anything but the log (fct_assert_fail goes through log_err).
 */
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

void
fct_assert_fail(const char *expr, const char *file, int line)
{
	log_err("panic: assertion failed: %s (%s:%d)", expr, file, line);
	abort();
}

bool
size_add(size_t a, size_t b, size_t *r)
{
	if (b > SIZE_MAX - a)
		return false;
	*r = a + b;
	return true;
}

bool
size_mul(size_t a, size_t b, size_t *r)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*r = a * b;
	return true;
}

int
num_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

static void *
check_alloc(void *p)
{
	FCT_ASSERT(p != NULL);
	return p;
}

void *
x_malloc(size_t n)
{
	return check_alloc(malloc(n ? n : 1));
}

void *
x_calloc(size_t n, size_t size)
{
	return check_alloc(calloc(n ? n : 1, size ? size : 1));
}

void *
x_realloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n ? n : 1));
}

char *
x_strdup(const char *s)
{
	return check_alloc(strdup(s));
}

char *
x_strndup(const char *s, size_t n)
{
	return check_alloc(strndup(s, n));
}

void
x_free_impl(void **pp)
{
	free(*pp);
	*pp = NULL;
}

int
ascii_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool
ascii_memcaseeq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (ascii_tolower(x[i]) != ascii_tolower(y[i]))
			return false;
	return true;
}

bool
ascii_strcaseeq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && ascii_memcaseeq(a, b, n);
}

void
ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)ascii_tolower((unsigned char)*s);
}

bool
ascii_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

uint64_t
time_mono_ms(void)
{
	struct timespec ts;

	FCT_ASSERT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
time_real_us(void)
{
	struct timespec ts;

	FCT_ASSERT(clock_gettime(CLOCK_REALTIME, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
fd_close(int *fdp)
{
	int rc = 0;

	if (*fdp >= 0)
		rc = close(*fdp);
	*fdp = -1;
	return rc;
}

static int
fd_flag(int fd, int get, int set, int flag, bool on)
{
	int fl = fcntl(fd, get);

	if (fl < 0)
		return -1;
	fl = on ? (fl | flag) : (fl & ~flag);
	return fcntl(fd, set, fl) < 0 ? -1 : 0;
}

int
fd_set_nonblock(int fd, bool on)
{
	return fd_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK, on);
}

int
fd_set_cloexec(int fd, bool on)
{
	return fd_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, on);
}

int
fd_ensure_std(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -1;
		if (nfd != fd) {
			/* Lower descriptors are open, so nfd > fd: impossible. */
			(void)close(nfd);
			return -1;
		}
	}
	return 0;
}
