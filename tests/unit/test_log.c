// SPDX-License-Identifier: MIT
/* test_log.c: log.c — the rate limit of repeated warnings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iotcar/log.h"
#include "test.h"

static void limit_passes_a_burst_then_counts(void)
{
	struct iotcar_log_limit l = {0};
	uint64_t more = 99;

	for (int i = 0; i < IOTCAR_LOG_LIMIT_BURST; i++) {
		CHECK(iotcar_log_limit_at(&l, 1000 + i, &more));
		CHECK_INT(more, 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK(!iotcar_log_limit_at(&l, 2000 + i, &more));
	/* Still in the window that began at 1000. */
	CHECK(!iotcar_log_limit_at(&l, 1000 + IOTCAR_LOG_LIMIT_MS - 1, &more));
	/* A new window: written, with the four that were not. */
	CHECK(iotcar_log_limit_at(&l, 1000 + IOTCAR_LOG_LIMIT_MS, &more));
	CHECK_INT(more, 4);
	CHECK(iotcar_log_limit_at(&l, 1000 + IOTCAR_LOG_LIMIT_MS + 1, &more));
	CHECK_INT(more, 0);
}

/* The macro, as the programs use it: what reaches stderr. */
static void limited_warning_writes_a_burst(void)
{
	char path[] = "/tmp/iotcar-log-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	char text[4096];
	size_t n;
	int lines = 0;
	FILE *f;

	CHECK(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);
	iotcar_log_init("test_log", IOTCAR_LOG_INFO);
	for (int i = 0; i < 20; i++)
		log_warning_limited("client %d dropped", i);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	CHECK(f != NULL);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
	for (char *p = text; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK_INT(lines, IOTCAR_LOG_LIMIT_BURST);
	CHECK(strstr(text, "warning: client 4 dropped\n") != NULL);
	CHECK(strstr(text, "client 5 dropped") == NULL);
}

static const struct test_case cases[] = {
	{"limit_passes_a_burst_then_counts", limit_passes_a_burst_then_counts},
	{"limited_warning_writes_a_burst", limited_warning_writes_a_burst},
};

TEST_MAIN(cases)
