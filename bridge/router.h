/* SPDX-License-Identifier: MIT */
/*
 * router.h: the bridge's MQTT side. It keeps what the cars publish (status,
 * state) so that `status` and `cars` are answered at once, sends a
 * request's command to the car with an id of its own, and answers the
 * requester when the car's result with that id comes back, or when 1 s
 * passes without one, or at once when the car or the broker is away.
 * It also carries the raw channels' messages.
 *
 * Context: the bridge's loop thread.
 */
#ifndef ROUTER_H
#define ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "proto.h"

struct router;

/** Who is waiting for an answer; the router only hands it back. */
struct router_waiter {
	/* A UDP listener, or NULL for a TCP client... */
	void *owner;
	/* ...found by its fd. */
	int fd;
	/* The owner's generation when it asked: a closed one is not told. */
	uint64_t gen;
	/* Which of the owner's requests. */
	uint64_t tag;
};

struct router_answer {
	enum proto_err code;
	char text[200];
};

struct router_handlers {
	/* The answer to a request made with router_request(). */
	void (*answer)(void *ctx, const struct router_waiter *w,
		       const struct router_answer *a);
	/* A car's state or event ("STATE" or "EVENT"), one-line JSON. */
	void (*push)(void *ctx, const char *car, const char *kind,
		     const char *json);
	/* A message on a raw channel's subscribed topic. */
	void (*raw)(void *ctx, const char *topic, const char *payload,
		    size_t len);
};

struct router_config {
	const char *prefix;
	/* The bridge's id: its status topic, and the start of its ids. */
	const char *id;
	int result_timeout_ms;
	/* Topics the raw channels listen to. */
	const char *const *raw_topics;
	size_t nraw_topics;
};

/**
 * @brief Create the router; @p cfg strings are copied, @p mqtt_opts too.
 * @return The router (free with router_free()), or NULL.
 */
struct router *router_new(struct iotcar_loop *loop,
			  const struct router_config *cfg,
			  const struct iotcar_mqtt_opts *mqtt_opts,
			  const struct router_handlers *h, void *ctx);

int router_start(struct router *r);

/** @brief Publish `offline`, disconnect; pending requests get `offline`. */
void router_stop(struct router *r);

void router_free(struct router *r);

/**
 * @brief Send a drive, speed, estop or release request to @p car. The
 * answer comes through the answer handler, possibly before this returns.
 */
void router_request(struct router *r, const char *car,
		    const struct proto_request *req,
		    const struct router_waiter *w);

/** @brief The car's last state, one-line JSON, or NULL. Borrowed. */
const char *router_state(struct router *r, const char *car);

/** @brief 1 online, 0 offline, -1 never heard of. */
int router_car_status(struct router *r, const char *car, const char **why);

/** @brief The ids of the online cars, at most @p max, sorted. Borrowed. */
size_t router_online_cars(struct router *r, const char **ids, size_t max);

/** @brief Publish a raw channel's message verbatim (QoS 0). */
int router_publish_raw(struct router *r, const char *topic, const void *payload,
		       size_t len);

bool router_is_connected(const struct router *r);

#endif
