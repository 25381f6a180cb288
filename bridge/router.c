// SPDX-License-Identifier: MIT
/*
 * router.c: the bridge's MQTT side; see router.h. The cars, their cached
 * status and state and the requests waiting for a result are the common
 * fleet's (iotcar/fleet.h); the router adds what only a bridge has — its
 * own status topic, the raw channels, and the protocol's error codes.
 */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/fleet.h"
#include "iotcar/log.h"
#include "iotcar/topic.h"

struct router {
	struct iotcar_fleet *fleet;
	struct iotcar_mqtt *mqtt;
	struct router_handlers h;
	void *ctx;
	char **raw_topics;
	size_t nraw;
	char status_topic[IOTCAR_TOPIC_MAX];
};

static void router_answer(struct router *r, const struct router_waiter *w,
			  enum proto_err code, const char *text)
{
	struct router_answer a = {.code = code};

	snprintf(a.text, sizeof(a.text), "%s", text);
	r->h.answer(r->ctx, w, &a);
}

/* The fleet's answer in the protocol's words. */
static void router_on_answer(void *ctx, const void *waiter,
			     const struct iotcar_fleet_answer *a)
{
	struct router *r = ctx;
	struct router_waiter w;
	enum proto_err code;

	memcpy(&w, waiter, sizeof(w));
	switch (a->outcome) {
	case IOTCAR_FLEET_OK:
		router_answer(r, &w, PROTO_ERR_NONE, "");
		break;
	case IOTCAR_FLEET_REFUSED:
		code = proto_err_from_car(a->error);
		/* The car's own words name its MQTT topics; ours, the
		 * commands. A release it refused named an older latch: a
		 * newer one holds (pressed since, or not yet seen here). */
		router_answer(r, &w, code,
			      code != PROTO_ERR_ESTOP ? a->text
			      : a->release
				      ? "a newer e-stop latch holds; send "
					"release again to release it"
				      : "the e-stop is latched; send release "
					"to drive again");
		break;
	case IOTCAR_FLEET_TIMEOUT:
		router_answer(r, &w, PROTO_ERR_TIMEOUT, a->text);
		break;
	case IOTCAR_FLEET_NO_BROKER:
		router_answer(r, &w, PROTO_ERR_OFFLINE,
			      "the bridge has lost the MQTT broker");
		break;
	case IOTCAR_FLEET_OFFLINE:
	case IOTCAR_FLEET_FAILED:
		router_answer(r, &w, PROTO_ERR_OFFLINE, a->text);
		break;
	}
}

/* The set command for a request; false for one that sends nothing. */
static bool router_set_for(const struct proto_request *req,
			   struct iotcar_set *set)
{
	*set = (struct iotcar_set){0};
	switch (req->cmd) {
	case PROTO_DRIVE:
		set->fields = IOTCAR_SET_DRIVE;
		set->drive = req->drive;
		return true;
	case PROTO_SPEED:
		set->fields = IOTCAR_SET_SPEED_LIMIT;
		set->speed_limit = req->speed;
		return true;
	case PROTO_ESTOP:
	case PROTO_RELEASE:
		set->fields = IOTCAR_SET_ESTOP;
		set->estop = req->cmd == PROTO_ESTOP;
		return true;
	default:
		return false;
	}
}

void router_request(struct router *r, const char *car,
		    const struct proto_request *req,
		    const struct router_waiter *w)
{
	struct iotcar_set set;

	if (!router_set_for(req, &set)) {
		router_answer(r, w, PROTO_ERR_BAD_ARGUMENT, "cannot send that");
		return;
	}
	iotcar_fleet_request(r->fleet, car, &set, w, sizeof(*w));
}

const char *router_state(struct router *r, const char *car)
{
	return iotcar_fleet_state(r->fleet, car);
}

int router_car_status(struct router *r, const char *car, const char **why)
{
	return iotcar_fleet_car_status(r->fleet, car, why);
}

size_t router_online_cars(struct router *r, const char **ids, size_t max)
{
	return iotcar_fleet_cars(r->fleet, true, ids, max);
}

/* ==== Messages ==== */

static void router_on_state(void *ctx, const char *car, const char *json)
{
	struct router *r = ctx;

	r->h.push(r->ctx, car, "STATE", json);
}

static void router_on_event(void *ctx, const char *car, const char *json)
{
	struct router *r = ctx;

	r->h.push(r->ctx, car, "EVENT", json);
}

static void router_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct router *r = ctx;

	for (size_t i = 0; i < r->nraw; i++) {
		if (!strcmp(msg->topic, r->raw_topics[i]) && msg->payload)
			r->h.raw(r->ctx, msg->topic, msg->payload, msg->len);
	}
}

static void router_on_connected(void *ctx)
{
	struct router *r = ctx;
	struct iotcar_mqtt_sub subs[16];
	size_t n = 0;

	for (size_t i = 0; i < r->nraw && n < sizeof(subs) / sizeof(subs[0]);
	     i++)
		subs[n++] = (struct iotcar_mqtt_sub){.topic = r->raw_topics[i],
						     .qos = 0};
	if (n && iotcar_mqtt_subscribe(r->mqtt, subs, n))
		log_error("cannot subscribe to the raw channels' topics");
}

/* Connected and subscribed: now the bridge can answer. */
static void router_on_subscribed(void *ctx)
{
	struct router *r = ctx;

	iotcar_mqtt_publish(r->mqtt, r->status_topic, "online", 6, 1, true);
}

/* ==== Life cycle ==== */

static int router_copy_raw(struct router *r, const struct router_config *cfg)
{
	r->raw_topics = calloc(cfg->nraw_topics + 1, sizeof(char *));
	if (!r->raw_topics)
		return -ENOMEM;
	for (; r->nraw < cfg->nraw_topics; r->nraw++) {
		r->raw_topics[r->nraw] = strdup(cfg->raw_topics[r->nraw]);
		if (!r->raw_topics[r->nraw])
			return -ENOMEM;
	}
	return 0;
}

struct router *router_new(struct iotcar_loop *loop,
			  const struct router_config *cfg,
			  const struct iotcar_mqtt_opts *mqtt_opts,
			  const struct router_handlers *h, void *ctx)
{
	static const struct iotcar_fleet_handlers fh = {
		.answer = router_on_answer,
		.state = router_on_state,
		.event = router_on_event,
		.connected = router_on_connected,
		.subscribed = router_on_subscribed,
		.message = router_on_message,
	};
	struct iotcar_fleet_config fc = {
		.prefix = cfg->prefix,
		.id_prefix = cfg->id,
		.timeout_ms = cfg->result_timeout_ms,
	};
	struct iotcar_mqtt_opts mo = *mqtt_opts;
	struct router *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->h = *h;
	r->ctx = ctx;
	if (router_copy_raw(r, cfg) ||
	    iotcar_topic_bridge_status(r->status_topic, sizeof(r->status_topic),
				       cfg->prefix, cfg->id))
		goto err;
	mo.will_topic = r->status_topic;
	mo.will_payload = "offline";
	r->fleet = iotcar_fleet_new(loop, &fc, &mo, &fh, r);
	if (!r->fleet)
		goto err;
	r->mqtt = iotcar_fleet_mqtt(r->fleet);
	return r;
err:
	router_free(r);
	return NULL;
}

int router_start(struct router *r)
{
	return iotcar_fleet_start(r->fleet);
}

void router_stop(struct router *r)
{
	iotcar_fleet_stop(r->fleet, r->status_topic, "offline");
}

int router_publish_raw(struct router *r, const char *topic, const void *payload,
		       size_t len)
{
	return iotcar_mqtt_publish(r->mqtt, topic, payload, len, 0, false);
}

bool router_is_connected(const struct router *r)
{
	return iotcar_fleet_is_connected(r->fleet);
}

void router_free(struct router *r)
{
	if (!r)
		return;
	iotcar_fleet_free(r->fleet);
	for (size_t i = 0; i < r->nraw; i++)
		free(r->raw_topics[i]);
	free(r->raw_topics);
	free(r);
}
