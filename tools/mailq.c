/*
 * mailq - list the mail queue (Postfix's mailq / postqueue -p, -j).
 *
 *   mailq [-c DIR] [--json]
 *
 * Any local user may run it: the listing comes from the showq service
 * on public/showq, never from the queue folders (which are mail_owner
 * 0700).  Text output matches postqueue -p; --json prints one object a
 * line with postqueue -j's fields.
 *
 * Never: read queue files itself, or print a listing that was cut short
 * (showq ends a whole listing with a NUL byte).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/diag.h"
#include "lib/log.h"
#include "lib/params.h"
#include "lib/sock.h"

int
main(int argc, char **argv)
{
	const char *dir = getenv("FACTEUR_CONFIG");
	bool json = false;
	struct params p = { 0 };
	struct diag *d = diag_new();
	struct config *cfg;
	struct str *path = str_new(4096);
	char buf[8192];
	bool ended = false;
	int fd;

	log_open("mailq");
	if (dir == NULL || dir[0] == '\0')
		dir = "/etc/facteur";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 ||
		    strcmp(argv[i], "-j") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: mailq [-c config_dir] [--json]\n");
			return 2;
		}
	}
	cfg = config_new(dir);
	config_read_main(cfg, d);
	if (diag_errors(d) == 0)
		params_load(&p, cfg, d);
	if (diag_errors(d) > 0) {
		diag_print(d, stderr, "mailq: ");
		return 1;
	}
	if (str_appendf(path, "%s/public/showq", p.queue_directory) < 0)
		return 1;
	fd = sock_connect_unix(str_c(path), SOCK_STREAM, false);
	if (fd < 0) {
		fprintf(stderr,
		    "mailq: fatal: cannot reach the showq service at %s: %s "
		    "(is the mail system running?)\n",
		    str_c(path), strerror(errno));
		return 1;
	}
	const char *req = json ? "json\n" : "text\n";
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		fprintf(stderr, "mailq: fatal: showq: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t len = (size_t)n;
		if (memchr(buf, '\0', len) != NULL) {
			len = (size_t)((char *)memchr(buf, '\0', len) - buf);
			ended = true;
		}
		if (fwrite(buf, 1, len, stdout) != len)
			return 1;
		if (ended)
			break;
	}
	(void)close(fd); /* read-only client */
	if (fflush(stdout) != 0)
		return 1;
	if (!ended) {
		fprintf(stderr, "mailq: fatal: the listing was cut short\n");
		return 1;
	}
	params_free(&p);
	config_free(&cfg);
	diag_free(&d);
	str_free(&path);
	return 0;
}
