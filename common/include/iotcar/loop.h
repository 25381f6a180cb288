/* SPDX-License-Identifier: MIT */
/*
 * loop.h: the one event loop of each program (Redis ae.h in spirit). Sockets,
 * timers (timerfd), signals (signalfd) and wake-ups from other threads
 * (eventfd) all arrive as file descriptors on one epoll set, and every
 * callback gets its context pointer back, so no program needs globals.
 *
 * Context: every function here is for the loop's own thread only.
 */
#ifndef IOTCAR_LOOP_H
#define IOTCAR_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct iotcar_loop;
struct iotcar_timer;

/** Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP...) of @p fd. */
typedef void iotcar_fd_cb(void *ctx, int fd, uint32_t events);
typedef void iotcar_timer_cb(void *ctx);
typedef void iotcar_signal_cb(void *ctx, int signo);

/** @brief Milliseconds of CLOCK_MONOTONIC, the clock of every deadline. */
int64_t iotcar_clock_ms(void);
/** @brief Nanoseconds of CLOCK_MONOTONIC. */
int64_t iotcar_clock_ns(void);

/**
 * @brief Create a loop.
 * @return The loop, or NULL with errno set. Free with iotcar_loop_free().
 */
struct iotcar_loop *iotcar_loop_new(void);

/**
 * @brief Free the loop. Timers and fds still registered are not closed:
 * their owners free them first. Accepts NULL.
 */
void iotcar_loop_free(struct iotcar_loop *loop);

/**
 * @brief Watch @p fd for @p events (EPOLLIN, EPOLLOUT). The fd stays owned
 * by the caller, who calls iotcar_loop_del_fd() before closing it.
 * @return 0, -EEXIST if already watched, or another negative errno.
 */
int iotcar_loop_add_fd(struct iotcar_loop *loop, int fd, uint32_t events,
		       iotcar_fd_cb *cb, void *ctx);
/** @brief Change the events watched on @p fd. @return 0 or -errno. */
int iotcar_loop_mod_fd(struct iotcar_loop *loop, int fd, uint32_t events);
/** @brief Stop watching @p fd; safe inside any callback. */
void iotcar_loop_del_fd(struct iotcar_loop *loop, int fd);

/**
 * @brief Block @p signals for the whole process and deliver them to @p cb
 * through a signalfd. Call before any thread is created (Paho's included),
 * so that every thread inherits the blocked mask.
 * @return 0 or a negative errno.
 */
int iotcar_loop_watch_signals(struct iotcar_loop *loop, const int *signals,
			      size_t count, iotcar_signal_cb *cb, void *ctx);

/**
 * @brief Dispatch events until iotcar_loop_stop().
 * @return 0, or a negative errno if epoll fails.
 */
int iotcar_loop_run(struct iotcar_loop *loop);
/** @brief Make iotcar_loop_run() return after the current callback. */
void iotcar_loop_stop(struct iotcar_loop *loop);

/**
 * @brief Create a disarmed timer.
 * @return The timer or NULL; free with iotcar_timer_free().
 */
struct iotcar_timer *iotcar_timer_new(struct iotcar_loop *loop,
				      iotcar_timer_cb *cb, void *ctx);
/**
 * @brief Fire after @p delay_ms, then every @p interval_ms (0: once).
 * Re-arming an armed timer replaces its schedule.
 */
int iotcar_timer_start(struct iotcar_timer *timer, int64_t delay_ms,
		       int64_t interval_ms);
/** @brief Fire once when iotcar_clock_ms() reaches @p deadline_ms. */
int iotcar_timer_start_at(struct iotcar_timer *timer, int64_t deadline_ms);
void iotcar_timer_stop(struct iotcar_timer *timer);
bool iotcar_timer_is_armed(const struct iotcar_timer *timer);
/** @brief Disarm and free; safe inside the timer's own callback. NULL ok. */
void iotcar_timer_free(struct iotcar_timer *timer);

#endif
