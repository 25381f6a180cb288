// SPDX-License-Identifier: MIT
/* test_discovery.c: discovery.c — the device's link to the dashboard. */
#include <errno.h>
#include <string.h>

#include "discovery.h"
#include "test.h"

static void dashboard_url_from_the_broker(void)
{
	static const struct {
		const char *setting;
		const char *broker;
		const char *url;
	} w[] = {
		{"auto", "tcp://127.0.0.1:1883",
		 "http://127.0.0.1:9001/?car=c1"},
		{"auto", "tcp://localhost", "http://localhost:9001/?car=c1"},
		{"auto", "ssl://[::1]:8883", "http://[::1]:9001/?car=c1"},
		{"auto", "ssl://mycar.local:8883",
		 "https://mycar.local:8443/?car=c1"},
		{"auto", "tcp://localhostx:1883",
		 "https://localhostx:8443/?car=c1"},
		{"auto", "ssl://[fd00::2]:8883",
		 "https://[fd00::2]:8443/?car=c1"},
		{"none", "tcp://127.0.0.1:1883", ""},
		{"http://x/", "tcp://127.0.0.1:1883", "http://x/"},
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		CHECK_INT(discovery_dashboard_url(w[i].setting, w[i].broker,
						  "c1", buf, sizeof(buf)),
			  0);
		CHECK_STR(buf, w[i].url);
	}
	CHECK_INT(discovery_dashboard_url("auto", "tcp://a.example", "c1", buf,
					  8),
		  -ENAMETOOLONG);
}

static const struct test_case cases[] = {
	{"dashboard_url_from_the_broker", dashboard_url_from_the_broker},
};

TEST_MAIN(cases)
