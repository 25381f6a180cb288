// SPDX-License-Identifier: MIT
/* test_sensors.c: sensors.c — HC-SR04 width to distance, median of 3. */
#include "sensors.h"
#include "test.h"

static void sensors_echo_width_to_cm(void)
{
	double cm = 0.0;

	/* 58 µs per cm: 1 m is 5.8 ms. */
	CHECK(sensors_echo_to_cm(5800000, &cm));
	CHECK_DBL(cm, 100.0, 1e-9);
	CHECK(sensors_echo_to_cm(116000, &cm));
	CHECK_DBL(cm, 2.0, 1e-9);
	CHECK(!sensors_echo_to_cm(100000, &cm));   /* 1.7 cm: too close */
	CHECK(!sensors_echo_to_cm(23300000, &cm)); /* 401.7 cm: too far */
	CHECK(!sensors_echo_to_cm(0, &cm));
	CHECK(!sensors_echo_to_cm(-5, &cm));
}

static void sensors_median_rejects_outlier(void)
{
	struct sensors_median f;
	double out = 0.0;

	sensors_median_init(&f);
	CHECK(!sensors_median_push(&f, true, 100.0, &out));
	CHECK(sensors_median_push(&f, true, 102.0, &out));
	CHECK_DBL(out, 100.0, 1e-9); /* two readings: the nearer */
	CHECK(sensors_median_push(&f, true, 270.0, &out));
	CHECK_DBL(out, 102.0, 1e-9); /* the wild 270 is ignored */
	/* The window is now 102, 270, 101. */
	CHECK(sensors_median_push(&f, true, 101.0, &out));
	CHECK_DBL(out, 102.0, 1e-9);
	CHECK(sensors_median_push(&f, true, 99.0, &out));
	CHECK_DBL(out, 101.0, 1e-9);
}

static void sensors_median_needs_two_valid(void)
{
	struct sensors_median f;
	double out = 0.0;

	sensors_median_init(&f);
	sensors_median_push(&f, true, 50.0, &out);
	sensors_median_push(&f, true, 52.0, &out);
	CHECK(sensors_median_push(&f, false, 0.0, &out));
	CHECK_DBL(out, 50.0, 1e-9);
	/* Two missing echoes out of three: no reading. */
	CHECK(!sensors_median_push(&f, false, 0.0, &out));
	CHECK(!sensors_median_push(&f, false, 0.0, &out));
	CHECK(!sensors_median_push(&f, true, 40.0, &out));
	CHECK(sensors_median_push(&f, true, 41.0, &out));
	CHECK_DBL(out, 40.0, 1e-9);
}

static const struct test_case cases[] = {
	{"sensors_echo_width_to_cm", sensors_echo_width_to_cm},
	{"sensors_median_rejects_outlier", sensors_median_rejects_outlier},
	{"sensors_median_needs_two_valid", sensors_median_needs_two_valid},
};

TEST_MAIN(cases)
