// SPDX-License-Identifier: MIT
/* test_topic.c: topic.c — ids, prefixes, build and parse. */
#include <errno.h>
#include <string.h>

#include "iotcar/topic.h"
#include "test.h"

static void topic_id_accepts_spec_grammar(void)
{
	CHECK(iotcar_topic_is_valid_id("car1"));
	CHECK(iotcar_topic_is_valid_id("0"));
	CHECK(iotcar_topic_is_valid_id("my_car-2"));
	CHECK(iotcar_topic_is_valid_id("abcdefghijklmnopqrstuvwxyz012345"));
}

static void topic_id_rejects_bad_ids(void)
{
	static const char *const bad[] = {
		"",	"Car1",	  "car/1", "car+",
		"car#", "_car",	  "-car",  "car 1",
		"all",	"bridge", "caré",  "abcdefghijklmnopqrstuvwxyz0123456",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (iotcar_topic_is_valid_id(bad[i]))
			TEST_FAIL("'%s' accepted as a car id", bad[i]);
	}
	CHECK(!iotcar_topic_is_valid_id(NULL));
}

static void topic_prefix_rules(void)
{
	CHECK(iotcar_topic_is_valid_prefix("iotcar"));
	CHECK(iotcar_topic_is_valid_prefix("home/iotcar"));
	CHECK(!iotcar_topic_is_valid_prefix(""));
	CHECK(!iotcar_topic_is_valid_prefix("/iotcar"));
	CHECK(!iotcar_topic_is_valid_prefix("iotcar/"));
	CHECK(!iotcar_topic_is_valid_prefix("a//b"));
	CHECK(!iotcar_topic_is_valid_prefix("iot+car"));
	CHECK(!iotcar_topic_is_valid_prefix("iot#"));
	/* AWS IoT: at most 7 slashes in <prefix>/<car>/set/speed_limit. */
	CHECK(iotcar_topic_is_valid_prefix("a/b/c/d"));
	CHECK(!iotcar_topic_is_valid_prefix("a/b/c/d/e"));
}

static void client_id_rules(void)
{
	char id[IOTCAR_CLIENT_ID_MAX + 2];

	memset(id, 'x', sizeof(id));
	id[IOTCAR_CLIENT_ID_MAX] = '\0';
	CHECK(iotcar_topic_is_valid_client_id(id));
	id[IOTCAR_CLIENT_ID_MAX] = 'x';
	id[IOTCAR_CLIENT_ID_MAX + 1] = '\0';
	CHECK(!iotcar_topic_is_valid_client_id(id));
	CHECK(iotcar_topic_is_valid_client_id("iotcar-car-car1"));
	CHECK(!iotcar_topic_is_valid_client_id(""));
	CHECK(!iotcar_topic_is_valid_client_id(NULL));
	CHECK(!iotcar_topic_is_valid_client_id("bad\xff"));
}

static void topic_build_every_kind(void)
{
	static const char *const want[IOTCAR_TOPIC_KIND_COUNT] = {
		"iotcar/car1/status",	 "iotcar/car1/state",
		"iotcar/car1/telemetry", "iotcar/car1/set",
		"iotcar/car1/set/drive", "iotcar/car1/set/speed_limit",
		"iotcar/car1/set/estop", "iotcar/car1/get",
		"iotcar/car1/result",	 "iotcar/car1/event",
		"iotcar/car1/link",	 "iotcar/car1/edge",
	};
	char buf[IOTCAR_TOPIC_MAX];

	for (int k = 0; k < IOTCAR_TOPIC_KIND_COUNT; k++) {
		CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iotcar", "car1",
					     (enum iotcar_topic_kind)k),
			  0);
		CHECK_STR(buf, want[k]);
	}
	CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iotcar", "all",
				     IOTCAR_TOPIC_SET_ESTOP),
		  0);
	CHECK_STR(buf, "iotcar/all/set/estop");
}

static void topic_build_rejects_bad_input(void)
{
	char buf[IOTCAR_TOPIC_MAX];

	CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iotcar", "car+1",
				     IOTCAR_TOPIC_SET),
		  -EINVAL);
	CHECK_STR(buf, "");
	CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iot#", "car1",
				     IOTCAR_TOPIC_SET),
		  -EINVAL);
	CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iotcar", "car1",
				     IOTCAR_TOPIC_KIND_COUNT),
		  -EINVAL);
}

static void topic_build_reports_truncation(void)
{
	char buf[12];

	CHECK_INT(iotcar_topic_build(buf, sizeof(buf), "iotcar", "car1",
				     IOTCAR_TOPIC_SET_DRIVE),
		  -ENAMETOOLONG);
	CHECK_STR(buf, "");
}

static void topic_parse_round_trip(void)
{
	char buf[IOTCAR_TOPIC_MAX];
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;

	for (int k = 0; k < IOTCAR_TOPIC_KIND_COUNT; k++) {
		iotcar_topic_build(buf, sizeof(buf), "a/b", "car-7",
				   (enum iotcar_topic_kind)k);
		CHECK_INT(iotcar_topic_parse("a/b", buf, car, &kind), 0);
		CHECK_STR(car, "car-7");
		CHECK_INT(kind, k);
	}
	CHECK_INT(iotcar_topic_parse("iotcar", "iotcar/all/set/drive", car,
				     &kind),
		  0);
	CHECK_STR(car, "all");
	CHECK_INT(kind, IOTCAR_TOPIC_SET_DRIVE);
}

static void topic_parse_rejects_foreign_topics(void)
{
	static const char *const bad[] = {
		"iotcar",
		"iotcar/car1",
		"iotcar/car1/",
		"iotcar/car1/set/fly",
		"iotcars/car1/set",
		"other/car1/set",
		"iotcar/Car1/set",
		"iotcar//set",
		"iotcar/car1/set/drive/x",
	};
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (iotcar_topic_parse("iotcar", bad[i], car, &kind) == 0)
			TEST_FAIL("'%s' parsed as an iotcar topic", bad[i]);
	}
}

static const struct test_case cases[] = {
	{"topic_id_accepts_spec_grammar", topic_id_accepts_spec_grammar},
	{"topic_id_rejects_bad_ids", topic_id_rejects_bad_ids},
	{"topic_prefix_rules", topic_prefix_rules},
	{"client_id_rules", client_id_rules},
	{"topic_build_every_kind", topic_build_every_kind},
	{"topic_build_rejects_bad_input", topic_build_rejects_bad_input},
	{"topic_build_reports_truncation", topic_build_reports_truncation},
	{"topic_parse_round_trip", topic_parse_round_trip},
	{"topic_parse_rejects_foreign_topics",
	 topic_parse_rejects_foreign_topics},
};

TEST_MAIN(cases)
