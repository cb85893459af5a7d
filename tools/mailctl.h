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

/* Compile a lookup table text file (format from its name). */
int mailctl_map_build(const char *path, struct str *why);

/* Full check used by check and start; returns the number of errors. */
unsigned mailctl_check_all(struct mailctl *mc, bool print);

#endif
