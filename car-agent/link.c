// SPDX-License-Identifier: MIT
/*
 * link.c: the car's liveness round trip and the freshness of commands; see
 * link.h.
 */
#include "link.h"

#include <errno.h>
#include <string.h>

void link_init(struct link *l, const struct link_config *cfg, uint32_t first)
{
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	l->state = LINK_DOWN;
	l->next = first;
}

int link_ping_ms(const struct link *l)
{
	int ms = l->cfg.timeout_ms / (l->idle ? 2 : 4);

	return ms > 1 ? ms : 1;
}

int link_silence_ms(const struct link *l)
{
	return l->idle ? 2 * l->cfg.timeout_ms : l->cfg.timeout_ms;
}

void link_set_idle(struct link *l, bool idle)
{
	l->idle = idle;
}

void link_connected(struct link *l, int64_t now_ms)
{
	l->state = LINK_SYNCING;
	l->sync_from_ms = now_ms;
	l->heard_ms = now_ms;
}

void link_down(struct link *l, int64_t now_ms)
{
	if (l->state != LINK_DOWN)
		l->down_ms = now_ms;
	l->state = LINK_DOWN;
}

uint32_t link_ping(struct link *l, int64_t now_ms)
{
	uint32_t n = l->next++;

	l->ring[l->head] = (struct link_ping){n, now_ms};
	l->head = (l->head + 1) % LINK_RING;
	if (l->count < LINK_RING)
		l->count++;
	return n;
}

/* When ping @p n was sent; false when it is not one of the recent ones. */
static bool link_sent(const struct link *l, uint32_t n, int64_t *sent_ms)
{
	for (unsigned i = 0; i < l->count; i++) {
		const struct link_ping *p =
			&l->ring[(l->head + LINK_RING - 1 - i) % LINK_RING];

		if (p->n == n) {
			*sent_ms = p->sent_ms;
			return true;
		}
	}
	return false;
}

bool link_is_silent(const struct link *l, int64_t now_ms)
{
	return l->state != LINK_DOWN &&
	       now_ms - l->heard_ms > link_silence_ms(l);
}

bool link_heard(struct link *l, int64_t now_ms)
{
	bool stalled = link_is_silent(l, now_ms);

	l->heard_ms = now_ms;
	return stalled;
}

bool link_echo(struct link *l, uint32_t n)
{
	int64_t sent;

	if (!link_sent(l, n, &sent))
		return false;
	if (l->state == LINK_SYNCING && sent >= l->sync_from_ms)
		l->state = LINK_UP;
	if (l->state == LINK_UP && sent > l->echo_sent_ms)
		l->echo_sent_ms = sent;
	return true;
}

int link_check_fresh(const struct link *l, const struct iotcar_freshness *f,
		     int64_t now_ms, struct iotcar_error *err)
{
	int max = l->cfg.max_age_ms;
	int64_t sent;

	if (f->max_age_ms > 0 && f->max_age_ms < max)
		max = f->max_age_ms;
	if (l->state == LINK_DOWN) {
		iotcar_error_set(err, IOTCAR_ERR_STALE,
				 "the link was lost; this command was on its "
				 "way before: send a new one");
		return -ESTALE;
	}
	if (f->has_link) {
		if (!link_sent(l, f->link, &sent)) {
			iotcar_error_set(err, IOTCAR_ERR_STALE,
					 "link %u is not one of this car's "
					 "recent pings",
					 (unsigned)f->link);
			return -ESTALE;
		}
		if (now_ms - sent > max) {
			iotcar_error_set(err, IOTCAR_ERR_STALE,
					 "written after ping %u, sent %lld ms "
					 "ago: older than %d ms",
					 (unsigned)f->link,
					 (long long)(now_ms - sent), max);
			return -ESTALE;
		}
		return 0;
	}
	if (l->state == LINK_SYNCING) {
		iotcar_error_set(err, IOTCAR_ERR_STALE,
				 "the link has just come back and this command "
				 "was on its way before: send a new one");
		return -ESTALE;
	}
	if (now_ms - l->echo_sent_ms > max) {
		iotcar_error_set(err, IOTCAR_ERR_STALE,
				 "no ping came back in %lld ms: the command "
				 "may be older than %d ms",
				 (long long)(now_ms - l->echo_sent_ms), max);
		return -ESTALE;
	}
	return 0;
}
