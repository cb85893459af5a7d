/*
 * resolve - what is this recipient to us?  Shared by smtpd (RCPT TO),
 * qmgr (transport and next hop) and local (alias expansion), so that all
 * three always agree.
 *
 * Local domains are the items of mydestination, the items of
 * virtual_mailbox_domains, and every domain that has users in the users
 * table (its "@domain" key, lib/users.h).  Matching is ASCII
 * case-insensitive and exact: no trailing-dot forgiveness, no parent
 * domain matching.  mydestination and virtual_mailbox_domains hold plain
 * domain names (tables in them are not supported).
 *
 * In a local domain, for "local@domain" with recipient_delimiter "+" and
 * local "user+tag", the lookups are, in this order (Postfix's):
 *   1. aliases  "user+tag@domain", "user@domain", then, for mydestination
 *      domains only, "user+tag" and "user"          -> RESOLVE_ALIAS
 *   2. users    "user+tag@domain", "user@domain"    -> RESOLVE_USER, or
 *      RESOLVE_DISABLED for a user with enabled=no: a disabled user is
 *      refused with 550 5.2.1 "mailbox disabled" (Postfix would accept
 *      and then bounce; refusing at RCPT time keeps the bounce with the
 *      sender's server, where it belongs)
 *   3. "postmaster" in any case (RFC 5321 §4.5.1: every domain we accept
 *      mail for must accept it)                      -> RESOLVE_POSTMASTER
 *   4. anything else                                 -> RESOLVE_UNKNOWN
 *
 * The delimiter is a set of characters, each one a delimiter (Postfix's
 * recipient_delimiter); the local part splits at the first of them it
 * contains.  As Postfix's split_addr(): "postmaster" and "mailer-daemon"
 * never split, nor, when '-' is a delimiter, "owner-*" and "*-request";
 * an empty user part ("+tag") never splits.
 *
 * RFC 5321 §4.1.1.3: the bare "<Postmaster>" (no domain) must be
 * accepted; it is resolved as postmaster@$myhostname, and treated as
 * local even when myhostname is not in mydestination.
 *
 * Routing tricks (Postfix's allow_untrusted_routing=no): a local part
 * with '%', '!' or '@' in a local domain (the "percent hack", bang paths,
 * a quoted "a@b"@ours), a source route (@a,@b:user@c, which the caller's
 * parser reports with RESOLVE_SOURCE_ROUTE), and any address literal
 * (user@[192.0.2.1]) are RESOLVE_TRICK: smtpd refuses them with 554 5.7.1
 * for a client that may not relay.  For a client that may, the caller
 * uses .plain, the class the address has without the trick rule (the
 * route is ignored, RFC 5321 Appendix C; a literal is relayed to itself).
 *
 * Any other domain is RESOLVE_REMOTE with the domain as next hop
 * (relayhost comes with qmgr).  A failed table lookup is RESOLVE_TEMP
 * (451 4.3.0), with the reason in why.
 *
 * Never: treat a temporary lookup failure as "unknown user", forgive a
 * trailing dot, or compare case-sensitively.
 */
#ifndef FACTEUR_RESOLVE_H
#define FACTEUR_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/map.h"
#include "lib/params.h"
#include "lib/str.h"
#include "lib/users.h"
#include "lib/util.h"

/* Longest local part and domain we route (a Maildir path component). */
#define RESOLVE_PART_MAX 255
/* Alias expansion: nesting depth, and addresses one recipient becomes. */
#define RESOLVE_ALIAS_DEPTH   16
#define RESOLVE_ALIAS_TARGETS 1000

enum resolve_class {
	RESOLVE_TEMP,       /* a table lookup failed: 451 4.3.0 */
	RESOLVE_INVALID,    /* empty local part, no domain (except
	                       Postmaster), too long, control bytes:
	                       501 5.1.3 */
	RESOLVE_TRICK,      /* routing trick: 554 5.7.1 unless the client
	                       may relay, then use .plain */
	RESOLVE_REMOTE,     /* not ours: relay to .domain */
	RESOLVE_UNKNOWN,    /* our domain, nobody there: 550 5.1.1 */
	RESOLVE_DISABLED,   /* a disabled user: 550 5.2.1 */
	RESOLVE_ALIAS,      /* an alias: expand .alias_key */
	RESOLVE_USER,       /* a mailbox of the users table */
	RESOLVE_POSTMASTER, /* postmaster, neither alias nor user: accept */
};

/* "temp", "invalid", "trick", "remote", "unknown", ... for logs. */
const char *resolve_class_name(enum resolve_class c);

/* What kind of domain a domain is to us. */
enum resolve_domain {
	RESOLVE_DOM_TEMP,    /* the users lookup failed */
	RESOLVE_DOM_REMOTE,  /* not ours */
	RESOLVE_DOM_MYDEST,  /* in mydestination */
	RESOLVE_DOM_VIRTUAL, /* in virtual_mailbox_domains */
	RESOLVE_DOM_USERS,   /* has users in the users table */
};

/*
 * The answer.  Zero it before first use; resolve_rcpt() clears it before
 * filling it, resolve_result_clear() frees what it holds.  The strings
 * are NULL for RESOLVE_INVALID, and may be for RESOLVE_TEMP.
 */
struct resolve_result {
	enum resolve_class class;
	enum resolve_class plain; /* without the trick rule (= class unless
	                             class is RESOLVE_TRICK) */
	enum resolve_domain dom;  /* kind of .domain */
	char *mailbox;   /* lower-cased "user@domain" without tag (REMOTE:
	                    the local part as given, "@", the domain) */
	char *tag;       /* the tag without its delimiter, as given; "" */
	char *domain;    /* lower-cased domain; REMOTE: the next hop */
	char *alias_key; /* ALIAS: the key that matched ("sales@ex.test"
	                    or "sales"); else NULL */
	struct users_entry user; /* USER and DISABLED: the users entry */
};

void resolve_result_clear(struct resolve_result *res);

/* Flags of resolve_rcpt(). */
#define RESOLVE_SOURCE_ROUTE 0x1 /* the path had a source route */
#define RESOLVE_NO_ALIAS     0x2 /* skip the alias lookups */

struct resolver;

/*
 * A resolver for p (mydestination, virtual_mailbox_domains,
 * recipient_delimiter, myhostname, myorigin are copied), with the users table
 * and the alias maps borrowed (either may be NULL: an empty table).
 */
struct resolver *resolve_new(
    const struct params *p, struct map *users, struct map_list *aliases);
void resolve_free(struct resolver **rp);

/* What kind of domain is domain (any case)?  DOM_TEMP sets why. */
FCT_MUST_CHECK enum resolve_domain resolve_domain(
    struct resolver *r, const char *domain, struct str *why);

/*
 * Classify local@domain: local as parsed (quotes removed), domain as
 * given or NULL/"" for none (Postmaster only).  flags: RESOLVE_*.
 * Returns res->class; RESOLVE_TEMP appends the reason to why.
 */
FCT_MUST_CHECK enum resolve_class resolve_rcpt(struct resolver *r,
    const char *local, const char *domain, unsigned flags,
    struct resolve_result *res, struct str *why);

/* A list of addresses (plain value; clear frees). */
struct resolve_targets {
	char **v;
	size_t n;
};
void resolve_targets_clear(struct resolve_targets *t);

/*
 * One level of alias expansion: the targets stored under key (as in
 * res->alias_key) in the alias maps, as written ("bob", "ann@ex.test").
 * Appends to t.  MAP_NOTFOUND leaves t alone; MAP_TEMP sets why.
 */
FCT_MUST_CHECK enum map_result resolve_alias_targets(struct resolver *r,
    const char *key, struct resolve_targets *t, struct str *why);

/* The result of a full expansion: every final recipient, once. */
struct resolve_expansion {
	struct resolve_result *v;
	size_t n;
};
void resolve_expansion_clear(struct resolve_expansion *x);

/*
 * Expand the alias res (class RESOLVE_ALIAS) recursively into its final
 * recipients: users, postmasters, remote addresses, and the unknown or
 * disabled ones (which the caller bounces).  A bare target ("bob") is
 * bob@$myorigin, as Postfix appends $myorigin to a bare address (there
 * are no system accounts here for it to name): write full addresses in
 * the aliases of other domains.  A target that
 * leads back to an alias already being expanded is taken as the mailbox
 * of that name, not expanded again (as Postfix: "ann: ann, bob" keeps a
 * copy for ann).  Duplicates are dropped.  Returns STATUS_OK,
 * STATUS_TEMP (a lookup failed) or STATUS_PERM (deeper than
 * RESOLVE_ALIAS_DEPTH, more than RESOLVE_ALIAS_TARGETS recipients, or a
 * target that is not an address), with why.
 */
FCT_MUST_CHECK enum status resolve_expand(struct resolver *r,
    const struct resolve_result *res, struct resolve_expansion *x,
    struct str *why);

#endif
