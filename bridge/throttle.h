/* SPDX-License-Identifier: MIT */
/*
 * throttle.h: wrong auth tokens per peer address (protocol §5: guessing is
 * throttled on TCP and UDP alike). An address may get the token wrong
 * THROTTLE_BURST times; after that, once every THROTTLE_REFILL_MS. New
 * connections do not reset it, and IPv6 addresses count by their /64, the
 * block one host has to itself. The table is fixed (no address can make it
 * grow): a newcomer takes the slot of whoever was there. Pure: no sockets
 * read, no clock.
 *
 * Context: the bridge's loop thread.
 */
#ifndef THROTTLE_H
#define THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define THROTTLE_SLOTS 4096
#define THROTTLE_BURST 5
#define THROTTLE_REFILL_MS 10000

struct throttle_slot {
	/* The address family, then 4 (IPv4) or 8 (an IPv6 /64) bytes. */
	uint8_t key[9];
	bool used;
	double tries;
	int64_t ms;
};

struct throttle {
	struct throttle_slot slots[THROTTLE_SLOTS];
};

/**
 * @brief How long @p addr must wait before its next token is even looked
 * at: 0 when it may try now.
 */
int64_t throttle_wait_ms(struct throttle *t,
			 const struct sockaddr_storage *addr, int64_t now_ms);

/** @brief @p addr sent a wrong token at @p now_ms. */
void throttle_failed(struct throttle *t, const struct sockaddr_storage *addr,
		     int64_t now_ms);

#endif
