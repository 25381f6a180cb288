// SPDX-License-Identifier: MIT
/* test_motor.c: motor.c — differential mixing and the speed limit. */
#include "motor.h"
#include "test.h"

static const struct {
	int throttle;
	int steer;
	int limit;
	int left;
	int right;
} mix[] = {
	{0, 0, 100, 0, 0},
	{60, -20, 100, 40, 80}, /* the example state of protocol §3 */
	{50, 0, 100, 50, 50},
	{-50, 0, 100, -50, -50},
	{0, -50, 100, -50, 50}, /* left: turn in place */
	{0, 50, 100, 50, -50},
	{100, 50, 100, 100, 33}, /* scaled together, shape kept */
	{-100, -100, 100, -100, 0},
	{100, 100, 100, 100, 0},
	{80, 0, 50, 40, 40},  /* the limit scales the throttle */
	{0, 80, 50, 40, -40}, /* and turning in place */
	{60, -20, 0, 0, 0},
	{33, 0, 50, 17, 17}, /* rounds half away from zero */
	{-33, 0, 50, -17, -17},
	{500, 0, 100, 100, 100}, /* out-of-range input is clamped */
	{0, 0, 250, 0, 0},
};

static void motor_mix_table(void)
{
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		int l = 999;
		int r = 999;

		motor_mix(mix[i].throttle, mix[i].steer, mix[i].limit, &l, &r);
		if (l != mix[i].left || r != mix[i].right)
			TEST_FAIL("mix(%d, %d, %d) = %d/%d, expected %d/%d",
				  mix[i].throttle, mix[i].steer, mix[i].limit,
				  l, r, mix[i].left, mix[i].right);
	}
}

static void motor_mix_never_exceeds_100(void)
{
	for (int t = -100; t <= 100; t += 5) {
		for (int s = -100; s <= 100; s += 5) {
			int l;
			int r;

			motor_mix(t, s, 100, &l, &r);
			if (l < -100 || l > 100 || r < -100 || r > 100)
				TEST_FAIL("mix(%d, %d) = %d/%d", t, s, l, r);
		}
	}
}

static const struct test_case cases[] = {
	{"motor_mix_table", motor_mix_table},
	{"motor_mix_never_exceeds_100", motor_mix_never_exceeds_100},
};

TEST_MAIN(cases)
