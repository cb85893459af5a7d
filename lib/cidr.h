/*
 * cidr - network lists such as mynetworks: "127.0.0.0/8 [::1]/128
 * 192.0.2.7", and the test "is this client address in the list".
 *
 * IPv4-mapped IPv6 client addresses (::ffff:a.b.c.d) match IPv4 entries.
 *
 * Never: accept a prefix longer than the address or bits set past it
 * (a warning-worthy typo that Postfix also refuses).
 */
#ifndef FACTEUR_CIDR_H
#define FACTEUR_CIDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "lib/str.h"

struct cidr_list;

/* Parse a list; 0 and *list_r, or -1 with the reason in why. */
FCT_MUST_CHECK int cidr_list_parse(const char *text,
    struct cidr_list **list_r, struct str *why);
void cidr_list_free(struct cidr_list **lp);

/* True when sa (AF_INET or AF_INET6) is inside an entry of l. */
bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);
/* Same for a textual address ("192.0.2.1", "::1"); false if unparsable. */
bool cidr_list_match_text(const struct cidr_list *l, const char *addr);

#endif
