// SPDX-License-Identifier: MIT
/*
 * frame.c: stream framing of protocol §5; see frame.h. The buffer never grows
 * past max + 1 bytes, whatever a client sends.
 */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void frame_init(struct frame *f, size_t max)
{
	*f = (struct frame){.max = max};
}

void frame_cleanup(struct frame *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = 0;
}

/* Hand over one message, dropping a '\r' before its end. */
static int frame_emit(const struct frame *f, const char *msg, size_t len,
		      frame_msg_cb *cb, void *ctx)
{
	if (len && msg[len - 1] == '\r')
		len--;
	if (len > f->max)
		return -EMSGSIZE;
	return cb(ctx, msg, len);
}

/* Hold bytes of an unfinished message: max, plus room for a '\r'. */
static int frame_keep(struct frame *f, const char *data, size_t n)
{
	if (f->len + n > f->max + 1)
		return -EMSGSIZE;
	if (!f->buf) {
		f->buf = malloc(f->max + 1);
		if (!f->buf)
			return -ENOMEM;
	}
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	return 0;
}

/* Telnet (RFC 854): IAC and what follows it are commands, not text. */
enum {
	TN_IAC = 255,
	TN_SB = 250,
	TN_SE = 240,
	TN_WILL = 251,
	TN_DONT = 254,
};

enum tn_state {
	TN_DATA,
	TN_CR,
	TN_CMD,
	TN_OPT,
	TN_SUB,
	TN_SUB_IAC,
};

/*
 * Take telnet's commands out of @p n bytes of @p in, into @p out (as big):
 * negotiation (IAC WILL/WONT/DO/DONT x), subnegotiation (IAC SB ... IAC
 * SE) and the two-byte commands go, IAC IAC is one 255 byte, and the
 * Enter some clients send as CR NUL is CR LF.
 * @return The bytes written to @p out.
 */
static size_t frame_telnet(struct frame *f, const unsigned char *in, size_t n,
			   char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = in[i];

		if (f->tn_state == TN_CR) {
			f->tn_state = TN_DATA;
			if (c == '\0') {
				out[o++] = '\n';
				continue;
			}
		}
		switch (f->tn_state) {
		case TN_DATA:
			if (c == TN_IAC) {
				f->tn_state = TN_CMD;
				break;
			}
			if (c == '\r')
				f->tn_state = TN_CR;
			out[o++] = (char)c;
			break;
		case TN_CMD:
			if (c == TN_IAC)
				out[o++] = (char)c;
			f->tn_state = c == TN_SB		     ? TN_SUB
				      : c >= TN_WILL && c <= TN_DONT ? TN_OPT
								     : TN_DATA;
			break;
		case TN_OPT:
			f->tn_state = TN_DATA;
			break;
		case TN_SUB:
			if (c == TN_IAC)
				f->tn_state = TN_SUB_IAC;
			break;
		default:
			f->tn_state = c == TN_SE ? TN_DATA : TN_SUB;
			break;
		}
	}
	return o;
}

static int frame_feed_text(struct frame *f, const char *data, size_t n,
			   frame_msg_cb *cb, void *ctx);

int frame_feed(struct frame *f, const char *data, size_t n, frame_msg_cb *cb,
	       void *ctx)
{
	char text[512];

	if (n && !f->started) {
		f->started = true;
		if ((unsigned char)data[0] == TN_IAC) {
			f->telnet = true;
			f->line_mode = true;
		}
	}
	if (!f->telnet)
		return frame_feed_text(f, data, n, cb, ctx);
	while (n) {
		size_t chunk = n < sizeof(text) ? n : sizeof(text);
		size_t len = frame_telnet(f, (const unsigned char *)data, chunk,
					  text);
		int ret = frame_feed_text(f, text, len, cb, ctx);

		if (ret)
			return ret;
		data += chunk;
		n -= chunk;
	}
	return 0;
}

/* frame_feed() for text: cut at '\n'. */
static int frame_feed_text(struct frame *f, const char *data, size_t n,
			   frame_msg_cb *cb, void *ctx)
{
	const char *end = data + n;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t part;
		int ret;

		if (!nl)
			return frame_keep(f, data, (size_t)(end - data));
		f->line_mode = true;
		part = (size_t)(nl - data);
		if (f->len) {
			/* The end of a message begun in an earlier read. */
			ret = frame_keep(f, data, part);
			if (ret)
				return ret;
			ret = frame_emit(f, f->buf, f->len, cb, ctx);
			f->len = 0;
		} else {
			/* The common case: no copy at all. */
			ret = frame_emit(f, data, part, cb, ctx);
		}
		if (ret)
			return ret;
		data = nl + 1;
	}
	return 0;
}

int frame_flush(struct frame *f, frame_msg_cb *cb, void *ctx)
{
	int ret;

	if (!f->len)
		return 0;
	ret = frame_emit(f, f->buf, f->len, cb, ctx);
	f->len = 0;
	return ret;
}

int frame_drained(struct frame *f, bool (*incomplete)(const char *, size_t),
		  frame_msg_cb *cb, void *ctx)
{
	if (!f->len || f->line_mode)
		return f->len ? 1 : 0;
	/* One byte and nothing more: a key pressed, not a message sent. */
	if (f->len == 1) {
		frame_typing(f);
		return 1;
	}
	if (incomplete && incomplete(f->buf, f->len))
		return 1;
	return frame_flush(f, cb, ctx);
}

void frame_typing(struct frame *f)
{
	f->line_mode = true;
}

bool frame_has_partial(const struct frame *f)
{
	return f->len > 0;
}
