// SPDX-License-Identifier: MIT
/*
 * throttle.c: wrong tokens per peer address; see throttle.h.
 */
#include "throttle.h"

#include <netinet/in.h>
#include <string.h>

/* The key of an address; false for one that is neither IPv4 nor IPv6. */
static bool throttle_key(const struct sockaddr_storage *addr, uint8_t key[9])
{
	memset(key, 0, 9);
	key[0] = (uint8_t)addr->ss_family;
	if (addr->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)addr;

		memcpy(key + 1, &a->sin_addr, 4);
		return true;
	}
	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)addr;

		memcpy(key + 1, &a->sin6_addr, 8);
		return true;
	}
	return false;
}

/* FNV-1a: addresses an attacker picks must still spread over the table. */
static struct throttle_slot *throttle_slot(struct throttle *t,
					   const uint8_t key[9])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 9; i++)
		h = (h ^ key[i]) * 16777619u;
	return &t->slots[h % THROTTLE_SLOTS];
}

/* The slot of @p key with its tries brought up to @p now_ms. */
static struct throttle_slot *throttle_find(struct throttle *t,
					   const struct sockaddr_storage *addr,
					   int64_t now_ms, bool take)
{
	uint8_t key[9];
	struct throttle_slot *s;

	if (!throttle_key(addr, key))
		return NULL;
	s = throttle_slot(t, key);
	if (!s->used || memcmp(s->key, key, sizeof(key))) {
		if (!take)
			return NULL;
		*s = (struct throttle_slot){
			.used = true, .tries = THROTTLE_BURST, .ms = now_ms};
		memcpy(s->key, key, sizeof(key));
	}
	s->tries += (double)(now_ms - s->ms) / THROTTLE_REFILL_MS;
	if (s->tries > THROTTLE_BURST)
		s->tries = THROTTLE_BURST;
	s->ms = now_ms;
	return s;
}

int64_t throttle_wait_ms(struct throttle *t,
			 const struct sockaddr_storage *addr, int64_t now_ms)
{
	struct throttle_slot *s = throttle_find(t, addr, now_ms, false);

	if (!s || s->tries >= 1.0)
		return 0;
	return (int64_t)((1.0 - s->tries) * THROTTLE_REFILL_MS) + 1;
}

void throttle_failed(struct throttle *t, const struct sockaddr_storage *addr,
		     int64_t now_ms)
{
	struct throttle_slot *s = throttle_find(t, addr, now_ms, true);

	if (s && s->tries >= 1.0)
		s->tries -= 1.0;
}
