// SPDX-License-Identifier: MIT
/*
 * frame.c: stream framing of SPEC §5; see frame.h. The buffer never grows
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

int frame_feed(struct frame *f, const char *data, size_t n, frame_msg_cb *cb,
	       void *ctx)
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
	if (incomplete && incomplete(f->buf, f->len))
		return 1;
	return frame_flush(f, cb, ctx);
}

bool frame_has_partial(const struct frame *f)
{
	return f->len > 0;
}
