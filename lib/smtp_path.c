/*
 * smtp_path - MAIL/RCPT path parsing: domains, address literals, local
 * parts, source routes (RFC 5321 §4.1.2, §4.1.3; RFC 6531 for UTF-8).
 * The rules are listed at the top of lib/smtp_cmd.h.
 *
 * Never: read outside [p, p + n), write past a field, or accept a path
 * that could be taken for another mailbox.
 */
#include <arpa/inet.h>
#include <string.h>

#include "lib/smtp_lex.h"

/*
 * Domains.
 */

/*
 * Check a domain name p[0..n): labels of letters, digits, '-', '_' or
 * UTF-8, 1..63 octets, no '-' at either end, last label not all digits,
 * one trailing dot allowed (reported in *trailing_r).
 */
static enum smtp_path_result
check_name(const uint8_t *p, size_t n, bool *trailing_r, bool *utf8_r)
{
	size_t i = 0;
	bool digits = false;

	if (n == 0)
		return SMTP_PATH_SYNTAX;
	if (n > SMTP_DOMAIN_MAX)
		return SMTP_PATH_TOOLONG;
	*trailing_r = false;
	while (i < n) {
		size_t start = i;

		digits = true;
		while (i < n && p[i] != '.') {
			uint8_t c = p[i];
			if (is_alpha(c) || c == '-' || c == '_') {
				digits = false;
				i++;
			} else if (is_digit(c)) {
				i++;
			} else if (c >= 0x80) {
				size_t l = utf8_len(p + i, n - i);
				if (l == 0)
					return SMTP_PATH_SYNTAX;
				*utf8_r = true;
				digits = false;
				i += l;
			} else
				return SMTP_PATH_SYNTAX;
		}
		if (i == start || i - start > 63 || p[start] == '-' ||
		    p[i - 1] == '-')
			return SMTP_PATH_SYNTAX;
		if (i < n && ++i == n)
			*trailing_r = true;
	}
	return digits ? SMTP_PATH_SYNTAX : SMTP_PATH_OK;
}

/* Dotted quad, each part 1..3 digits and 0..255. */
static bool
parse_ipv4(const uint8_t *p, size_t n, unsigned v_r[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			start = ++i;
		}
		while (i < n && is_digit(p[i]) && i - start < 3)
			v = v * 10 + (unsigned)(p[i++] - '0');
		if (i == start || v > 255)
			return false;
		v_r[part] = v;
	}
	return i == n;
}

/*
 * An address literal p[0..n) including its brackets, into out in
 * canonical form: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
 */
static bool
parse_literal(const uint8_t *p, size_t n, struct bw *out)
{
	static const char tag[] = "IPv6:";
	const size_t taglen = sizeof(tag) - 1;
	unsigned v4[4];

	if (n < 3 || p[0] != '[' || p[n - 1] != ']')
		return false;
	p++;
	n -= 2;
	if (n > taglen && ascii_memcaseeq(p, tag, taglen)) {
		char text[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
		struct in6_addr a6;
		struct bw b;

		bw_init(&b, text, sizeof(text) - 1);
		for (size_t i = taglen; i < n; i++) {
			uint8_t c = p[i];
			if (!is_digit(c) && !(c >= 'a' && c <= 'f') &&
			    !(c >= 'A' && c <= 'F') && c != ':' && c != '.')
				return false;
			bw_putc(&b, c);
		}
		if (b.over || inet_pton(AF_INET6, text, &a6) != 1 ||
		    inet_ntop(AF_INET6, &a6, canon, sizeof(canon)) == NULL)
			return false;
		bw_put(out, "[IPv6:", 6);
		bw_put(out, canon, strlen(canon));
		bw_putc(out, ']');
		return !out->over;
	}
	if (!parse_ipv4(p, n, v4))
		return false;
	bw_putc(out, '[');
	for (int i = 0; i < 4; i++) {
		char d[3];
		size_t k = 0;
		unsigned v = v4[i];

		if (i > 0)
			bw_putc(out, '.');
		do {
			d[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		while (k > 0)
			bw_putc(out, (uint8_t)d[--k]);
	}
	bw_putc(out, ']');
	return !out->over;
}

/*
 * Paths.
 */

/* RFC 5321 Dot-string (with RFC 6531 UTF-8 atext). */
static bool
is_dot_string(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
		if (c != '.' && !is_atext(c) && c < 0x80)
			return false;
	}
	return true;
}

/* Put one UTF-8 sequence from p[0..n) (first byte >= 0x80); 0 if bad. */
static size_t
put_utf8(struct bw *b, const uint8_t *p, size_t n)
{
	size_t l = utf8_len(p, n);

	if (l > 0)
		bw_put(b, p, l);
	return l;
}

/*
 * The local part at q[0..m), up to its '@' or the end, into a->local;
 * returns how many input bytes it took, or 0 on bad syntax.
 */
static size_t
parse_local(const uint8_t *q, size_t m, struct smtp_addr *a, struct bw *lb)
{
	size_t i = 0;

	if (q[0] == '"') {
		a->flags |= SMTP_ADDR_QUOTED;
		for (i = 1;;) {
			uint8_t c;

			if (i >= m)
				return 0;
			c = q[i];
			if (c == '"')
				return i + 1;
			if (c == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (++i >= m || !is_print(q[i]))
					return 0;
				bw_putc(lb, q[i++]);
			} else if (is_print(c)) {
				bw_putc(lb, c);
				i++;
			} else if (c >= 0x80) {
				size_t l = put_utf8(lb, q + i, m - i);
				if (l == 0)
					return 0;
				a->flags |= SMTP_ADDR_UTF8;
				i += l;
			} else
				return 0;
		}
	}
	while (i < m && q[i] != '@') {
		uint8_t c = q[i];

		if (c == '.' || is_atext(c)) {
			bw_putc(lb, c);
			i++;
		} else if (c >= 0x80) {
			size_t l = put_utf8(lb, q + i, m - i);
			if (l == 0)
				return 0;
			a->flags |= SMTP_ADDR_UTF8;
			i += l;
		} else
			return 0;
	}
	return i;
}

/* The domain at p[0..n) into a->domain (lower case) and text. */
static enum smtp_path_result
parse_addr_domain(const uint8_t *p, size_t n, struct smtp_addr *a,
    struct bw *db, struct bw *tb)
{
	enum smtp_path_result r;
	bool trailing = false, utf8 = false;

	if (n > SMTP_DOMAIN_MAX)
		return SMTP_PATH_TOOLONG;
	if (n > 0 && p[0] == '[') {
		if (!parse_literal(p, n, db))
			return SMTP_PATH_SYNTAX;
		a->flags |= SMTP_ADDR_LITERAL;
		bw_put(tb, db->p, db->len);
		return SMTP_PATH_OK;
	}
	if ((r = check_name(p, n, &trailing, &utf8)) != SMTP_PATH_OK)
		return r;
	if (trailing)
		a->flags |= SMTP_ADDR_TRAILING_DOT;
	if (utf8)
		a->flags |= SMTP_ADDR_UTF8;
	for (size_t i = 0; i < n; i++)
		bw_putc(db, (uint8_t)ascii_tolower(p[i]));
	bw_put(tb, p, n);
	return SMTP_PATH_OK;
}

/* Source route "@a,@b:" at q[0..m): sets *len_r to its length. */
static enum smtp_path_result
parse_route(const uint8_t *q, size_t m, size_t *len_r)
{
	size_t i = 0;

	for (;;) {
		enum smtp_path_result r;
		size_t start;
		bool trailing = false, utf8 = false;

		if (i >= m || q[i] != '@')
			return SMTP_PATH_SYNTAX;
		start = ++i;
		while (i < m && q[i] != ',' && q[i] != ':')
			i++;
		if (i >= m)
			return SMTP_PATH_SYNTAX;
		r = check_name(q + start, i - start, &trailing, &utf8);
		if (r != SMTP_PATH_OK)
			return r;
		if (q[i++] == ':') {
			*len_r = i;
			return SMTP_PATH_OK;
		}
	}
}

static enum smtp_path_result
path_fail(struct smtp_addr *a, enum smtp_path_result r)
{
	memset(a, 0, sizeof(*a));
	return r;
}

enum smtp_path_result
smtp_path_parse(const uint8_t *p, size_t n, unsigned flags, struct smtp_addr *a)
{
	const uint8_t *q = p;
	size_t m = n, i;
	struct bw lb, db, tb;
	enum smtp_path_result r;

	memset(a, 0, sizeof(*a));
	if (n > SMTP_PATH_MAX)
		return SMTP_PATH_TOOLONG;
	if (n == 0)
		return SMTP_PATH_SYNTAX;
	if (p[0] == '<') {
		if (n < 2 || p[n - 1] != '>')
			return SMTP_PATH_SYNTAX;
		q = p + 1;
		m = n - 2;
		if (m == 0) {
			if (!(flags & SMTP_PATH_NULL_OK))
				return SMTP_PATH_SYNTAX;
			a->flags = SMTP_ADDR_NULL;
			return SMTP_PATH_OK;
		}
	} else
		a->flags |= SMTP_ADDR_NOBRACKETS;

	/*
	 * RFC 5321 §4.1.1.3 and Appendix C: a source route "MUST BE
	 * accepted", its hops SHOULD be ignored.  In other words: check it,
	 * drop it, and tell the caller, who must not relay by it.
	 */
	if (q[0] == '@') {
		size_t rl = 0;

		r = parse_route(q, m, &rl);
		if (r != SMTP_PATH_OK)
			return path_fail(a, r);
		if (rl == m)
			return path_fail(a, SMTP_PATH_SYNTAX);
		a->flags |= SMTP_ADDR_ROUTE;
		q += rl;
		m -= rl;
	}

	bw_init(&lb, a->local, SMTP_LOCAL_MAX);
	bw_init(&db, a->domain, SMTP_DOMAIN_MAX);
	bw_init(&tb, a->text, SMTP_ADDR_TEXT_MAX);
	i = parse_local(q, m, a, &lb);
	if (lb.over)
		return path_fail(a, SMTP_PATH_TOOLONG);
	if (i == 0 || lb.len == 0)
		return path_fail(a, SMTP_PATH_SYNTAX);
	a->local_len = lb.len;

	if (i == m) {
		/* RFC 5321 §4.1.1.3: "Postmaster" without a domain. */
		if ((flags & SMTP_PATH_POSTMASTER_OK) &&
		    !(a->flags & (SMTP_ADDR_QUOTED | SMTP_ADDR_ROUTE)) &&
		    a->local_len == 10 &&
		    ascii_memcaseeq(a->local, "postmaster", 10)) {
			a->flags |= SMTP_ADDR_POSTMASTER;
			bw_put(&tb, a->local, a->local_len);
			a->text_len = tb.len;
			return SMTP_PATH_OK;
		}
		return path_fail(a, SMTP_PATH_SYNTAX);
	}
	if (q[i] != '@')
		return path_fail(a, SMTP_PATH_SYNTAX);
	i++;

	if (memchr(a->local, '%', a->local_len) != NULL)
		a->flags |= SMTP_ADDR_PERCENT;
	if (memchr(a->local, '!', a->local_len) != NULL)
		a->flags |= SMTP_ADDR_BANG;
	if (memchr(a->local, '@', a->local_len) != NULL)
		a->flags |= SMTP_ADDR_AT;

	/* Canonical local part: quoted only when it is not a dot-string. */
	if (is_dot_string(a->local, a->local_len)) {
		bw_put(&tb, a->local, a->local_len);
	} else {
		if (!(a->flags & SMTP_ADDR_QUOTED))
			a->flags |= SMTP_ADDR_ODD_DOTS;
		bw_putc(&tb, '"');
		for (size_t k = 0; k < a->local_len; k++) {
			uint8_t c = (uint8_t)a->local[k];
			if (c == '"' || c == '\\')
				bw_putc(&tb, '\\');
			bw_putc(&tb, c);
		}
		bw_putc(&tb, '"');
	}
	bw_putc(&tb, '@');

	r = parse_addr_domain(q + i, m - i, a, &db, &tb);
	if (r != SMTP_PATH_OK)
		return path_fail(a, r);
	if (db.over || tb.over)
		return path_fail(a, SMTP_PATH_TOOLONG);
	a->domain_len = db.len;
	a->text_len = tb.len;
	return SMTP_PATH_OK;
}

int
smtp_helo_parse(const uint8_t *arg, size_t len, bool ehlo, struct smtp_helo *h,
    struct str *reply)
{
	bool trailing = false, utf8 = false;

	h->name = arg;
	h->len = len;
	h->flags = 0;
	if (len == 0)
		return reply_set(
		    reply, ehlo ? "501 5.5.4 Syntax: EHLO hostname"
		                : "501 5.5.4 Syntax: HELO hostname");
	if (arg[0] == '[') {
		char lit[SMTP_DOMAIN_MAX + 1];
		struct bw b;

		bw_init(&b, lit, SMTP_DOMAIN_MAX);
		h->flags |= parse_literal(arg, len, &b) ? SMTP_HELO_LITERAL
		                                        : SMTP_HELO_INVALID;
	} else if (check_name(arg, len, &trailing, &utf8) != SMTP_PATH_OK)
		h->flags |= SMTP_HELO_INVALID;
	return 0;
}
