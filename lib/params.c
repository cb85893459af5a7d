/*
 * params - the parameter table and its loader.
 *
 * Keep the table sorted by name: `mailctl config` prints it in this order
 * and param_find() relies on it for a binary search.
 *
 * Never: define a parameter anywhere else, or fill struct params with an
 * unchecked value.
 */
#include "lib/params.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cidr.h"

enum param_type { P_STR, P_INT, P_SIZE, P_TIME, P_BOOL, P_ENUM };

typedef int param_check_fn(const char *value, struct str *why);

struct param_def {
	const char *name;
	enum param_type type;
	const char *def;  /* NULL: computed by param_default() */
	uint64_t min, max;
	const char *choices; /* P_ENUM: "a|b|c" */
	param_check_fn *check;
	size_t off;
};

static param_check_fn check_user, check_cidr_list, check_protocols,
    check_delimiter, check_no_slash_dotdot;

#define F(field) offsetof(struct params, field)
#define PARAM_STR(n, d, chk, field) { n, P_STR, d, 0, 0, NULL, chk, F(field) }
#define PARAM_INT(n, d, lo, hi, field) { n, P_INT, d, lo, hi, NULL, NULL, F(field) }
#define PARAM_SIZE(n, d, lo, hi, field) { n, P_SIZE, d, lo, hi, NULL, NULL, F(field) }
#define PARAM_TIME(n, d, lo, hi, field) { n, P_TIME, d, lo, hi, NULL, NULL, F(field) }
#define PARAM_BOOL(n, d, field) { n, P_BOOL, d, 0, 1, NULL, NULL, F(field) }
#define PARAM_ENUM(n, d, ch, field) { n, P_ENUM, d, 0, 0, ch, NULL, F(field) }

#define DAY (24 * 3600)

/* clang-format off */
static const struct param_def params_table[] = {
	PARAM_STR("alias_maps", "lmdb:${config_directory}/aliases", NULL, alias_maps),
	PARAM_TIME("auth_client_timeout", "30s", 1, 3600, auth_client_timeout),
	PARAM_TIME("auth_failure_delay", "1s", 1, 3600, auth_failure_delay),
	PARAM_TIME("auth_failure_delay_max", "15s", 1, 3600, auth_failure_delay_max),
	PARAM_TIME("auth_failure_reset_time", "10m", 1, DAY, auth_failure_reset_time),
	PARAM_INT("auth_failure_table_limit", "10000", 1, 10000000, auth_failure_table_limit),
	PARAM_STR("auth_owner", "facteur-auth", check_user, auth_owner),
	PARAM_STR("authclient_group", "facteur-authclient", check_user, authclient_group),
	PARAM_STR("authorized_submit_users", "static:anyone", NULL, authorized_submit_users),
	PARAM_TIME("bounce_queue_lifetime", "5d", 0, 100 * DAY, bounce_queue_lifetime),
	PARAM_SIZE("bounce_size_limit", "50000", 1, UINT64_C(1) << 30, bounce_size_limit),
	PARAM_STR("config_directory", "/etc/facteur", NULL, config_directory),
	PARAM_STR("daemon_directory", "/usr/libexec/facteur", check_no_slash_dotdot, daemon_directory),
	PARAM_TIME("daemon_timeout", "18000s", 1, 7 * DAY, daemon_timeout),
	PARAM_INT("default_destination_concurrency_limit", "20", 1, 10000, default_destination_concurrency_limit),
	PARAM_INT("default_destination_recipient_limit", "50", 1, 10000, default_destination_recipient_limit),
	PARAM_INT("default_process_limit", "100", 1, 10000, default_process_limit),
	PARAM_TIME("delay_warning_time", "0h", 0, 100 * DAY, delay_warning_time),
	PARAM_BOOL("disable_vrfy_command", "yes", disable_vrfy_command),
	PARAM_SIZE("header_size_limit", "102400", 1024, 16 << 20, header_size_limit),
	PARAM_INT("hopcount_limit", "50", 1, 1000, hopcount_limit),
	PARAM_STR("import_environment", "TZ LANG ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS", NULL, import_environment),
	PARAM_STR("inet_interfaces", "all", NULL, inet_interfaces),
	PARAM_STR("inet_protocols", "all", check_protocols, inet_protocols),
	PARAM_TIME("ipc_timeout", "60s", 1, 3600, ipc_timeout),
	PARAM_STR("mail_owner", "facteur", check_user, mail_owner),
	PARAM_STR("mailbox_owner", "vmail", check_user, mailbox_owner),
	PARAM_STR("maillog_file", "", check_no_slash_dotdot, maillog_file),
	PARAM_TIME("max_idle", "100s", 1, DAY, max_idle),
	PARAM_INT("max_use", "100", 1, 1000000000, max_use),
	PARAM_TIME("maximal_backoff_time", "4000s", 1, 100 * DAY, maximal_backoff_time),
	PARAM_TIME("maximal_queue_lifetime", "5d", 0, 100 * DAY, maximal_queue_lifetime),
	PARAM_SIZE("message_size_limit", "10240000", 1024, UINT64_C(1) << 40, message_size_limit),
	PARAM_TIME("minimal_backoff_time", "300s", 1, 100 * DAY, minimal_backoff_time),
	PARAM_STR("mydestination", "$myhostname, localhost.$mydomain, localhost", NULL, mydestination),
	PARAM_STR("mydomain", NULL, NULL, mydomain),
	PARAM_STR("myhostname", NULL, NULL, myhostname),
	PARAM_STR("mynetworks", "127.0.0.0/8 [::1]/128", check_cidr_list, mynetworks),
	PARAM_STR("myorigin", "$myhostname", NULL, myorigin),
	PARAM_STR("passwd_map", "lmdb:${config_directory}/passwd", NULL, passwd_map),
	PARAM_INT("qmgr_message_active_limit", "20000", 1, 10000000, qmgr_message_active_limit),
	PARAM_STR("queue_directory", "/var/spool/facteur", check_no_slash_dotdot, queue_directory),
	PARAM_INT("queue_file_reuse_limit", "5000", 0, 1000000, queue_file_reuse_limit),
	PARAM_SIZE("queue_minfree", "0", 0, UINT64_C(1) << 50, queue_minfree),
	PARAM_SIZE("queue_record_limit", "65536", 1024, 16 << 20, queue_record_limit),
	PARAM_TIME("queue_run_delay", "300s", 1, DAY, queue_run_delay),
	PARAM_ENUM("quota_exceeded_action", "defer", "defer|bounce", quota_exceeded_action),
	PARAM_STR("recipient_delimiter", "+", check_delimiter, recipient_delimiter),
	PARAM_STR("relayhost", "", NULL, relayhost),
	PARAM_TIME("service_throttle_time", "60s", 1, 3600, service_throttle_time),
	PARAM_STR("service_user", "$mail_owner", check_user, service_user),
	PARAM_STR("smtpd_banner", "$myhostname ESMTP facteur", NULL, smtpd_banner),
	PARAM_INT("smtpd_client_connection_count_limit", "50", 0, 100000, smtpd_client_connection_count_limit),
	PARAM_INT("smtpd_command_line_limit", "2048", 512, 1 << 20, smtpd_command_line_limit),
	PARAM_ENUM("smtpd_forbid_bare_newline", "normalize", "normalize|reject", smtpd_forbid_bare_newline),
	PARAM_INT("smtpd_hard_error_limit", "20", 1, 100000, smtpd_hard_error_limit),
	PARAM_BOOL("smtpd_helo_required", "no", smtpd_helo_required),
	PARAM_INT("smtpd_recipient_limit", "1000", 1, 1000000, smtpd_recipient_limit),
	PARAM_BOOL("smtpd_require_auth", "no", smtpd_require_auth),
	PARAM_BOOL("smtpd_sasl_auth_enable", "no", smtpd_sasl_auth_enable),
	PARAM_STR("smtpd_sender_login_maps", "", NULL, smtpd_sender_login_maps),
	PARAM_TIME("smtpd_session_time_limit", "3600s", 1, 7 * DAY, smtpd_session_time_limit),
	PARAM_TIME("smtpd_timeout", "300s", 1, DAY, smtpd_timeout),
	PARAM_BOOL("smtpd_tls_auth_only", "yes", smtpd_tls_auth_only),
	PARAM_STR("smtpd_tls_cert_file", "", check_no_slash_dotdot, smtpd_tls_cert_file),
	PARAM_STR("smtpd_tls_key_file", "$smtpd_tls_cert_file", check_no_slash_dotdot, smtpd_tls_key_file),
	PARAM_ENUM("smtpd_tls_security_level", "none", "none|may|encrypt", smtpd_tls_security_level),
	PARAM_BOOL("smtpd_tls_wrappermode", "no", smtpd_tls_wrappermode),
	PARAM_BOOL("smtputf8_enable", "yes", smtputf8_enable),
	PARAM_STR("syslog_facility", "mail", NULL, syslog_facility),
	PARAM_STR("syslog_name", "facteur", NULL, syslog_name),
	PARAM_STR("transport_maps", "", NULL, transport_maps),
	PARAM_TIME("transport_retry_time", "60s", 1, DAY, transport_retry_time),
	PARAM_STR("users_map", "lmdb:${config_directory}/users", NULL, users_map),
	PARAM_STR("virtual_mailbox_base", "/var/vmail", check_no_slash_dotdot, virtual_mailbox_base),
	PARAM_STR("virtual_mailbox_domains", "", NULL, virtual_mailbox_domains),
};
/* clang-format on */

static const struct param_def *
param_find(const char *name)
{
	size_t lo = 0, hi = FCT_NELEM(params_table);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, params_table[mid].name);
		if (c == 0)
			return &params_table[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool
param_known(const char *name)
{
	return param_find(name) != NULL;
}

void
params_foreach(param_visit_fn *fn, void *arg)
{
	for (size_t i = 0; i < FCT_NELEM(params_table); i++)
		fn(params_table[i].name, arg);
}

/* myhostname: the host's name; a name without a dot gets ".localdomain". */
static const char *
default_myhostname(struct str *scratch)
{
	char host[256];

	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	str_clear(scratch);
	if (str_appends(scratch, host) < 0 ||
	    (strchr(host, '.') == NULL &&
		str_appends(scratch, ".localdomain") < 0))
		return "localhost.localdomain";
	return str_c(scratch);
}

/* mydomain: myhostname without its first label. */
static const char *
default_mydomain(const struct config *cfg, struct str *scratch)
{
	struct diag *d = diag_new();
	struct str *host = str_new(CONFIG_VALUE_MAX);
	const char *dot;
	int rc = config_expand_name(cfg, "myhostname", host, d);

	diag_free(&d);
	str_clear(scratch);
	dot = rc == 0 ? strchr(str_c(host), '.') : NULL;
	if (dot == NULL || dot[1] == '\0' ||
	    str_appends(scratch, dot + 1) < 0) {
		str_free(&host);
		return "localdomain";
	}
	str_free(&host);
	return str_c(scratch);
}

const char *
param_default(const char *name, const struct config *cfg,
    struct str *scratch)
{
	const struct param_def *def = param_find(name);

	if (def == NULL)
		return NULL;
	if (def->def != NULL)
		return def->def;
	if (strcmp(name, "myhostname") == 0)
		return default_myhostname(scratch);
	if (strcmp(name, "mydomain") == 0)
		return default_mydomain(cfg, scratch);
	return "";
}

bool
list_next(const char **cur, const char **item_r, size_t *len_r)
{
	const char *p = *cur;

	while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p == '\0') {
		*cur = p;
		return false;
	}
	*item_r = p;
	while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t' &&
	    *p != '\n')
		p++;
	*len_r = (size_t)(p - *item_r);
	*cur = p;
	return true;
}

static int
parse_unit_number(const char *text, uint64_t *num_r, char *unit_r)
{
	size_t n = strlen(text);

	*unit_r = '\0';
	if (n > 1 && (text[n - 1] < '0' || text[n - 1] > '9')) {
		*unit_r = (char)ascii_tolower((unsigned char)text[n - 1]);
		n--;
	}
	return num_parse_u64(text, n, UINT64_MAX, num_r);
}

int
param_parse_time(const char *text, uint64_t *secs_r)
{
	uint64_t v, mul;
	char unit;

	if (parse_unit_number(text, &v, &unit) < 0)
		return -1;
	switch (unit) {
	case '\0':
	case 's':
		mul = 1;
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = DAY;
		break;
	case 'w':
		mul = 7 * DAY;
		break;
	default:
		return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*secs_r = v * mul;
	return 0;
}

int
param_parse_size(const char *text, uint64_t *bytes_r)
{
	uint64_t v, mul;
	char unit;

	if (parse_unit_number(text, &v, &unit) < 0)
		return -1;
	switch (unit) {
	case '\0':
	case 'b':
		mul = 1;
		break;
	case 'k':
		mul = 1024;
		break;
	case 'm':
		mul = 1024 * 1024;
		break;
	case 'g':
		mul = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*bytes_r = v * mul;
	return 0;
}

static int
parse_bool(const char *text, bool *b_r)
{
	if (ascii_strcaseeq(text, "yes") || ascii_strcaseeq(text, "true"))
		*b_r = true;
	else if (ascii_strcaseeq(text, "no") || ascii_strcaseeq(text, "false"))
		*b_r = false;
	else
		return -1;
	return 0;
}

static bool
enum_has(const char *choices, const char *v)
{
	size_t vl = strlen(v);

	for (const char *p = choices; *p != '\0';) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vl && memcmp(p, v, n) == 0)
			return true;
		p += n + (bar ? 1 : 0);
	}
	return false;
}

static int
check_user(const char *value, struct str *why)
{
	size_t n = strlen(value);

	if (n == 0 || n > 32 || value[0] == '-') {
		str_notef(why, "not a user name");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '-' ||
			c == '.')) {
			str_notef(why, "not a user name");
			return -1;
		}
	}
	return 0;
}

static int
check_cidr_list(const char *value, struct str *why)
{
	struct cidr_list *l = NULL;
	int rc = cidr_list_parse(value, &l, why);

	cidr_list_free(&l);
	return rc;
}

static int
check_protocols(const char *value, struct str *why)
{
	const char *cur = value, *item;
	size_t len;
	unsigned n = 0;

	while (list_next(&cur, &item, &len)) {
		n++;
		if (!(len == 3 && memcmp(item, "all", 3) == 0) &&
		    !(len == 4 && memcmp(item, "ipv4", 4) == 0) &&
		    !(len == 4 && memcmp(item, "ipv6", 4) == 0)) {
			str_notef(why, "want all, ipv4, ipv6 or \"ipv4, ipv6\"");
			return -1;
		}
	}
	if (n == 0) {
		str_notef(why, "empty");
		return -1;
	}
	return 0;
}

static int
check_delimiter(const char *value, struct str *why)
{
	for (const char *p = value; *p != '\0'; p++)
		if (*p == '@' || *p == '"' || *p == '\\' || *p <= ' ' ||
		    *p == '.') {
			str_notef(why, "delimiter characters may not include "
			    "'@', '.', quotes, backslash or space");
			return -1;
		}
	return 0;
}

static int
check_no_slash_dotdot(const char *value, struct str *why)
{
	if (value[0] == '\0')
		return 0;
	if (value[0] != '/') {
		str_notef(why, "must be an absolute path");
		return -1;
	}
	if (strstr(value, "/../") != NULL ||
	    (strlen(value) >= 3 && strcmp(value + strlen(value) - 3, "/..") ==
		0)) {
		str_notef(why, "must not contain \"..\"");
		return -1;
	}
	return 0;
}

static int
load_one(const struct param_def *def, struct params *p, const char *value,
    struct str *why)
{
	char *field = (char *)p + def->off;
	uint64_t v = 0;

	switch (def->type) {
	case P_STR:
		if (def->check && def->check(value, why) < 0)
			return -1;
		free(*(char **)field);
		*(char **)field = x_strdup(value);
		return 0;
	case P_ENUM:
		if (!enum_has(def->choices, value)) {
			str_notef(why, "want one of %s", def->choices);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = x_strdup(value);
		return 0;
	case P_BOOL: {
		bool b;
		if (parse_bool(value, &b) < 0) {
			str_notef(why, "want yes or no");
			return -1;
		}
		*(bool *)field = b;
		return 0;
	}
	case P_INT:
		if (num_parse_u64(value, strlen(value), UINT64_MAX, &v) < 0) {
			str_notef(why, "want a whole number");
			return -1;
		}
		break;
	case P_SIZE:
		if (param_parse_size(value, &v) < 0) {
			str_notef(why, "want a size in bytes (suffix k, m, g)");
			return -1;
		}
		break;
	case P_TIME:
		if (param_parse_time(value, &v) < 0) {
			str_notef(why, "want a time (suffix s, m, h, d, w)");
			return -1;
		}
		break;
	}
	if (v < def->min || v > def->max) {
		str_notef(why, "out of range %llu..%llu",
		    (unsigned long long)def->min,
		    (unsigned long long)def->max);
		return -1;
	}
	*(uint64_t *)field = v;
	return 0;
}

unsigned
params_load(struct params *p, const struct config *cfg, struct diag *d)
{
	unsigned before = diag_errors(d);
	struct str *val = str_new(CONFIG_VALUE_MAX);
	struct str *why = str_new(512);

	for (size_t i = 0; i < FCT_NELEM(params_table); i++) {
		const struct param_def *def = &params_table[i];
		unsigned line = 0;
		const char *file = config_origin(cfg, def->name, &line);

		str_clear(val);
		str_clear(why);
		if (config_expand_name(cfg, def->name, val, d) < 0)
			continue;
		if (load_one(def, p, str_c(val), why) < 0)
			diag_error(d, file ? file : "(default)", line,
			    "bad value \"%s\" for %s: %s", str_c(val),
			    def->name, str_c(why));
	}
	str_free(&why);
	str_free(&val);
	return diag_errors(d) - before;
}

void
params_free(struct params *p)
{
	for (size_t i = 0; i < FCT_NELEM(params_table); i++) {
		const struct param_def *def = &params_table[i];
		if (def->type == P_STR || def->type == P_ENUM)
			x_free((char **)((char *)p + def->off));
	}
}
