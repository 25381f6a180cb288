// SPDX-License-Identifier: MIT
/*
 * test_link.c: link.c — silence, the first round trip after connecting,
 * and the freshness of drive commands, quoted and not, on a fake clock.
 */
#include <errno.h>

#include "link.h"
#include "test.h"

static const struct link_config cfg = {.timeout_ms = 1000, .max_age_ms = 1000};

static const struct iotcar_freshness unquoted = {0};

static int fresh(const struct link *l, const struct iotcar_freshness *f,
		 int64_t now)
{
	struct iotcar_error err = {0};
	int ret = link_check_fresh(l, f, now, &err);

	if (ret)
		CHECK_INT(err.code, IOTCAR_ERR_STALE);
	return ret;
}

/* Connected at 0, first ping echoed at 10: up. */
static void up(struct link *l, uint32_t first)
{
	link_init(l, &cfg, first);
	link_connected(l, 0);
	CHECK_INT(link_ping(l, 0), first);
	CHECK(!link_heard(l, 10));
	CHECK(link_echo(l, first));
	CHECK_INT(l->state, LINK_UP);
}

static void nothing_is_fresh_before_the_first_round_trip(void)
{
	struct link l;
	uint32_t n;

	link_init(&l, &cfg, 100);
	CHECK_INT(link_ping_ms(&l), 250);
	/* Down: not even a quoted command. */
	CHECK_INT(fresh(&l, &unquoted, 0), -ESTALE);
	link_connected(&l, 1000);
	CHECK_INT(fresh(&l, &unquoted, 1000), -ESTALE);
	n = link_ping(&l, 1000);
	/* An echo of a ping from before this connection proves nothing. */
	CHECK(!link_echo(&l, 99));
	CHECK_INT(fresh(&l, &unquoted, 1001), -ESTALE);
	CHECK(link_echo(&l, n));
	CHECK_INT(l.state, LINK_UP);
	CHECK_INT(fresh(&l, &unquoted, 1002), 0);
}

static void unquoted_age_is_bounded_by_the_newest_echo(void)
{
	struct link l;

	up(&l, 5);
	CHECK_INT(fresh(&l, &unquoted, 1000), 0);
	/* No echo since the ping sent at 0: past 1000 ms, stale. */
	CHECK_INT(fresh(&l, &unquoted, 1001), -ESTALE);
	CHECK_INT(link_ping(&l, 800), 6);
	CHECK(link_echo(&l, 6));
	CHECK_INT(fresh(&l, &unquoted, 1800), 0);
	CHECK_INT(fresh(&l, &unquoted, 1801), -ESTALE);
	/* An echo out of order never moves the bound back. */
	CHECK(link_echo(&l, 5));
	CHECK_INT(fresh(&l, &unquoted, 1800), 0);
}

static void quoted_age_is_bounded_by_the_quoted_ping(void)
{
	struct link l;
	struct iotcar_freshness f = {.has_link = true, .link = 7};

	up(&l, 7);
	CHECK_INT(link_ping(&l, 250), 8);
	CHECK_INT(fresh(&l, &f, 1000), 0);
	CHECK_INT(fresh(&l, &f, 1001), -ESTALE);
	/* The sender's own bound, when tighter, wins. */
	f.max_age_ms = 300;
	CHECK_INT(fresh(&l, &f, 300), 0);
	CHECK_INT(fresh(&l, &f, 301), -ESTALE);
	/* A number this car never sent: from before a restart. */
	f = (struct iotcar_freshness){.has_link = true, .link = 1234};
	CHECK_INT(fresh(&l, &f, 10), -ESTALE);
	/* A quoted command needs no echo: quoting proves its age. */
	link_connected(&l, 2000);
	CHECK_INT(link_ping(&l, 2000), 9);
	f.link = 9;
	CHECK_INT(fresh(&l, &f, 2001), 0);
	CHECK_INT(fresh(&l, &unquoted, 2001), -ESTALE);
}

static void silence_is_link_loss(void)
{
	struct link l;

	up(&l, 1);
	CHECK(!link_is_silent(&l, 1010));
	CHECK(link_is_silent(&l, 1011));
	/* Heard at last after 2 s: that gap is a stall of the car itself. */
	CHECK(link_heard(&l, 2010));
	CHECK(!link_heard(&l, 2011));
	link_down(&l, 2011);
	CHECK_INT(l.down_ms, 2011);
	CHECK(!link_is_silent(&l, 9000));
	CHECK(!link_heard(&l, 9000));
	CHECK_INT(fresh(&l, &unquoted, 9000), -ESTALE);
}

static void idle_pings_half_as_often_and_waits_twice(void)
{
	struct link l;

	up(&l, 1);
	CHECK_INT(link_ping_ms(&l), 250);
	CHECK_INT(link_silence_ms(&l), 1000);
	link_set_idle(&l, true);
	CHECK_INT(link_ping_ms(&l), 500);
	CHECK_INT(link_silence_ms(&l), 2000);
	CHECK(!link_is_silent(&l, 2010));
	CHECK(link_is_silent(&l, 2011));
	/* A ping of the idle pace is at most half the timeout old: an
	 * unquoted command after its echo is still fresh. */
	CHECK_INT(link_ping(&l, 500), 2);
	CHECK(link_echo(&l, 2));
	CHECK_INT(fresh(&l, &unquoted, 1499), 0);
	link_set_idle(&l, false);
	CHECK_INT(link_ping_ms(&l), 250);
	CHECK(link_is_silent(&l, 1011));
}

static void old_pings_fall_out_of_the_ring(void)
{
	struct link l;
	struct iotcar_freshness f = {.has_link = true, .link = 1};

	up(&l, 1);
	for (int i = 0; i < LINK_RING; i++)
		link_ping(&l, 0);
	CHECK_INT(fresh(&l, &f, 1), -ESTALE);
	f.link = 2;
	CHECK_INT(fresh(&l, &f, 1), 0);
}

static const struct test_case cases[] = {
	{"nothing_is_fresh_before_the_first_round_trip",
	 nothing_is_fresh_before_the_first_round_trip},
	{"unquoted_age_is_bounded_by_the_newest_echo",
	 unquoted_age_is_bounded_by_the_newest_echo},
	{"quoted_age_is_bounded_by_the_quoted_ping",
	 quoted_age_is_bounded_by_the_quoted_ping},
	{"silence_is_link_loss", silence_is_link_loss},
	{"idle_pings_half_as_often_and_waits_twice",
	 idle_pings_half_as_often_and_waits_twice},
	{"old_pings_fall_out_of_the_ring", old_pings_fall_out_of_the_ring},
};

TEST_MAIN(cases)
