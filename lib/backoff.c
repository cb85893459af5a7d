/*
 * backoff - retry schedule of deferred mail (see backoff.h).
 *
 * Never: overflow on a far-future time: every sum is checked.
 */
#include "lib/backoff.h"

uint64_t
backoff_delay(uint64_t arrival, uint64_t now, uint64_t min_s, uint64_t max_s)
{
	uint64_t age;

	if (max_s < min_s)
		max_s = min_s;
	age = now > arrival ? now - arrival : 0;
	if (age < min_s)
		return min_s;
	if (age > max_s)
		return max_s;
	return age;
}

bool
backoff_due(uint64_t next, uint64_t now, uint64_t max_s)
{
	if (next <= now)
		return true;
	/*
	 * In other words: nobody ever wrote a next attempt more than max_s
	 * ahead, so a time that far ahead was written before the clock
	 * went back.  Treat it as due rather than let the message sleep for
	 * as long as the clock jumped.
	 */
	return next - now > max_s;
}

bool
backoff_expired(uint64_t arrival, uint64_t now, uint64_t lifetime_s)
{
	if (now < arrival)
		return false;
	return now - arrival >= lifetime_s;
}
