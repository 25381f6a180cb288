// SPDX-License-Identifier: MIT
/*
 * fleet.c: the cars over MQTT; see fleet.h. Requests waiting for a car's
 * result sit in a list ordered by deadline (all get the same timeout, so
 * arrival order is deadline order) and in a hash by sequence number; one
 * timer follows the oldest. Requests waiting for their car to be heard
 * (just after subscribing) sit in a list of their own until it is, or
 * until the settle timer says it will not be.
 */
#include "iotcar/fleet.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/log.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"

#define FLEET_BUCKETS 4096

struct fleet_car {
	char id[IOTCAR_ID_MAX + 1];
	/* 1 online, 0 offline, -1 not told yet (only its state was). */
	int status;
	/* Why it is offline, for people. */
	char why[64];
	/* When it was last heard live (not a retained message); 0: never. */
	int64_t heard_ms;
	/* Its ping period, as its pings' numbers and times tell; 0: not
	 * known yet. */
	int64_t ping_period_ms;
	/* Asked for its state (`get`) since connecting. */
	bool asked;
	/* Last state, re-printed on one line; NULL until one comes. */
	char *state;
	/* The latch its last state names: what a release releases. */
	uint32_t estop_latch;
	/* The newest link ping heard from it, and when; link 0: none. */
	uint32_t link;
	int64_t link_ms;
};

/* A request waiting for its car to be heard of. */
struct parked {
	struct parked *next;
	struct iotcar_set set;
	char car[IOTCAR_ID_MAX + 1];
	size_t waiter_len;
	alignas(max_align_t) unsigned char waiter[IOTCAR_FLEET_WAITER_MAX];
};

struct pending {
	struct pending *prev;
	struct pending *next;
	struct pending *hnext;
	uint64_t seq;
	int64_t sent_ns;
	int64_t deadline_ms;
	bool release;
	char car[IOTCAR_ID_MAX + 1];
	alignas(max_align_t) unsigned char waiter[IOTCAR_FLEET_WAITER_MAX];
};

struct iotcar_fleet {
	struct iotcar_mqtt *mqtt;
	struct iotcar_fleet_handlers h;
	void *ctx;
	char *prefix;
	int timeout_ms;
	/* "<id_prefix>-": the start of every request id this client sends. */
	char id_prefix[IOTCAR_ID_MAX + 2];
	struct fleet_car *cars;
	size_t ncars;
	struct pending *head;
	struct pending *tail;
	struct pending *buckets[FLEET_BUCKETS];
	uint64_t next_seq;
	struct iotcar_timer *timer;
	/* The settle window after subscribing is over. */
	bool settled;
	struct iotcar_timer *settle;
	/* When the subscriptions were granted, and the presence sweep. */
	int64_t subscribed_ms;
	struct iotcar_timer *presence;
	struct parked *parked;
	size_t nparked;
	bool stopped;
};

/* ==== Cars ==== */

static struct fleet_car *fleet_find_car(struct iotcar_fleet *f, const char *id)
{
	for (size_t i = 0; i < f->ncars; i++) {
		if (!strcmp(f->cars[i].id, id))
			return &f->cars[i];
	}
	return NULL;
}

static struct fleet_car *fleet_car(struct iotcar_fleet *f, const char *id)
{
	struct fleet_car *c = fleet_find_car(f, id);
	struct fleet_car *cars;

	if (c)
		return c;
	cars = realloc(f->cars, (f->ncars + 1) * sizeof(*cars));
	if (!cars)
		return NULL;
	f->cars = cars;
	c = &cars[f->ncars++];
	*c = (struct fleet_car){.status = -1};
	iotcar_strlcpy(c->id, id, sizeof(c->id));
	return c;
}

/* Forget every car: what the broker tells us again after a reconnect. */
static void fleet_forget_cars(struct iotcar_fleet *f)
{
	for (size_t i = 0; i < f->ncars; i++)
		free(f->cars[i].state);
	free(f->cars);
	f->cars = NULL;
	f->ncars = 0;
}

int iotcar_fleet_car_status(struct iotcar_fleet *f, const char *car,
			    const char **why)
{
	struct fleet_car *c = fleet_find_car(f, car);

	if (why)
		*why = c && c->status == 0 ? c->why : NULL;
	return c ? c->status : -1;
}

const char *iotcar_fleet_state(struct iotcar_fleet *f, const char *car)
{
	struct fleet_car *c = fleet_find_car(f, car);

	return c ? c->state : NULL;
}

static int fleet_cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t iotcar_fleet_cars(struct iotcar_fleet *f, bool online_only,
			 const char **ids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < f->ncars && (!ids || n < max); i++) {
		if (online_only && f->cars[i].status != 1)
			continue;
		if (ids)
			ids[n] = f->cars[i].id;
		n++;
	}
	if (ids)
		qsort(ids, n, sizeof(*ids), fleet_cmp_ids);
	return n;
}

/* ==== Presence ==== */

static void fleet_set_status(struct iotcar_fleet *f, struct fleet_car *c,
			     int status, const char *why)
{
	if (status == 0)
		iotcar_strlcpy(c->why, why, sizeof(c->why));
	if (c->status == status)
		return;
	c->status = status;
	if (f->h.status)
		f->h.status(f->ctx, c->id, status == 1, status ? NULL : c->why);
}

/*
 * @p c was heard live: it is online. A car heard before any state of it
 * came (a broker that keeps no retained messages, or does not deliver them
 * to wildcards) is asked for one, once per connection.
 */
static void fleet_heard(struct iotcar_fleet *f, struct fleet_car *c)
{
	char topic[IOTCAR_TOPIC_MAX];

	c->heard_ms = iotcar_clock_ms();
	fleet_set_status(f, c, 1, NULL);
	if (c->state || c->asked)
		return;
	c->asked = true;
	if (!iotcar_topic_build(topic, sizeof(topic), f->prefix, c->id,
				IOTCAR_TOPIC_GET))
		iotcar_mqtt_publish(f->mqtt, topic, "", 0, 1, false);
}

/*
 * Every car online that has not been heard for its bound goes offline: 3
 * of its ping periods, and at least IOTCAR_FLEET_PRESENCE_MS; a car known
 * only by its retained status must be heard within the settle window.
 */
static void fleet_sweep(struct iotcar_fleet *f)
{
	int64_t now = iotcar_clock_ms();
	char why[64];

	for (size_t i = 0; i < f->ncars; i++) {
		struct fleet_car *c = &f->cars[i];
		int64_t bound = IOTCAR_FLEET_SETTLE_MS;
		int64_t quiet = now - f->subscribed_ms;

		if (c->status != 1)
			continue;
		if (c->heard_ms) {
			quiet = now - c->heard_ms;
			bound = c->ping_period_ms * IOTCAR_FLEET_PRESENCE_PINGS;
			if (bound < IOTCAR_FLEET_PRESENCE_MS)
				bound = IOTCAR_FLEET_PRESENCE_MS;
		}
		if (quiet < bound)
			continue;
		if (c->heard_ms)
			snprintf(why, sizeof(why), "not heard for %lld ms",
				 (long long)quiet);
		else
			snprintf(why, sizeof(why),
				 "its retained status is stale: not heard");
		fleet_set_status(f, c, 0, why);
	}
}

static void fleet_on_presence(void *ctx)
{
	fleet_sweep(ctx);
}

/* ==== Pending requests ==== */

static void fleet_arm(struct iotcar_fleet *f)
{
	if (f->head)
		iotcar_timer_start_at(f->timer, f->head->deadline_ms);
	else
		iotcar_timer_stop(f->timer);
}

static void fleet_unlink(struct iotcar_fleet *f, struct pending *p)
{
	struct pending **pp = &f->buckets[p->seq % FLEET_BUCKETS];

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	if (p->prev)
		p->prev->next = p->next;
	else
		f->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		f->tail = p->prev;
}

static void fleet_answer(struct iotcar_fleet *f, const void *waiter,
			 const char *car, enum iotcar_fleet_outcome outcome,
			 const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void fleet_answer(struct iotcar_fleet *f, const void *waiter,
			 const char *car, enum iotcar_fleet_outcome outcome,
			 const char *fmt, ...)
{
	struct iotcar_fleet_answer a = {.outcome = outcome, .car = car};
	char text[200];
	va_list ap;

	va_start(ap, fmt);
	iotcar_vformat_text(text, sizeof(text), fmt, ap);
	va_end(ap);
	a.text = text;
	f->h.answer(f->ctx, waiter, &a);
}

/* Answer and forget a pending request. */
static void fleet_settle(struct iotcar_fleet *f, struct pending *p,
			 enum iotcar_fleet_outcome outcome, const char *text)
{
	fleet_unlink(f, p);
	fleet_answer(f, p->waiter, p->car, outcome, "%s", text);
	free(p);
}

static void fleet_on_timeout(void *ctx)
{
	struct iotcar_fleet *f = ctx;
	int64_t now = iotcar_clock_ms();
	const struct fleet_car *c;
	char text[160];

	while (f->head && f->head->deadline_ms <= now) {
		c = fleet_find_car(f, f->head->car);
		snprintf(text, sizeof(text), "no answer from %s within %d ms%s",
			 f->head->car, f->timeout_ms,
			 c && !c->heard_ms
				 ? " (not heard live since connecting: "
				   "its retained status may be stale)"
				 : "");
		fleet_settle(f, f->head, IOTCAR_FLEET_TIMEOUT, text);
	}
	fleet_arm(f);
}

/* Everyone still waiting hears that the broker is gone. */
static void fleet_fail_all(struct iotcar_fleet *f, const char *text)
{
	while (f->head)
		fleet_settle(f, f->head, IOTCAR_FLEET_NO_BROKER, text);
	fleet_arm(f);
}

/* ==== Requests waiting for their car ==== */

static int fleet_park(struct iotcar_fleet *f, const char *car,
		      const struct iotcar_set *set, const void *waiter,
		      size_t waiter_len)
{
	struct parked *p;
	struct parked **tail = &f->parked;

	if (f->nparked >= IOTCAR_FLEET_PARKED_MAX)
		return -ENOBUFS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->set = *set;
	iotcar_strlcpy(p->car, car, sizeof(p->car));
	p->waiter_len = waiter_len;
	if (waiter_len)
		memcpy(p->waiter, waiter, waiter_len);
	/* In arrival order: a stop must not overtake the drive before it. */
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	f->nparked++;
	return 0;
}

/* Send (or answer) what waited for @p car; every car when NULL. */
static void fleet_unpark(struct iotcar_fleet *f, const char *car)
{
	struct parked *list = NULL;
	struct parked **tail = &list;
	struct parked **pp = &f->parked;

	/* Take them out first: one that waits again goes to a new list. */
	while (*pp) {
		struct parked *p = *pp;

		if (car && strcmp(p->car, car)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		f->nparked--;
		p->next = NULL;
		*tail = p;
		tail = &p->next;
	}
	while (list) {
		struct parked *p = list;

		list = p->next;
		iotcar_fleet_request(f, p->car, &p->set, p->waiter,
				     p->waiter_len);
		free(p);
	}
}

static void fleet_on_settle(void *ctx)
{
	struct iotcar_fleet *f = ctx;

	f->settled = true;
	fleet_sweep(f);
	fleet_unpark(f, NULL);
	if (f->h.settled)
		f->h.settled(f->ctx);
}

/* ==== Requests ==== */

/* What the car needs to judge the command's age, and the latch to release. */
static void fleet_fill(struct iotcar_fleet *f, const struct fleet_car *c,
		       struct iotcar_set *s)
{
	if ((s->fields & IOTCAR_SET_DRIVE) && c->link) {
		s->fresh.has_link = true;
		s->fresh.link = c->link;
		s->fresh.max_age_ms = f->timeout_ms;
	}
	if ((s->fields & IOTCAR_SET_ESTOP) && !s->estop && !s->estop_latch)
		s->estop_latch = c->estop_latch;
}

void iotcar_fleet_request(struct iotcar_fleet *f, const char *car,
			  const struct iotcar_set *set, const void *waiter,
			  size_t waiter_len)
{
	char topic[IOTCAR_TOPIC_MAX];
	char payload[320];
	struct iotcar_set s = *set;
	struct pending *p;
	const struct fleet_car *c = fleet_find_car(f, car);
	int status = c ? c->status : -1;
	int64_t now = iotcar_clock_ms();
	int len;
	int ret;

	if (waiter_len > IOTCAR_FLEET_WAITER_MAX ||
	    iotcar_topic_build(topic, sizeof(topic), f->prefix, car,
			       IOTCAR_TOPIC_SET)) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_FAILED,
			     "cannot send that");
		return;
	}
	if (!iotcar_mqtt_is_connected(f->mqtt) || f->stopped) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_NO_BROKER,
			     "not connected to the MQTT broker");
		return;
	}
	/* Not heard of yet; or a release that needs the latch the car's
	 * state names, which comes right after its status. */
	if ((status < 0 ||
	     ((s.fields & IOTCAR_SET_ESTOP) && !s.estop && !c->state)) &&
	    !f->settled) {
		ret = fleet_park(f, car, set, waiter, waiter_len);
		if (ret)
			fleet_answer(f, waiter, car, IOTCAR_FLEET_FAILED,
				     "cannot wait for %s: %s", car,
				     strerror(-ret));
		return;
	}
	if (status == 0) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_OFFLINE,
			     "%s is offline (%s)", car, c->why);
		return;
	}
	if (status < 0) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_OFFLINE,
			     "%s is unknown (never seen on the broker)", car);
		return;
	}
	/* Its pings stopped (a frozen car, a lost link): the car would
	 * refuse the command as stale, so none is sent. */
	if (c->link && (s.fields & IOTCAR_SET_DRIVE) &&
	    now - c->link_ms > f->timeout_ms) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_TIMEOUT,
			     "no answer from %s within %d ms (not heard for "
			     "%lld ms)",
			     car, f->timeout_ms, (long long)(now - c->link_ms));
		return;
	}
	fleet_fill(f, c, &s);
	p = calloc(1, sizeof(*p));
	if (!p) {
		fleet_answer(f, waiter, car, IOTCAR_FLEET_FAILED,
			     "out of memory");
		return;
	}
	p->seq = ++f->next_seq;
	s.id.present = true;
	s.id.is_number = false;
	snprintf(s.id.text, sizeof(s.id.text), "%s%llu", f->id_prefix,
		 (unsigned long long)p->seq);
	p->sent_ns = iotcar_clock_ns();
	p->release = (s.fields & IOTCAR_SET_ESTOP) && !s.estop;
	len = iotcar_set_format(&s, payload, sizeof(payload));
	/* QoS 0 like every drive command: the result confirms it. */
	ret = len < 0 ? len
		      : iotcar_mqtt_publish(f->mqtt, topic, payload,
					    (size_t)len, 0, false);
	if (ret) {
		free(p);
		fleet_answer(f, waiter, car, IOTCAR_FLEET_FAILED,
			     "cannot publish: %s", strerror(-ret));
		return;
	}
	if (waiter_len)
		memcpy(p->waiter, waiter, waiter_len);
	/* The clock is truncated to the ms: + 1 and it never fires early. */
	p->deadline_ms = iotcar_clock_ms() + f->timeout_ms + 1;
	iotcar_strlcpy(p->car, car, sizeof(p->car));
	p->hnext = f->buckets[p->seq % FLEET_BUCKETS];
	f->buckets[p->seq % FLEET_BUCKETS] = p;
	p->prev = f->tail;
	if (f->tail)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
	if (f->head == p)
		fleet_arm(f);
}

/* ==== Messages ==== */

/* A JSON object from the network, or NULL if it is not one. */
static cJSON *fleet_object(const struct iotcar_mqtt_msg *msg)
{
	cJSON *o = msg->payload ? cJSON_ParseWithLength(msg->payload, msg->len)
				: NULL;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* JSON from the network, re-printed on one line; NULL if it is not. */
static char *fleet_one_line(const struct iotcar_mqtt_msg *msg)
{
	cJSON *o = fleet_object(msg);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

static const char *fleet_string(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An e-stop latch number in @p o, or 0. */
static uint32_t fleet_latch(const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "estop_latch");

	if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
	    v->valuedouble > IOTCAR_SERIAL_MAX)
		return 0;
	return (uint32_t)v->valuedouble;
}

static void fleet_on_result(struct iotcar_fleet *f,
			    const struct iotcar_mqtt_msg *msg)
{
	struct iotcar_fleet_answer a = {.outcome = IOTCAR_FLEET_REFUSED};
	const char *id;
	const char *status;
	struct pending *p;
	struct fleet_car *c;
	long long seq;
	char *end;
	cJSON *o;

	o = fleet_object(msg);
	if (!o)
		return;
	id = fleet_string(o, "id");
	/* Results of other clients' commands are none of our business. */
	if (!id || strncmp(id, f->id_prefix, strlen(f->id_prefix)))
		goto out;
	errno = 0;
	seq = strtoll(id + strlen(f->id_prefix), &end, 10);
	if (errno || *end || seq <= 0)
		goto out;
	for (p = f->buckets[(uint64_t)seq % FLEET_BUCKETS];
	     p && p->seq != (uint64_t)seq; p = p->hnext)
		;
	if (!p)
		goto out;
	fleet_unlink(f, p);
	status = fleet_string(o, "status");
	/* An ON confirmed names its latch: what our next release releases. */
	c = fleet_find_car(f, p->car);
	if (c && fleet_latch(o))
		c->estop_latch = fleet_latch(o);
	a.car = p->car;
	a.release = p->release;
	a.rtt_us = (iotcar_clock_ns() - p->sent_ns) / 1000;
	if (status && !strcmp(status, "ok")) {
		a.outcome = IOTCAR_FLEET_OK;
		a.text = "";
	} else {
		a.error = fleet_string(o, "error");
		a.text = fleet_string(o, "message");
		if (!a.text)
			a.text = "refused by the car";
	}
	f->h.answer(f->ctx, p->waiter, &a);
	free(p);
	fleet_arm(f);
out:
	cJSON_Delete(o);
}

static void fleet_on_status(struct iotcar_fleet *f, struct fleet_car *c,
			    const struct iotcar_mqtt_msg *msg)
{
	if (!msg->payload)
		return;
	if (strcmp(msg->payload, "online"))
		fleet_set_status(f, c, 0, "it said so");
	else if (!msg->retained)
		fleet_heard(f, c);
	else
		fleet_set_status(f, c, 1, NULL);
}

static void fleet_on_state(struct iotcar_fleet *f, struct fleet_car *c,
			   const struct iotcar_mqtt_msg *msg)
{
	cJSON *o = fleet_object(msg);
	char *line = o ? cJSON_PrintUnformatted(o) : NULL;

	if (line) {
		free(c->state);
		c->state = line;
		c->estop_latch = fleet_latch(o);
		if (f->h.state)
			f->h.state(f->ctx, c->id, line);
	}
	cJSON_Delete(o);
	/* Retained: what the broker kept, not news (retain_kept_only). */
	if (!msg->retained)
		fleet_heard(f, c);
}

/*
 * A link ping: the car is alive, and the number is what our next command
 * to it quotes. Pings are numbered in sequence, so two of them tell the
 * car's ping period, lost ones or not.
 */
static void fleet_on_link(struct iotcar_fleet *f, struct fleet_car *c,
			  const struct iotcar_mqtt_msg *msg)
{
	int64_t now = iotcar_clock_ms();
	long n;

	if (!msg->payload ||
	    iotcar_parse_long(msg->payload, 1, IOTCAR_SERIAL_MAX, &n))
		return;
	if (c->link && (uint32_t)n > c->link && (uint32_t)n - c->link < 100)
		c->ping_period_ms =
			(now - c->link_ms) / (int64_t)((uint32_t)n - c->link);
	c->link = (uint32_t)n;
	c->link_ms = now;
	fleet_heard(f, c);
}

static void fleet_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct iotcar_fleet *f = ctx;
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;
	struct fleet_car *c;
	char *line;

	if (f->h.message)
		f->h.message(f->ctx, msg);
	if (iotcar_topic_parse(f->prefix, msg->topic, car, &kind))
		return;
	switch (kind) {
	case IOTCAR_TOPIC_STATUS:
	case IOTCAR_TOPIC_STATE:
	case IOTCAR_TOPIC_LINK:
		c = fleet_car(f, car);
		if (!c)
			return;
		if (kind == IOTCAR_TOPIC_STATUS)
			fleet_on_status(f, c, msg);
		else if (kind == IOTCAR_TOPIC_STATE)
			fleet_on_state(f, c, msg);
		else
			fleet_on_link(f, c, msg);
		fleet_unpark(f, car);
		break;
	case IOTCAR_TOPIC_EDGE:
		/* The central broker's will for the car's edge broker. */
		c = msg->payload && !strcmp(msg->payload, "0")
			    ? fleet_find_car(f, car)
			    : NULL;
		if (c)
			fleet_set_status(f, c, 0, "its edge broker is gone");
		break;
	case IOTCAR_TOPIC_EVENT:
		line = f->h.event ? fleet_one_line(msg) : NULL;
		if (line)
			f->h.event(f->ctx, car, line);
		free(line);
		break;
	case IOTCAR_TOPIC_RESULT:
		fleet_on_result(f, msg);
		break;
	default:
		break;
	}
}

static void fleet_on_connected(void *ctx)
{
	struct iotcar_fleet *f = ctx;
	/* Pings at QoS 0, like the car sends them: the newest matters. */
	static const struct {
		enum iotcar_topic_kind kind;
		int qos;
	} kinds[] = {
		{IOTCAR_TOPIC_STATUS, 1}, {IOTCAR_TOPIC_STATE, 1},
		{IOTCAR_TOPIC_EVENT, 1},  {IOTCAR_TOPIC_RESULT, 1},
		{IOTCAR_TOPIC_LINK, 0},	  {IOTCAR_TOPIC_EDGE, 1},
	};
	enum {
		N = sizeof(kinds) / sizeof(kinds[0])
	};
	char filters[N][IOTCAR_TOPIC_MAX];
	struct iotcar_mqtt_sub subs[N];

	f->settled = false;
	for (size_t i = 0; i < N; i++) {
		iotcar_topic_filter(filters[i], sizeof(filters[i]), f->prefix,
				    kinds[i].kind);
		subs[i] = (struct iotcar_mqtt_sub){filters[i], kinds[i].qos,
						   .retain_kept_only = true};
	}
	if (iotcar_mqtt_subscribe(f->mqtt, subs, N))
		log_error("cannot subscribe");
	if (f->h.connected)
		f->h.connected(f->ctx);
}

static void fleet_on_subscribed(void *ctx)
{
	struct iotcar_fleet *f = ctx;

	f->subscribed_ms = iotcar_clock_ms();
	iotcar_timer_start(f->settle, IOTCAR_FLEET_SETTLE_MS, 0);
	iotcar_timer_start(f->presence, IOTCAR_FLEET_SWEEP_MS,
			   IOTCAR_FLEET_SWEEP_MS);
	if (f->h.subscribed)
		f->h.subscribed(f->ctx);
}

/* Requests waiting for their car hear that the broker is gone. */
static void fleet_fail_parked(struct iotcar_fleet *f, const char *text)
{
	while (f->parked) {
		struct parked *p = f->parked;

		f->parked = p->next;
		f->nparked--;
		fleet_answer(f, p->waiter, p->car, IOTCAR_FLEET_NO_BROKER, "%s",
			     text);
		free(p);
	}
}

static void fleet_on_disconnected(void *ctx, const char *reason, int code)
{
	struct iotcar_fleet *f = ctx;

	(void)code;
	iotcar_timer_stop(f->settle);
	iotcar_timer_stop(f->presence);
	f->settled = false;
	fleet_fail_all(f, "lost the MQTT broker");
	fleet_fail_parked(f, "lost the MQTT broker");
	/* Retained status and state come again after the reconnect. */
	fleet_forget_cars(f);
	if (f->h.disconnected)
		f->h.disconnected(f->ctx, reason);
}

/* ==== Life cycle ==== */

struct iotcar_fleet *iotcar_fleet_new(struct iotcar_loop *loop,
				      const struct iotcar_fleet_config *cfg,
				      const struct iotcar_mqtt_opts *mqtt_opts,
				      const struct iotcar_fleet_handlers *h,
				      void *ctx)
{
	static const struct iotcar_mqtt_handlers mh = {
		.connected = fleet_on_connected,
		.subscribed = fleet_on_subscribed,
		.disconnected = fleet_on_disconnected,
		.message = fleet_on_message,
	};
	struct iotcar_fleet *f = calloc(1, sizeof(*f));
	int n;

	if (!f)
		return NULL;
	f->h = *h;
	f->ctx = ctx;
	f->timeout_ms = cfg->timeout_ms;
	f->prefix = strdup(cfg->prefix);
	n = snprintf(f->id_prefix, sizeof(f->id_prefix), "%s-", cfg->id_prefix);
	if (!f->prefix || n < 0 || (size_t)n >= sizeof(f->id_prefix))
		goto err;
	f->timer = iotcar_timer_new(loop, fleet_on_timeout, f);
	f->settle = iotcar_timer_new(loop, fleet_on_settle, f);
	f->presence = iotcar_timer_new(loop, fleet_on_presence, f);
	f->mqtt = f->timer && f->settle && f->presence
			  ? iotcar_mqtt_new(loop, mqtt_opts, &mh, f)
			  : NULL;
	if (!f->mqtt)
		goto err;
	return f;
err:
	iotcar_fleet_free(f);
	return NULL;
}

int iotcar_fleet_start(struct iotcar_fleet *f)
{
	return iotcar_mqtt_start(f->mqtt);
}

void iotcar_fleet_stop(struct iotcar_fleet *f, const char *topic,
		       const char *payload)
{
	if (f->stopped)
		return;
	f->stopped = true;
	iotcar_timer_stop(f->settle);
	iotcar_timer_stop(f->presence);
	fleet_fail_all(f, "stopping");
	fleet_fail_parked(f, "stopping");
	if (topic && iotcar_mqtt_is_connected(f->mqtt))
		iotcar_mqtt_publish(f->mqtt, topic, payload, strlen(payload), 1,
				    true);
	iotcar_mqtt_stop(f->mqtt, 2000);
}

struct iotcar_mqtt *iotcar_fleet_mqtt(struct iotcar_fleet *f)
{
	return f->mqtt;
}

bool iotcar_fleet_is_connected(const struct iotcar_fleet *f)
{
	return iotcar_mqtt_is_connected(f->mqtt);
}

bool iotcar_fleet_is_settled(const struct iotcar_fleet *f)
{
	return f->settled;
}

void iotcar_fleet_free(struct iotcar_fleet *f)
{
	if (!f)
		return;
	if (f->mqtt)
		iotcar_fleet_stop(f, NULL, NULL);
	iotcar_mqtt_free(f->mqtt);
	iotcar_timer_free(f->timer);
	iotcar_timer_free(f->settle);
	iotcar_timer_free(f->presence);
	while (f->head) {
		struct pending *p = f->head;

		f->head = p->next;
		free(p);
	}
	fleet_forget_cars(f);
	free(f->prefix);
	free(f);
}
