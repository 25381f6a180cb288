// SPDX-License-Identifier: MIT
/*
 * router.c: the bridge's MQTT side; see router.h. Requests waiting for a
 * car's result sit in a list ordered by deadline (all get the same timeout,
 * so arrival order is deadline order) and in a hash by sequence number;
 * one timer follows the oldest.
 */
#include "router.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/log.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"

#define ROUTER_BUCKETS 4096

struct router_car {
	char id[IOTCAR_ID_MAX + 1];
	/* 1 online, 0 offline. */
	int status;
	/* Last state, re-printed on one line; NULL until one comes. */
	char *state;
};

struct pending {
	struct pending *prev;
	struct pending *next;
	struct pending *hnext;
	uint64_t seq;
	int64_t deadline_ms;
	char car[IOTCAR_ID_MAX + 1];
	struct router_waiter w;
};

struct router {
	struct iotcar_loop *loop;
	struct iotcar_mqtt *mqtt;
	struct router_handlers h;
	void *ctx;
	char *prefix;
	char *id;
	int timeout_ms;
	char **raw_topics;
	size_t nraw;
	char status_topic[IOTCAR_TOPIC_MAX];
	/* "<id>-": the start of every request id this bridge sends. */
	char id_prefix[IOTCAR_ID_MAX + 2];
	struct router_car *cars;
	size_t ncars;
	struct pending *head;
	struct pending *tail;
	struct pending *buckets[ROUTER_BUCKETS];
	uint64_t next_seq;
	struct iotcar_timer *timer;
	bool stopped;
};

/* ==== Cars ==== */

static struct router_car *router_find_car(struct router *r, const char *id)
{
	for (size_t i = 0; i < r->ncars; i++) {
		if (!strcmp(r->cars[i].id, id))
			return &r->cars[i];
	}
	return NULL;
}

static struct router_car *router_car(struct router *r, const char *id)
{
	struct router_car *c = router_find_car(r, id);
	struct router_car *cars;

	if (c)
		return c;
	cars = realloc(r->cars, (r->ncars + 1) * sizeof(*cars));
	if (!cars)
		return NULL;
	r->cars = cars;
	c = &cars[r->ncars++];
	*c = (struct router_car){.status = 0};
	iotcar_strlcpy(c->id, id, sizeof(c->id));
	return c;
}

/* Forget every car: what the broker tells us again after a reconnect. */
static void router_forget_cars(struct router *r)
{
	for (size_t i = 0; i < r->ncars; i++)
		free(r->cars[i].state);
	free(r->cars);
	r->cars = NULL;
	r->ncars = 0;
}

int router_car_status(struct router *r, const char *car)
{
	struct router_car *c = router_find_car(r, car);

	return c ? c->status : -1;
}

const char *router_state(struct router *r, const char *car)
{
	struct router_car *c = router_find_car(r, car);

	return c ? c->state : NULL;
}

static int router_cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t router_online_cars(struct router *r, const char **ids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->ncars && n < max; i++) {
		if (r->cars[i].status == 1)
			ids[n++] = r->cars[i].id;
	}
	qsort(ids, n, sizeof(*ids), router_cmp_ids);
	return n;
}

/* ==== Pending requests ==== */

static void router_arm(struct router *r)
{
	if (r->head)
		iotcar_timer_start_at(r->timer, r->head->deadline_ms);
	else
		iotcar_timer_stop(r->timer);
}

static void router_unlink(struct router *r, struct pending *p)
{
	struct pending **pp = &r->buckets[p->seq % ROUTER_BUCKETS];

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	if (p->prev)
		p->prev->next = p->next;
	else
		r->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		r->tail = p->prev;
}

static void router_answer(struct router *r, const struct router_waiter *w,
			  enum proto_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void router_answer(struct router *r, const struct router_waiter *w,
			  enum proto_err code, const char *fmt, ...)
{
	struct router_answer a = {.code = code};
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(a.text, sizeof(a.text), fmt, ap) < 0)
		a.text[0] = '\0';
	va_end(ap);
	r->h.answer(r->ctx, w, &a);
}

/* Answer and forget a pending request. */
static void router_settle(struct router *r, struct pending *p,
			  enum proto_err code, const char *text)
{
	struct router_waiter w = p->w;

	router_unlink(r, p);
	free(p);
	router_answer(r, &w, code, "%s", text);
}

static void router_on_timeout(void *ctx)
{
	struct router *r = ctx;
	int64_t now = iotcar_clock_ms();
	char text[120];

	while (r->head && r->head->deadline_ms <= now) {
		snprintf(text, sizeof(text), "no answer from %s within %d ms",
			 r->head->car, r->timeout_ms);
		router_settle(r, r->head, PROTO_ERR_TIMEOUT, text);
	}
	router_arm(r);
}

/* Everyone still waiting hears that the broker is gone. */
static void router_fail_all(struct router *r, const char *text)
{
	while (r->head)
		router_settle(r, r->head, PROTO_ERR_OFFLINE, text);
	router_arm(r);
}

/* ==== Requests ==== */

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
	char topic[IOTCAR_TOPIC_MAX];
	char payload[256];
	struct iotcar_set set;
	struct pending *p;
	int status = router_car_status(r, car);
	int len;
	int ret;

	if (!router_set_for(req, &set) ||
	    iotcar_topic_build(topic, sizeof(topic), r->prefix, car,
			       IOTCAR_TOPIC_SET)) {
		router_answer(r, w, PROTO_ERR_BAD_ARGUMENT, "cannot send that");
		return;
	}
	if (!iotcar_mqtt_is_connected(r->mqtt)) {
		router_answer(r, w, PROTO_ERR_OFFLINE,
			      "the bridge has lost the MQTT broker");
		return;
	}
	if (status != 1) {
		router_answer(r, w, PROTO_ERR_OFFLINE, "%s is %s", car,
			      status == 0 ? "offline" : "unknown here");
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		router_answer(r, w, PROTO_ERR_BUSY, "out of memory");
		return;
	}
	p->seq = ++r->next_seq;
	set.id.present = true;
	snprintf(set.id.text, sizeof(set.id.text), "%s%llu", r->id_prefix,
		 (unsigned long long)p->seq);
	len = iotcar_set_format(&set, payload, sizeof(payload));
	/* QoS 0 like every drive command: the result confirms it. */
	ret = len < 0 ? len
		      : iotcar_mqtt_publish(r->mqtt, topic, payload,
					    (size_t)len, 0, false);
	if (ret) {
		free(p);
		router_answer(r, w, PROTO_ERR_OFFLINE, "cannot publish: %s",
			      strerror(-ret));
		return;
	}
	p->w = *w;
	/* The clock is truncated to the ms: + 1 and it never fires early. */
	p->deadline_ms = iotcar_clock_ms() + r->timeout_ms + 1;
	iotcar_strlcpy(p->car, car, sizeof(p->car));
	p->hnext = r->buckets[p->seq % ROUTER_BUCKETS];
	r->buckets[p->seq % ROUTER_BUCKETS] = p;
	p->prev = r->tail;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	if (r->head == p)
		router_arm(r);
}

/* ==== Messages ==== */

/* JSON from the network, re-printed on one line; NULL if it is not. */
static char *router_one_line(const struct iotcar_mqtt_msg *msg)
{
	cJSON *o;
	char *s;

	if (!msg->payload)
		return NULL;
	o = cJSON_ParseWithLength(msg->payload, msg->len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void router_on_result(struct router *r,
			     const struct iotcar_mqtt_msg *msg)
{
	const cJSON *id;
	const cJSON *status;
	const cJSON *error;
	const cJSON *message;
	enum proto_err code;
	struct pending *p;
	long long seq;
	char *end;
	cJSON *o;

	if (!msg->payload)
		return;
	o = cJSON_ParseWithLength(msg->payload, msg->len);
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	/* Results of other clients' commands are none of our business. */
	if (!cJSON_IsString(id) ||
	    strncmp(id->valuestring, r->id_prefix, strlen(r->id_prefix)))
		goto out;
	errno = 0;
	seq = strtoll(id->valuestring + strlen(r->id_prefix), &end, 10);
	if (errno || *end || seq <= 0)
		goto out;
	for (p = r->buckets[(uint64_t)seq % ROUTER_BUCKETS];
	     p && p->seq != (uint64_t)seq; p = p->hnext)
		;
	if (!p)
		goto out;
	status = cJSON_GetObjectItemCaseSensitive(o, "status");
	error = cJSON_GetObjectItemCaseSensitive(o, "error");
	message = cJSON_GetObjectItemCaseSensitive(o, "message");
	code = proto_err_from_car(cJSON_IsString(error) ? error->valuestring
							: NULL);
	if (cJSON_IsString(status) && !strcmp(status->valuestring, "ok"))
		router_settle(r, p, PROTO_ERR_NONE, "");
	else if (code == PROTO_ERR_ESTOP)
		/* The car's own words name its MQTT topic; ours, the command.
		 */
		router_settle(r, p, code,
			      "the e-stop is latched; send release to drive "
			      "again");
	else
		router_settle(r, p, code,
			      cJSON_IsString(message) ? message->valuestring
						      : "refused by the car");
	router_arm(r);
out:
	cJSON_Delete(o);
}

static void router_on_status(struct router *r, const char *car,
			     const struct iotcar_mqtt_msg *msg)
{
	struct router_car *c = router_car(r, car);

	if (c && msg->payload)
		c->status = !strcmp(msg->payload, "online");
}

static void router_on_state(struct router *r, const char *car,
			    const struct iotcar_mqtt_msg *msg)
{
	struct router_car *c = router_car(r, car);
	char *line = router_one_line(msg);

	if (!c || !line) {
		free(line);
		return;
	}
	free(c->state);
	c->state = line;
	r->h.push(r->ctx, car, "STATE", line);
}

static void router_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct router *r = ctx;
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;
	char *line;

	for (size_t i = 0; i < r->nraw; i++) {
		if (!strcmp(msg->topic, r->raw_topics[i]) && msg->payload)
			r->h.raw(r->ctx, msg->topic, msg->payload, msg->len);
	}
	if (iotcar_topic_parse(r->prefix, msg->topic, car, &kind))
		return;
	switch (kind) {
	case IOTCAR_TOPIC_STATUS:
		router_on_status(r, car, msg);
		break;
	case IOTCAR_TOPIC_STATE:
		router_on_state(r, car, msg);
		break;
	case IOTCAR_TOPIC_EVENT:
		line = router_one_line(msg);
		if (line)
			r->h.push(r->ctx, car, "EVENT", line);
		free(line);
		break;
	case IOTCAR_TOPIC_RESULT:
		router_on_result(r, msg);
		break;
	default:
		break;
	}
}

static void router_on_connected(void *ctx)
{
	struct router *r = ctx;
	static const enum iotcar_topic_kind kinds[] = {
		IOTCAR_TOPIC_STATUS, IOTCAR_TOPIC_STATE, IOTCAR_TOPIC_EVENT,
		IOTCAR_TOPIC_RESULT};
	char filters[4][IOTCAR_TOPIC_MAX];
	struct iotcar_mqtt_sub subs[4 + 16];
	size_t n = 0;

	for (size_t i = 0; i < 4; i++) {
		iotcar_topic_filter(filters[i], sizeof(filters[i]), r->prefix,
				    kinds[i]);
		subs[n++] = (struct iotcar_mqtt_sub){filters[i], 1};
	}
	for (size_t i = 0; i < r->nraw && n < sizeof(subs) / sizeof(subs[0]);
	     i++)
		subs[n++] = (struct iotcar_mqtt_sub){r->raw_topics[i], 0};
	if (iotcar_mqtt_subscribe(r->mqtt, subs, n))
		log_error("cannot subscribe");
}

/* Every car's retained status is in: now the bridge can answer. */
static void router_on_synced(void *ctx)
{
	struct router *r = ctx;

	iotcar_mqtt_publish(r->mqtt, r->status_topic, "online", 6, 1, true);
}

static void router_on_disconnected(void *ctx, const char *reason)
{
	struct router *r = ctx;

	(void)reason;
	router_fail_all(r, "the bridge lost the MQTT broker");
	/* Retained status and state come again after the reconnect. */
	router_forget_cars(r);
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
	static const struct iotcar_mqtt_handlers mh = {
		.connected = router_on_connected,
		.synced = router_on_synced,
		.disconnected = router_on_disconnected,
		.message = router_on_message,
	};
	struct iotcar_mqtt_opts mo = *mqtt_opts;
	struct router *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	r->h = *h;
	r->ctx = ctx;
	r->timeout_ms = cfg->result_timeout_ms;
	r->prefix = strdup(cfg->prefix);
	r->id = strdup(cfg->id);
	if (!r->prefix || !r->id || router_copy_raw(r, cfg) ||
	    iotcar_topic_bridge_status(r->status_topic, sizeof(r->status_topic),
				       cfg->prefix, cfg->id))
		goto err;
	snprintf(r->id_prefix, sizeof(r->id_prefix), "%s-", cfg->id);
	r->timer = iotcar_timer_new(loop, router_on_timeout, r);
	mo.will_topic = r->status_topic;
	mo.will_payload = "offline";
	r->mqtt = r->timer ? iotcar_mqtt_new(loop, &mo, &mh, r) : NULL;
	if (!r->mqtt)
		goto err;
	return r;
err:
	router_free(r);
	return NULL;
}

int router_start(struct router *r)
{
	return iotcar_mqtt_start(r->mqtt);
}

void router_stop(struct router *r)
{
	if (r->stopped)
		return;
	r->stopped = true;
	router_fail_all(r, "the bridge is stopping");
	if (iotcar_mqtt_is_connected(r->mqtt))
		iotcar_mqtt_publish(r->mqtt, r->status_topic, "offline", 7, 1,
				    true);
	iotcar_mqtt_stop(r->mqtt, 2000);
}

int router_publish_raw(struct router *r, const char *topic, const void *payload,
		       size_t len)
{
	return iotcar_mqtt_publish(r->mqtt, topic, payload, len, 0, false);
}

bool router_is_connected(const struct router *r)
{
	return iotcar_mqtt_is_connected(r->mqtt);
}

void router_free(struct router *r)
{
	if (!r)
		return;
	if (r->mqtt)
		router_stop(r);
	iotcar_mqtt_free(r->mqtt);
	iotcar_timer_free(r->timer);
	while (r->head) {
		struct pending *p = r->head;

		r->head = p->next;
		free(p);
	}
	router_forget_cars(r);
	for (size_t i = 0; i < r->nraw; i++)
		free(r->raw_topics[i]);
	free(r->raw_topics);
	free(r->prefix);
	free(r->id);
	free(r);
}
