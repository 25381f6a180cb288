// SPDX-License-Identifier: MIT
/*
 * fuzz_frame.c: a client's byte stream, cut into reads at places the input
 * chooses, with "the socket is drained" and "tired of waiting" events in
 * between. The framer must hand over exactly the messages that a plain
 * byte-at-a-time model of protocol §5 finds, in order, and fail exactly when
 * the model says a message is too long.
 *
 * Input: byte 0 picks the limit (1..256 bytes); then each op byte, taken
 * modulo 8, is 0-3: feed the next (op byte / 4) bytes as one read, 4-5:
 * drained, 6: flush (or, with bit 3 set, tired of waiting: typing), 7:
 * feed one byte.
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
	/* Telnet: the first byte was IAC; what the last bytes began. */
	bool started;
	bool telnet;
	bool cr;
	int skip;
	bool sub;
	bool sub_iac;
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

/* One text byte: a '\n' ends the message. */
static void model_text(struct model *m, char c, struct seen *s, size_t *next)
{
	if (c == '\n') {
		m->line_mode = true;
		model_emit(m, s, next);
		return;
	}
	m->buf[m->len++] = c;
	if (m->len > m->max + 1)
		m->failed = true;
}

/* One byte of a telnet connection (RFC 854), the plain way. */
static void model_telnet(struct model *m, unsigned char c, struct seen *s,
			 size_t *next)
{
	bool cr = m->cr;

	m->cr = false;
	if (m->sub_iac) {
		m->sub_iac = false;
		m->sub = c != 240;
	} else if (m->sub) {
		m->sub_iac = c == 255;
	} else if (m->skip == 2) {
		/* After IAC: IAC again is the byte 255. */
		m->skip = c >= 251 && c <= 254 ? 1 : 0;
		m->sub = c == 250;
		if (c == 255)
			model_text(m, (char)c, s, next);
	} else if (m->skip == 1) {
		m->skip = 0;
	} else if (c == 255) {
		m->skip = 2;
	} else if (cr && c == 0) {
		model_text(m, '\n', s, next);
	} else {
		m->cr = c == '\r';
		model_text(m, (char)c, s, next);
	}
}

static void model_feed(struct model *m, const char *data, size_t n,
		       struct seen *s, size_t *next)
{
	if (n && !m->started) {
		m->started = true;
		m->telnet = (unsigned char)data[0] == 255;
		m->line_mode = m->line_mode || m->telnet;
	}
	for (size_t i = 0; i < n && !m->failed; i++) {
		if (m->telnet)
			model_telnet(m, (unsigned char)data[i], s, next);
		else
			model_text(m, data[i], s, next);
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
				/* A lone byte is a key typed. */
				if (m.len == 1)
					m.line_mode = true;
				if (m.len == 1 ||
				    proto_is_incomplete(m.buf, m.len))
					FUZZ_CHECK(ret == 1);
				else
					model_emit(&m, &s, &next);
			} else {
				FUZZ_CHECK(ret == (m.len ? 1 : 0));
			}
		} else if (op & 8) {
			frame_typing(&f);
			m.line_mode = true;
			ret = 0;
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
