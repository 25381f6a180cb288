// SPDX-License-Identifier: MIT
/*
 * naps.c: short naps for Paho in a one-shot command (naps.h).
 *
 * Paho's receive thread naps 100 ms whenever it has no socket to wait on
 * (MQTTAsync_cycle), and it starts before the connect has made one: a
 * one-shot command then waits up to 100 ms for a CONNACK that came at once
 * (p90 115 ms against mosquitto_rr's 2 ms). Paho naps with usleep(); this
 * definition, in the executable, takes the C library's place for it too,
 * and while naps_short() is on a nap of 100 ms or more is 1 ms. Nothing
 * then waits on a nap: the thread selects on its socket once it has one.
 */
#include "naps.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NAPS_LONG_US 100000u
#define NAPS_SHORT_US 1000u

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
