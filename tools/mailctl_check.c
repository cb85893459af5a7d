/*
 * mailctl_check - `check` (validate everything `start` depends on) and
 * `config` (show parameters like postconf).
 *
 * Never: stop at the first problem: every error names its FILE:LINE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/diag.h"
#include "lib/mastercf.h"
#include "lib/priv.h"
#include "lib/str.h"
#include "tools/mailctl.h"

static void
check_user(struct diag *d, const char *param, const char *user)
{
	struct str *why = str_new(256);
	uid_t uid;
	gid_t gid;

	if (priv_user_lookup(user, &uid, &gid, why) < 0)
		diag_error(d, NULL, 0, "%s: %s", param, str_c(why));
	else if (priv_is_root() && (uid == 0 || gid == 0))
		diag_error(d, NULL, 0, "%s = %s: uid or gid 0 is refused",
		    param, user);
	else if (!priv_is_root() && uid != getuid())
		diag_error(d, NULL, 0,
		    "%s = %s: an unprivileged instance runs everything as "
		    "its own user (uid %ld)", param, user, (long)getuid());
	str_free(&why);
}

static void
check_program(struct diag *d, const struct params *p,
    const struct mastercf_service *s)
{
	struct str *path = str_new(4096);
	struct str *why = str_new(512);

	if (str_appendf(path, "%s/%s", p->daemon_directory, s->command) < 0)
		diag_error(d, s->file, s->line, "program path too long");
	else if (access(str_c(path), X_OK) < 0)
		diag_error(d, s->file, s->line, "program %s: %s", str_c(path),
		    strerror(errno));
	else if (priv_is_root() &&
	    priv_check_root_owned(str_c(path), why) < 0)
		diag_error(d, s->file, s->line, "%s", str_c(why));
	str_free(&why);
	str_free(&path);
}

static void
check_root_files(struct diag *d, const struct mailctl *mc)
{
	const char *names[] = { "", "/main.cf", "/master.cf" };
	struct str *path = str_new(4096);
	struct str *why = str_new(512);

	for (size_t i = 0; i < FCT_NELEM(names); i++) {
		str_clear(path);
		str_clear(why);
		if (str_appendf(path, "%s%s", mc->config_dir, names[i]) == 0 &&
		    priv_check_root_owned(str_c(path), why) < 0)
			diag_error(d, NULL, 0, "%s", str_c(why));
	}
	str_clear(why);
	if (priv_check_root_owned(mc->p.daemon_directory, why) < 0)
		diag_error(d, NULL, 0, "daemon_directory %s", str_c(why));
	str_free(&why);
	str_free(&path);
}

unsigned
mailctl_check_all(struct mailctl *mc, bool print)
{
	struct diag *d = diag_new();
	struct mastercf mcf = { 0 };
	unsigned errors;

	/* main.cf problems were printed by mailctl_load; re-read for count. */
	struct config *cfg = config_new(mc->config_dir);
	struct params p = { 0 };
	config_read_main(cfg, d);
	if (diag_errors(d) == 0)
		params_load(&p, cfg, d);
	mastercf_read(&mcf, mc->config_dir, d);
	if (diag_errors(d) == 0) {
		for (size_t i = 0; i < mcf.n; i++) {
			check_program(d, &p, &mcf.v[i]);
			/* Each service's overrides must load too. */
			struct config *scfg = config_new(mc->config_dir);
			struct diag *sd = diag_new();
			struct params sp = { 0 };
			config_read_main(scfg, sd);
			for (size_t k = 0; k < mcf.v[i].noverrides; k++)
				if (config_override(scfg, mcf.v[i].overrides[k],
					mcf.v[i].file, mcf.v[i].line, d) < 0)
					break;
			if (params_load(&sp, scfg, d) > 0)
				diag_error(d, mcf.v[i].file, mcf.v[i].line,
				    "service %s: bad -o override",
				    mcf.v[i].name);
			params_free(&sp);
			diag_free(&sd);
			config_free(&scfg);
		}
		check_user(d, "mail_owner", p.mail_owner);
		check_user(d, "mailbox_owner", p.mailbox_owner);
		if (priv_is_root())
			check_root_files(d, mc);
	}
	errors = diag_errors(d);
	if (print)
		diag_print(d, stderr, "mailctl: ");
	mastercf_free(&mcf);
	params_free(&p);
	config_free(&cfg);
	diag_free(&d);
	return errors;
}

int
cmd_check(struct mailctl *mc, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: mailctl check\n");
		return 2;
	}
	mc->cfg = config_new(mc->config_dir);
	return mailctl_check_all(mc, true) > 0 ? 1 : 0;
}

struct show {
	struct mailctl *mc;
	bool expand;
	bool set_only;
	int rc;
};

static void
show_one(const char *name, void *arg)
{
	struct show *sh = arg;
	const char *raw = config_raw(sh->mc->cfg, name);
	struct str *scratch = str_new(CONFIG_VALUE_MAX);
	struct str *out = str_new(CONFIG_VALUE_MAX);
	struct diag *d = diag_new();

	if (sh->set_only && (raw == NULL || strcmp(name, "config_directory") ==
					      0))
		goto out;
	if (!param_known(name)) {
		fprintf(stderr, "mailctl: warning: %s: unknown parameter\n",
		    name);
		sh->rc = 1;
		goto out;
	}
	if (sh->expand) {
		if (config_expand_name(sh->mc->cfg, name, out, d) < 0) {
			diag_print(d, stderr, "mailctl: ");
			sh->rc = 1;
			goto out;
		}
		printf("%s = %s\n", name, str_c(out));
	} else {
		if (raw == NULL)
			raw = param_default(name, sh->mc->cfg, scratch);
		printf("%s = %s\n", name, raw);
	}
out:
	diag_free(&d);
	str_free(&out);
	str_free(&scratch);
}

int
cmd_config(struct mailctl *mc, int argc, char **argv)
{
	struct show sh = { .mc = mc };
	struct diag *d = diag_new();
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-n") == 0)
			sh.set_only = true;
		else if (strcmp(argv[i], "-x") == 0)
			sh.expand = true;
		else {
			fprintf(stderr,
			    "usage: mailctl config [-n] [-x] [name...]\n");
			diag_free(&d);
			return 2;
		}
	}
	mc->cfg = config_new(mc->config_dir);
	config_read_main(mc->cfg, d);
	if (diag_errors(d) > 0) {
		diag_print(d, stderr, "mailctl: ");
		diag_free(&d);
		return 1;
	}
	diag_free(&d);
	if (i == argc) {
		params_foreach(show_one, &sh);
		return sh.rc;
	}
	for (; i < argc; i++)
		show_one(argv[i], &sh);
	return sh.rc;
}
