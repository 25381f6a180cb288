// SPDX-License-Identifier: MIT
/*
 * fuzz_frame.c: a client's byte stream, cut into reads at places the input
 * chooses, with "the socket is drained" and "tired of waiting" events in
 * between. The framer must hand over exactly the messages that a plain
 * byte-at-a-time model of SPEC §5 finds, in order, and fail exactly when
 * the model says a message is too long.
 *
 * Input: byte 0 picks the limit (1..256 bytes); then each op byte is
 * 0-3: feed the next (op byte / 4) bytes as one read, 4-5: drained,
 * 6: flush, anything else: feed one byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"
#include "proto.h"

/* The model: the bytes of the unfinished message, and line mode. */
struct model {
	char buf[4096];
	size_t len;
	size_t max;
	bool line_mode;
	bool failed;
};

/* The messages the framer delivered and not yet matched with the model. */
struct seen {
	char msgs[64][260];
	size_t lens[64];
	size_t n;
};

static int seen_cb(void *ctx, const char *msg, size_t len)
{
	struct seen *s = ctx;

	FUZZ_CHECK(s->n < 64);
	FUZZ_CHECK(len <= 256);
	FUZZ_CHECK(memchr(msg, '\n', len) == NULL);
	memcpy(s->msgs[s->n], msg, len);
	s->lens[s->n++] = len;
	return 0;
}

/* The model delivers a message: the framer must have delivered the same. */
static void model_emit(struct model *m, struct seen *s, size_t *next)
{
	size_t len = m->len;

	if (len && m->buf[len - 1] == '\r')
		len--;
	m->len = 0;
	if (len > m->max) {
		m->failed = true;
		return;
	}
	FUZZ_CHECK(*next < s->n);
	FUZZ_CHECK(s->lens[*next] == len);
	FUZZ_CHECK(!memcmp(s->msgs[*next], m->buf, len));
	(*next)++;
}

static void model_feed(struct model *m, const char *data, size_t n,
		       struct seen *s, size_t *next)
{
	for (size_t i = 0; i < n && !m->failed; i++) {
		if (data[i] == '\n') {
			m->line_mode = true;
			model_emit(m, s, next);
			continue;
		}
		m->buf[m->len++] = data[i];
		if (m->len > m->max + 1)
			m->failed = true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f;
	struct model m = {0};
	size_t i = 1;

	if (size < 1)
		return 0;
	m.max = 1 + (size_t)data[0];
	frame_init(&f, m.max);
	while (i < size && !m.failed) {
		uint8_t op = data[i++];
		struct seen s = {0};
		size_t next = 0;
		int ret;

		if (op % 8 < 4 || op % 8 == 7) {
			size_t n = op % 8 == 7 ? 1 : op / 4;
			const char *chunk = (const char *)data + i;

			if (n > size - i)
				n = size - i;
			i += n;
			ret = frame_feed(&f, chunk, n, seen_cb, &s);
			model_feed(&m, chunk, n, &s, &next);
		} else if (op % 8 < 6) {
			ret = frame_drained(&f, proto_is_incomplete, seen_cb,
					    &s);
			if (m.len && !m.line_mode) {
				if (proto_is_incomplete(m.buf, m.len))
					FUZZ_CHECK(ret == 1);
				else
					model_emit(&m, &s, &next);
			} else {
				FUZZ_CHECK(ret == (m.len ? 1 : 0));
			}
		} else {
			ret = frame_flush(&f, seen_cb, &s);
			if (m.len)
				model_emit(&m, &s, &next);
		}
		/* Same messages, and an error exactly when the model has one.
		 */
		FUZZ_CHECK(next == s.n);
		FUZZ_CHECK((ret == -EMSGSIZE) == m.failed);
		FUZZ_CHECK(ret == -EMSGSIZE || ret == 0 || ret == 1);
		if (!m.failed)
			FUZZ_CHECK(frame_has_partial(&f) == (m.len > 0));
	}
	frame_cleanup(&f);
	return 0;
}
