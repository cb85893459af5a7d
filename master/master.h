/*
 * master.h - state shared by master's files (main.c, services.c,
 * logwriter.c).  Only master includes it.
 */
#ifndef FACTEUR_MASTER_MASTER_H
#define FACTEUR_MASTER_MASTER_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/event.h"
#include "lib/master_proto.h"
#include "lib/mastercf.h"
#include "lib/params.h"

struct msvc;

struct child {
	pid_t pid;
	int status_fd;	  /* master's end; -1 once retired */
	struct msvc *svc; /* NULL once retired */
	bool ready, busy;
	struct child *next;
};

struct msvc {
	struct mastercf_service def; /* owned copy */
	char *path;		     /* unix socket path, or NULL */
	int listeners[MASTER_MAX_LISTENERS];
	size_t nlisteners;
	unsigned maxproc;
	unsigned count;	   /* live children (not retired) */
	unsigned early_deaths;
	bool throttled;
	struct event_timer *throttle_timer;
	struct event_timer *wakeup_timer;
	struct master *m; /* borrowed */
};

struct logwriter;

struct master {
	char *config_dir;
	struct config *cfg;
	struct params p;
	struct mastercf mcf;
	struct msvc **svcs;
	size_t nsvcs;
	struct child *children;
	struct event_loop *loop;
	struct logwriter *lw;
	int log_rfd, log_wfd;
	int lock_fd;
	bool stopping;
	struct event_timer *kill_timer;
	char **envp;
	bool root;
};

/* services.c */
int services_start(struct master *m, struct str *why);
void services_reload(struct master *m, struct config *cfg, struct params *p,
    struct mastercf *mcf);
void services_stop(struct master *m);
void services_reap(struct master *m);
unsigned services_live_children(const struct master *m);
void services_free(struct master *m);

/* logwriter.c */
struct logwriter *logwriter_new(struct master *m, int rfd);
void logwriter_free(struct logwriter **lwp);
/* (Re)open maillog_file or syslog per m->p; 0 or -1 with why. */
int logwriter_open(struct logwriter *lw, struct str *why);
void logwriter_drain(struct logwriter *lw);

#endif
