/*
 * test_event - lib/event: descriptors, one-shot timers in due order,
 * cancelling, a callback removing another descriptor, a descriptor
 * handed to another callback, signals through
 * signalfd.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/event.h"

static char order[64];

static void
tick(struct event_loop *loop, void *arg)
{
	strncat(order, arg, 1);
	if (strlen(order) == 3)
		event_stop(loop);
}

static void
test_timers(void **state)
{
	struct event_loop *loop = event_new();
	struct event_timer *t;

	order[0] = '\0';
	event_timer_add(loop, 30, tick, "c");
	event_timer_add(loop, 10, tick, "a");
	t = event_timer_add(loop, 5, tick, "x");
	event_timer_add(loop, 20, tick, "b");
	event_timer_cancel(loop, &t);
	assert_null(t);
	assert_int_equal(event_run(loop), 0);
	assert_string_equal(order, "abc");
	event_free(&loop);
}

struct pair {
	int a[2], b[2];
	int fired_a, fired_b;
};

static void
on_a(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct pair *p = arg;
	char c;

	p->fired_a++;
	assert_int_equal(read(fd, &c, 1), 1);
	/* Remove b before its (pending) event is handled. */
	event_fd_del(loop, p->b[0]);
	event_stop(loop);
}

static void
on_b(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct pair *p = arg;

	p->fired_b++;
	event_stop(loop);
}

static void
test_fd_removed_by_callback(void **state)
{
	struct event_loop *loop = event_new();
	struct pair p = { 0 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p.a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p.b), 0);
	assert_int_equal(event_fd_add(loop, p.a[0], EV_READ, on_a, &p), 0);
	assert_int_equal(event_fd_add(loop, p.b[0], EV_READ, on_b, &p), 0);
	assert_int_equal(write(p.a[1], "x", 1), 1);
	assert_int_equal(write(p.b[1], "y", 1), 1);
	assert_int_equal(event_run(loop), 0);
	/* Whichever ran first, b never runs after a removed it. */
	assert_int_equal(p.fired_a + p.fired_b, 1);
	for (int i = 0; i < 2; i++) {
		close(p.a[i]);
		close(p.b[i]);
	}
	event_free(&loop);
}

static void
on_second(struct event_loop *loop, int fd, unsigned ev, void *arg)
{
	struct pair *p = arg;
	char c;

	p->fired_b++;
	assert_int_equal(read(fd, &c, 1), 1);
	event_stop(loop);
}

/* A rebound fd goes to its new callback; an unknown fd is refused. */
static void
test_fd_rebind(void **state)
{
	struct event_loop *loop = event_new();
	struct pair p = {0};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p.a), 0);
	assert_int_equal(event_fd_add(loop, p.a[0], EV_READ, on_a, &p), 0);
	assert_int_equal(
	    event_fd_rebind(loop, p.a[0], EV_READ, on_second, &p), 0);
	assert_int_equal(write(p.a[1], "x", 1), 1);
	assert_int_equal(event_run(loop), 0);
	assert_int_equal(p.fired_a, 0);
	assert_int_equal(p.fired_b, 1);
	assert_int_equal(
	    event_fd_rebind(loop, p.a[1], EV_READ, on_second, &p), -1);
	close(p.a[0]);
	close(p.a[1]);
	event_free(&loop);
}

static int got_signal;

static void
on_sig(struct event_loop *loop, int signo, void *arg)
{
	got_signal = signo;
	event_stop(loop);
}

static void
test_signal(void **state)
{
	struct event_loop *loop = event_new();

	assert_int_equal(event_signal_add(loop, SIGUSR1, on_sig, NULL), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(event_run(loop), 0);
	assert_int_equal(got_signal, SIGUSR1);
	event_free(&loop);
	event_signal_unblock_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_fd_removed_by_callback),
		cmocka_unit_test(test_fd_rebind),
		cmocka_unit_test(test_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
