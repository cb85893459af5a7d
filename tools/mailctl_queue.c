/*
 * mailctl_queue - `mailctl queue show [--content] ID`: one queued
 * message's envelope and content, like postcat -q.  With --content only
 * the stored content bytes are printed, exactly as queued (our Received:
 * header first), so that a test can compare them with what it sent.
 *
 * Run by root or the instance's owner: it reads the file directly, which
 * only changes nothing (queue changes go through qmgr's admin socket).
 *
 * Never: write to the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/queue.h"
#include "lib/queue_id.h"
#include "lib/queue_read.h"
#include "tools/mailctl.h"

static const enum queue_folder show_folders[] = { QUEUE_INCOMING,
	QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_CORRUPT };

static void
print_notify(unsigned notify)
{
	if (notify == 0)
		return;
	printf("notify:");
	if (notify & QUEUE_NOTIFY_NEVER)
		printf(" NEVER");
	if (notify & QUEUE_NOTIFY_SUCCESS)
		printf(" SUCCESS");
	if (notify & QUEUE_NOTIFY_FAILURE)
		printf(" FAILURE");
	if (notify & QUEUE_NOTIFY_DELAY)
		printf(" DELAY");
	printf("\n");
}

static int
show(struct queue *q, enum queue_folder f, const char *id, int fd,
    bool content_only)
{
	struct queue_env env = { 0 };
	struct str *why = str_new(512);
	char buf[65536];
	uint64_t pos = 0;
	int rc = 1;

	if (queue_env_parse(queue_pread_fd, &fd, queue_record_limit(q), &env,
		why) != STATUS_OK) {
		fprintf(stderr, "mailctl: %s/%s: %s\n", queue_folder_name(f),
		    id, str_c(why));
		str_free(&why);
		return 1;
	}
	if (!content_only) {
		time_t t = (time_t)(env.arrival_us / 1000000);
		char when[64];
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y",
		    localtime(&t));
		printf("*** ENVELOPE RECORDS %s/%s ***\n", queue_folder_name(f),
		    id);
		printf("message_size: %llu\n",
		    (unsigned long long)env.content_len);
		printf("message_arrival_time: %s\n", when);
		printf("sender: %s\n", env.sender);
		for (size_t i = 0; i < env.nattrs; i++)
			printf("named_attribute: %s=%s\n", env.attrs[i].name,
			    env.attrs[i].value);
		for (size_t i = 0; i < env.nrcpts; i++) {
			const struct queue_rcpt *r = &env.rcpts[i];
			printf("%s: %s\n",
			    (r->flags & QUEUE_RCPT_DONE) ? "done_recipient"
							 : "recipient",
			    r->addr);
			if (strcmp(r->orig, r->addr) != 0)
				printf("original_recipient: %s\n", r->orig);
			print_notify(r->notify);
		}
		printf("*** MESSAGE CONTENTS %s/%s ***\n", queue_folder_name(f),
		    id);
	}
	for (;;) {
		size_t n;
		if (queue_content_read(queue_pread_fd, &fd, &env, pos, buf,
			sizeof(buf), &n, why) != STATUS_OK) {
			fprintf(stderr, "mailctl: %s: %s\n", id, str_c(why));
			goto out;
		}
		if (n == 0)
			break;
		if (fwrite(buf, 1, n, stdout) != n)
			goto out;
		pos += n;
	}
	if (!content_only)
		printf("*** MESSAGE FILE END %s/%s ***\n", queue_folder_name(f),
		    id);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	queue_env_clear(&env);
	str_free(&why);
	return rc;
}

int
cmd_queue(struct mailctl *mc, int argc, char **argv)
{
	struct queue *q = NULL;
	struct str *why = str_new(512);
	bool content_only = false;
	const char *id = NULL;
	int rc = 1;

	/* Changes go through qmgr (tools/mailctl_admin.c). */
	if (argc >= 2 && (strcmp(argv[1], "hold") == 0 ||
	    strcmp(argv[1], "release") == 0 ||
	    strcmp(argv[1], "requeue") == 0 ||
	    strcmp(argv[1], "delete") == 0 ||
	    strcmp(argv[1], "expire") == 0)) {
		str_free(&why);
		return mailctl_queue_admin(mc, argc, argv);
	}

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--content") == 0)
			content_only = true;
		else if (id == NULL)
			id = argv[i];
		else
			id = "";
	}
	if (argc < 3 || strcmp(argv[1], "show") != 0 || id == NULL ||
	    id[0] == '\0') {
		fprintf(stderr, "usage: mailctl queue show [--content] ID\n");
		str_free(&why);
		return 2;
	}
	if (!queue_id_valid(id)) {
		fprintf(stderr, "mailctl: %s: not a queue id\n", id);
		str_free(&why);
		return 1;
	}
	if (mailctl_load(mc, true) < 0)
		goto out;
	if (queue_open(mc->p.queue_directory, mc->p.queue_record_limit, &q,
		why) < 0) {
		fprintf(stderr, "mailctl: queue: %s\n", str_c(why));
		goto out;
	}
	for (size_t i = 0; i < FCT_NELEM(show_folders); i++) {
		str_clear(why);
		int fd = queue_file_open(q, show_folders[i], id, O_RDONLY, why);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			fprintf(stderr, "mailctl: %s: %s\n", id, str_c(why));
			goto out;
		}
		rc = show(q, show_folders[i], id, fd, content_only);
		(void)close(fd); /* read-only */
		goto out;
	}
	fprintf(stderr, "mailctl: %s: no such message in the queue\n", id);
out:
	queue_close(&q);
	str_free(&why);
	return rc;
}
