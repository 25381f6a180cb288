// SPDX-License-Identifier: MIT
/*
 * loop.c: epoll-based event loop of loop.h. Watchers live in an array indexed
 * by fd, so a callback that removes another fd in the middle of a batch of
 * events is seen at once (its slot is empty) and never touched again.
 */
#include "iotcar/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct loop_watcher {
	/* NULL when the slot is free. */
	iotcar_fd_cb *cb;
	void *ctx;
};

struct iotcar_loop {
	int epfd;
	bool stop;
	/* Indexed by fd; grows to the highest fd watched. */
	struct loop_watcher *watchers;
	size_t nwatchers;
	int sigfd;
	iotcar_signal_cb *sig_cb;
	void *sig_ctx;
};

struct iotcar_timer {
	struct iotcar_loop *loop;
	int fd;
	bool armed;
	bool periodic;
	iotcar_timer_cb *cb;
	void *ctx;
};

static int64_t clock_read_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t iotcar_clock_ns(void)
{
	return clock_read_ns();
}

int64_t iotcar_clock_ms(void)
{
	return clock_read_ns() / 1000000;
}

struct iotcar_loop *iotcar_loop_new(void)
{
	struct iotcar_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->sigfd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

void iotcar_loop_free(struct iotcar_loop *loop)
{
	if (!loop)
		return;
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop->watchers);
	free(loop);
}

static int loop_reserve(struct iotcar_loop *loop, int fd)
{
	size_t want = (size_t)fd + 1;
	size_t n = loop->nwatchers ? loop->nwatchers : 16;
	struct loop_watcher *w;

	if (want <= loop->nwatchers)
		return 0;
	while (n < want)
		n *= 2;
	w = realloc(loop->watchers, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + loop->nwatchers, 0, (n - loop->nwatchers) * sizeof(*w));
	loop->watchers = w;
	loop->nwatchers = n;
	return 0;
}

int iotcar_loop_add_fd(struct iotcar_loop *loop, int fd, uint32_t events,
		       iotcar_fd_cb *cb, void *ctx)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	int ret;

	if (fd < 0 || !cb)
		return -EINVAL;
	ret = loop_reserve(loop, fd);
	if (ret)
		return ret;
	if (loop->watchers[fd].cb)
		return -EEXIST;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->watchers[fd].cb = cb;
	loop->watchers[fd].ctx = ctx;
	return 0;
}

int iotcar_loop_mod_fd(struct iotcar_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	if (fd < 0 || (size_t)fd >= loop->nwatchers || !loop->watchers[fd].cb)
		return -ENOENT;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void iotcar_loop_del_fd(struct iotcar_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nwatchers || !loop->watchers[fd].cb)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->watchers[fd].cb = NULL;
	loop->watchers[fd].ctx = NULL;
}

static void loop_on_signal(void *ctx, int fd, uint32_t events)
{
	struct iotcar_loop *loop = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		loop->sig_cb(loop->sig_ctx, (int)si.ssi_signo);
}

int iotcar_loop_watch_signals(struct iotcar_loop *loop, const int *signals,
			      size_t count, iotcar_signal_cb *cb, void *ctx)
{
	sigset_t mask;
	int ret;

	if (loop->sigfd >= 0)
		return -EBUSY;
	sigemptyset(&mask);
	for (size_t i = 0; i < count; i++)
		sigaddset(&mask, signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	loop->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop->sigfd < 0)
		return -errno;
	loop->sig_cb = cb;
	loop->sig_ctx = ctx;
	ret = iotcar_loop_add_fd(loop, loop->sigfd, EPOLLIN, loop_on_signal,
				 loop);
	if (ret) {
		close(loop->sigfd);
		loop->sigfd = -1;
	}
	return ret;
}

int iotcar_loop_run(struct iotcar_loop *loop)
{
	struct epoll_event evs[64];

	loop->stop = false;
	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			int fd = evs[i].data.fd;
			struct loop_watcher *w;

			/* Removed by an earlier callback of this batch. */
			if ((size_t)fd >= loop->nwatchers)
				continue;
			w = &loop->watchers[fd];
			if (w->cb)
				w->cb(w->ctx, fd, evs[i].events);
		}
	}
	return 0;
}

void iotcar_loop_stop(struct iotcar_loop *loop)
{
	loop->stop = true;
}

/* ==== Timers ==== */

static void timer_on_fd(void *ctx, int fd, uint32_t events)
{
	struct iotcar_timer *timer = ctx;
	uint64_t expirations;

	(void)events;
	/* A stop/restart between expiry and now leaves nothing to read. */
	if (read(fd, &expirations, sizeof(expirations)) !=
	    (ssize_t)sizeof(expirations))
		return;
	if (!timer->periodic)
		timer->armed = false;
	/* Last use of timer: the callback may free it. */
	timer->cb(timer->ctx);
}

struct iotcar_timer *iotcar_timer_new(struct iotcar_loop *loop,
				      iotcar_timer_cb *cb, void *ctx)
{
	struct iotcar_timer *timer = calloc(1, sizeof(*timer));

	if (!timer)
		return NULL;
	timer->loop = loop;
	timer->cb = cb;
	timer->ctx = ctx;
	timer->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer->fd < 0)
		goto err_free;
	if (iotcar_loop_add_fd(loop, timer->fd, EPOLLIN, timer_on_fd, timer))
		goto err_close;
	return timer;

err_close:
	close(timer->fd);
err_free:
	free(timer);
	return NULL;
}

static struct timespec ms_to_timespec(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000};
	return ts;
}

static int timer_set(struct iotcar_timer *timer, int flags,
		     struct itimerspec *its)
{
	if (timerfd_settime(timer->fd, flags, its, NULL) < 0)
		return -errno;
	timer->armed = its->it_value.tv_sec || its->it_value.tv_nsec;
	timer->periodic = its->it_interval.tv_sec || its->it_interval.tv_nsec;
	return 0;
}

int iotcar_timer_start(struct iotcar_timer *timer, int64_t delay_ms,
		       int64_t interval_ms)
{
	struct itimerspec its = {.it_value = ms_to_timespec(delay_ms),
				 .it_interval = ms_to_timespec(interval_ms)};

	if (delay_ms < 0 || interval_ms < 0)
		return -EINVAL;
	/* A zero it_value would disarm: fire as soon as possible instead. */
	if (delay_ms == 0)
		its.it_value.tv_nsec = 1;
	return timer_set(timer, 0, &its);
}

int iotcar_timer_start_at(struct iotcar_timer *timer, int64_t deadline_ms)
{
	struct itimerspec its = {.it_value = ms_to_timespec(deadline_ms)};

	if (deadline_ms <= 0)
		its.it_value.tv_nsec = 1;
	return timer_set(timer, TFD_TIMER_ABSTIME, &its);
}

void iotcar_timer_stop(struct iotcar_timer *timer)
{
	struct itimerspec its = {0};

	timer_set(timer, 0, &its);
}

bool iotcar_timer_is_armed(const struct iotcar_timer *timer)
{
	return timer->armed;
}

void iotcar_timer_free(struct iotcar_timer *timer)
{
	if (!timer)
		return;
	iotcar_loop_del_fd(timer->loop, timer->fd);
	close(timer->fd);
	free(timer);
}
