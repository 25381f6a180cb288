/* SPDX-License-Identifier: MIT */
/*
 * fleet.h: the cars as a client sees them over MQTT, for the bridge and the
 * PC console. It keeps what the cars publish (status, state, the newest
 * link ping) so that questions about them are answered at once, sends a
 * command to a car with an id of its own, and answers the requester when
 * the car's result with that id comes back, when the timeout passes
 * without one, or at once when the car or the broker is away.
 *
 * Every drive command quotes the newest link ping heard from its car and
 * the timeout as its age bound (protocol §4, freshness): the car executes it
 * within the timeout of the request or never, so an answered timeout is
 * never followed by the car moving.
 *
 * Right after (re)connecting, a request for a car not heard of yet waits
 * up to IOTCAR_FLEET_SETTLE_MS for it (a live car pings four times a
 * second, and its retained status comes at once) instead of calling it
 * unknown.
 *
 * Presence rests on hearing the car, not on retained messages or wills
 * alone (a clustered broker keeps retained messages per node and drops
 * the wills of a node that dies): a car is online while it is heard live
 * (its pings, its state), and offline, with the reason, once it has not
 * been heard for IOTCAR_FLEET_PRESENCE_PINGS of its ping periods and at
 * least IOTCAR_FLEET_PRESENCE_MS, or when it says so (its status,
 * retained, its will). A retained "online" counts only until the settle
 * window ends: a car not heard live by then is offline. A car heard live
 * before any state of it came is asked for one (`get`), once per
 * connection: that fills in what a broker without retained messages
 * never delivers.
 *
 * Context: every function and handler runs on the loop's thread.
 */
#ifndef IOTCAR_FLEET_H
#define IOTCAR_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "iotcar/payload.h"

/** Largest waiter a request can carry (copied, handed back). */
#define IOTCAR_FLEET_WAITER_MAX 32
/** How long after subscribing a car never heard of is still waited for. */
#define IOTCAR_FLEET_SETTLE_MS 1000
/** Requests waiting for their car to be heard, at most. */
#define IOTCAR_FLEET_PARKED_MAX 1024
/** A car not heard for this long (and for the pings below) is offline. */
#define IOTCAR_FLEET_PRESENCE_MS 3000
/** ... and for this many of its ping periods. */
#define IOTCAR_FLEET_PRESENCE_PINGS 3
/** How often the cars' silence is looked at. */
#define IOTCAR_FLEET_SWEEP_MS 250

struct iotcar_fleet;

enum iotcar_fleet_outcome {
	/* The car's result said ok. */
	IOTCAR_FLEET_OK,
	/* The car's result said error: see `error`. */
	IOTCAR_FLEET_REFUSED,
	/* No result within the timeout. */
	IOTCAR_FLEET_TIMEOUT,
	/* The car is offline (see presence, above), or was never seen. */
	IOTCAR_FLEET_OFFLINE,
	/* Not connected to the broker, the connection was lost, or stopping. */
	IOTCAR_FLEET_NO_BROKER,
	/* Could not be sent: bad car id, no memory, publish refused. */
	IOTCAR_FLEET_FAILED,
};

/** The answer to a request; pointers are valid during the handler only. */
struct iotcar_fleet_answer {
	enum iotcar_fleet_outcome outcome;
	const char *car;
	/* REFUSED: the car's error code ("estop"...), or NULL. */
	const char *error;
	/* A sentence for people (the car's own message when it refused). */
	const char *text;
	/* OK and REFUSED: microseconds from the publish to the result. */
	int64_t rtt_us;
	/* The request released the e-stop: a refusal means a newer latch
	 * holds than the one it named. */
	bool release;
};

/** Every handler but answer is optional. */
struct iotcar_fleet_handlers {
	/* The answer to iotcar_fleet_request(); @p waiter is its copy. */
	void (*answer)(void *ctx, const void *waiter,
		       const struct iotcar_fleet_answer *a);
	/* A car went online or offline (@p why says why; NULL online). */
	void (*status)(void *ctx, const char *car, bool online,
		       const char *why);
	/* A car's state or event, re-printed as one-line JSON. */
	void (*state)(void *ctx, const char *car, const char *json);
	void (*event)(void *ctx, const char *car, const char *json);
	/* Connected: subscribe to more topics here (the fleet's are done). */
	void (*connected)(void *ctx);
	/* Connected and subscribed: requests can be made. */
	void (*subscribed)(void *ctx);
	/* IOTCAR_FLEET_SETTLE_MS later: every live car has been heard. */
	void (*settled)(void *ctx);
	/* The broker was lost; pending requests have had their answer and
	 * the cars are forgotten until the broker tells of them again. */
	void (*disconnected)(void *ctx, const char *reason);
	/* Every message, before the fleet looks at it (raw channels). */
	void (*message)(void *ctx, const struct iotcar_mqtt_msg *msg);
};

struct iotcar_fleet_config {
	const char *prefix;
	/* Every request id starts with "<id_prefix>-": one per client, at
	 * most IOTCAR_ID_MAX bytes (a bridge's id, or "pc-" and hex). */
	const char *id_prefix;
	int timeout_ms;
};

/**
 * @brief Create the fleet and its MQTT client (not started). Strings in
 * @p cfg and @p mqtt_opts are copied.
 * @return The fleet (free with iotcar_fleet_free()), or NULL.
 */
struct iotcar_fleet *iotcar_fleet_new(struct iotcar_loop *loop,
				      const struct iotcar_fleet_config *cfg,
				      const struct iotcar_mqtt_opts *mqtt_opts,
				      const struct iotcar_fleet_handlers *h,
				      void *ctx);

int iotcar_fleet_start(struct iotcar_fleet *f);

/**
 * @brief Answer every pending request with NO_BROKER ("stopping"), then
 * publish @p topic/@p payload retained if given (a last "offline"), and
 * disconnect. Idempotent.
 */
void iotcar_fleet_stop(struct iotcar_fleet *f, const char *topic,
		       const char *payload);

/** @brief Stop if needed, and free. Accepts NULL. */
void iotcar_fleet_free(struct iotcar_fleet *f);

/** @brief The MQTT client, for the caller's own topics. Borrowed. */
struct iotcar_mqtt *iotcar_fleet_mqtt(struct iotcar_fleet *f);

/**
 * @brief Send @p set to @p car with a fresh id (on `set`, QoS 0). The
 * answer comes through the answer handler, possibly before this returns.
 * @p waiter (@p waiter_len <= IOTCAR_FLEET_WAITER_MAX bytes) is copied.
 */
void iotcar_fleet_request(struct iotcar_fleet *f, const char *car,
			  const struct iotcar_set *set, const void *waiter,
			  size_t waiter_len);

/** @brief The car's last state, one-line JSON, or NULL. Borrowed. */
const char *iotcar_fleet_state(struct iotcar_fleet *f, const char *car);

/**
 * @brief 1 online, 0 offline, -1 never heard of. @p why (may be NULL)
 * gets why it is offline, else NULL; borrowed until the next message.
 */
int iotcar_fleet_car_status(struct iotcar_fleet *f, const char *car,
			    const char **why);

/**
 * @brief The ids of the cars seen (online only, or all), at most @p max,
 * sorted. Borrowed until the next message. With @p ids NULL: how many
 * there are.
 */
size_t iotcar_fleet_cars(struct iotcar_fleet *f, bool online_only,
			 const char **ids, size_t max);

bool iotcar_fleet_is_connected(const struct iotcar_fleet *f);

/** @brief True once the settle window after subscribing is over. */
bool iotcar_fleet_is_settled(const struct iotcar_fleet *f);

#endif
