// SPDX-License-Identifier: MIT
/* test_proto.c: proto.c — the bridge's commands and replies. */
#include <cjson/cJSON.h>
#include <errno.h>

#include "iotcar/text.h"
#include "proto.h"
#include "test.h"

static int parse(const char *s, struct proto_request *req,
		 struct proto_error *err)
{
	return proto_parse(s, strlen(s), req, err);
}

static const struct {
	const char *msg;
	enum proto_cmd cmd;
	int throttle;
	int steer;
} ok_cases[] = {
	{"forward", PROTO_DRIVE, 50, 0},
	{"  Forward 60 500 ", PROTO_DRIVE, 60, 0},
	{"w", PROTO_DRIVE, 50, 0},
	{"W 80", PROTO_DRIVE, 80, 0},
	{"a", PROTO_DRIVE, 0, -50},
	{"s 20", PROTO_DRIVE, -20, 0},
	{"d", PROTO_DRIVE, 0, 50},
	{"x", PROTO_DRIVE, 0, 0},
	{"drive 30 -20", PROTO_DRIVE, 30, -20},
	{"stop", PROTO_DRIVE, 0, 0},
	{"speed 40", PROTO_SPEED, 0, 0},
	{"estop", PROTO_ESTOP, 0, 0},
	{"release", PROTO_RELEASE, 0, 0},
	{"STATUS", PROTO_STATUS, 0, 0},
	{"watch", PROTO_WATCH, 0, 0},
	{"unwatch", PROTO_UNWATCH, 0, 0},
	{"cars", PROTO_CARS, 0, 0},
	{"use car2", PROTO_USE, 0, 0},
	{"ping", PROTO_PING, 0, 0},
	{"help", PROTO_HELP, 0, 0},
	{"quit", PROTO_QUIT, 0, 0},
	{"auth s3cret", PROTO_AUTH, 0, 0},
	{"{\"cmd\":\"drive\",\"throttle\":40,\"steer\":0}", PROTO_DRIVE, 40, 0},
	{"{\"cmd\":\"forward\",\"speed\":70,\"ttl_ms\":900}", PROTO_DRIVE, 70,
	 0},
	{"{\"cmd\":\"left\"}", PROTO_DRIVE, 0, -50},
	{"{\"cmd\":\"stop\",\"id\":\"s\"}", PROTO_DRIVE, 0, 0},
	{"{\"cmd\":\"speed\",\"value\":30}", PROTO_SPEED, 0, 0},
	{"{\"cmd\":\"use\",\"car\":\"car9\"}", PROTO_USE, 0, 0},
	{"{\"cmd\":\"status\",\"id\":12}", PROTO_STATUS, 0, 0},
};

static void proto_parses_every_command(void)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct proto_request req;
		struct proto_error err;

		if (parse(ok_cases[i].msg, &req, &err)) {
			TEST_FAIL("'%s' refused: %s", ok_cases[i].msg,
				  err.message);
			continue;
		}
		if (req.cmd != ok_cases[i].cmd ||
		    req.drive.throttle != ok_cases[i].throttle ||
		    req.drive.steer != ok_cases[i].steer)
			TEST_FAIL("'%s': cmd %d throttle %d steer %d",
				  ok_cases[i].msg, req.cmd, req.drive.throttle,
				  req.drive.steer);
		CHECK(req.json == (ok_cases[i].msg[0] == '{'));
	}
}

static const struct {
	const char *msg;
	enum proto_err code;
} bad_cases[] = {
	{"", PROTO_ERR_UNKNOWN_COMMAND},
	{"fly", PROTO_ERR_UNKNOWN_COMMAND},
	{"안녕!", PROTO_ERR_UNKNOWN_COMMAND},
	{"forwardstop", PROTO_ERR_UNKNOWN_COMMAND},
	{"forward 101", PROTO_ERR_BAD_ARGUMENT},
	{"w fast", PROTO_ERR_BAD_ARGUMENT},
	{"drive 1", PROTO_ERR_BAD_ARGUMENT},
	{"speed", PROTO_ERR_BAD_ARGUMENT},
	{"speed 150", PROTO_ERR_BAD_ARGUMENT},
	{"status now", PROTO_ERR_BAD_ARGUMENT},
	{"use Car!", PROTO_ERR_BAD_ARGUMENT},
	{"use all", PROTO_ERR_BAD_ARGUMENT},
	{"auth", PROTO_ERR_BAD_ARGUMENT},
	{"\xff\xfe", PROTO_ERR_BAD_ARGUMENT},
	{"{", PROTO_ERR_BAD_ARGUMENT},
	{"{\"throttle\":1}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"fly\"}", PROTO_ERR_UNKNOWN_COMMAND},
	{"{\"cmd\":\"drive\",\"throttle\":900}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"drive\",\"turbo\":1}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"speed\"}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"ping\",\"id\":[1]}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"ping\",\"cmd id\":1}", PROTO_ERR_BAD_ARGUMENT},
	/* Keys given twice, as the car refuses them. */
	{"{\"cmd\":\"drive\",\"throttle\":10,\"throttle\":90}",
	 PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"ping\",\"cmd\":\"estop\"}", PROTO_ERR_BAD_ARGUMENT},
	/* \u0000 would cut the command word short. */
	{"{\"cmd\":\"release\\u0000x\"}", PROTO_ERR_BAD_ARGUMENT},
	{"{\"cmd\":\"auth\",\"token\":\"s3cret\\u0000guess\"}",
	 PROTO_ERR_BAD_ARGUMENT},
};

static void proto_rejects_bad_messages(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct proto_request req;
		struct proto_error err;

		if (parse(bad_cases[i].msg, &req, &err) != -EINVAL) {
			TEST_FAIL("'%s' accepted", bad_cases[i].msg);
			continue;
		}
		if (err.code != bad_cases[i].code || !err.message[0])
			TEST_FAIL("'%s': %s (%s)", bad_cases[i].msg,
				  proto_err_name(err.code), err.message);
	}
}

static void proto_incomplete_words(void)
{
	CHECK(proto_is_incomplete("for", 3));
	CHECK(proto_is_incomplete("ST", 2));
	CHECK(!proto_is_incomplete("s", 1)); /* a key on its own */
	CHECK(!proto_is_incomplete("stop", 4));
	CHECK(!proto_is_incomplete("forward 6", 9));
	CHECK(!proto_is_incomplete("xyz", 3));
	CHECK(!proto_is_incomplete("", 0));
}

static void proto_text_replies(void)
{
	struct proto_request req;
	struct proto_error err;
	struct proto_reply ok = {.text = "forward 50"};
	struct proto_reply bad = {.code = PROTO_ERR_ESTOP, .text = "latched"};
	const char *ids[] = {"car1", "car2"};
	struct proto_reply cars = {.list = ids, .nlist = 2, .raw_key = "cars"};
	struct proto_reply none = {.list = ids, .nlist = 0, .raw_key = "cars"};
	char buf[PROTO_REPLY_MAX];
	size_t n;

	parse("forward", &req, &err);
	n = proto_format(&req, &ok, buf, sizeof(buf));
	CHECK_INT(n, 14);
	CHECK(!memcmp(buf, "OK forward 50\n", n));
	n = proto_format(&req, &bad, buf, sizeof(buf));
	CHECK(!memcmp(buf, "ERR estop latched\n", n));
	n = proto_format(&req, &cars, buf, sizeof(buf));
	CHECK(!memcmp(buf, "OK car1 car2\n", n));
	n = proto_format(&req, &none, buf, sizeof(buf));
	CHECK(!memcmp(buf, "OK none\n", n));
}

static void proto_json_replies(void)
{
	struct proto_request req;
	struct proto_error err;
	struct proto_reply st = {.raw_key = "state", .raw_json = "{\"a\":1}"};
	struct proto_reply bad = {.code = PROTO_ERR_OFFLINE, .text = "away"};
	char buf[PROTO_REPLY_MAX];
	size_t n;
	cJSON *j;

	parse("{\"cmd\":\"status\",\"id\":\"q\"}", &req, &err);
	n = proto_format(&req, &st, buf, sizeof(buf));
	CHECK(buf[n - 1] == '\n');
	buf[n - 1] = '\0';
	j = cJSON_Parse(buf);
	CHECK(j && cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
	CHECK(j && !strcmp(cJSON_GetObjectItem(j, "id")->valuestring, "q"));
	CHECK(j && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "state"), "a"));
	cJSON_Delete(j);
	n = proto_format(&req, &bad, buf, sizeof(buf));
	buf[n - 1] = '\0';
	CHECK_STR(buf, "{\"ok\":false,\"cmd\":\"status\",\"id\":\"q\","
		       "\"error\":\"offline\",\"message\":\"away\"}");
	/* An unparsable JSON request names no command. */
	parse("{oops", &req, &err);
	n = proto_format(&req, &bad, buf, sizeof(buf));
	buf[n - 1] = '\0';
	CHECK(strstr(buf, "\"cmd\"") == NULL);
}

static void proto_replies_are_cut_to_one_line(void)
{
	char text[3000];
	struct proto_reply rep = {.text = text};
	char buf[4096];
	size_t n;

	/* 3-byte characters: the cut must not split one. */
	for (size_t i = 0; i + 3 < sizeof(text); i += 3)
		memcpy(text + i, "\xea\xb0\x80", 3);
	text[sizeof(text) - 3] = '\0';
	n = proto_format(NULL, &rep, buf, sizeof(buf));
	CHECK(n <= PROTO_REPLY_MAX);
	CHECK(buf[n - 1] == '\n');
	CHECK(memchr(buf, '\n', n - 1) == NULL);
	CHECK(iotcar_text_is_valid(buf, n));
	n = proto_format(NULL, &rep, buf, 100);
	CHECK(n <= 100);
}

/* Found by fuzz_proto: errors echo the request, and the echo must neither
 * carry a control byte nor end in half a character. */
static void proto_error_echoes_are_clean(void)
{
	static const char *const msgs[] = {
		"speed 7\r0",
		"e\r",
		"e\x01",
		"d \xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"
		"\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80",
		"\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"
		"\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80",
		"use a\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"
		"\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"
		"\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80/",
		"status\rnow",
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct proto_request req;
		struct proto_error err;
		struct proto_reply rep;
		char buf[PROTO_REPLY_MAX];
		size_t n;

		CHECK_INT(parse(msgs[i], &req, &err), -EINVAL);
		rep = (struct proto_reply){.code = err.code,
					   .text = err.message};
		n = proto_format(&req, &rep, buf, sizeof(buf));
		CHECK(iotcar_text_is_valid(buf, n));
		CHECK(memchr(buf, '\r', n) == NULL);
		CHECK(memchr(buf, '\n', n - 1) == NULL);
	}
}

static void proto_drive_words_table(void)
{
	static const struct {
		struct iotcar_drive d;
		const char *words;
	} w[] = {
		{{0, 0, 0, false, false}, "stop"},
		{{60, 0, 0, false, false}, "forward 60"},
		{{-30, 0, 0, false, false}, "backward 30"},
		{{0, -40, 0, false, true}, "left 40"},
		{{0, 40, 900, false, true}, "right 40 900ms"},
		{{30, -20, 0, false, false}, "drive 30 -20"},
		/* Steering alone is no turn: an Ackermann car stands still. */
		{{0, -40, 0, false, false}, "drive 0 -40"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		proto_drive_words(&w[i].d, buf, sizeof(buf));
		CHECK_STR(buf, w[i].words);
	}
}

static void proto_car_errors_map(void)
{
	CHECK_INT(proto_err_from_car("estop"), PROTO_ERR_ESTOP);
	CHECK_INT(proto_err_from_car("blocked"), PROTO_ERR_BLOCKED);
	CHECK_INT(proto_err_from_car("unknown-field"), PROTO_ERR_BAD_ARGUMENT);
	CHECK_INT(proto_err_from_car(NULL), PROTO_ERR_BAD_ARGUMENT);
}

static const struct test_case cases[] = {
	{"proto_parses_every_command", proto_parses_every_command},
	{"proto_rejects_bad_messages", proto_rejects_bad_messages},
	{"proto_incomplete_words", proto_incomplete_words},
	{"proto_text_replies", proto_text_replies},
	{"proto_json_replies", proto_json_replies},
	{"proto_replies_are_cut_to_one_line",
	 proto_replies_are_cut_to_one_line},
	{"proto_error_echoes_are_clean", proto_error_echoes_are_clean},
	{"proto_drive_words_table", proto_drive_words_table},
	{"proto_car_errors_map", proto_car_errors_map},
};

TEST_MAIN(cases)
