/* SPDX-License-Identifier: MIT */
/*
 * topic.h: the only place where iotcar topic names are made or taken apart
 * (protocol §2). Every program builds topics here from a validated prefix
 * and car id, so a stray '+', '#' or '/' can never produce a wrong topic.
 */
#ifndef IOTCAR_TOPIC_H
#define IOTCAR_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/** Longest car id: [a-z0-9][a-z0-9_-]{0,31}. */
#define IOTCAR_ID_MAX 32
/** Longest topic prefix. */
#define IOTCAR_PREFIX_MAX 64
/*
 * Levels a prefix may have: the deepest topic under it has three more
 * (<prefix>/<car>/set/speed_limit; Home Assistant's, four), and AWS IoT
 * takes at most 7 slashes in a topic.
 */
#define IOTCAR_PREFIX_LEVELS_MAX 4
/* The longest client id AWS IoT takes (MQTT itself: 65535 bytes). */
#define IOTCAR_CLIENT_ID_MAX 128
/** Big enough for any topic built here. */
#define IOTCAR_TOPIC_MAX 160
/** The pseudo car id of protocol §2 that addresses every car. */
#define IOTCAR_ALL_CARS "all"

enum iotcar_topic_kind {
	IOTCAR_TOPIC_STATUS,
	IOTCAR_TOPIC_STATE,
	IOTCAR_TOPIC_TELEMETRY,
	IOTCAR_TOPIC_SET,
	IOTCAR_TOPIC_SET_DRIVE,
	IOTCAR_TOPIC_SET_SPEED_LIMIT,
	IOTCAR_TOPIC_SET_ESTOP,
	IOTCAR_TOPIC_GET,
	IOTCAR_TOPIC_RESULT,
	IOTCAR_TOPIC_EVENT,
	/* The car's liveness pings (link.h in the car agent). */
	IOTCAR_TOPIC_LINK,
	/* An edge broker's bridge notification: "1" connected, "0" gone
	 * (broker/edge.conf). */
	IOTCAR_TOPIC_EDGE,
	IOTCAR_TOPIC_KIND_COUNT,
};

/**
 * @brief True for a car id of protocol §2 that is not reserved ("all" addresses
 * every car, "bridge" holds the bridges' status).
 */
bool iotcar_topic_is_valid_id(const char *id);

/**
 * @brief True for a usable topic prefix: 1..IOTCAR_PREFIX_MAX bytes, at
 * most IOTCAR_PREFIX_LEVELS_MAX levels separated by single '/', no '+',
 * '#', NUL, leading or trailing '/'.
 */
bool iotcar_topic_is_valid_prefix(const char *prefix);

/**
 * @brief True for a client id of 1..IOTCAR_CLIENT_ID_MAX bytes of text
 * (iotcar_text_is_valid()).
 */
bool iotcar_topic_is_valid_client_id(const char *id);

/** @brief The suffix of @p kind ("status", "set/drive"...). Static string. */
const char *iotcar_topic_suffix(enum iotcar_topic_kind kind);

/**
 * @brief Write "<prefix>/<car>/<suffix of kind>" into @p buf.
 * @param car A valid car id or IOTCAR_ALL_CARS.
 * @return 0, -EINVAL for a bad prefix, car or kind, -ENAMETOOLONG when
 * @p size is too small (buf then holds an empty string).
 */
int iotcar_topic_build(char *buf, size_t size, const char *prefix,
		       const char *car, enum iotcar_topic_kind kind);

/**
 * @brief Write the subscription filter "<prefix>/+/<suffix of kind>": that
 * topic of every car.
 * @return As iotcar_topic_build().
 */
int iotcar_topic_filter(char *buf, size_t size, const char *prefix,
			enum iotcar_topic_kind kind);

/**
 * @brief Write "<prefix>/bridge/<id>/status", a bridge's status topic.
 * @param id A valid id (the car id grammar).
 * @return As iotcar_topic_build().
 */
int iotcar_topic_bridge_status(char *buf, size_t size, const char *prefix,
			       const char *id);

/**
 * @brief Split a topic built by iotcar_topic_build().
 * @param car Receives the car id (or "all"), IOTCAR_ID_MAX + 1 bytes.
 * @return 0, or -EINVAL when @p topic is not an iotcar topic of @p prefix.
 */
int iotcar_topic_parse(const char *prefix, const char *topic,
		       char car[IOTCAR_ID_MAX + 1],
		       enum iotcar_topic_kind *kind);

#endif
