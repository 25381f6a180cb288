// SPDX-License-Identifier: MIT
/*
 * health.c: /proc and /sys readers for telemetry; see health.h.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iotcar/text.h"

/*
 * /proc/self/net/wireless (the unit's ProcSubset=pid hides /proc/net):
 * "wlan0: 0000   70.  -40.  -256 ..." (level in dBm).
 */
static void health_rssi(struct iotcar_telemetry *t)
{
	FILE *f = fopen("/proc/self/net/wireless", "re");
	char line[256];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[32];
		unsigned status;
		double link;
		double level;

		if (sscanf(line, " %31[^:]: %x %lf %lf", name, &status, &link,
			   &level) == 4) {
			t->has_rssi = true;
			t->rssi_dbm = (int)level;
			break;
		}
	}
	fclose(f);
}

static void health_cpu_temp(struct iotcar_telemetry *t)
{
	char buf[32];
	long milli;

	if (iotcar_read_line("/sys/class/thermal/thermal_zone0/temp", buf,
			     sizeof(buf)) ||
	    iotcar_parse_long(buf, -100000, 200000, &milli))
		return;
	t->has_cpu_temp = true;
	t->cpu_temp_c = (double)milli / 1000.0;
}

static void health_rss(struct iotcar_telemetry *t)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size;
	long resident;

	if (!f)
		return;
	if (fscanf(f, "%ld %ld", &size, &resident) == 2)
		t->rss_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
	fclose(f);
}

void health_read(struct iotcar_telemetry *t)
{
	health_rssi(t);
	health_cpu_temp(t);
	health_rss(t);
}
