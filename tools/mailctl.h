/*
 * mailctl.h - what mailctl's command files share.
 *
 * Never: reach into queue folders for anything but reading (queue
 * changes go through services).
 */
#ifndef FACTEUR_TOOLS_MAILCTL_H
#define FACTEUR_TOOLS_MAILCTL_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/params.h"
#include "lib/str.h"

struct mailctl {
	const char *config_dir;
	struct config *cfg;
	struct params p;
	bool loaded;
};

/* Load main.cf (and params); prints problems; returns 0 or -1. */
int mailctl_load(struct mailctl *mc, bool quiet_warnings);

/* The pid of the running master from the lock, or 0 when none. */
pid_t mailctl_master_pid(const struct params *p);

int cmd_init(int argc, char **argv);
int cmd_start(struct mailctl *mc, int argc, char **argv);
int cmd_stop(struct mailctl *mc, int argc, char **argv);
int cmd_reload(struct mailctl *mc, int argc, char **argv);
int cmd_status(struct mailctl *mc, int argc, char **argv);
int cmd_check(struct mailctl *mc, int argc, char **argv);
int cmd_config(struct mailctl *mc, int argc, char **argv);
int cmd_map(struct mailctl *mc, int argc, char **argv);
int cmd_queue(struct mailctl *mc, int argc, char **argv);
int cmd_flush(struct mailctl *mc, int argc, char **argv);
/* queue hold|release|requeue|delete ID...|ALL, through qmgr (argv[0]
 * is "queue"). */
int mailctl_queue_admin(struct mailctl *mc, int argc, char **argv);
int cmd_user(struct mailctl *mc, int argc, char **argv);

/*
 * Who owns the compiled passwd table: root:auth_owner's group 0640 as
 * root, the caller 0600 otherwise (mailctl_user.c).  0 or -1 with why.
 */
struct map_owner;
int mailctl_passwd_owner(const char *auth_owner, struct map_owner *own,
    struct str *why);

/* Compile a lookup table text file (format from its name). */
int mailctl_map_build(const char *path, struct str *why);

/* Full check used by check and start; returns the number of errors. */
unsigned mailctl_check_all(struct mailctl *mc, bool print);

#endif
