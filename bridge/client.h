/* SPDX-License-Identifier: MIT */
/*
 * client.h: one socket client of the bridge — its framing, its output
 * queue and its reply slots. Replies leave in the order the messages came,
 * even when a drive command waits for the car while a later `ping` could
 * be answered at once: each message takes a slot, and slots are written
 * from the head as they fill. Every buffer has a ceiling.
 *
 * Context: the bridge's loop thread.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "frame.h"
#include "iotcar/topic.h"
#include "proto.h"

/** Messages whose replies may be outstanding before reading pauses. */
#define CLIENT_SLOTS_MAX 1024

struct raw_channel;

/** A token bucket: the rate limit of a client or a UDP listener. */
struct bucket {
	double tokens;
	int64_t ms;
};

/**
 * @brief May one more message pass? @p rate_per_s 0 means no limit; a new
 * bucket starts full (@p burst).
 */
bool bucket_take(struct bucket *b, int64_t now_ms, double rate_per_s,
		 double burst);

struct client_slot {
	struct client_slot *next;
	uint64_t tag;
	bool ready;
	/* status, watch, unwatch behind a command that waits for the car:
	 * carried out when their turn comes (server_local). */
	bool deferred;
	/* The reply line once ready. */
	char *line;
	size_t len;
	/* Waiting for the car: how to say OK when it comes. */
	struct proto_request req;
	char detail[64];
};

struct client {
	int fd;
	/* Unique for the bridge's lifetime: late answers find no one. */
	uint64_t gen;
	/* NULL for the text protocol. */
	struct raw_channel *raw;
	struct frame frame;
	/* Bytes the socket has not taken yet. */
	char *out;
	size_t out_len;
	size_t out_cap;
	/* Past this the client is a slow reader and is dropped. */
	size_t out_max;
	struct client_slot *head;
	struct client_slot *tail;
	size_t nslots;
	uint64_t next_tag;
	char car[IOTCAR_ID_MAX + 1];
	bool authed;
	bool needs_auth;
	int auth_failures;
	bool watching;
	/* Close once the output is written (quit, too-long). */
	bool closing;
	bool paused;
	bool want_write;
	struct bucket rate;
	int64_t last_rx_ms;
	/* When the partial message now held began (line mode, burst). */
	int64_t partial_ms;
	/* The peer's address (wrong tokens are counted by it). */
	struct sockaddr_storage addr;
	/* Watchers of the same server, linked. */
	struct client *watch_prev;
	struct client *watch_next;
	char peer[64];
};

/** @brief A client for accepted socket @p fd. Free with client_free(). */
struct client *client_new(int fd, uint64_t gen, size_t max_msg, size_t out_max,
			  const char *car);

/** @brief Free buffers and slots; the fd is the caller's to close. */
void client_free(struct client *c);

/**
 * @brief Queue @p len bytes for the socket: written at once when nothing
 * waits, else kept (up to out_max).
 * @return 0, -ENOBUFS for a slow reader to drop, or -EPIPE.
 */
int client_send(struct client *c, const char *data, size_t len);

/** @brief Write what waits, the socket being writable. @return As send. */
int client_flush(struct client *c);

/**
 * @brief Take the next reply slot. @p req and @p detail say how to word
 * the OK that client_fill() will get; NULL for a slot filled at once.
 * @return The slot, or NULL without memory.
 */
struct client_slot *client_slot_new(struct client *c,
				    const struct proto_request *req,
				    const char *detail);

/** @brief The reply for slot @p tag; ready slots at the head are sent. */
int client_fill(struct client *c, uint64_t tag, const char *line, size_t len);

/** @brief Reply to a message at once, keeping the order. @return As send. */
int client_reply(struct client *c, const char *line, size_t len);

#endif
