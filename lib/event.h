/*
 * event - one epoll loop per process: descriptors, one-shot timers on
 * CLOCK_MONOTONIC, and signals through signalfd (handlers never run code).
 *
 * Callbacks run from event_run(); a callback may add or remove any
 * descriptor or timer, including its own.
 *
 * Never: sleep, use the wall clock for a timer, or run work inside a
 * signal handler.
 */
#ifndef FACTEUR_EVENT_H
#define FACTEUR_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/util.h"

struct event_loop;
struct event_timer;

enum {
	EV_READ = 1,
	EV_WRITE = 2,
	EV_HUP = 4, /* reported, never requested: peer gone or error */
};

typedef void event_fd_cb(
    struct event_loop *loop, int fd, unsigned events, void *arg);
typedef void event_timer_cb(struct event_loop *loop, void *arg);
typedef void event_signal_cb(struct event_loop *loop, int signo, void *arg);

struct event_loop *event_new(void);
/* Frees the loop; descriptors stay open (their owners close them). */
void event_free(struct event_loop **loopp);

/* Watch fd for events (EV_READ|EV_WRITE); 0 or -1 (errno set). */
FCT_MUST_CHECK int event_fd_add(struct event_loop *loop, int fd,
    unsigned events, event_fd_cb *cb, void *arg);
FCT_MUST_CHECK int event_fd_mod(
    struct event_loop *loop, int fd, unsigned events);
/*
 * Hand a watched fd to another callback, watching events: no system call
 * unless the events change.  An event already gathered for the old
 * callback in this turn is dropped, as after del + add.  0 or -1.
 */
FCT_MUST_CHECK int event_fd_rebind(struct event_loop *loop, int fd,
    unsigned events, event_fd_cb *cb, void *arg);
/* Stop watching fd (before closing it). Unknown fds are ignored. */
void event_fd_del(struct event_loop *loop, int fd);

/* Call cb once after ms milliseconds.  The loop owns the timer. */
struct event_timer *event_timer_add(
    struct event_loop *loop, uint64_t ms, event_timer_cb *cb, void *arg);
/* Cancel *tp if pending and set it to NULL; accepts NULL. */
void event_timer_cancel(struct event_loop *loop, struct event_timer **tp);

/*
 * Deliver signo through the loop (blocks it, reads it from a signalfd).
 * Children forked later must unblock it: see event_signal_unblock_all().
 */
FCT_MUST_CHECK int event_signal_add(
    struct event_loop *loop, int signo, event_signal_cb *cb, void *arg);
/* Unblock every signal; call in a child between fork and exec. */
void event_signal_unblock_all(void);

/* Run until event_stop(); 0, or -1 when epoll itself fails. */
int event_run(struct event_loop *loop);
/* Run one round, waiting at most max_ms (-1: until something happens). */
int event_run_once(struct event_loop *loop, int max_ms);
void event_stop(struct event_loop *loop);

#endif
