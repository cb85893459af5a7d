/*
 * event - epoll loop with a timer heap and signalfd signals.
 *
 * Descriptor slots are indexed by fd and grow with the largest fd; a
 * generation counter lets a callback remove other descriptors safely while
 * a batch of epoll events is being handled.
 *
 * Never: block anywhere but epoll_wait, or let a cancelled timer fire.
 */
#include "lib/event.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/log.h"

struct fd_slot {
	event_fd_cb *cb;
	void *arg;
	unsigned events;
	uint64_t gen; /* 0: unused */
};

struct event_timer {
	uint64_t due; /* monotonic ms */
	uint64_t seq; /* ties fire in order of creation */
	size_t idx;   /* position in the heap */
	event_timer_cb *cb;
	void *arg;
};

struct sig_slot {
	int signo;
	event_signal_cb *cb;
	void *arg;
};

struct event_loop {
	int epfd;
	struct fd_slot *fds;
	size_t nfds;
	uint64_t gen;
	struct event_timer **heap;
	size_t nheap, aheap;
	uint64_t seq;
	int sigfd;
	sigset_t sigmask;
	struct sig_slot sigs[16];
	size_t nsigs;
	bool stop;
};

struct event_loop *
event_new(void)
{
	struct event_loop *loop = x_calloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	FCT_ASSERT(loop->epfd >= 0);
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	return loop;
}

void
event_free(struct event_loop **loopp)
{
	struct event_loop *loop = *loopp;

	if (loop == NULL)
		return;
	for (size_t i = 0; i < loop->nheap; i++)
		free(loop->heap[i]);
	free(loop->heap);
	free(loop->fds);
	/* Nothing useful to do if close fails on teardown. */
	(void)fd_close(&loop->sigfd);
	(void)fd_close(&loop->epfd);
	x_free(loopp);
}

static uint32_t
to_epoll(unsigned events)
{
	return ((events & EV_READ) ? EPOLLIN : 0) |
	       ((events & EV_WRITE) ? EPOLLOUT : 0);
}

int
event_fd_add(struct event_loop *loop, int fd, unsigned events, event_fd_cb *cb,
    void *arg)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};

	FCT_ASSERT(fd >= 0);
	if ((size_t)fd >= loop->nfds) {
		size_t n = (size_t)fd + 16;

		loop->fds = x_realloc(loop->fds, n * sizeof(*loop->fds));
		memset(loop->fds + loop->nfds, 0,
		    (n - loop->nfds) * sizeof(*loop->fds));
		loop->nfds = n;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	loop->fds[fd] = (struct fd_slot){cb, arg, events, ++loop->gen};
	return 0;
}

int
event_fd_mod(struct event_loop *loop, int fd, unsigned events)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};

	if (fd < 0 || (size_t)fd >= loop->nfds || loop->fds[fd].gen == 0) {
		errno = EBADF;
		return -1;
	}
	if (loop->fds[fd].events == events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -1;
	loop->fds[fd].events = events;
	return 0;
}

int
event_fd_rebind(struct event_loop *loop, int fd, unsigned events,
    event_fd_cb *cb, void *arg)
{
	if (event_fd_mod(loop, fd, events) < 0)
		return -1;
	loop->fds[fd] = (struct fd_slot){cb, arg, events, ++loop->gen};
	return 0;
}

void
event_fd_del(struct event_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds || loop->fds[fd].gen == 0)
		return;
	/* The fd may already be closed; the kernel then forgot it anyway. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd].gen = 0;
}

/* Timer heap ordered by (due, seq). */
static bool
timer_before(const struct event_timer *a, const struct event_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_set(struct event_loop *loop, size_t i, struct event_timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void
heap_up(struct event_loop *loop, size_t i)
{
	struct event_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void
heap_down(struct event_loop *loop, size_t i)
{
	struct event_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap &&
		    timer_before(loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!timer_before(loop->heap[c], t))
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

static void
heap_remove(struct event_loop *loop, struct event_timer *t)
{
	size_t i = t->idx;
	struct event_timer *last = loop->heap[--loop->nheap];

	if (last != t) {
		heap_set(loop, i, last);
		heap_up(loop, i);
		heap_down(loop, last->idx);
	}
}

struct event_timer *
event_timer_add(
    struct event_loop *loop, uint64_t ms, event_timer_cb *cb, void *arg)
{
	struct event_timer *t = x_calloc(1, sizeof(*t));

	t->due = time_mono_ms() + ms;
	t->seq = ++loop->seq;
	t->cb = cb;
	t->arg = arg;
	if (loop->nheap == loop->aheap) {
		loop->aheap = loop->aheap ? loop->aheap * 2 : 16;
		loop->heap =
		    x_realloc(loop->heap, loop->aheap * sizeof(*loop->heap));
	}
	heap_set(loop, loop->nheap++, t);
	heap_up(loop, t->idx);
	return t;
}

void
event_timer_cancel(struct event_loop *loop, struct event_timer **tp)
{
	if (*tp == NULL)
		return;
	heap_remove(loop, *tp);
	x_free(tp);
}

int
event_signal_add(
    struct event_loop *loop, int signo, event_signal_cb *cb, void *arg)
{
	if (loop->nsigs == FCT_NELEM(loop->sigs)) {
		errno = ENOSPC;
		return -1;
	}
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		return -1;
	int fd =
	    signalfd(loop->sigfd, &loop->sigmask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -1;
	if (loop->sigfd < 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			(void)close(fd); /* fresh fd, nothing to flush */
			return -1;
		}
	}
	loop->sigfd = fd;
	loop->sigs[loop->nsigs++] = (struct sig_slot){signo, cb, arg};
	return 0;
}

void
event_signal_unblock_all(void)
{
	sigset_t all;

	sigemptyset(&all);
	/* Cannot fail with a valid set and how. */
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
}

static void
run_signals(struct event_loop *loop)
{
	struct signalfd_siginfo si;

	while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (size_t i = 0; i < loop->nsigs; i++)
			if (loop->sigs[i].signo == (int)si.ssi_signo)
				loop->sigs[i].cb(
				    loop, (int)si.ssi_signo, loop->sigs[i].arg);
	}
}

static void
run_timers(struct event_loop *loop)
{
	uint64_t now = time_mono_ms();
	uint64_t last = loop->seq; /* timers added by callbacks wait */

	while (loop->nheap > 0 && loop->heap[0]->due <= now && !loop->stop) {
		struct event_timer *t = loop->heap[0];
		if (t->seq > last)
			break;
		heap_remove(loop, t);
		event_timer_cb *cb = t->cb;
		void *arg = t->arg;
		free(t);
		cb(loop, arg);
	}
}

static int
next_wait(struct event_loop *loop, int max_ms)
{
	if (loop->nheap == 0)
		return max_ms;
	uint64_t now = time_mono_ms(), due = loop->heap[0]->due;
	uint64_t wait = due > now ? due - now : 0;
	if (wait > INT32_MAX)
		wait = INT32_MAX;
	if (max_ms >= 0 && (uint64_t)max_ms < wait)
		return max_ms;
	return (int)wait;
}

int
event_run_once(struct event_loop *loop, int max_ms)
{
	struct epoll_event evs[64];
	uint64_t gens[64];
	int n;

	n = epoll_wait(
	    loop->epfd, evs, FCT_NELEM(evs), next_wait(loop, max_ms));
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		gens[i] = (fd >= 0 && (size_t)fd < loop->nfds)
		              ? loop->fds[fd].gen
		              : 0;
	}
	for (int i = 0; i < n && !loop->stop; i++) {
		int fd = evs[i].data.fd;
		unsigned what = 0;

		if (fd == loop->sigfd) {
			run_signals(loop);
			continue;
		}
		/* Removed (or replaced) by an earlier callback: skip. */
		if ((size_t)fd >= loop->nfds || loop->fds[fd].gen == 0 ||
		    loop->fds[fd].gen != gens[i])
			continue;
		if (evs[i].events & EPOLLIN)
			what |= EV_READ;
		if (evs[i].events & EPOLLOUT)
			what |= EV_WRITE;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			what |= EV_HUP;
		loop->fds[fd].cb(loop, fd, what, loop->fds[fd].arg);
	}
	if (!loop->stop)
		run_timers(loop);
	return 0;
}

int
event_run(struct event_loop *loop)
{
	loop->stop = false;
	while (!loop->stop)
		if (event_run_once(loop, -1) < 0) {
			log_err("epoll_wait: %m");
			return -1;
		}
	return 0;
}

void
event_stop(struct event_loop *loop)
{
	loop->stop = true;
}
