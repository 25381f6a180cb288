/* SPDX-License-Identifier: MIT */
/*
 * mqtt_int.h: the parts of the MQTT wrapper of mqtt.h, one concern a file.
 * Only mqtt.c includes <MQTTAsync.h>; the others are plain C that knows
 * nothing of Paho, and the unit tests run them alone.
 *
 *   mqtt.c          the Paho client: connecting and reconnecting, Paho's
 *                   callbacks, subscribing, publishing, stopping
 *   mqtt_uri.c      broker URIs, and the options from the common settings
 *   mqtt_inbox.c    the queue Paho's threads fill and the loop empties
 *   mqtt_window.c   QoS 1 publishes held back for the broker's in-flight
 *                   window, on the Paho releases that need it
 *   mqtt_nodelay.c  TCP_NODELAY on the broker's socket
 */
#ifndef IOTCAR_MQTT_INT_H
#define IOTCAR_MQTT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "iotcar/mqtt.h"

#define MQTT_HOST_MAX 256
#define MQTT_REASON_MAX 200

/* ==== mqtt_uri.c ==== */

/* Filters one iotcar_mqtt_subscribe() takes, and how many go in one
 * SUBSCRIBE packet (AWS IoT's limit). */
#define MQTT_SUBS_MAX 32
#define MQTT_FILTERS_PER_SUBSCRIBE 8

/* At most this many brokers in a --broker list. */
#define MQTT_URIS_MAX 8

/*
 * Split the comma-separated broker list @p list in place into @p uris (at
 * most MQTT_URIS_MAX), each one checked by mqtt_uri_parse(), so that an
 * empty item ("a,,b", "a,") is refused; @p tls is set when any is ssl://.
 * Returns the number of URIs, or -EINVAL.
 */
int mqtt_uri_list_split(char *list, char **uris, bool *tls);

/**
 * Split tcp://host[:port] or ssl://host[:port] (host may be an [IPv6]
 * literal) into its parts; the port defaults to 1883 or 8883.
 * @return 0 or -EINVAL.
 */
int mqtt_uri_parse(const char *uri, bool *tls, char *host, size_t hostsize,
		   char *port, size_t portsize);

/* ==== mqtt_inbox.c ==== */

enum mqtt_ev_type {
	MQTT_EV_CONNECTED,
	MQTT_EV_CONNECT_FAILED,
	MQTT_EV_LOST,
	MQTT_EV_MESSAGE,
	MQTT_EV_SUBSCRIBED,
	MQTT_EV_OVERLOAD,
};

/** Something that happened on Paho's threads, for the loop to handle. */
struct mqtt_event {
	struct mqtt_event *next;
	struct mqtt_event *prev;
	enum mqtt_ev_type type;
	/* A message the inbox must never drop (see the keep handler). */
	bool keep;
	/* Bytes this event holds, for the inbox's budget. */
	size_t size;
	/* MQTT_EV_CONNECTED: the broker's Receive Maximum, or 0. */
	int receive_max;
	/* MQTT_EV_LOST: the MQTT v5 reason code the broker sent, or 0. */
	int reason_code;
	struct iotcar_mqtt_msg msg;
	char reason[MQTT_REASON_MAX];
	/* Topic, payload, response topic and correlation data, in a row. */
	char data[];
};

/** Waiting messages the inbox may drop, past which the oldest go. */
#define MQTT_INBOX_DROPPABLE_MAX 4096
/** ...and the bytes they may hold. */
#define MQTT_INBOX_DROPPABLE_BYTES (16u << 20)
/** Bytes of messages that are never dropped, past which the inbox says
 * it is overloaded instead of growing. */
#define MQTT_INBOX_KEEP_BYTES (8u << 20)

/**
 * The queue between Paho's threads and the loop. Messages are dropped only
 * when the loop has fallen this far behind, oldest droppable first; a kept
 * one that finds no room is replaced by one MQTT_EV_OVERLOAD event in its
 * place, so that the loop learns what was lost, and when.
 */
struct mqtt_inbox {
	pthread_mutex_t lock;
	/* Written when the queue goes from empty to not empty. */
	int evfd;
	struct mqtt_event *head;
	struct mqtt_event *tail;
	size_t droppable;
	size_t droppable_bytes;
	size_t keep_bytes;
	/* Messages dropped since the start (no room, or no memory to copy
	 * them), and kept ones lost to overload: read by any thread. */
	atomic_uint_fast64_t dropped;
	atomic_uint_fast64_t overloaded;
	/* The one overload event: queued at most once at a time. */
	struct mqtt_event *overload;
	bool overload_queued;
};

/** @brief Empty, with an eventfd for @p loop's thread. @return 0 / -errno. */
int mqtt_inbox_init(struct mqtt_inbox *q);

/** @brief Free every event waiting, close the eventfd. */
void mqtt_inbox_cleanup(struct mqtt_inbox *q);

/** @brief A zeroed event with @p extra bytes of data, or NULL. */
struct mqtt_event *mqtt_event_new(enum mqtt_ev_type type, size_t extra);

/**
 * @brief Queue @p ev (ownership passes) and wake the loop. Any thread.
 * Connection events always fit; messages as the budgets above say.
 */
void mqtt_inbox_push(struct mqtt_inbox *q, struct mqtt_event *ev);

/**
 * @brief Take every waiting event, oldest first (a NULL-terminated list
 * through next; free each with mqtt_event_free()). Loop thread.
 */
struct mqtt_event *mqtt_inbox_take(struct mqtt_inbox *q);

/** @brief Free an event taken from the inbox; the overload event is kept. */
void mqtt_event_free(struct mqtt_inbox *q, struct mqtt_event *ev);

/* ==== mqtt_window.c ==== */

/** QoS 1 publishes in flight when the broker sets no Receive Maximum. */
#define MQTT_WINDOW_MAX 64

/** A QoS 1 publish waiting for a slot in the broker's in-flight window. */
struct mqtt_out {
	struct mqtt_out *next;
	int qos;
	bool retain;
	bool droppable;
	size_t len;
	size_t correlation_len;
	/* Payload, correlation data, then the topic's NUL-terminated text. */
	char *payload;
	char *correlation;
	char *topic;
	char data[];
};

/**
 * The QoS 1 publishes handed to Paho and not yet acknowledged, and those
 * held back: Paho is never given more than the broker's in-flight window.
 * Before 1.3.14 it stalls up to a second whenever that window is full
 * (fixed by its commit 11757bf4); 1.3.14 keeps the window itself, but
 * queues everything beyond it, so that behind a flood of results an
 * e-stop's event waited over a minute, and a full queue refused it. Held
 * here, the oldest droppable publish makes room instead.
 */
struct mqtt_window {
	pthread_mutex_t lock;
	/* Signalled whenever a publish leaves the window (CLOCK_MONOTONIC). */
	pthread_cond_t cond;
	int inflight;
	int size;
	struct mqtt_out *head;
	struct mqtt_out *tail;
	size_t count;
	/* Publishes refused or dropped for want of room (here or by Paho):
	 * read by any thread. */
	atomic_uint_fast64_t lost;
};

/** @brief Empty. */
int mqtt_window_init(struct mqtt_window *w);
void mqtt_window_cleanup(struct mqtt_window *w);

/**
 * @brief A new connection, or none: forget what was held back and in
 * flight, and take the broker's Receive Maximum (0: none given).
 */
void mqtt_window_reset(struct mqtt_window *w, int receive_max);

/**
 * @brief Take a slot for a publish to hand Paho now.
 * @return 0, or -EAGAIN when it must wait its turn (mqtt_window_hold()).
 */
int mqtt_window_enter(struct mqtt_window *w);

/** @brief A copy of publish @p p to hold back, or NULL. */
struct mqtt_out *mqtt_out_new(const struct iotcar_mqtt_pub *p);

/**
 * @brief Hold @p o (ownership passes) until a slot is free. When
 * IOTCAR_MQTT_OUT_MAX already wait, the oldest droppable one goes to make
 * room for it (@p o too may be that one). Either loss is counted.
 * @return 0, or -ENOBUFS when @p o was the one to go (it is freed).
 */
int mqtt_window_hold(struct mqtt_window *w, struct mqtt_out *o);

/**
 * @brief The oldest publish held back, with a slot taken for it, or NULL
 * when none waits or no slot is free. The caller frees it.
 */
struct mqtt_out *mqtt_window_next(struct mqtt_window *w);

/**
 * @brief A publish left the window (acknowledged or failed). Any thread.
 * @return True when publishes are held back: wake the loop to send them.
 */
bool mqtt_window_leave(struct mqtt_window *w);

/**
 * @brief Wait until no publish is in flight or held back (0), a held one
 * may go (-EAGAIN: hand it to Paho, then wait again), or @p deadline
 * passes (-ETIMEDOUT).
 */
int mqtt_window_wait_idle(struct mqtt_window *w,
			  const struct timespec *deadline);

/** @brief @p ms from now on CLOCK_MONOTONIC, the clock of every wait. */
void mqtt_deadline(struct timespec *ts, int ms);

/** @brief A condition variable whose waits follow CLOCK_MONOTONIC. */
int mqtt_cond_init(pthread_cond_t *cond);

/* ==== mqtt_nodelay.c ==== */

/**
 * @brief Set TCP_NODELAY on this process's connection to @p host:@p port.
 * @return How many sockets it was set on (0: none found).
 */
int mqtt_nodelay_set(const char *host, const char *port);

#endif
