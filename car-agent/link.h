/* SPDX-License-Identifier: MIT */
/*
 * link.h: whether the car can hear its controllers, and whether a drive
 * command is fresh (protocol §4: link loss, freshness). Pure, like safety.h:
 * time comes in as an argument.
 *
 * The car runs a liveness round trip of its own: every ping_ms it
 * publishes a numbered ping on iotcar/<car>/link and hears it come back
 * through the broker. The numbers start at a random value, so none is
 * ever reused by a restarted car, and the car remembers when it sent each
 * of the recent ones. That gives three rules:
 *
 * - Silence. Nothing heard for timeout_ms (pings included) is link loss,
 *   whether the network, the broker or the car's own loop stopped.
 *   An idle car (stopped, no drive command for a while: the agent says
 *   when) pings half as often and takes twice the silence: nothing moves
 *   that a lost link should stop, and its newest ping is still at most
 *   half the timeout old when the next command comes.
 * - After a silence or a (re)connection the link is only back once a ping
 *   sent since then has come back: until that round trip, everything that
 *   arrives was on its way before, and no drive command is executed.
 * - A command arriving after ping N came back was handled by the broker
 *   after the car sent N, so it is at most now - sent(N) old. A command
 *   that quotes the newest ping its sender had heard ("link": N) was
 *   written after the car sent N: now - sent(N) bounds its age from the
 *   very start, whatever held it up on the way (a partition on either
 *   side of the broker, a frozen broker, a stalled sender).
 */
#ifndef LINK_H
#define LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "iotcar/payload.h"

/** Pings the car remembers; enough for max_age_ms at the fastest rate. */
#define LINK_RING 256

struct link_config {
	/* Nothing heard for this long is link loss; pings every quarter. */
	int timeout_ms;
	/* Oldest drive command executed. */
	int max_age_ms;
};

enum link_state {
	/* Not connected, or given up on after a silence. */
	LINK_DOWN,
	/* Connected, waiting for the first round trip. */
	LINK_SYNCING,
	LINK_UP,
};

struct link_ping {
	uint32_t n;
	int64_t sent_ms;
};

struct link {
	struct link_config cfg;
	enum link_state state;
	/* The number of the next ping. */
	uint32_t next;
	struct link_ping ring[LINK_RING];
	/* Pings in the ring, and where the next goes. */
	unsigned count;
	unsigned head;
	/* When anything was last heard, and when the link went down. */
	int64_t heard_ms;
	int64_t down_ms;
	/* Send time of the newest ping heard back (LINK_UP). */
	int64_t echo_sent_ms;
	/* Idle: half the pings, twice the silence. */
	bool idle;
	/* LINK_SYNCING: a ping sent at or after this ends it. */
	int64_t sync_from_ms;
};

/** @brief Down, with pings numbered from @p first. */
void link_init(struct link *l, const struct link_config *cfg, uint32_t first);

/** @brief How often to ping: a quarter of the timeout (idle: a half). */
int link_ping_ms(const struct link *l);

/** @brief The silence that is link loss: the timeout (idle: twice). */
int link_silence_ms(const struct link *l);

/** @brief The car is idle (stopped, no drive command lately), or not. */
void link_set_idle(struct link *l, bool idle);

/** @brief Connected at @p now_ms: wait for the first round trip. */
void link_connected(struct link *l, int64_t now_ms);

/** @brief The connection is gone (or given up on) at @p now_ms. */
void link_down(struct link *l, int64_t now_ms);

/** @brief The number of a ping sent now; remembered with @p now_ms. */
uint32_t link_ping(struct link *l, int64_t now_ms);

/**
 * @brief Something was heard at @p now_ms.
 * @return True when it comes after a silence longer than the timeout:
 * the car itself was stalled, and the link must be taken for lost first.
 */
bool link_heard(struct link *l, int64_t now_ms);

/** @brief Ping @p n came back. @return True if it was ours. */
bool link_echo(struct link *l, uint32_t n);

/** @brief True when nothing has been heard for the timeout (connected). */
bool link_is_silent(const struct link *l, int64_t now_ms);

/**
 * @brief May a drive command that arrived at @p now_ms be executed?
 * @p f says what its sender stated (a quoted ping, its own age bound).
 * @return 0, or -ESTALE with @p err set (IOTCAR_ERR_STALE).
 */
int link_check_fresh(const struct link *l, const struct iotcar_freshness *f,
		     int64_t now_ms, struct iotcar_error *err);

#endif
