// SPDX-License-Identifier: MIT
/*
 * naps.c: short naps for Paho in a one-shot command (naps.h).
 *
 * Paho's receive thread naps 100 ms whenever it has no socket to wait on
 * (MQTTAsync_cycle), and it starts before the connect has made one: a
 * one-shot command then waits up to 100 ms for a CONNACK that came at once
 * (p90 115 ms against mosquitto_rr's 2 ms). Paho naps with usleep(); this
 * definition, in the executable, takes the C library's place for it too,
 * and while naps_short() is on a nap of 100 ms or more is 1 ms.
 *
 * The same thread's first wait is a poll() of 10 ms, begun before the
 * connect made its socket: it cannot see the connect complete, and the
 * CONNECT waits out the 10 ms (the p50 of 15 ms against 2). poll() is
 * taken over the same way: while the naps are short, a poll of 10 ms or
 * less waits 1 ms at most. Paho's later waits (1000 ms, on its socket)
 * and the C library's own (its resolver calls its internal poll) are
 * left as they are.
 */
#include "naps.h"

#include <poll.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NAPS_LONG_US 100000u
#define NAPS_SHORT_US 1000u
#define NAPS_POLL_SHORT_MS 10

static atomic_bool naps_are_short;

void naps_short(bool on)
{
	atomic_store(&naps_are_short, on);
}

int usleep(useconds_t us)
{
	struct timespec ts;

	if (us >= NAPS_LONG_US && atomic_load(&naps_are_short))
		us = NAPS_SHORT_US;
	ts.tv_sec = us / 1000000u;
	ts.tv_nsec = (long)(us % 1000000u) * 1000;
	return nanosleep(&ts, NULL);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct timespec ts;

	if (timeout_ms > 1 && timeout_ms <= NAPS_POLL_SHORT_MS &&
	    atomic_load(&naps_are_short))
		timeout_ms = 1;
	if (timeout_ms < 0)
		return ppoll(fds, nfds, NULL, NULL);
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
	return ppoll(fds, nfds, &ts, NULL);
}
