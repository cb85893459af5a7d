/*
 * deliver - format and parse delivery requests and replies.
 *
 * Never: trust a count, an index or a length from the peer before
 * checking it against the bounds in the header.
 */
#include "lib/deliver.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lib/pctword.h"

static const char *kind_names[] = { "sent", "defer", "bounce", "forward" };

const char *
deliver_kind_name(enum deliver_kind k)
{
	return (unsigned)k < FCT_NELEM(kind_names) ? kind_names[k] : "?";
}

int
deliver_request_format(const struct deliver_request *rq, struct str *out)
{
	int rc = 0;

	rc |= str_appends(out, "queue_id ");
	rc |= pctword_put(out, rq->queue_id);
	rc |= str_appends(out, "\nsender ");
	rc |= pctword_put(out, rq->sender);
	rc |= str_appends(out, "\nnexthop ");
	rc |= pctword_put(out, rq->nexthop);
	rc |= str_appendf(out, "\narrival %llu\nenvid ",
	    (unsigned long long)rq->arrival_us);
	rc |= pctword_put(out, rq->envid);
	rc |= str_appends(out, "\nret ");
	rc |= pctword_put(out, rq->ret);
	rc |= str_appendc(out, '\n');
	for (size_t i = 0; i < rq->nattrs; i++) {
		rc |= str_appends(out, "attr ");
		rc |= pctword_put(out, rq->attrs[i].name);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, rq->attrs[i].value);
		rc |= str_appendc(out, '\n');
	}
	for (size_t i = 0; i < rq->nrcpts; i++) {
		const struct deliver_rcpt *r = &rq->rcpts[i];
		rc |= str_appendf(out, "rcpt %zu %u ", r->index, r->notify);
		rc |= pctword_put(out, r->addr);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, r->orig);
		rc |= str_appendc(out, '\n');
	}
	rc |= str_appends(out, "end\n");
	return rc ? -1 : 0;
}

int
deliver_reply_format(const struct deliver_reply *rp, struct str *out)
{
	int rc = 0;

	for (size_t i = 0; i < rp->n; i++) {
		const struct deliver_status *s = &rp->v[i];
		for (size_t k = 0; k < s->nforward; k++) {
			rc |= str_appendf(out, "forward %zu ", s->index);
			rc |= pctword_put(out, s->forward[k]);
			rc |= str_appendc(out, '\n');
		}
		rc |= str_appendf(out, "status %zu %s ", s->index,
		    deliver_kind_name(s->kind));
		rc |= pctword_put(out, s->dsn);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, s->relay);
		rc |= str_appendc(out, ' ');
		rc |= pctword_put(out, s->text);
		rc |= str_appendc(out, '\n');
	}
	rc |= str_appends(out, "end\n");
	return rc ? -1 : 0;
}

size_t
deliver_message_len(const uint8_t *p, size_t n)
{
	size_t start = 0;

	while (start < n) {
		const uint8_t *nl = memchr(p + start, '\n', n - start);
		if (nl == NULL)
			return 0;
		size_t len = (size_t)(nl - (p + start));
		if (len == 3 && memcmp(p + start, "end", 3) == 0)
			return start + 4;
		start += len + 1;
	}
	return 0;
}

/* Split a line into at most max words (borrowed). */
struct words {
	const char *w[6];
	size_t len[6];
	size_t n;
};

static int
split(const char *line, size_t n, struct words *ws, size_t max)
{
	size_t i = 0;

	ws->n = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && line[i] != ' ')
			i++;
		if (i == start || ws->n == max)
			return -1; /* empty word or too many */
		ws->w[ws->n] = line + start;
		ws->len[ws->n++] = i - start;
		if (i < n)
			i++;
		if (i == n && line[n - 1] == ' ')
			return -1;
	}
	return 0;
}

static bool
word_is(const struct words *ws, size_t i, const char *s)
{
	return ws->len[i] == strlen(s) && memcmp(ws->w[i], s, ws->len[i]) == 0;
}

static int
word_num(const struct words *ws, size_t i, uint64_t max, uint64_t *v)
{
	return num_parse_u64(ws->w[i], ws->len[i], max, v);
}

/* Call fn for each line of p[0..n) up to "end"; -1 on any problem. */
typedef int line_fn(const struct words *ws, void *arg, struct str *why);

static int
each_line(const uint8_t *p, size_t n, line_fn *fn, void *arg,
    struct str *why)
{
	size_t start = 0;

	if (n > DELIVER_MSG_MAX) {
		str_notef(why, "message too long");
		return -1;
	}
	while (start < n) {
		const uint8_t *nl = memchr(p + start, '\n', n - start);
		struct words ws;
		if (nl == NULL) {
			str_notef(why, "message without end");
			return -1;
		}
		size_t len = (size_t)(nl - (p + start));
		const char *line = (const char *)p + start;
		start += len + 1;
		if (len > DELIVER_LINE_MAX || memchr(line, '\0', len) != NULL) {
			str_notef(why, "bad line");
			return -1;
		}
		if (len == 3 && memcmp(line, "end", 3) == 0)
			return start == n ? 0 : (str_notef(why, "data after end"), -1);
		if (split(line, len, &ws, FCT_NELEM(ws.w)) < 0 || ws.n == 0) {
			/* line is not NUL-terminated: bound by its length */
			str_notef(why, "bad line \"%.*s\"",
			    (int)(len < 40 ? len : 40), line);
			return -1;
		}
		if (fn(&ws, arg, why) < 0)
			return -1;
	}
	str_notef(why, "message without end");
	return -1;
}

static int
set_once(char **field, const struct words *ws, struct str *why)
{
	if (*field != NULL || ws->n != 2) {
		str_notef(why, "bad or repeated %.*s", (int)ws->len[0], ws->w[0]);
		return -1;
	}
	*field = pctword_get(ws->w[1], ws->len[1]);
	if (*field == NULL) {
		str_notef(why, "bad value for %.*s", (int)ws->len[0], ws->w[0]);
		return -1;
	}
	return 0;
}

static int
request_line(const struct words *ws, void *arg, struct str *why)
{
	struct deliver_request *rq = arg;
	uint64_t v, notify;

	if (word_is(ws, 0, "queue_id"))
		return set_once(&rq->queue_id, ws, why);
	if (word_is(ws, 0, "sender"))
		return set_once(&rq->sender, ws, why);
	if (word_is(ws, 0, "nexthop"))
		return set_once(&rq->nexthop, ws, why);
	/* "" ("-") stays "" until the end, so that a repeat is seen. */
	if (word_is(ws, 0, "envid"))
		return set_once(&rq->envid, ws, why);
	if (word_is(ws, 0, "ret")) {
		if (set_once(&rq->ret, ws, why) < 0)
			return -1;
		if (rq->ret[0] != '\0' && strcmp(rq->ret, "FULL") != 0 &&
		    strcmp(rq->ret, "HDRS") != 0) {
			str_notef(why, "bad ret");
			return -1;
		}
		return 0;
	}
	if (word_is(ws, 0, "arrival")) {
		if (ws->n != 2 || word_num(ws, 1, UINT64_MAX, &v) < 0) {
			str_notef(why, "bad arrival");
			return -1;
		}
		rq->arrival_us = v;
		return 0;
	}
	if (word_is(ws, 0, "attr")) {
		if (ws->n != 3 || rq->nattrs >= 256) {
			str_notef(why, "bad attr");
			return -1;
		}
		char *name = pctword_get(ws->w[1], ws->len[1]);
		char *value = pctword_get(ws->w[2], ws->len[2]);
		if (name == NULL || value == NULL) {
			free(name);
			free(value);
			str_notef(why, "bad attr value");
			return -1;
		}
		rq->attrs = x_realloc(rq->attrs,
		    (rq->nattrs + 1) * sizeof(*rq->attrs));
		rq->attrs[rq->nattrs++] = (struct deliver_attr){ name, value };
		return 0;
	}
	if (word_is(ws, 0, "rcpt")) {
		if (ws->n != 5 || rq->nrcpts >= DELIVER_RCPT_MAX ||
		    word_num(ws, 1, DELIVER_RCPT_MAX * 100, &v) < 0 ||
		    word_num(ws, 2, 255, &notify) < 0) {
			str_notef(why, "bad rcpt");
			return -1;
		}
		char *addr = pctword_get(ws->w[3], ws->len[3]);
		char *orig = pctword_get(ws->w[4], ws->len[4]);
		if (addr == NULL || orig == NULL || addr[0] == '\0') {
			free(addr);
			free(orig);
			str_notef(why, "bad rcpt address");
			return -1;
		}
		rq->rcpts = x_realloc(rq->rcpts,
		    (rq->nrcpts + 1) * sizeof(*rq->rcpts));
		rq->rcpts[rq->nrcpts++] = (struct deliver_rcpt){ (size_t)v,
			(unsigned)notify, addr, orig };
		return 0;
	}
	str_notef(why, "unknown request line %.*s", (int)ws->len[0], ws->w[0]);
	return -1;
}

int
deliver_request_parse(const uint8_t *p, size_t n, struct deliver_request *rq,
    struct str *why)
{
	memset(rq, 0, sizeof(*rq));
	if (each_line(p, n, request_line, rq, why) < 0)
		goto bad;
	if (rq->queue_id == NULL || rq->sender == NULL || rq->nexthop == NULL ||
	    rq->nrcpts == 0) {
		str_notef(why, "request without queue_id, sender, nexthop or "
			       "recipients");
		goto bad;
	}
	if (rq->envid != NULL && rq->envid[0] == '\0')
		x_free(&rq->envid);
	if (rq->ret != NULL && rq->ret[0] == '\0')
		x_free(&rq->ret);
	return 0;
bad:
	deliver_request_clear(rq);
	return -1;
}

/* RFC 3463 §2: class "." subject "." detail, each 1 to 3 digits. */
static bool
dsn_ok(const char *d)
{
	for (int part = 0; part < 3; part++) {
		size_t n = strspn(d, "0123456789");
		if (n < 1 || n > 3 || (part == 0 && n != 1))
			return false;
		d += n;
		if (part < 2 && *d++ != '.')
			return false;
	}
	return *d == '\0';
}

struct reply_parse {
	struct deliver_reply *rp;
	/* forwards seen before their status line */
	size_t fwd_index;
	char **fwd;
	size_t nfwd;
};

static int
reply_line(const struct words *ws, void *arg, struct str *why)
{
	struct reply_parse *st = arg;
	struct deliver_reply *rp = st->rp;
	uint64_t idx;

	if (word_is(ws, 0, "forward")) {
		if (ws->n != 3 || word_num(ws, 1, DELIVER_RCPT_MAX * 100, &idx) < 0 ||
		    (st->nfwd > 0 && st->fwd_index != idx) ||
		    st->nfwd >= DELIVER_FORWARD_MAX) {
			str_notef(why, "bad forward");
			return -1;
		}
		char *a = pctword_get(ws->w[2], ws->len[2]);
		if (a == NULL || a[0] == '\0') {
			free(a);
			str_notef(why, "bad forward address");
			return -1;
		}
		st->fwd_index = (size_t)idx;
		st->fwd = x_realloc(st->fwd, (st->nfwd + 1) * sizeof(char *));
		st->fwd[st->nfwd++] = a;
		return 0;
	}
	if (!word_is(ws, 0, "status") || ws->n != 6 ||
	    word_num(ws, 1, DELIVER_RCPT_MAX * 100, &idx) < 0 ||
	    rp->n >= DELIVER_RCPT_MAX) {
		str_notef(why, "bad reply line");
		return -1;
	}
	enum deliver_kind kind;
	size_t k;
	for (k = 0; k < FCT_NELEM(kind_names); k++)
		if (word_is(ws, 2, kind_names[k]))
			break;
	if (k == FCT_NELEM(kind_names)) {
		str_notef(why, "bad status kind");
		return -1;
	}
	kind = (enum deliver_kind)k;
	if ((kind == DELIVER_FORWARD) != (st->nfwd > 0) ||
	    (st->nfwd > 0 && st->fwd_index != idx)) {
		str_notef(why, "forward addresses and status disagree");
		return -1;
	}
	char *dsn = pctword_get(ws->w[3], ws->len[3]);
	char *relay = pctword_get(ws->w[4], ws->len[4]);
	char *text = pctword_get(ws->w[5], ws->len[5]);
	/* dsn: class.subject.detail, class matching the kind */
	char want = kind == DELIVER_DEFER ? '4' : kind == DELIVER_BOUNCE ? '5'
									  : '2';
	if (dsn == NULL || relay == NULL || text == NULL ||
	    strlen(dsn) >= sizeof(rp->v[0].dsn) || dsn[0] != want ||
	    !dsn_ok(dsn) || strlen(text) > DELIVER_TEXT_MAX) {
		free(dsn);
		free(relay);
		free(text);
		str_notef(why, "bad status values");
		return -1;
	}
	rp->v = x_realloc(rp->v, (rp->n + 1) * sizeof(*rp->v));
	struct deliver_status *s = &rp->v[rp->n++];
	memset(s, 0, sizeof(*s));
	s->index = (size_t)idx;
	s->kind = kind;
	memcpy(s->dsn, dsn, strlen(dsn) + 1);
	s->relay = relay;
	s->text = text;
	s->forward = st->fwd;
	s->nforward = st->nfwd;
	st->fwd = NULL;
	st->nfwd = 0;
	free(dsn);
	return 0;
}

int
deliver_reply_parse(const uint8_t *p, size_t n, struct deliver_reply *rp,
    struct str *why)
{
	struct reply_parse st = { .rp = rp };

	memset(rp, 0, sizeof(*rp));
	if (each_line(p, n, reply_line, &st, why) < 0 || st.nfwd > 0) {
		if (st.nfwd > 0 && str_len(why) == 0)
			str_notef(why, "forward without status");
		for (size_t i = 0; i < st.nfwd; i++)
			free(st.fwd[i]);
		free(st.fwd);
		deliver_reply_clear(rp);
		return -1;
	}
	return 0;
}

void
deliver_request_clear(struct deliver_request *rq)
{
	free(rq->queue_id);
	free(rq->sender);
	free(rq->nexthop);
	free(rq->envid);
	free(rq->ret);
	for (size_t i = 0; i < rq->nattrs; i++) {
		free(rq->attrs[i].name);
		free(rq->attrs[i].value);
	}
	free(rq->attrs);
	for (size_t i = 0; i < rq->nrcpts; i++) {
		free(rq->rcpts[i].addr);
		free(rq->rcpts[i].orig);
	}
	free(rq->rcpts);
	memset(rq, 0, sizeof(*rq));
}

void
deliver_reply_clear(struct deliver_reply *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		struct deliver_status *s = &rp->v[i];
		free(s->relay);
		free(s->text);
		for (size_t k = 0; k < s->nforward; k++)
			free(s->forward[k]);
		free(s->forward);
	}
	free(rp->v);
	memset(rp, 0, sizeof(*rp));
}

int
deliver_reply_check(const struct deliver_request *rq,
    const struct deliver_reply *rp, struct str *why)
{
	if (rp->n != rq->nrcpts) {
		str_notef(why, "%zu statuses for %zu recipients", rp->n,
		    rq->nrcpts);
		return -1;
	}
	for (size_t i = 0; i < rq->nrcpts; i++) {
		unsigned seen = 0;
		for (size_t k = 0; k < rp->n; k++)
			if (rp->v[k].index == rq->rcpts[i].index)
				seen++;
		if (seen != 1) {
			str_notef(why, "recipient %zu has %u statuses",
			    rq->rcpts[i].index, seen);
			return -1;
		}
	}
	return 0;
}

void
deliver_reply_add(struct deliver_reply *rp, size_t index,
    enum deliver_kind kind, const char *dsn, const char *relay,
    const char *text)
{
	struct deliver_status *s;

	rp->v = x_realloc(rp->v, (rp->n + 1) * sizeof(*rp->v));
	s = &rp->v[rp->n++];
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->kind = kind;
	snprintf(s->dsn, sizeof(s->dsn), "%s", dsn);
	s->relay = x_strdup(relay);
	s->text = x_strndup(text, DELIVER_TEXT_MAX);
}

void
deliver_reply_add_forward(struct deliver_reply *rp, const char *addr)
{
	struct deliver_status *s;

	FCT_ASSERT(rp->n > 0 && rp->v[rp->n - 1].kind == DELIVER_FORWARD);
	s = &rp->v[rp->n - 1];
	s->forward = x_realloc(s->forward, (s->nforward + 1) * sizeof(char *));
	s->forward[s->nforward++] = x_strdup(addr);
}
