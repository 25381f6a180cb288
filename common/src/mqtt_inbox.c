// SPDX-License-Identifier: MIT
/*
 * mqtt_inbox.c: the queue between Paho's threads and the loop; see
 * mqtt_int.h. The order of events is never changed: a stop must not
 * overtake the drive commands sent before it. What a full inbox gives up is
 * the oldest droppable message, so the newest commands survive a backlog.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mqtt_int.h"

int mqtt_inbox_init(struct mqtt_inbox *q)
{
	*q = (struct mqtt_inbox){.evfd = -1};
	pthread_mutex_init(&q->lock, NULL);
	q->overload = mqtt_event_new(MQTT_EV_OVERLOAD, 0);
	if (!q->overload)
		return -ENOMEM;
	q->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return q->evfd < 0 ? -errno : 0;
}

void mqtt_inbox_cleanup(struct mqtt_inbox *q)
{
	struct mqtt_event *ev;

	/* The overload event may be queued: free it once. */
	for (ev = q->head; ev;) {
		struct mqtt_event *next = ev->next;

		if (ev != q->overload)
			free(ev);
		ev = next;
	}
	free(q->overload);
	q->head = q->tail = q->overload = NULL;
	if (q->evfd >= 0)
		close(q->evfd);
	q->evfd = -1;
	pthread_mutex_destroy(&q->lock);
}

struct mqtt_event *mqtt_event_new(enum mqtt_ev_type type, size_t extra)
{
	struct mqtt_event *ev = calloc(1, sizeof(*ev) + extra);

	if (ev) {
		ev->type = type;
		ev->size = sizeof(*ev) + extra;
	}
	return ev;
}

static bool inbox_is_droppable(const struct mqtt_event *ev)
{
	return ev->type == MQTT_EV_MESSAGE && !ev->keep;
}

static void inbox_append(struct mqtt_inbox *q, struct mqtt_event *ev)
{
	ev->next = NULL;
	ev->prev = q->tail;
	if (q->tail)
		q->tail->next = ev;
	else
		q->head = ev;
	q->tail = ev;
	if (inbox_is_droppable(ev)) {
		q->droppable++;
		q->droppable_bytes += ev->size;
	} else if (ev->type == MQTT_EV_MESSAGE) {
		q->keep_bytes += ev->size;
	}
}

static void inbox_unlink(struct mqtt_inbox *q, struct mqtt_event *ev)
{
	if (ev->prev)
		ev->prev->next = ev->next;
	else
		q->head = ev->next;
	if (ev->next)
		ev->next->prev = ev->prev;
	else
		q->tail = ev->prev;
}

/* Over budget: the oldest droppable messages go. Under the lock. */
static void inbox_trim(struct mqtt_inbox *q)
{
	struct mqtt_event *ev = q->head;

	while (ev && (q->droppable > MQTT_INBOX_DROPPABLE_MAX ||
		      q->droppable_bytes > MQTT_INBOX_DROPPABLE_BYTES)) {
		struct mqtt_event *next = ev->next;

		if (inbox_is_droppable(ev)) {
			inbox_unlink(q, ev);
			q->droppable--;
			q->droppable_bytes -= ev->size;
			q->dropped++;
			free(ev);
		}
		ev = next;
	}
}

void mqtt_inbox_push(struct mqtt_inbox *q, struct mqtt_event *ev)
{
	uint64_t one = 1;

	pthread_mutex_lock(&q->lock);
	if (ev->type == MQTT_EV_MESSAGE && ev->keep &&
	    q->keep_bytes + ev->size > MQTT_INBOX_KEEP_BYTES) {
		/* No room even for what must not be lost: say so, in its
		 * place in the order. */
		q->overloaded++;
		free(ev);
		if (q->overload_queued) {
			pthread_mutex_unlock(&q->lock);
			return;
		}
		q->overload_queued = true;
		ev = q->overload;
	}
	inbox_append(q, ev);
	inbox_trim(q);
	pthread_mutex_unlock(&q->lock);
	if (write(q->evfd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the loop will wake. */
	}
}

struct mqtt_event *mqtt_inbox_take(struct mqtt_inbox *q)
{
	struct mqtt_event *ev;
	uint64_t count;

	if (read(q->evfd, &count, sizeof(count)) < 0) {
		/* EAGAIN: a previous wake took everything. */
	}
	pthread_mutex_lock(&q->lock);
	ev = q->head;
	q->head = q->tail = NULL;
	q->droppable = 0;
	q->droppable_bytes = 0;
	q->keep_bytes = 0;
	pthread_mutex_unlock(&q->lock);
	return ev;
}

void mqtt_event_free(struct mqtt_inbox *q, struct mqtt_event *ev)
{
	if (ev != q->overload) {
		free(ev);
		return;
	}
	pthread_mutex_lock(&q->lock);
	q->overload_queued = false;
	pthread_mutex_unlock(&q->lock);
}
