/*
 * scan - walk a queue folder a few names at a time (Postfix's
 * qmgr_scan): a pass opens the folder listing and hands out names as the
 * active queue has room, so that a million queued files cost one open
 * listing, never a million names in memory.  A request for a pass while
 * one is under way marks the folder for another pass right after it
 * (new files may have been missed by the running one).
 *
 * Never: list tmp/ or hand out a name that is not a valid queue id.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/queue_id.h"
#include "qmgr/qmgr.h"

struct qscan {
	struct queue *q; /* borrowed */
	enum queue_folder f;
	DIR *d;          /* the pass under way, or NULL */
	bool force;      /* this pass: every file is due */
	bool again;      /* another pass was asked for */
	bool again_force;
};

struct qscan *
qscan_new(struct queue *q, enum queue_folder f)
{
	struct qscan *s = x_calloc(1, sizeof(*s));

	FCT_ASSERT(f != QUEUE_TMP);
	s->q = q;
	s->f = f;
	return s;
}

static void
close_pass(struct qscan *s)
{
	if (s->d != NULL) {
		/* A listing: nothing written, nothing to lose. */
		(void)closedir(s->d);
		s->d = NULL;
	}
}

void
qscan_free(struct qscan **sp)
{
	if (*sp == NULL)
		return;
	close_pass(*sp);
	x_free(sp);
}

void
qscan_start(struct qscan *s, bool force)
{
	s->again = true;
	s->again_force = s->again_force || force;
}

bool
qscan_pending(const struct qscan *s)
{
	return s->d != NULL || s->again;
}

static bool
open_pass(struct qscan *s)
{
	int fd = openat(queue_folder_fd(s->q, s->f), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	s->again = false;
	s->force = s->again_force;
	s->again_force = false;
	if (fd < 0 || (s->d = fdopendir(fd)) == NULL) {
		log_warn("scan %s: %m", queue_folder_name(s->f));
		if (fd >= 0)
			(void)close(fd); /* read-only listing */
		return false;
	}
	return true;
}

bool
qscan_next(struct qscan *s, char id_r[QUEUE_ID_SIZE], bool *force_r)
{
	struct dirent *de;

	for (;;) {
		if (s->d == NULL && (!s->again || !open_pass(s)))
			return false;
		errno = 0;
		de = readdir(s->d);
		if (de == NULL) {
			if (errno != 0)
				log_warn("scan %s: %m", queue_folder_name(s->f));
			close_pass(s);
			continue; /* another pass, if one was asked for */
		}
		if (!queue_id_valid(de->d_name))
			continue;
		memcpy(id_r, de->d_name, strlen(de->d_name) + 1);
		*force_r = s->force;
		return true;
	}
}
