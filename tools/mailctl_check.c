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
#include <time.h>
#include <unistd.h>

#include "lib/diag.h"
#include "lib/map.h"
#include "lib/mastercf.h"
#include "lib/priv.h"
#include "lib/str.h"
#include "lib/tls.h"
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

/*
 * TLS (lib/tls): the certificate and key load and match (errors name
 * the file), and a certificate that expires within
 * TLS_EXPIRY_WARN_DAYS is a warning.
 */
static void
check_tls(struct diag *d, const struct params *p)
{
	bool wanted = strcmp(p->smtpd_tls_security_level, "none") != 0 ||
	    p->smtpd_tls_wrappermode;

	if (p->smtpd_tls_cert_file[0] == '\0') {
		if (wanted)
			diag_error(d, NULL, 0,
			    "smtpd_tls_security_level = %s%s needs "
			    "smtpd_tls_cert_file",
			    p->smtpd_tls_security_level,
			    p->smtpd_tls_wrappermode
				? " (or smtpd_tls_wrappermode)" : "");
		return;
	}
	(void)tls_check_files(p->smtpd_tls_cert_file, p->smtpd_tls_key_file,
	    time(NULL), d); /* problems are in d */
}

/*
 * The auth service (DESIGN §1): its user, its clients' group, and a
 * passwd table that only auth_owner's group can read.
 */
static void
check_auth(struct diag *d, const struct params *p, const struct mastercf *mcf)
{
	struct str *why = str_new(512);
	const char *type, *name;
	size_t tlen;
	bool used = false;
	gid_t gid;
	struct stat st;

	for (size_t i = 0; i < mcf->n; i++)
		if (strcmp(mcf->v[i].command, "auth") == 0)
			used = true;
	if (!used)
		goto out;
	check_user(d, "auth_owner", p->auth_owner);
	if (priv_is_root() &&
	    priv_group_lookup(p->authclient_group, &gid, why) < 0)
		diag_error(d, NULL, 0, "authclient_group: %s", str_c(why));
	str_clear(why);
	struct map *m = map_open(p->passwd_map, why);
	if (m == NULL)
		diag_error(d, NULL, 0, "passwd_map %s: %s", p->passwd_map,
		    str_c(why));
	map_close(&m);
	/* Only auth's user may read the hashes. */
	str_clear(why);
	if (map_ref_split(p->passwd_map, &type, &tlen, &name) &&
	    str_appendf(why, "%s.lmdb", name) == 0 &&
	    stat(str_c(why), &st) == 0 && (st.st_mode & 0004) != 0)
		diag_error(d, str_c(why), 0,
		    "the passwd table is readable by every user (mode %04o): "
		    "rebuild it with \"mailctl map build\"",
		    (unsigned)(st.st_mode & 07777));
out:
	str_free(&why);
}

static void
check_root_files(struct diag *d, const struct mailctl *mc,
    const struct params *p)
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
	if (priv_check_root_owned(p->daemon_directory, why) < 0)
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
	/*
	 * Load the values even after syntax errors (the bad lines are
	 * left out), so that a bad value is named in the same run.
	 */
	(void)params_load(&p, cfg, d); /* errors are counted in d */
	bool params_ok = diag_errors(d) == 0;
	mastercf_read(&mcf, mc->config_dir, d);
	/* The services that parsed are checked even if others did not. */
	if (params_ok) {
		for (size_t i = 0; i < mcf.n; i++) {
			check_program(d, &p, &mcf.v[i]);
			/* Each service's overrides must load too. */
			struct config *scfg = config_new(mc->config_dir);
			struct diag *sd = diag_new();
			struct params sp = { 0 };
			config_read_main(scfg, sd);
			/* mastercf_read warned about these already: sd. */
			for (size_t k = 0; k < mcf.v[i].noverrides; k++)
				if (config_override(scfg, mcf.v[i].overrides[k],
					mcf.v[i].file, mcf.v[i].line, sd) < 0)
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
		check_tls(d, &p);
		check_auth(d, &p, &mcf);
		/*
		 * The parameters loaded here, not mc->p: `check` runs
		 * without mailctl_load().
		 */
		if (priv_is_root())
			check_root_files(d, mc, &p);
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
