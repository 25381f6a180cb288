// SPDX-License-Identifier: MIT
/* test_payload.c: payload.c and text.c — every parser and formatter. */
#include <cjson/cJSON.h>
#include <errno.h>

#include "iotcar/payload.h"
#include "iotcar/text.h"
#include "test.h"

/* ==== Drive text ==== */

static const struct {
	const char *text;
	int throttle;
	int steer;
	int ttl_ms;
} drive_ok[] = {
	{"forward", 50, 0, 0},
	{"forward 60", 60, 0, 0},
	{"forward 60 500", 60, 0, 500},
	{"  FORWARD\t 60   500 \r\n", 60, 0, 500},
	{"Backward 30", -30, 0, 0},
	{"left", 0, -50, 0},
	{"right 100 2000", 0, 100, 2000},
	{"drive 40 -20", 40, -20, 0},
	{"drive -100 100 50", -100, 100, 50},
	{"stop", 0, 0, 0},
	{"STOP\n", 0, 0, 0},
	{"forward 0", 0, 0, 0},
	{"forward 100 86400000", 100, 0, 86400000},
};

static void drive_parse_accepts_spec_texts(void)
{
	for (size_t i = 0; i < sizeof(drive_ok) / sizeof(drive_ok[0]); i++) {
		struct iotcar_error err = {0};
		struct iotcar_drive d;
		const char *t = drive_ok[i].text;
		int ret = iotcar_drive_parse(t, strlen(t), &d, &err);

		if (ret) {
			TEST_FAIL("'%s' refused: %s", t, err.message);
			continue;
		}
		CHECK_INT(d.throttle, drive_ok[i].throttle);
		CHECK_INT(d.steer, drive_ok[i].steer);
		CHECK_INT(d.ttl_ms, drive_ok[i].ttl_ms);
	}
}

static const struct {
	const char *text;
	enum iotcar_err code;
} drive_bad[] = {
	{"", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"   ", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"fly", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"forwards", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"안녕!", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"forward 101", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward -1", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward fast", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward 50.5", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward 50 0", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward 50 -5", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward 50 500 9", IOTCAR_ERR_BAD_ARGUMENT},
	{"forward 1 2 3 4 5", IOTCAR_ERR_BAD_ARGUMENT},
	{"drive 40", IOTCAR_ERR_BAD_ARGUMENT},
	{"drive 40 200", IOTCAR_ERR_BAD_ARGUMENT},
	{"drive 0x10 0", IOTCAR_ERR_BAD_ARGUMENT},
	{"drive 99999999999999999999 0", IOTCAR_ERR_BAD_ARGUMENT},
	{"stop now", IOTCAR_ERR_BAD_ARGUMENT},
	/* ms beyond a day is refused, not wrapped or clamped here. */
	{"forward 100 86400001", IOTCAR_ERR_BAD_ARGUMENT},
};

static void drive_parse_rejects_bad_texts(void)
{
	for (size_t i = 0; i < sizeof(drive_bad) / sizeof(drive_bad[0]); i++) {
		struct iotcar_error err = {0};
		struct iotcar_drive d;
		const char *t = drive_bad[i].text;

		if (iotcar_drive_parse(t, strlen(t), &d, &err) != -EINVAL) {
			TEST_FAIL("'%s' accepted", t);
			continue;
		}
		if (err.code != drive_bad[i].code)
			TEST_FAIL("'%s': error %s, expected %s", t,
				  iotcar_err_name(err.code),
				  iotcar_err_name(drive_bad[i].code));
		if (!err.message[0])
			TEST_FAIL("'%s': no message", t);
	}
}

static void drive_parse_rejects_binary_and_long(void)
{
	static const char nul[] = "forward\0 60";
	static const char bad_utf8[] = "forward \xff\xfe";
	static const char overlong[] = "forward \xc0\xb0";
	char big[300];
	struct iotcar_error err = {0};
	struct iotcar_drive d;

	CHECK_INT(iotcar_drive_parse(nul, sizeof(nul) - 1, &d, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ENCODING);
	CHECK_INT(iotcar_drive_parse(bad_utf8, sizeof(bad_utf8) - 1, &d, &err),
		  -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ENCODING);
	CHECK_INT(iotcar_drive_parse(overlong, sizeof(overlong) - 1, &d, &err),
		  -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ENCODING);
	memset(big, 'a', sizeof(big));
	CHECK_INT(iotcar_drive_parse(big, sizeof(big), &d, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_TOO_LONG);
}

static void drive_parse_reads_only_len_bytes(void)
{
	/* MQTT payloads are not NUL-terminated: "stop" then garbage. */
	static const char buf[] = {'s', 't', 'o', 'p', 'x', 'y'};
	struct iotcar_error err = {0};
	struct iotcar_drive d;

	CHECK_INT(iotcar_drive_parse(buf, 4, &d, &err), 0);
}

/* ==== set JSON ==== */

static void set_parse_drive_fields(void)
{
	static const char j[] =
		"{\"throttle\":50,\"steer\":-10,\"ttl_ms\":300,\"id\":\"7\"}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), 0);
	CHECK_INT(s.fields, IOTCAR_SET_DRIVE);
	CHECK_INT(s.drive.throttle, 50);
	CHECK_INT(s.drive.steer, -10);
	CHECK_INT(s.drive.ttl_ms, 300);
	CHECK(s.id.present && !s.id.is_number);
	CHECK_STR(s.id.text, "7");
}

static void set_parse_everything_at_once(void)
{
	static const char j[] = "{\"drive\":\"forward 60\",\"speed_limit\":80,"
				"\"estop\":\"off\",\"id\":42}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), 0);
	CHECK_INT(s.fields,
		  IOTCAR_SET_DRIVE | IOTCAR_SET_SPEED_LIMIT | IOTCAR_SET_ESTOP);
	CHECK_INT(s.drive.throttle, 60);
	CHECK_INT(s.speed_limit, 80);
	CHECK(!s.estop);
	CHECK(s.id.present && s.id.is_number);
	CHECK_STR(s.id.text, "42");
}

static void set_parse_throttle_alone_means_straight(void)
{
	static const char j[] = "{\"throttle\":-30}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), 0);
	CHECK_INT(s.drive.throttle, -30);
	CHECK_INT(s.drive.steer, 0);
	CHECK_INT(s.drive.ttl_ms, 0);
}

static const struct {
	const char *json;
	enum iotcar_err code;
} set_bad[] = {
	{"", IOTCAR_ERR_BAD_JSON},
	{"{", IOTCAR_ERR_BAD_JSON},
	{"{\"throttle\":50", IOTCAR_ERR_BAD_JSON},
	{"{\"throttle\":50} x", IOTCAR_ERR_BAD_JSON},
	{"[1,2]", IOTCAR_ERR_BAD_JSON},
	{"\"forward\"", IOTCAR_ERR_BAD_JSON},
	{"null", IOTCAR_ERR_BAD_JSON},
	{"{}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"id\":\"1\"}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"velocity\":50}", IOTCAR_ERR_UNKNOWN_FIELD},
	{"{\"speed\":150}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"speed\":-1}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":50,\"turbo\":true}", IOTCAR_ERR_UNKNOWN_FIELD},
	{"{\"throttle\":101}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":-101}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":50.5}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":\"50\"}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":true}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":1e400}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":50,\"throttle\":60}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"steer\":null}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"ttl_ms\":500}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"ttl_ms\":0}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"drive\":\"forward 60\",\"throttle\":5}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"drive\":\"forward 60 100\",\"ttl_ms\":200}",
	 IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"drive\":\"fly\"}", IOTCAR_ERR_UNKNOWN_COMMAND},
	{"{\"drive\":7}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"speed_limit\":150}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"estop\":true}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"estop\":\"maybe\"}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"id\":\"\"}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"id\":[1]}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"id\":1.5}", IOTCAR_ERR_BAD_ARGUMENT},
	/* Freshness goes with motion, as numbers in range. */
	{"{\"link\":5}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"speed_limit\":5,\"max_age_ms\":500}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"link\":0}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"link\":2147483648}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"link\":\"7\"}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"max_age_ms\":0}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"max_age_ms\":60001}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"throttle\":5,\"link\":1,\"link\":2}", IOTCAR_ERR_BAD_ARGUMENT},
	/* A latch names what a release releases, nothing else. */
	{"{\"estop_latch\":5}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"estop\":\"ON\",\"estop_latch\":5}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"estop\":\"OFF\",\"estop_latch\":-1}", IOTCAR_ERR_BAD_ARGUMENT},
	{"{\"estop\":\"OFF 5\"}", IOTCAR_ERR_BAD_ARGUMENT},
	/* \u0000 would cut a text short where C reads it. */
	{"{\"drive\":\"forward\\u0000 junk\"}", IOTCAR_ERR_BAD_ENCODING},
	{"{\"estop\":\"OFF\\u0000N\"}", IOTCAR_ERR_BAD_ENCODING},
	{"{\"throttle\":5,\"id\":\"a\\u0000b\"}", IOTCAR_ERR_BAD_ENCODING},
};

/* Quoted ping, age bound and a named release come through. */
static void set_parse_freshness_and_latch(void)
{
	static const char j[] = "{\"throttle\":40,\"link\":2147483647,"
				"\"max_age_ms\":800,\"estop\":\"OFF\","
				"\"estop_latch\":12}";
	static const char text[] = "{\"drive\":\"forward \\\\u0000\"}";
	struct iotcar_error err = {0};
	struct iotcar_set s;
	char buf[256];

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), 0);
	CHECK(s.fresh.has_link);
	CHECK_INT(s.fresh.link, 2147483647);
	CHECK_INT(s.fresh.max_age_ms, 800);
	CHECK_INT(s.estop_latch, 12);
	CHECK(iotcar_set_format(&s, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "{\"throttle\":40,\"steer\":0,\"link\":2147483647,"
		       "\"max_age_ms\":800,\"estop\":\"OFF\","
		       "\"estop_latch\":12}");
	/* An escaped backslash before u0000 is text, not a NUL: it reaches
	 * the drive parser as it is, and that one refuses it. */
	CHECK_INT(iotcar_set_parse(text, strlen(text), &s, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ARGUMENT);
}

static void set_parse_rejects_bad_objects(void)
{
	for (size_t i = 0; i < sizeof(set_bad) / sizeof(set_bad[0]); i++) {
		struct iotcar_error err = {0};
		struct iotcar_set s;
		const char *j = set_bad[i].json;

		if (iotcar_set_parse(j, strlen(j), &s, &err) != -EINVAL) {
			TEST_FAIL("'%s' accepted", j);
			continue;
		}
		if (err.code != set_bad[i].code)
			TEST_FAIL("'%s': error %s (%s), expected %s", j,
				  iotcar_err_name(err.code), err.message,
				  iotcar_err_name(set_bad[i].code));
	}
}

/* A bare verb takes the car's speed; a speed given, or drive T S, not. */
static void drive_use_speed_only_when_bare(void)
{
	static const struct {
		const char *text;
		int throttle;
		int steer;
	} w[] = {
		{"forward", 80, 0},	   {"backward", -80, 0},
		{"left", 0, -80},	   {"right", 0, 80},
		{"forward 30", 30, 0},	   {"left 0 500", 0, 0},
		{"drive 20 -10", 20, -10}, {"stop", 0, 0},
	};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		struct iotcar_drive d;

		CHECK_INT(iotcar_drive_parse(w[i].text, strlen(w[i].text), &d,
					     NULL),
			  0);
		iotcar_drive_use_speed(&d, 80);
		CHECK_INT(d.throttle, w[i].throttle);
		CHECK_INT(d.steer, w[i].steer);
	}
}

static void set_parse_speed(void)
{
	static const char j[] = "{\"speed\":70}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), 0);
	CHECK_INT(s.fields, IOTCAR_SET_SPEED);
	CHECK_INT(s.speed, 70);
}

static void set_parse_keeps_id_of_bad_command(void)
{
	static const char j[] = "{\"id\":\"x9\",\"throttle\":500}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	CHECK_INT(iotcar_set_parse(j, strlen(j), &s, &err), -EINVAL);
	CHECK(s.id.present);
	CHECK_STR(s.id.text, "x9");
}

static void set_parse_rejects_deep_nesting_and_binary(void)
{
	char deep[IOTCAR_COMMAND_MAX];
	static const char bin[] = "{\"throttle\":\x01}";
	struct iotcar_error err = {0};
	struct iotcar_set s;

	memset(deep, '[', sizeof(deep));
	CHECK_INT(iotcar_set_parse(deep, sizeof(deep), &s, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_JSON);
	CHECK_INT(iotcar_set_parse(bin, sizeof(bin) - 1, &s, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ENCODING);
}

static void set_parse_rejects_too_long(void)
{
	char *big = malloc(65536);
	struct iotcar_error err = {0};
	struct iotcar_set s;

	memset(big, ' ', 65536);
	big[0] = '{';
	big[65535] = '}';
	CHECK_INT(iotcar_set_parse(big, 65536, &s, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_TOO_LONG);
	free(big);
}

static void speed_limit_and_estop_parse(void)
{
	struct iotcar_error err = {0};
	uint32_t latch = 99;
	int pct = -1;
	bool on = false;

	CHECK_INT(iotcar_speed_limit_parse(" 80\n", 4, &pct, &err), 0);
	CHECK_INT(pct, 80);
	CHECK_INT(iotcar_speed_limit_parse("101", 3, &pct, &err), -EINVAL);
	CHECK_INT(iotcar_speed_limit_parse("fast", 4, &pct, &err), -EINVAL);
	CHECK_INT(iotcar_speed_limit_parse("", 0, &pct, &err), -EINVAL);
	CHECK_INT(iotcar_estop_parse("ON", 2, &on, &latch, &err), 0);
	CHECK(on);
	CHECK_INT(latch, 0);
	CHECK_INT(iotcar_estop_parse("off", 3, &on, &latch, &err), 0);
	CHECK(!on);
	CHECK_INT(latch, 0);
	CHECK_INT(iotcar_estop_parse("1", 1, &on, &latch, &err), -EINVAL);
	CHECK_INT(err.code, IOTCAR_ERR_BAD_ARGUMENT);
	/* A release may name its latch; nothing else takes a number. */
	CHECK_INT(
		iotcar_estop_parse(" OFF  2147483647\n", 17, &on, &latch, &err),
		0);
	CHECK(!on);
	CHECK_INT(latch, 2147483647);
	CHECK_INT(iotcar_estop_parse("OFF 7", 5, &on, NULL, &err), -EINVAL);
	CHECK_INT(iotcar_estop_parse("ON 7", 4, &on, &latch, &err), -EINVAL);
	CHECK_INT(iotcar_estop_parse("OFF 0", 5, &on, &latch, &err), -EINVAL);
	CHECK_INT(iotcar_estop_parse("OFF 2147483648", 14, &on, &latch, &err),
		  -EINVAL);
	CHECK_INT(iotcar_estop_parse("OFF 7 8", 7, &on, &latch, &err), -EINVAL);
}

/* ==== Formatting ==== */

static void state_format_has_every_spec_key(void)
{
	static const char *const keys[] = {
		"mode",	       "throttle", "steer",	  "left",     "right",
		"speed_limit", "estop",	   "estop_latch", "obstacle", "moving",
		"distance_cm", "ttl_ms",   "seq",
	};
	struct iotcar_state st = {.mode = IOTCAR_MODE_DRIVING,
				  .throttle = 60,
				  .steer = -20,
				  .left = 40,
				  .right = 80,
				  .speed_limit = 100,
				  .moving = true,
				  .has_distance = true,
				  .distance_cm = 87.54,
				  .ttl_ms = 500,
				  .seq = 1234};
	char buf[512];
	cJSON *j;

	CHECK(iotcar_state_format(&st, buf, sizeof(buf)) > 0);
	j = cJSON_Parse(buf);
	CHECK(j != NULL);
	if (!j)
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(cJSON_GetObjectItemCaseSensitive(j, keys[i]) != NULL);
	CHECK_STR(cJSON_GetObjectItem(j, "mode")->valuestring, "driving");
	CHECK_STR(cJSON_GetObjectItem(j, "moving")->valuestring, "ON");
	CHECK_STR(cJSON_GetObjectItem(j, "estop")->valuestring, "OFF");
	CHECK_DBL(cJSON_GetObjectItem(j, "distance_cm")->valuedouble, 87.5,
		  1e-9);
	cJSON_Delete(j);
	/* Cut, not rounded: just under a threshold stays under it. */
	st.distance_cm = 24.96;
	iotcar_state_format(&st, buf, sizeof(buf));
	CHECK(strstr(buf, "\"distance_cm\":24.9,") != NULL);
	st.has_distance = false;
	iotcar_state_format(&st, buf, sizeof(buf));
	CHECK(strstr(buf, "\"distance_cm\":null") != NULL);
	CHECK_INT(iotcar_state_format(&st, buf, 20), -ENOBUFS);
}

static void result_format_ok_and_error(void)
{
	struct iotcar_cmd_id id = {.present = true, .is_number = true};
	struct iotcar_error err = {0};
	char buf[512];

	iotcar_strlcpy(id.text, "7", sizeof(id.text));
	iotcar_result_format("drive", &id, NULL, 0, buf, sizeof(buf));
	CHECK_STR(buf, "{\"id\":7,\"cmd\":\"drive\",\"status\":\"ok\"}");
	iotcar_error_set(&err, IOTCAR_ERR_ESTOP, "latched");
	iotcar_result_format("drive", NULL, &err, 0, buf, sizeof(buf));
	CHECK_STR(buf, "{\"cmd\":\"drive\",\"status\":\"error\",\"error\":"
		       "\"estop\",\"message\":\"latched\"}");
}

static void event_format_escapes_topic(void)
{
	struct iotcar_error err = {.code = IOTCAR_ERR_BAD_JSON};
	struct iotcar_event ev = {
		.event = "bad_command", .topic = "a\"b", .err = &err};
	char buf[512];
	cJSON *j;

	CHECK(iotcar_event_format(&ev, buf, sizeof(buf)) > 0);
	j = cJSON_Parse(buf);
	CHECK(j &&
	      !strcmp(cJSON_GetObjectItem(j, "topic")->valuestring, "a\"b"));
	cJSON_Delete(j);
}

/* ==== text.c ==== */

static void text_validity(void)
{
	CHECK(iotcar_text_is_valid("forward 60\r\n", 12));
	CHECK(iotcar_text_is_valid("안녕!", strlen("안녕!")));
	CHECK(iotcar_text_is_valid("\xf0\x9f\x9a\x97", 4)); /* car emoji */
	CHECK(!iotcar_text_is_valid("a\0b", 3));
	CHECK(!iotcar_text_is_valid("\x01", 1));
	CHECK(!iotcar_text_is_valid("\x7f", 1));
	CHECK(!iotcar_text_is_valid("\xff", 1));
	CHECK(!iotcar_text_is_valid("\xe2\x82", 2));	 /* truncated */
	CHECK(!iotcar_text_is_valid("\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!iotcar_text_is_valid("\xf4\x90\x80\x80", 4));
}

static void parse_long_checks_everything(void)
{
	long v = 0;

	CHECK_INT(iotcar_parse_long("42", 0, 100, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(iotcar_parse_long("-5", -10, 10, &v), 0);
	CHECK_INT(iotcar_parse_long("", 0, 100, &v), -EINVAL);
	CHECK_INT(iotcar_parse_long("4x", 0, 100, &v), -EINVAL);
	CHECK_INT(iotcar_parse_long("101", 0, 100, &v), -ERANGE);
	CHECK_INT(iotcar_parse_long("99999999999999999999", 0, 100, &v),
		  -ERANGE);
}

static void state_parse_reads_what_format_writes(void)
{
	struct iotcar_state st = {.mode = IOTCAR_MODE_DRIVING,
				  .throttle = 60,
				  .steer = -20,
				  .left = 40,
				  .right = 80,
				  .speed_limit = 90,
				  .estop = false,
				  .obstacle = true,
				  .moving = true,
				  .has_distance = true,
				  .distance_cm = 87.5,
				  .ttl_ms = 500,
				  .seq = 1234};
	struct iotcar_state back;
	char buf[512];
	int n = iotcar_state_format(&st, buf, sizeof(buf));

	CHECK(n > 0);
	CHECK_INT(iotcar_state_parse(buf, (size_t)n, &back), 0);
	CHECK_INT(back.mode, IOTCAR_MODE_DRIVING);
	CHECK_INT(back.throttle, 60);
	CHECK_INT(back.steer, -20);
	CHECK_INT(back.left, 40);
	CHECK_INT(back.right, 80);
	CHECK_INT(back.speed_limit, 90);
	CHECK(!back.estop && back.obstacle && back.moving);
	CHECK(back.has_distance);
	CHECK_DBL(back.distance_cm, 87.5, 1e-9);
	CHECK_INT(back.ttl_ms, 500);
	CHECK_INT(back.seq, 1234);
	st.has_distance = false;
	st.mode = IOTCAR_MODE_ESTOP;
	n = iotcar_state_format(&st, buf, sizeof(buf));
	CHECK_INT(iotcar_state_parse(buf, (size_t)n, &back), 0);
	CHECK(!back.has_distance);
	CHECK_INT(back.mode, IOTCAR_MODE_ESTOP);
}

static void state_parse_rejects_bad_states(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"null",
		"{\"mode\":\"idle\"}",
		"{\"mode\":\"flying\",\"throttle\":0,\"steer\":0,"
		"\"left\":0,\"right\":0,\"speed_limit\":100,"
		"\"estop\":\"OFF\",\"obstacle\":\"OFF\",\"moving\":"
		"\"OFF\",\"distance_cm\":null,\"ttl_ms\":500,\"seq\":1}",
		"{\"mode\":\"idle\",\"throttle\":101,\"steer\":0,"
		"\"left\":0,\"right\":0,\"speed_limit\":100,"
		"\"estop\":\"OFF\",\"obstacle\":\"OFF\",\"moving\":"
		"\"OFF\",\"distance_cm\":null,\"ttl_ms\":500,\"seq\":1}",
		"{\"mode\":\"idle\",\"throttle\":0.5,\"steer\":0,"
		"\"left\":0,\"right\":0,\"speed_limit\":100,"
		"\"estop\":\"OFF\",\"obstacle\":\"OFF\",\"moving\":"
		"\"OFF\",\"distance_cm\":null,\"ttl_ms\":500,\"seq\":1}",
		"{\"mode\":\"idle\",\"throttle\":0,\"steer\":0,"
		"\"left\":0,\"right\":0,\"speed_limit\":100,"
		"\"estop\":\"on\",\"obstacle\":\"OFF\",\"moving\":"
		"\"OFF\",\"distance_cm\":null,\"ttl_ms\":500,\"seq\":1}",
		"{\"mode\":\"idle\",\"throttle\":0,\"steer\":0,"
		"\"left\":0,\"right\":0,\"speed_limit\":100,"
		"\"estop\":\"OFF\",\"obstacle\":\"OFF\",\"moving\":"
		"\"OFF\",\"distance_cm\":-3,\"ttl_ms\":500,\"seq\":1}",
	};
	struct iotcar_state st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st.throttle = 7;
		if (iotcar_state_parse(bad[i], strlen(bad[i]), &st) != -EINVAL)
			TEST_FAIL("accepted %s", bad[i]);
		CHECK_INT(st.throttle, 0);
	}
}

static const struct test_case cases[] = {
	{"state_parse_reads_what_format_writes",
	 state_parse_reads_what_format_writes},
	{"state_parse_rejects_bad_states", state_parse_rejects_bad_states},
	{"drive_parse_accepts_spec_texts", drive_parse_accepts_spec_texts},
	{"drive_parse_rejects_bad_texts", drive_parse_rejects_bad_texts},
	{"drive_parse_rejects_binary_and_long",
	 drive_parse_rejects_binary_and_long},
	{"drive_parse_reads_only_len_bytes", drive_parse_reads_only_len_bytes},
	{"set_parse_drive_fields", set_parse_drive_fields},
	{"set_parse_everything_at_once", set_parse_everything_at_once},
	{"set_parse_throttle_alone_means_straight",
	 set_parse_throttle_alone_means_straight},
	{"set_parse_rejects_bad_objects", set_parse_rejects_bad_objects},
	{"set_parse_freshness_and_latch", set_parse_freshness_and_latch},
	{"set_parse_keeps_id_of_bad_command",
	 set_parse_keeps_id_of_bad_command},
	{"set_parse_rejects_deep_nesting_and_binary",
	 set_parse_rejects_deep_nesting_and_binary},
	{"set_parse_rejects_too_long", set_parse_rejects_too_long},
	{"speed_limit_and_estop_parse", speed_limit_and_estop_parse},
	{"drive_use_speed_only_when_bare", drive_use_speed_only_when_bare},
	{"set_parse_speed", set_parse_speed},
	{"state_format_has_every_spec_key", state_format_has_every_spec_key},
	{"result_format_ok_and_error", result_format_ok_and_error},
	{"event_format_escapes_topic", event_format_escapes_topic},
	{"text_validity", text_validity},
	{"parse_long_checks_everything", parse_long_checks_everything},
};

TEST_MAIN(cases)
