// SPDX-License-Identifier: MIT
/*
 * client.c: one socket client's buffers and reply order; see client.h.
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "iotcar/text.h"

struct client *client_new(int fd, uint64_t gen, size_t max_msg, size_t out_max,
			  const char *car)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->gen = gen;
	c->out_max = out_max;
	frame_init(&c->frame, max_msg);
	iotcar_strlcpy(c->car, car, sizeof(c->car));
	return c;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	while (c->head) {
		struct client_slot *s = c->head;

		c->head = s->next;
		free(s->line);
		free(s);
	}
	frame_cleanup(&c->frame);
	free(c->out);
	free(c);
}

static int client_keep(struct client *c, const char *data, size_t len)
{
	size_t want = c->out_len + len;
	char *p;

	if (want > c->out_max)
		return -ENOBUFS;
	if (want > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;

		while (cap < want)
			cap *= 2;
		if (cap > c->out_max)
			cap = c->out_max;
		p = realloc(c->out, cap);
		if (!p)
			return -ENOBUFS;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	c->want_write = true;
	return 0;
}

int client_send(struct client *c, const char *data, size_t len)
{
	ssize_t n = 0;

	if (c->out_len == 0) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -EPIPE;
			n = 0;
		}
		if ((size_t)n == len)
			return 0;
	}
	return client_keep(c, data + n, len - (size_t)n);
}

int client_flush(struct client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			return -EPIPE;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	c->want_write = false;
	/* A burst is over: give the memory back. */
	if (c->out_cap > 4096) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

struct client_slot *client_slot_new(struct client *c,
				    const struct proto_request *req,
				    const char *detail)
{
	struct client_slot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tag = ++c->next_tag;
	if (req)
		s->req = *req;
	if (detail)
		iotcar_strlcpy(s->detail, detail, sizeof(s->detail));
	if (c->tail)
		c->tail->next = s;
	else
		c->head = s;
	c->tail = s;
	c->nslots++;
	return s;
}

/* Send the ready replies at the head, in order. */
static int client_drain_slots(struct client *c)
{
	int ret = 0;

	while (c->head && c->head->ready && !ret) {
		struct client_slot *s = c->head;

		ret = client_send(c, s->line, s->len);
		c->head = s->next;
		if (!c->head)
			c->tail = NULL;
		c->nslots--;
		free(s->line);
		free(s);
	}
	return ret;
}

int client_fill(struct client *c, uint64_t tag, const char *line, size_t len)
{
	struct client_slot *s = c->head;

	while (s && s->tag != tag)
		s = s->next;
	if (!s || s->ready)
		return 0;
	s->line = malloc(len);
	if (!s->line)
		return -ENOBUFS;
	memcpy(s->line, line, len);
	s->len = len;
	s->ready = true;
	return client_drain_slots(c);
}

int client_reply(struct client *c, const char *line, size_t len)
{
	struct client_slot *s;

	/* Nothing waits ahead of it: straight out. */
	if (!c->head)
		return client_send(c, line, len);
	s = client_slot_new(c, NULL, NULL);
	if (!s)
		return -ENOBUFS;
	return client_fill(c, s->tag, line, len);
}

bool bucket_take(struct bucket *b, int64_t now_ms, double rate_per_s,
		 double burst)
{
	if (rate_per_s <= 0)
		return true;
	if (b->ms == 0)
		b->tokens = burst;
	else
		b->tokens += (double)(now_ms - b->ms) * rate_per_s / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->ms = now_ms;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}
