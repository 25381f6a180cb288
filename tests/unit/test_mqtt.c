// SPDX-License-Identifier: MIT
/*
 * test_mqtt.c: the Paho-free parts of the MQTT wrapper — the inbox's drop
 * policy (the oldest droppable message goes, a kept one never does; past
 * its budget an overload marker takes its place), the QoS 1 window and the
 * Paho releases that need it, broker URIs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/text.h"
#include "mqtt_int.h"
#include "test.h"

/* A message event whose topic is its number, kept or droppable. */
static struct mqtt_event *message(int n, bool keep)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_MESSAGE, 16);

	snprintf(ev->data, 16, "%d", n);
	ev->msg.topic = ev->data;
	ev->keep = keep;
	return ev;
}

static int number(const struct mqtt_event *ev)
{
	long n = -2;

	iotcar_parse_long(ev->msg.topic, 0, 1 << 30, &n);
	return (int)n;
}

/* Take everything and free it; how many, and the numbers in order. */
static size_t take_all(struct mqtt_inbox *q, int *numbers, size_t max)
{
	struct mqtt_event *ev = mqtt_inbox_take(q);
	size_t n = 0;

	while (ev) {
		struct mqtt_event *next = ev->next;

		if (n < max)
			numbers[n] =
				ev->type == MQTT_EV_OVERLOAD ? -1 : number(ev);
		n++;
		mqtt_event_free(q, ev);
		ev = next;
	}
	return n;
}

static void inbox_keeps_order(void)
{
	struct mqtt_inbox q;
	int got[4];

	CHECK_INT(mqtt_inbox_init(&q), 0);
	mqtt_inbox_push(&q, message(1, false));
	mqtt_inbox_push(&q, message(2, true));
	mqtt_inbox_push(&q, message(3, false));
	CHECK_INT(take_all(&q, got, 4), 3);
	CHECK_INT(got[0], 1);
	CHECK_INT(got[1], 2);
	CHECK_INT(got[2], 3);
	CHECK_INT(q.dropped, 0);
	mqtt_inbox_cleanup(&q);
}

static void inbox_drops_oldest_droppable_never_a_kept_one(void)
{
	struct mqtt_inbox q;
	int *got = calloc(MQTT_INBOX_DROPPABLE_MAX + 10, sizeof(int));
	size_t n;

	CHECK_INT(mqtt_inbox_init(&q), 0);
	/* A flood of drive commands with an e-stop in its middle. */
	for (int i = 0; i < MQTT_INBOX_DROPPABLE_MAX + 100; i++)
		mqtt_inbox_push(&q, message(i, i == 50));
	CHECK_INT(q.dropped, 99);
	n = take_all(&q, got, MQTT_INBOX_DROPPABLE_MAX + 10);
	CHECK_INT(n, MQTT_INBOX_DROPPABLE_MAX + 1);
	/* The e-stop survived, first now; the oldest commands went. */
	CHECK_INT(got[0], 50);
	CHECK_INT(got[1], 100);
	CHECK_INT(got[n - 1], MQTT_INBOX_DROPPABLE_MAX + 99);
	/* Taking empties the budget. */
	mqtt_inbox_push(&q, message(7, false));
	CHECK_INT(take_all(&q, got, 1), 1);
	CHECK_INT(q.dropped, 99);
	free(got);
	mqtt_inbox_cleanup(&q);
}

static void inbox_overload_takes_the_place_of_a_kept_message(void)
{
	struct mqtt_inbox q;
	size_t fit = MQTT_INBOX_KEEP_BYTES / (sizeof(struct mqtt_event) + 16);
	int *got = calloc(fit + 10, sizeof(int));
	size_t n;

	CHECK_INT(mqtt_inbox_init(&q), 0);
	for (size_t i = 0; i < fit + 3; i++)
		mqtt_inbox_push(&q, message((int)i, true));
	mqtt_inbox_push(&q, message(99999, false));
	CHECK_INT(q.overloaded, 3);
	n = take_all(&q, got, fit + 10);
	/* Every kept message that fit, one marker for the three that did
	 * not, in their place, then what came after. */
	CHECK_INT(n, fit + 2);
	CHECK_INT(got[fit - 1], (int)fit - 1);
	CHECK_INT(got[fit], -1);
	CHECK_INT(got[fit + 1], 99999);
	/* Freed, the marker can be queued again. */
	for (size_t i = 0; i < fit + 1; i++)
		mqtt_inbox_push(&q, message((int)i, true));
	n = take_all(&q, got, fit + 10);
	CHECK_INT(got[n - 1], -1);
	free(got);
	mqtt_inbox_cleanup(&q);
}

static int window_hold(struct mqtt_window *w, const char *topic, bool droppable)
{
	struct iotcar_mqtt_pub p = {.topic = topic,
				    .payload = "x",
				    .len = 1,
				    .qos = 1,
				    .droppable = droppable};

	return mqtt_window_hold(w, mqtt_out_new(&p));
}

static void window_holds_back_past_receive_maximum(void)
{
	struct mqtt_window w;
	struct mqtt_out *o;

	CHECK_INT(mqtt_window_init(&w), 0);
	mqtt_window_reset(&w, 2);
	CHECK_INT(mqtt_window_enter(&w), 0);
	CHECK_INT(mqtt_window_enter(&w), 0);
	CHECK_INT(mqtt_window_enter(&w), -EAGAIN);
	CHECK_INT(window_hold(&w, "t/a", false), 0);
	/* Full: nothing may go yet, and a newcomer waits behind it. */
	CHECK(mqtt_window_next(&w) == NULL);
	CHECK(mqtt_window_leave(&w));
	CHECK_INT(mqtt_window_enter(&w), -EAGAIN);
	o = mqtt_window_next(&w);
	CHECK(o != NULL && !strcmp(o->topic, "t/a") && o->len == 1);
	free(o);
	CHECK(!mqtt_window_leave(&w));
	mqtt_window_cleanup(&w);
}

/* Full: the oldest droppable publish makes room; a kept one never goes. */
static void window_full_drops_the_oldest_droppable(void)
{
	struct mqtt_window w;
	struct mqtt_out *o;
	char topic[32];

	CHECK_INT(mqtt_window_init(&w), 0);
	mqtt_window_reset(&w, 1);
	CHECK_INT(mqtt_window_enter(&w), 0);
	CHECK_INT(window_hold(&w, "kept/0", false), 0);
	for (int i = 1; i < IOTCAR_MQTT_OUT_MAX; i++) {
		snprintf(topic, sizeof(topic), "result/%d", i);
		CHECK_INT(window_hold(&w, topic, true), 0);
	}
	CHECK_INT(w.lost, 0);
	/* A droppable newcomer is the one to go; a kept one takes room. */
	CHECK_INT(window_hold(&w, "result/late", true), -ENOBUFS);
	CHECK_INT(window_hold(&w, "kept/1", false), 0);
	CHECK_INT(w.lost, 2);
	CHECK_INT(w.count, IOTCAR_MQTT_OUT_MAX);
	/* Order kept: kept/0, result/2.., kept/1 (result/1 went). */
	CHECK(mqtt_window_leave(&w));
	o = mqtt_window_next(&w);
	CHECK(o && !strcmp(o->topic, "kept/0"));
	free(o);
	CHECK(mqtt_window_leave(&w));
	o = mqtt_window_next(&w);
	CHECK(o && !strcmp(o->topic, "result/2"));
	free(o);
	mqtt_window_cleanup(&w);

	/* Nothing droppable: the newcomer is refused. */
	CHECK_INT(mqtt_window_init(&w), 0);
	for (int i = 0; i < IOTCAR_MQTT_OUT_MAX; i++)
		CHECK_INT(window_hold(&w, "kept", false), 0);
	CHECK_INT(window_hold(&w, "kept/late", false), -ENOBUFS);
	CHECK_INT(w.lost, 1);
	mqtt_window_cleanup(&w);
}

static void window_wait_idle_times_out_with_one_in_flight(void)
{
	struct mqtt_window w;
	struct timespec deadline;

	CHECK_INT(mqtt_window_init(&w), 0);
	mqtt_deadline(&deadline, 0);
	CHECK_INT(mqtt_window_wait_idle(&w, &deadline), 0);
	CHECK_INT(mqtt_window_enter(&w), 0);
	mqtt_deadline(&deadline, 20);
	CHECK_INT(mqtt_window_wait_idle(&w, &deadline), -ETIMEDOUT);
	mqtt_window_leave(&w);
	CHECK_INT(mqtt_window_wait_idle(&w, &deadline), 0);
	mqtt_window_cleanup(&w);
}

static void uri_parts(void)
{
	char host[64];
	char port[8];
	bool tls;

	CHECK_INT(mqtt_uri_parse("tcp://h:1", &tls, host, sizeof(host), port,
				 sizeof(port)),
		  0);
	CHECK(!tls);
	CHECK_STR(host, "h");
	CHECK_STR(port, "1");
	CHECK_INT(mqtt_uri_parse("ssl://[::1]", &tls, host, sizeof(host), port,
				 sizeof(port)),
		  0);
	CHECK(tls);
	CHECK_STR(host, "::1");
	CHECK_STR(port, "8883");
	CHECK_INT(mqtt_uri_parse("mqtt://h", &tls, host, sizeof(host), port,
				 sizeof(port)),
		  -EINVAL);
	CHECK_INT(mqtt_uri_parse("tcp://h:0", &tls, host, sizeof(host), port,
				 sizeof(port)),
		  -EINVAL);
}

static void uri_lists(void)
{
	char list[] = "tcp://a:1,ssl://[::1]:2,tcp://c";
	char *uris[MQTT_URIS_MAX];
	bool tls;

	CHECK_INT(mqtt_uri_list_split(list, uris, &tls), 3);
	CHECK(tls);
	CHECK_STR(uris[0], "tcp://a:1");
	CHECK_STR(uris[1], "ssl://[::1]:2");
	CHECK_STR(uris[2], "tcp://c");
	CHECK(iotcar_mqtt_uri_is_valid("tcp://a:1"));
	CHECK(iotcar_mqtt_uri_is_valid("tcp://a:1,tcp://b:2"));
	CHECK(!iotcar_mqtt_uri_is_valid(NULL));
	CHECK(!iotcar_mqtt_uri_is_valid(""));
	CHECK(!iotcar_mqtt_uri_is_valid("tcp://a,,tcp://b"));
	CHECK(!iotcar_mqtt_uri_is_valid("tcp://a,"));
	CHECK(!iotcar_mqtt_uri_is_valid(",tcp://a"));
	CHECK(!iotcar_mqtt_uri_is_valid("tcp://a,http://b"));
	CHECK(!iotcar_mqtt_uri_is_valid("tcp://a, tcp://b"));
	CHECK(iotcar_mqtt_uri_is_valid("tcp://1,tcp://2,tcp://3,tcp://4,"
				       "tcp://5,tcp://6,tcp://7,tcp://8"));
	CHECK(!iotcar_mqtt_uri_is_valid("tcp://1,tcp://2,tcp://3,tcp://4,"
					"tcp://5,tcp://6,tcp://7,tcp://8,"
					"tcp://9"));
}

static const struct test_case cases[] = {
	{"uri_lists", uri_lists},
	{"inbox_keeps_order", inbox_keeps_order},
	{"inbox_drops_oldest_droppable_never_a_kept_one",
	 inbox_drops_oldest_droppable_never_a_kept_one},
	{"inbox_overload_takes_the_place_of_a_kept_message",
	 inbox_overload_takes_the_place_of_a_kept_message},
	{"window_holds_back_past_receive_maximum",
	 window_holds_back_past_receive_maximum},
	{"window_full_drops_the_oldest_droppable",
	 window_full_drops_the_oldest_droppable},
	{"window_wait_idle_times_out_with_one_in_flight",
	 window_wait_idle_times_out_with_one_in_flight},
	{"uri_parts", uri_parts},
};

TEST_MAIN(cases)
