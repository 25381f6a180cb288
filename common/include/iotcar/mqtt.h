/* SPDX-License-Identifier: MIT */
/*
 * mqtt.h: the one wrapper around Paho MQTTAsync (MQTT v5) for every iotcar
 * program. Paho's threads only copy what arrives into a bounded queue and
 * wake the program's loop through an eventfd; every handler below runs on
 * the loop's thread, except keep(). The wrapper reconnects by itself with a
 * doubling delay, sets TCP_NODELAY on the broker socket after each connect
 * (no Paho release has an option for it, and Nagle would add ~40 ms to
 * lockstep traffic), keeps QoS 1 publishes within the broker's in-flight
 * window on Paho before 1.3.14 (which stalls for a second when that fills),
 * and never buffers a publish while disconnected. It publishes and
 * subscribes nothing of its own: every topic is the program's.
 */
#ifndef IOTCAR_MQTT_H
#define IOTCAR_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iotcar/config.h"
#include "iotcar/loop.h"

/** Payloads larger than this are delivered without content (oversize). */
#define IOTCAR_MQTT_PAYLOAD_MAX (256 * 1024)
/** QoS 1 publishes held back for the broker beyond this: the oldest
 * droppable one goes to make room, or the new one is refused. */
#define IOTCAR_MQTT_OUT_MAX 10000

struct iotcar_mqtt;

/** A received message; every pointer is valid during the handler only. */
struct iotcar_mqtt_msg {
	const char *topic;
	/* NUL-terminated copy of the payload; NULL when oversize. */
	const char *payload;
	/* The payload's real length, also when oversize. */
	size_t len;
	bool oversize;
	int qos;
	/* Sent retained (subscriptions keep the flag: retain-as-published). */
	bool retained;
	/* MQTT v5 Response Topic, or NULL. */
	const char *response_topic;
	/* MQTT v5 Correlation Data, or NULL. */
	const void *correlation;
	size_t correlation_len;
};

/** MQTT v5 reason code of a broker that disconnects a client because
 * another connected with the same client id. */
#define IOTCAR_MQTT_SESSION_TAKEN_OVER 0x8E

/** Called with the context given to _new(), on the loop's thread but for
 * keep(). */
struct iotcar_mqtt_handlers {
	/* Connected, first time or again: subscribe and announce here. */
	void (*connected)(void *ctx);
	/*
	 * Optional: the broker has acknowledged every subscription made
	 * since connecting: connected and subscribed. A bridge says "online"
	 * here, not before.
	 */
	void (*subscribed)(void *ctx);
	/*
	 * The connection was lost or dropped; reconnecting has already been
	 * scheduled. @p code is the MQTT v5 reason code the broker gave (such
	 * as IOTCAR_MQTT_SESSION_TAKEN_OVER), 0 when it gave none.
	 */
	void (*disconnected)(void *ctx, const char *reason, int code);
	void (*message)(void *ctx, const struct iotcar_mqtt_msg *msg);
	/*
	 * Optional, and called on Paho's receive thread: true for a message
	 * no queue may drop, however far the loop falls behind (an e-stop).
	 * It may look at @p msg only. Without it, every message may be.
	 */
	bool (*keep)(void *ctx, const struct iotcar_mqtt_msg *msg);
	/*
	 * Optional: messages keep() wanted kept were lost after all, because
	 * the loop fell so far behind that megabytes of them waited. Called
	 * where the first of them would have been, in the order.
	 */
	void (*overload)(void *ctx);
};

struct iotcar_mqtt_opts {
	const char *uri;
	const char *client_id;
	const char *username;
	const char *password;
	const char *cafile;
	const char *cert;
	const char *key;
	int keepalive_s;
	/* MQTT 3.1.1 instead of 5: no properties (Response Topic,
	 * Correlation Data, Receive Maximum), no Retain As Published. */
	bool v311;
	int reconnect_min_ms;
	int reconnect_max_ms;
	/* Last will: published retained at QoS 1 by the broker. */
	const char *will_topic;
	const char *will_payload;
	/*
	 * The process exits right after iotcar_mqtt_free() (a one-shot
	 * command): free then leaves Paho's client, and the memory Paho may
	 * still touch, to the exit instead of MQTTAsync_destroy(), which
	 * waits 100 ms or more for Paho's threads to stop.
	 */
	bool exit_after_free;
};

struct iotcar_mqtt_sub {
	const char *topic;
	int qos;
	/* The retain flag marks only the messages the broker kept, sent at
	 * subscribe time; else (Retain As Published) also those published
	 * retained since. */
	bool retain_kept_only;
};

/**
 * @brief True for tcp://host[:port] or ssl://host[:port] (host may be an
 * [IPv6] literal), or up to 8 of them separated by commas.
 */
bool iotcar_mqtt_uri_is_valid(const char *uri);

/**
 * @brief Fill @p opts from the common settings: reads the password file.
 * String pointers borrow from @p s and @p password (size @p pwsize).
 * @return 0, or a negative errno with a one-line message in @p err.
 */
int iotcar_mqtt_opts_from_settings(const struct iotcar_common_settings *s,
				   const char *client_id,
				   struct iotcar_mqtt_opts *opts,
				   char *password, size_t pwsize, char *err,
				   size_t errlen);

/**
 * @brief Create a client on @p loop. Strings in @p opts are copied.
 * @return The client (free with iotcar_mqtt_free()), or NULL with errno.
 */
struct iotcar_mqtt *iotcar_mqtt_new(struct iotcar_loop *loop,
				    const struct iotcar_mqtt_opts *opts,
				    const struct iotcar_mqtt_handlers *handlers,
				    void *ctx);

/** @brief Start connecting; retries until iotcar_mqtt_stop(). */
int iotcar_mqtt_start(struct iotcar_mqtt *m);

/** @brief True between the connected and disconnected handlers. */
bool iotcar_mqtt_is_connected(const struct iotcar_mqtt *m);

/**
 * @brief Subscribe with retain-as-published, so that a retained command
 * can be told from a live one. Failures are logged as they come back.
 * @return 0, -ENOTCONN, or another negative errno.
 */
int iotcar_mqtt_subscribe(struct iotcar_mqtt *m,
			  const struct iotcar_mqtt_sub *subs, size_t count);

/** One publish, for iotcar_mqtt_send(). */
struct iotcar_mqtt_pub {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	/*
	 * May go first when the broker falls behind: QoS 1 publishes held
	 * back past IOTCAR_MQTT_OUT_MAX make room for the others by dropping
	 * the oldest droppable one (the car's results of drive commands; an
	 * e-stop's event is not).
	 */
	bool droppable;
	/* MQTT v5 Correlation Data of a reply, or NULL. */
	const void *correlation;
	size_t correlation_len;
};

/**
 * @brief Queue a publish. Nothing is kept for later while disconnected.
 * @return 0, -ENOTCONN, -ENOBUFS (no room: counted in
 * iotcar_mqtt_lost()), -EINVAL.
 */
int iotcar_mqtt_send(struct iotcar_mqtt *m, const struct iotcar_mqtt_pub *p);

/** @brief iotcar_mqtt_send() of a publish that is not droppable. */
int iotcar_mqtt_publish(struct iotcar_mqtt *m, const char *topic,
			const void *payload, size_t len, int qos, bool retain);

/**
 * @brief Publish a command at QoS 0 (like every drive command: the answer
 * confirms it) with an MQTT v5 Response Topic: the car answers there, to
 * this client only, instead of to every subscriber of its result topic.
 * @return As iotcar_mqtt_publish().
 */
int iotcar_mqtt_request(struct iotcar_mqtt *m, const char *topic,
			const void *payload, size_t len,
			const char *response_topic);

/**
 * @brief Drop the connection now and reconnect at once, because the
 * program found it dead (nothing heard for too long); the disconnected
 * handler runs with @p reason before this returns.
 */
void iotcar_mqtt_reconnect(struct iotcar_mqtt *m, const char *reason);

/** @brief Messages dropped because the loop fell behind. */
uint64_t iotcar_mqtt_dropped(struct iotcar_mqtt *m);

/** @brief Publishes lost because the broker fell behind (no room). */
uint64_t iotcar_mqtt_lost(struct iotcar_mqtt *m);

/**
 * @brief Disconnect cleanly, letting queued publishes go out first; waits
 * up to @p timeout_ms. No handler is called afterwards.
 * @return 0, or -ETIMEDOUT.
 */
int iotcar_mqtt_stop(struct iotcar_mqtt *m, int timeout_ms);

/** @brief Stop if needed, and free. Accepts NULL. */
void iotcar_mqtt_free(struct iotcar_mqtt *m);

#endif
