// SPDX-License-Identifier: MIT
/*
 * test_console.c: pc-console's pure parts — keys to actions, the setpoint
 * and the streaming rule (with a made-up clock), the round-trip median,
 * gamepad events, subcommand and option parsing.
 */
#include <curses.h>
#include <errno.h>

#include "cli.h"
#include "gamepad.h"
#include "keymap.h"
#include "settings.h"
#include "teleop.h"
#include "test.h"

static void keys_map_to_actions(void)
{
	CHECK_INT(keymap_action('w'), KEYMAP_THROTTLE_UP);
	CHECK_INT(keymap_action('W'), KEYMAP_THROTTLE_UP);
	CHECK_INT(keymap_action(KEY_UP), KEYMAP_THROTTLE_UP);
	CHECK_INT(keymap_action('s'), KEYMAP_THROTTLE_DOWN);
	CHECK_INT(keymap_action(KEY_DOWN), KEYMAP_THROTTLE_DOWN);
	CHECK_INT(keymap_action('a'), KEYMAP_STEER_LEFT);
	CHECK_INT(keymap_action(KEY_LEFT), KEYMAP_STEER_LEFT);
	CHECK_INT(keymap_action('D'), KEYMAP_STEER_RIGHT);
	CHECK_INT(keymap_action(KEY_RIGHT), KEYMAP_STEER_RIGHT);
	CHECK_INT(keymap_action(' '), KEYMAP_STOP);
	CHECK_INT(keymap_action('e'), KEYMAP_ESTOP_TOGGLE);
	CHECK_INT(keymap_action('+'), KEYMAP_LIMIT_UP);
	CHECK_INT(keymap_action('-'), KEYMAP_LIMIT_DOWN);
	CHECK_INT(keymap_action('\t'), KEYMAP_NEXT_CAR);
	CHECK_INT(keymap_action('?'), KEYMAP_HELP);
	CHECK_INT(keymap_action('q'), KEYMAP_QUIT);
	CHECK_INT(keymap_action('Q'), KEYMAP_QUIT);
	CHECK_INT(keymap_action('z'), KEYMAP_NONE);
	CHECK_INT(keymap_action(0), KEYMAP_NONE);
	CHECK_INT(keymap_action(KEY_RESIZE), KEYMAP_NONE);
}

static void keys_step_and_clamp_the_setpoint(void)
{
	struct teleop t;

	teleop_init(&t, 10, 500, 20);
	CHECK(!teleop_is_driving(&t));
	CHECK(teleop_apply(&t, KEYMAP_THROTTLE_UP));
	CHECK(teleop_apply(&t, KEYMAP_THROTTLE_UP));
	CHECK(teleop_apply(&t, KEYMAP_STEER_LEFT));
	CHECK_INT(t.throttle, 20);
	CHECK_INT(t.steer, -10);
	CHECK(teleop_is_driving(&t));
	for (int i = 0; i < 30; i++)
		teleop_apply(&t, KEYMAP_THROTTLE_DOWN);
	CHECK_INT(t.throttle, -100);
	/* At the end of the range a press changes nothing. */
	CHECK(!teleop_apply(&t, KEYMAP_THROTTLE_DOWN));
	CHECK(!teleop_apply(&t, KEYMAP_HELP));
	CHECK(teleop_apply(&t, KEYMAP_STOP));
	CHECK_INT(t.throttle, 0);
	CHECK_INT(t.steer, 0);
	CHECK(!teleop_is_driving(&t));
	CHECK(teleop_set(&t, 250, -250));
	CHECK_INT(t.throttle, 100);
	CHECK_INT(t.steer, -100);
	CHECK(!teleop_set(&t, 100, -100));
}

static void streaming_rule(void)
{
	struct teleop t;
	struct iotcar_drive d;

	teleop_init(&t, 10, 500, 20);
	/* Nothing to send at rest. */
	CHECK(!teleop_due(&t, 0, &d));
	CHECK_INT(teleop_wake_ms(&t), -1);
	/* A change goes at once, with the TTL... */
	teleop_apply(&t, KEYMAP_THROTTLE_UP);
	CHECK_INT(teleop_wake_ms(&t), 0);
	CHECK(teleop_due(&t, 1000, &d));
	CHECK_INT(d.throttle, 10);
	CHECK_INT(d.steer, 0);
	CHECK_INT(d.ttl_ms, 500);
	/* ...then again every 50 ms (20 Hz), not sooner. */
	CHECK(!teleop_due(&t, 1049, &d));
	CHECK_INT(teleop_wake_ms(&t), 1050);
	CHECK(teleop_due(&t, 1050, &d));
	CHECK(!teleop_due(&t, 1060, &d));
	CHECK(teleop_due(&t, 1100, &d));
	CHECK_INT(d.throttle, 10);
	/* A change between repeats does not wait for the next one. */
	teleop_apply(&t, KEYMAP_STEER_RIGHT);
	CHECK(teleop_due(&t, 1110, &d));
	CHECK_INT(d.steer, 10);
	/* Back to zero: one stop, then silence. */
	teleop_apply(&t, KEYMAP_STEER_LEFT);
	teleop_apply(&t, KEYMAP_THROTTLE_DOWN);
	CHECK(teleop_due(&t, 1120, &d));
	CHECK_INT(d.throttle, 0);
	CHECK_INT(d.steer, 0);
	CHECK(!teleop_due(&t, 1200, &d));
	CHECK(!teleop_due(&t, 5000, &d));
	CHECK_INT(teleop_wake_ms(&t), -1);
	/* Space at rest still sends a stop. */
	teleop_apply(&t, KEYMAP_STOP);
	CHECK(teleop_due(&t, 5001, &d));
	CHECK(!teleop_due(&t, 6000, &d));
	/* Another rate. */
	teleop_init(&t, 25, 300, 10);
	teleop_apply(&t, KEYMAP_THROTTLE_UP);
	CHECK(teleop_due(&t, 0, &d));
	CHECK_INT(d.throttle, 25);
	CHECK_INT(d.ttl_ms, 300);
	CHECK(!teleop_due(&t, 99, &d));
	CHECK(teleop_due(&t, 100, &d));
}

static void rtt_median_of_the_window(void)
{
	struct teleop_rtt r = {0};
	size_t n;

	CHECK_INT(teleop_rtt_p50(&r, 0, 5000, &n), -1);
	CHECK_INT(n, 0);
	teleop_rtt_add(&r, 100, 900);
	teleop_rtt_add(&r, 200, 300);
	teleop_rtt_add(&r, 300, 500);
	CHECK_INT(teleop_rtt_p50(&r, 300, 5000, &n), 500);
	CHECK_INT(n, 3);
	teleop_rtt_add(&r, 400, 700);
	CHECK_INT(teleop_rtt_p50(&r, 400, 5000, &n), 600);
	/* Old samples leave the window. */
	CHECK_INT(teleop_rtt_p50(&r, 5250, 5000, &n), 600);
	CHECK_INT(n, 2);
	CHECK_INT(teleop_rtt_p50(&r, 9999, 5000, &n), -1);
	/* More than the ring holds: the newest count. */
	for (int i = 0; i < TELEOP_RTT_MAX * 2; i++)
		teleop_rtt_add(&r, 10000 + i, 42);
	CHECK_INT(teleop_rtt_p50(&r, 10000 + TELEOP_RTT_MAX * 2, 5000, &n), 42);
	CHECK_INT(n, TELEOP_RTT_MAX);
}

static void gamepad_events_drive(void)
{
	struct gamepad_input in = {0};
	struct gamepad_event ev;

	CHECK_INT(teleop_axis_pct(0, 8), 0);
	CHECK_INT(teleop_axis_pct(2000, 8), 0);
	CHECK_INT(teleop_axis_pct(32767, 8), 100);
	CHECK_INT(teleop_axis_pct(-32767, 8), -100);
	CHECK_INT(teleop_axis_pct(-32768, 8), -100);
	CHECK(teleop_axis_pct(16384, 8) > 40 && teleop_axis_pct(16384, 8) < 50);
	/* Stick up (negative Y) is forward. */
	ev = (struct gamepad_event){GAMEPAD_EVENT_AXIS, 1, -32767};
	gamepad_apply(&in, &ev);
	CHECK_INT(in.throttle, 100);
	CHECK(in.moved);
	ev = (struct gamepad_event){GAMEPAD_EVENT_AXIS, 0, 32767};
	gamepad_apply(&in, &ev);
	CHECK_INT(in.steer, 100);
	/* Other axes are not ours. */
	ev = (struct gamepad_event){GAMEPAD_EVENT_AXIS, 4, 0};
	gamepad_apply(&in, &ev);
	CHECK_INT(in.steer, 100);
	/* The state reported on open is not a press; a release neither. */
	ev = (struct gamepad_event){GAMEPAD_EVENT_BUTTON | GAMEPAD_EVENT_INIT,
				    0, 1};
	gamepad_apply(&in, &ev);
	CHECK(!in.stop);
	ev = (struct gamepad_event){GAMEPAD_EVENT_BUTTON, 0, 0};
	gamepad_apply(&in, &ev);
	CHECK(!in.stop);
	ev = (struct gamepad_event){GAMEPAD_EVENT_BUTTON, 0, 1};
	gamepad_apply(&in, &ev);
	CHECK(in.stop);
	ev = (struct gamepad_event){GAMEPAD_EVENT_BUTTON, 1, 1};
	gamepad_apply(&in, &ev);
	CHECK(in.estop);
}

static int parse(struct cli_request *r, char *err, size_t errlen, int n,
		 const char *w0, const char *w1, const char *w2, const char *w3)
{
	const char *words[] = {w0, w1, w2, w3};

	err[0] = '\0';
	return cli_parse(n, words, r, err, errlen);
}

static void subcommands_parse(void)
{
	struct cli_request r;
	char err[256];

	CHECK_INT(
		parse(&r, err, sizeof(err), 3, "drive", "forward", "60", NULL),
		0);
	CHECK_INT(r.cmd, CLI_DRIVE);
	CHECK_INT(r.set.fields, IOTCAR_SET_DRIVE);
	CHECK_INT(r.set.drive.throttle, 60);
	CHECK_INT(parse(&r, err, sizeof(err), 4, "drive", "drive", "-40", "20"),
		  0);
	CHECK_INT(r.set.drive.throttle, -40);
	CHECK_INT(r.set.drive.steer, 20);
	CHECK_INT(parse(&r, err, sizeof(err), 4, "drive", "left", "30", "800"),
		  0);
	CHECK_INT(r.set.drive.ttl_ms, 800);
	CHECK_INT(parse(&r, err, sizeof(err), 1, "stop", NULL, NULL, NULL), 0);
	CHECK_INT(r.cmd, CLI_STOP);
	CHECK_INT(r.set.drive.throttle, 0);
	CHECK_INT(parse(&r, err, sizeof(err), 2, "estop", "ON", NULL, NULL), 0);
	CHECK(r.set.estop);
	CHECK_INT(parse(&r, err, sizeof(err), 2, "estop", "off", NULL, NULL),
		  0);
	CHECK(!r.set.estop);
	CHECK_INT(r.set.fields, IOTCAR_SET_ESTOP);
	CHECK_INT(parse(&r, err, sizeof(err), 2, "speed", "0", NULL, NULL), 0);
	CHECK_INT(r.set.fields, IOTCAR_SET_SPEED_LIMIT);
	CHECK_INT(parse(&r, err, sizeof(err), 1, "status", NULL, NULL, NULL),
		  0);
	CHECK_INT(r.cmd, CLI_STATUS);
	CHECK_INT(parse(&r, err, sizeof(err), 1, "watch", NULL, NULL, NULL), 0);
	CHECK(!r.all_cars);
	CHECK_INT(parse(&r, err, sizeof(err), 2, "watch", "all", NULL, NULL),
		  0);
	CHECK(r.all_cars);
	CHECK_INT(parse(&r, err, sizeof(err), 1, "cars", NULL, NULL, NULL), 0);
	CHECK_INT(r.cmd, CLI_CARS);
}

static void subcommands_refuse_bad_usage(void)
{
	static const struct {
		int n;
		const char *w[4];
		const char *says;
	} bad[] = {
		{1, {"fly"}, "unknown command 'fly'"},
		{1, {"drive"}, "drive: missing argument"},
		{2, {"drive", "sideways"}, "unknown drive command"},
		{3, {"drive", "forward", "101"}, "drive:"},
		{2, {"stop", "now"}, "stop: too many arguments"},
		{1, {"estop"}, "estop: missing argument"},
		{2, {"estop", "maybe"}, "'maybe' is not on or off"},
		{2, {"speed", "-1"}, "'-1' is not a number 0..100"},
		{2, {"speed", "fast"}, "is not a number"},
		{3, {"speed", "1", "2"}, "too many"},
		{2, {"watch", "car2"}, "only `all`"},
		{2, {"cars", "all"}, "too many"},
		{2, {"status", "x"}, "too many"},
	};
	struct cli_request r;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse(&r, err, sizeof(err), bad[i].n, bad[i].w[0],
				bad[i].w[1], bad[i].w[2], bad[i].w[3]),
			  -EINVAL);
		if (!strstr(err, bad[i].says))
			TEST_FAIL("%s: \"%s\" does not say \"%s\"", bad[i].w[0],
				  err, bad[i].says);
	}
}

static void options_and_operands(void)
{
	char *argv[] = {"pc-console", "--car", "car2", "drive",
			"drive",      "-40",   "20",   "--json",
			"--step",     "5",     NULL};
	struct console_settings s = {0};
	char err[256];
	int nargs = 0;

	CHECK_INT(settings_load(&s, 10, argv, &nargs, err, sizeof(err)), 0);
	CHECK_STR(s.car, "car2");
	CHECK(s.json);
	CHECK_INT(s.step, 5);
	CHECK_INT(s.ttl_ms, 500);
	CHECK_INT(s.rate_hz, 20);
	CHECK_INT(s.timeout_ms, 2000);
	CHECK_STR(s.gamepad, "auto");
	/* The console's own default replaces the shared table's. */
	CHECK_STR(s.common.log_level, "warning");
	CHECK_INT(nargs, 4);
	CHECK_STR(argv[1], "drive");
	CHECK_STR(argv[3], "-40");
	settings_cleanup(&s);

	char *bad_car[] = {"pc-console", "--car", "all", NULL};
	s = (struct console_settings){0};
	CHECK_INT(settings_load(&s, 3, bad_car, &nargs, err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "--car") != NULL);
	settings_cleanup(&s);

	char *bad_ttl[] = {"pc-console", "--ttl-ms", "5000", NULL};
	s = (struct console_settings){0};
	CHECK_INT(settings_load(&s, 3, bad_ttl, &nargs, err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "--ttl-ms") != NULL);
	settings_cleanup(&s);
}

static void session_ids_differ(void)
{
	char a[32];
	char b[32];

	cli_session_id(a, sizeof(a));
	cli_session_id(b, sizeof(b));
	CHECK_INT(strlen(a), 11);
	CHECK(!strncmp(a, "pc-", 3));
	CHECK(strcmp(a, b) != 0);
}

static const struct test_case cases[] = {
	{"keys_map_to_actions", keys_map_to_actions},
	{"keys_step_and_clamp_the_setpoint", keys_step_and_clamp_the_setpoint},
	{"streaming_rule", streaming_rule},
	{"rtt_median_of_the_window", rtt_median_of_the_window},
	{"gamepad_events_drive", gamepad_events_drive},
	{"subcommands_parse", subcommands_parse},
	{"subcommands_refuse_bad_usage", subcommands_refuse_bad_usage},
	{"options_and_operands", options_and_operands},
	{"session_ids_differ", session_ids_differ},
};

TEST_MAIN(cases)
