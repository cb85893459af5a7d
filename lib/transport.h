/*
 * transport - where does a recipient go: the delivery transport (the
 * agent behind private/<transport>) and its next hop (DESIGN §4, §10).
 *
 * Rules, in this order:
 *   1. transport_maps (a lib/map list, Postfix's transport(5)): the keys
 *      "user+ext@domain", "user@domain", "domain", then each parent
 *      ".example.test" of the domain, then "*"; the first hit wins.  Its
 *      value is "transport:nexthop"; an empty part keeps the default of
 *      rule 2 or 3 ("smtp:" = smtp to the default next hop, ":[mx]:25"
 *      = the default transport to [mx]:25; a value without ':' names the
 *      transport alone).
 *   2. a local domain (lib/resolve.h: mydestination, virtual_mailbox_
 *      domains, the users table's domains), or an address without a
 *      domain -> "local", next hop the domain ($myhostname without one);
 *   3. anything else -> "smtp", next hop $relayhost when set, else the
 *      domain (an address literal "[192.0.2.1]" stays as it is).
 *
 * Transport names become socket names under private/, so they are
 * [A-Za-z0-9_-] only, 1 to TRANSPORT_NAME_MAX bytes; a next hop is at
 * most TRANSPORT_NEXTHOP_MAX bytes of printable ASCII without spaces.
 * A bad value in transport_maps is STATUS_TEMP ("mail system
 * configuration error", as Postfix defers): the administrator fixes the
 * table, the mail waits.
 *
 * Never: let a table value name a path outside private/, or treat a
 * failed lookup as "not found".
 */
#ifndef FACTEUR_TRANSPORT_H
#define FACTEUR_TRANSPORT_H

#include <stdbool.h>

#include "lib/map.h"
#include "lib/params.h"
#include "lib/resolve.h"
#include "lib/str.h"
#include "lib/util.h"

#define TRANSPORT_NAME_MAX    64
#define TRANSPORT_NEXTHOP_MAX 300

/* The answer (plain value; transport_route_clear frees the strings). */
struct transport_route {
	char *transport; /* "local", "smtp", or a transport_maps name */
	char *nexthop;   /* "example.test", "[relay.example.net]:587" */
	bool local;      /* the recipient's domain is one of ours */
};

void transport_route_clear(struct transport_route *rt);

struct transport;

/*
 * A router for p (relayhost, myhostname and recipient_delimiter are
 * copied) over the resolver r and the table list maps (both borrowed;
 * maps may be NULL: no transport_maps).
 */
struct transport *transport_new(
    const struct params *p, struct resolver *r, struct map_list *maps);
void transport_free(struct transport **tp);

/*
 * Route the recipient addr ("user@domain" as queued).  Returns
 * STATUS_OK and fills *rt (cleared first; caller clears), STATUS_TEMP
 * (a lookup failed, or a bad table value) with why, or STATUS_PERM for
 * an address that cannot be routed (empty, control bytes, too long).
 */
FCT_MUST_CHECK enum status transport_lookup(struct transport *t,
    const char *addr, struct transport_route *rt, struct str *why);

/*
 * Apply a transport_maps value to *rt, which holds the defaults: a
 * non-empty transport or next hop part replaces the default.  Returns 0,
 * or -1 with why for a malformed value (rt unchanged).
 */
FCT_MUST_CHECK int transport_value_apply(
    const char *value, struct transport_route *rt, struct str *why);

/* True when name is a usable transport name (see above). */
bool transport_name_check(const char *name, size_t len);

#endif
