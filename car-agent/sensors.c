// SPDX-License-Identifier: MIT
/*
 * sensors.c: HC-SR04 arithmetic and filtering; see sensors.h.
 */
#include "sensors.h"

bool sensors_echo_to_cm(int64_t width_ns, double *cm)
{
	double d = (double)width_ns / 1000.0 / SENSORS_US_PER_CM;

	if (width_ns <= 0 || d < SENSORS_MIN_CM || d > SENSORS_MAX_CM)
		return false;
	*cm = d;
	return true;
}

void sensors_median_init(struct sensors_median *f)
{
	*f = (struct sensors_median){0};
}

bool sensors_median_push(struct sensors_median *f, bool valid, double cm,
			 double *out)
{
	double v[3];
	unsigned n = 0;

	f->value[f->next] = cm;
	f->valid[f->next] = valid;
	f->next = (f->next + 1) % 3;
	if (f->count < 3)
		f->count++;
	for (unsigned i = 0; i < f->count; i++) {
		if (f->valid[i])
			v[n++] = f->value[i];
	}
	if (n < 2)
		return false;
	/* Sort the two or three values; the middle (or nearer) one wins. */
	for (unsigned i = 1; i < n; i++) {
		for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	}
	*out = n == 3 ? v[1] : v[0];
	return true;
}
