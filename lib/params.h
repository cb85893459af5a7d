/*
 * params - the one table of main.cf parameters: name, type, default,
 * bounds, check, and the field of struct params that holds the value.
 *
 * A program builds a struct config (main.cf plus its master.cf -o
 * overrides) and calls params_load(), which expands every value, parses it
 * by type, checks bounds and fills struct params.  Nothing else defines a
 * parameter or a default.
 *
 * Types: STR (text after expansion), INT (decimal), SIZE (bytes, optional
 * k/m/g suffix, powers of 1024), TIME (number with unit s, m, h, d or w;
 * no unit means seconds), BOOL (yes/no), ENUM (one of a '|' list).
 *
 * Never: accept a value outside its bounds, or let a program read main.cf
 * values any other way.
 */
#ifndef FACTEUR_PARAMS_H
#define FACTEUR_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/diag.h"

struct params {
	/* where things are */
	char *config_directory;
	char *queue_directory;
	char *daemon_directory;
	char *virtual_mailbox_base;
	/* who */
	char *mail_owner;
	char *mailbox_owner;
	char *auth_owner;
	char *authclient_group; /* may reach the auth service */
	char *service_user;
	char *authorized_submit_users;
	/* names and networks */
	char *myhostname;
	char *mydomain;
	char *myorigin;
	char *mydestination;
	char *mynetworks;
	char *inet_interfaces;
	char *inet_protocols;
	char *relayhost;
	char *virtual_mailbox_domains;
	/* tables */
	char *users_map;
	char *alias_maps;
	char *passwd_map;
	char *recipient_delimiter;
	/* logging */
	char *maillog_file;
	char *syslog_name;
	char *syslog_facility;
	char *import_environment;
	/* processes */
	uint64_t default_process_limit;
	uint64_t max_use;
	uint64_t max_idle;
	uint64_t service_throttle_time;
	uint64_t ipc_timeout;
	/* queue */
	uint64_t message_size_limit;
	uint64_t queue_minfree;
	uint64_t queue_record_limit;
	uint64_t hopcount_limit;
	uint64_t header_size_limit;
	/* qmgr: scheduling, retries, notices */
	char *transport_maps;
	uint64_t queue_run_delay;
	uint64_t minimal_backoff_time;
	uint64_t maximal_backoff_time;
	uint64_t maximal_queue_lifetime;
	uint64_t bounce_queue_lifetime;
	uint64_t delay_warning_time; /* 0: no delay warnings */
	uint64_t transport_retry_time;
	uint64_t daemon_timeout;
	uint64_t default_destination_concurrency_limit;
	uint64_t default_destination_recipient_limit;
	uint64_t qmgr_message_active_limit;
	uint64_t queue_file_reuse_limit; /* 0: finished files are unlinked */
	uint64_t bounce_size_limit;
	/* auth service */
	uint64_t auth_client_timeout;
	uint64_t auth_failure_delay;
	uint64_t auth_failure_delay_max;
	uint64_t auth_failure_reset_time;
	uint64_t auth_failure_table_limit;
	/* smtpd */
	char *smtpd_banner;
	uint64_t smtpd_recipient_limit;
	uint64_t smtpd_command_line_limit;
	uint64_t smtpd_hard_error_limit;
	uint64_t smtpd_timeout;
	uint64_t smtpd_session_time_limit;
	uint64_t smtpd_client_connection_count_limit;
	char *smtpd_forbid_bare_newline;
	bool disable_vrfy_command;
	bool smtputf8_enable;
	bool smtpd_helo_required;
	/* smtpd TLS and SASL */
	char *smtpd_tls_cert_file;
	char *smtpd_tls_key_file;
	char *smtpd_tls_security_level;
	bool smtpd_tls_wrappermode;
	bool smtpd_tls_auth_only;
	bool smtpd_sasl_auth_enable;
	bool smtpd_require_auth; /* MAIL needs AUTH first (submission) */
	char *smtpd_sender_login_maps;
	/* local */
	char *quota_exceeded_action;
};

/* True when name is a parameter in the table. */
bool param_known(const char *name);

/*
 * The default text of name (before expansion), or NULL for an unknown
 * name.  Computed defaults (myhostname, mydomain) are built in scratch.
 */
const char *param_default(const char *name, const struct config *cfg,
    struct str *scratch);

/*
 * Fill p from cfg: expand, parse, bound-check every parameter.  Problems
 * go to d, located at the setting's FILE:LINE.  Returns the number of
 * errors (0: p is complete).  p owns its strings: params_free().
 */
unsigned params_load(struct params *p, const struct config *cfg,
    struct diag *d);
void params_free(struct params *p);

/* Visit every parameter name in table order (sorted by name). */
typedef void param_visit_fn(const char *name, void *arg);
void params_foreach(param_visit_fn *fn, void *arg);

/*
 * List values ("a, b c"): next item from *cur, skipping commas and
 * whitespace.  Returns false at the end.  Items are borrowed from the text.
 */
bool list_next(const char **cur, const char **item_r, size_t *len_r);

/* Parse a TIME or SIZE value (used by tests and by mailctl). */
FCT_MUST_CHECK int param_parse_time(const char *text, uint64_t *secs_r);
FCT_MUST_CHECK int param_parse_size(const char *text, uint64_t *bytes_r);

#endif
