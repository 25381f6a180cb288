/* SPDX-License-Identifier: MIT */
/*
 * test.h: the whole unit-test harness (sds's testhelp.h in spirit): check
 * macros that report file, line and both values, and a table of named
 * cases, so a test is `{"drive_parse_rejects_speed_above_100", fn}`.
 * Run one case by passing its name.
 */
#ifndef IOTCAR_TEST_H
#define IOTCAR_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

static int test_failed;

#define TEST_FAIL(...)                                                         \
	do {                                                                   \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);              \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		test_failed = 1;                                               \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			TEST_FAIL("CHECK(%s) failed", #cond);                  \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_)                                                  \
			TEST_FAIL("%s == %lld, expected %s == %lld", #a, a_,   \
				  #b, b_);                                     \
	} while (0)

#define CHECK_DBL(a, b, tol)                                                   \
	do {                                                                   \
		double a_ = (a), b_ = (b);                                     \
		if (a_ - b_ > (tol) || b_ - a_ > (tol))                        \
			TEST_FAIL("%s == %g, expected %g (+-%g)", #a, a_, b_,  \
				  (double)(tol));                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                         \
			TEST_FAIL("%s == \"%s\", expected \"%s\"", #a,         \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");     \
	} while (0)

static inline int test_main(const struct test_case *cases, size_t n, int argc,
			    char **argv)
{
	int failures = 0;
	int ran = 0;

	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		test_failed = 0;
		cases[i].fn();
		ran++;
		printf("%s %s\n", test_failed ? "FAIL" : "ok  ", cases[i].name);
		failures += test_failed;
	}
	if (ran == 0) {
		fprintf(stderr, "no test case named %s\n", argv[1]);
		return 1;
	}
	printf("%d of %d cases failed\n", failures, ran);
	return failures ? 1 : 0;
}

#define TEST_MAIN(cases)                                                       \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return test_main(cases, sizeof(cases) / sizeof(cases[0]),      \
				 argc, argv);                                  \
	}

#endif
