/*
 * mailctl - facteur's administration command (DESIGN §6).
 *
 *   mailctl [-c DIR] init|start|stop|reload|status|check|config|map|queue|
 *                   flush
 *
 * -c names the configuration directory (default /etc/facteur, or
 * $FACTEUR_CONFIG).  Runs as root for a system instance, or as the owner
 * of an unprivileged instance.  Exit status: 0 success, 1 failure, 2
 * usage, 3 "not running" (status).
 *
 * Never: change queue files itself, or start a master on a configuration
 * that `check` refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"
#include "lib/diag.h"
#include "lib/log.h"
#include "tools/mailctl.h"

static FCT_NORETURN void
usage(void)
{
	fprintf(stderr,
	    "usage: mailctl [-c config_dir] command [args]\n"
	    "commands:\n"
	    "  init DIR [--port-base N] [--domain D]   create an instance\n"
	    "  start | stop | reload | status          run the mail system\n"
	    "  check                                   validate the configuration\n"
	    "  config [-n] [-x] [name...]              show parameters\n"
	    "  map build FILE                          compile a lookup table\n"
	    "  user add|passwd|del|disable|enable ADDRESS, user list\n"
	    "                                          accounts (users, passwd)\n"
	    "  queue show ID                           print one queued message\n"
	    "  queue hold|release|requeue|delete|expire ID...|ALL\n"
	    "                                          change queued messages\n"
	    "  flush                                   retry deferred mail now\n");
	exit(2);
}

int
mailctl_load(struct mailctl *mc, bool quiet_warnings)
{
	struct diag *d = diag_new();
	int rc = 0;

	mc->cfg = config_new(mc->config_dir);
	config_read_main(mc->cfg, d);
	if (diag_errors(d) == 0)
		params_load(&mc->p, mc->cfg, d);
	if (diag_errors(d) > 0 || !quiet_warnings)
		diag_print(d, stderr, "mailctl: ");
	if (diag_errors(d) > 0)
		rc = -1;
	else
		mc->loaded = true;
	diag_free(&d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct mailctl mc = { 0 };
	const char *cmd;
	int i = 1, rc;

	log_open("mailctl");
	mc.config_dir = getenv("FACTEUR_CONFIG");
	if (mc.config_dir == NULL || mc.config_dir[0] == '\0')
		mc.config_dir = "/etc/facteur";
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			mc.config_dir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("facteur %s\n", FACTEUR_VERSION);
			return 0;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	cmd = argv[i];
	argc -= i;
	argv += i;
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc, argv);
	if (strcmp(cmd, "start") == 0)
		rc = cmd_start(&mc, argc, argv);
	else if (strcmp(cmd, "stop") == 0)
		rc = cmd_stop(&mc, argc, argv);
	else if (strcmp(cmd, "reload") == 0)
		rc = cmd_reload(&mc, argc, argv);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&mc, argc, argv);
	else if (strcmp(cmd, "check") == 0)
		rc = cmd_check(&mc, argc, argv);
	else if (strcmp(cmd, "config") == 0)
		rc = cmd_config(&mc, argc, argv);
	else if (strcmp(cmd, "map") == 0)
		rc = cmd_map(&mc, argc, argv);
	else if (strcmp(cmd, "queue") == 0)
		rc = cmd_queue(&mc, argc, argv);
	else if (strcmp(cmd, "flush") == 0)
		rc = cmd_flush(&mc, argc, argv);
	else if (strcmp(cmd, "user") == 0)
		rc = cmd_user(&mc, argc, argv);
	else
		usage();
	if (mc.loaded)
		params_free(&mc.p);
	config_free(&mc.cfg);
	return rc;
}
