/*
 * util - small helpers every module uses: checked size arithmetic, number
 * parsing, assertions that are never compiled out, the STATUS_* outcome
 * values and x_free().
 *
 * Never: allocate behind the caller's back (except x_malloc and friends,
 * which abort on exhaustion as a broken invariant), or accept a number with
 * a sign, spaces or trailing junk.
 */
#ifndef FACTEUR_UTIL_H
#define FACTEUR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FCT_MUST_CHECK __attribute__((warn_unused_result))
#define FCT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define FCT_NORETURN __attribute__((noreturn))
#define FCT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Outcome of an operation that becomes a reply code. */
enum status {
	STATUS_OK = 0,
	STATUS_TEMP = 1, /* 4xx: try again later (a full disk is always TEMP) */
	STATUS_PERM = 2, /* 5xx: never going to work */
};

/* Always-on assertion: logs file, line and expression, then aborts. */
#define FCT_ASSERT(e)                                                        \
	((e) ? (void)0 : fct_assert_fail(#e, __FILE__, __LINE__))
FCT_NORETURN void fct_assert_fail(const char *expr, const char *file,
    int line);

/* *r = a + b or a * b; returns false (and leaves *r alone) on overflow. */
FCT_MUST_CHECK bool size_add(size_t a, size_t b, size_t *r);
FCT_MUST_CHECK bool size_mul(size_t a, size_t b, size_t *r);

/*
 * Parse len bytes of s as a decimal number no greater than max.  Rejects
 * empty input, signs, spaces, overflow and anything but digits.  Returns 0
 * and sets *v_r, or -1.
 */
FCT_MUST_CHECK int num_parse_u64(const char *s, size_t len, uint64_t max,
    uint64_t *v_r);

/* Allocation that cannot fail: exhaustion is a broken invariant. */
void *x_malloc(size_t n);
void *x_calloc(size_t n, size_t size);
void *x_realloc(void *p, size_t n);
char *x_strdup(const char *s);
char *x_strndup(const char *s, size_t n);
/* free(*pp) and set *pp to NULL; pp may point to NULL. */
#define x_free(pp) x_free_impl((void **)(pp))
void x_free_impl(void **pp);

/* ASCII helpers that never depend on the locale. */
int ascii_tolower(int c);
bool ascii_strcaseeq(const char *a, const char *b);
bool ascii_memcaseeq(const void *a, const void *b, size_t n);
void ascii_lower(char *s);
/* True when s holds a control byte (below 0x20) or DEL. */
bool ascii_has_ctl(const char *s);

/* Monotonic and wall-clock time in milliseconds / microseconds. */
uint64_t time_mono_ms(void);
uint64_t time_real_us(void);

/* Close *fdp if >= 0, set it to -1; returns close()'s result. */
int fd_close(int *fdp);
/* Open /dev/null on any of descriptors 0, 1, 2 that is closed; 0 or -1. */
FCT_MUST_CHECK int fd_ensure_std(void);
/* Set or clear O_NONBLOCK / FD_CLOEXEC; return 0 or -1. */
FCT_MUST_CHECK int fd_set_nonblock(int fd, bool on);
FCT_MUST_CHECK int fd_set_cloexec(int fd, bool on);

#endif
