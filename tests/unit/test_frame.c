// SPDX-License-Identifier: MIT
/* test_frame.c: frame.c — newline framing, burst mode, limits. */
#include <errno.h>

#include "frame.h"
#include "test.h"

struct got {
	char msgs[16][64];
	int n;
	int stop_after;
};

static int collect(void *ctx, const char *msg, size_t len)
{
	struct got *g = ctx;

	if (g->n < 16)
		snprintf(g->msgs[g->n], sizeof(g->msgs[0]), "%.*s", (int)len,
			 msg);
	g->n++;
	return g->stop_after && g->n >= g->stop_after;
}

static bool never(const char *s, size_t n)
{
	(void)s;
	(void)n;
	return false;
}

static bool always(const char *s, size_t n)
{
	(void)s;
	(void)n;
	return true;
}

static void frame_lines_and_crlf(void)
{
	struct frame f;
	struct got g = {0};

	frame_init(&f, 1024);
	CHECK_INT(frame_feed(&f, "ping\nforward 60\r\nst", 19, collect, &g), 0);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.msgs[0], "ping");
	CHECK_STR(g.msgs[1], "forward 60");
	CHECK(frame_has_partial(&f));
	CHECK_INT(frame_feed(&f, "op\n", 3, collect, &g), 0);
	CHECK_INT(g.n, 3);
	CHECK_STR(g.msgs[2], "stop");
	CHECK(!frame_has_partial(&f));
	frame_cleanup(&f);
}

static void frame_burst_until_first_newline(void)
{
	struct frame f;
	struct got g = {0};

	frame_init(&f, 1024);
	/* The tutorial client: one word, no newline. */
	CHECK_INT(frame_feed(&f, "forward", 7, collect, &g), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(frame_drained(&f, never, collect, &g), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "forward");
	/* A tail that may be cut waits; flushing (the end) delivers it. */
	frame_feed(&f, "for", 3, collect, &g);
	CHECK_INT(frame_drained(&f, always, collect, &g), 1);
	CHECK_INT(g.n, 1);
	CHECK_INT(frame_flush(&f, collect, &g), 0);
	CHECK_STR(g.msgs[1], "for");
	/* After a newline: line mode, tails wait for theirs. */
	frame_feed(&f, "ping\nsta", 8, collect, &g);
	CHECK_INT(frame_drained(&f, never, collect, &g), 1);
	CHECK_INT(g.n, 3);
	frame_feed(&f, "tus\n", 4, collect, &g);
	CHECK_STR(g.msgs[3], "status");
	frame_cleanup(&f);
}

/* Keys typed one at a time into telnet or PuTTY are one line. */
static void frame_typing_is_not_driving(void)
{
	static const char typed[] = "forward 30 3000\r\n";
	struct frame f;
	struct got g = {0};

	frame_init(&f, 1024);
	for (size_t i = 0; i < sizeof(typed) - 1; i++) {
		CHECK_INT(frame_feed(&f, typed + i, 1, collect, &g), 0);
		frame_drained(&f, never, collect, &g);
	}
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "forward 30 3000");
	frame_cleanup(&f);

	/* A word typed in bursts of two: the cut word that stays cut (the
	 * caller's timer) means typing, not a message. */
	memset(&g, 0, sizeof(g));
	frame_init(&f, 1024);
	frame_feed(&f, "fo", 2, collect, &g);
	CHECK_INT(frame_drained(&f, always, collect, &g), 1);
	frame_typing(&f);
	frame_feed(&f, "rw", 2, collect, &g);
	CHECK_INT(frame_drained(&f, never, collect, &g), 1);
	frame_feed(&f, "ard\n", 4, collect, &g);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "forward");
	frame_cleanup(&f);

	/* A lone key is a message only as a line of its own. */
	memset(&g, 0, sizeof(g));
	frame_init(&f, 1024);
	frame_feed(&f, "w", 1, collect, &g);
	CHECK_INT(frame_drained(&f, never, collect, &g), 1);
	CHECK_INT(g.n, 0);
	frame_feed(&f, "\n", 1, collect, &g);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "w");
	frame_cleanup(&f);

	/* The tutorial client's whole word in one send still is one. */
	memset(&g, 0, sizeof(g));
	frame_init(&f, 1024);
	frame_feed(&f, "left", 4, collect, &g);
	CHECK_INT(frame_drained(&f, never, collect, &g), 0);
	CHECK_STR(g.msgs[0], "left");
	frame_cleanup(&f);
}

/* Telnet's negotiation is not text, and its client types lines. */
static void frame_telnet_negotiation(void)
{
	/* Windows telnet: WILL NAWS, a subnegotiation, DO ECHO, then keys,
	 * an escaped 255 and Enter as CR NUL. */
	static const char in[] = "\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18"
				 "\xff\xf0\xff\xfd\x01w\xff\xff\r\0st";
	struct frame f;
	struct got g = {0};

	frame_init(&f, 1024);
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		CHECK_INT(frame_feed(&f, in + i, 1, collect, &g), 0);
		frame_drained(&f, never, collect, &g);
	}
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "w\xff");
	CHECK(frame_has_partial(&f));
	frame_feed(&f, "op\r\n", 4, collect, &g);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.msgs[1], "stop");
	frame_cleanup(&f);
	/* 255 anywhere but first is just a bad byte, left for the parser. */
	memset(&g, 0, sizeof(g));
	frame_init(&f, 1024);
	frame_feed(&f, "x\xff\xfby\n", 5, collect, &g);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.msgs[0], "x\xff\xfby");
	frame_cleanup(&f);
}

static void frame_too_long(void)
{
	struct frame f;
	struct got g = {0};
	char big[40];

	memset(big, 'a', sizeof(big));
	frame_init(&f, 16);
	/* Exactly max, and max plus '\r', are fine. */
	CHECK_INT(frame_feed(&f, "aaaaaaaaaaaaaaaa\r\n", 18, collect, &g), 0);
	CHECK_INT(g.n, 1);
	/* 17 may still be 16 and a '\r'; 18 cannot. */
	CHECK_INT(frame_feed(&f, big, 17, collect, &g), 0);
	CHECK_INT(frame_flush(&f, collect, &g), -EMSGSIZE);
	CHECK_INT(frame_feed(&f, big, 18, collect, &g), -EMSGSIZE);
	frame_cleanup(&f);
	frame_init(&f, 16);
	CHECK_INT(frame_feed(&f, big, 10, collect, &g), 0);
	CHECK_INT(frame_feed(&f, big, 10, collect, &g), -EMSGSIZE);
	frame_cleanup(&f);
	frame_init(&f, 16);
	big[20] = '\n';
	CHECK_INT(frame_feed(&f, big, 21, collect, &g), -EMSGSIZE);
	frame_cleanup(&f);
}

static void frame_callback_can_stop(void)
{
	struct frame f;
	struct got g = {.stop_after = 2};

	frame_init(&f, 64);
	CHECK_INT(frame_feed(&f, "a\nb\nc\n", 6, collect, &g), 1);
	CHECK_INT(g.n, 2);
	frame_cleanup(&f);
}

static void frame_empty_lines_and_nul(void)
{
	struct frame f;
	struct got g = {0};

	frame_init(&f, 64);
	CHECK_INT(frame_feed(&f, "\n\r\nx\0y\n", 7, collect, &g), 0);
	CHECK_INT(g.n, 3);
	CHECK_STR(g.msgs[0], "");
	CHECK_STR(g.msgs[1], "");
	frame_cleanup(&f);
}

static const struct test_case cases[] = {
	{"frame_lines_and_crlf", frame_lines_and_crlf},
	{"frame_burst_until_first_newline", frame_burst_until_first_newline},
	{"frame_typing_is_not_driving", frame_typing_is_not_driving},
	{"frame_telnet_negotiation", frame_telnet_negotiation},
	{"frame_too_long", frame_too_long},
	{"frame_callback_can_stop", frame_callback_can_stop},
	{"frame_empty_lines_and_nul", frame_empty_lines_and_nul},
};

TEST_MAIN(cases)
