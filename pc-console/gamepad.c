// SPDX-License-Identifier: MIT
/*
 * gamepad.c: the joydev reader; see gamepad.h. A FIFO given as the path
 * works too (the tests write js_events into one).
 */
#include "gamepad.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/joystick.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "teleop.h"

/* Percent of travel around the centre that reads as 0. */
#define GAMEPAD_DEAD_PCT 8

_Static_assert(GAMEPAD_EVENT_BUTTON == JS_EVENT_BUTTON &&
		       GAMEPAD_EVENT_AXIS == JS_EVENT_AXIS &&
		       GAMEPAD_EVENT_INIT == JS_EVENT_INIT,
	       "js_event types");

struct gamepad {
	int fd;
	char path[64];
};

void gamepad_apply(struct gamepad_input *in, const struct gamepad_event *ev)
{
	int type = ev->type & ~JS_EVENT_INIT;

	if (type == JS_EVENT_AXIS && ev->number == 1) {
		in->throttle = -teleop_axis_pct(ev->value, GAMEPAD_DEAD_PCT);
		in->moved = true;
	} else if (type == JS_EVENT_AXIS && ev->number == 0) {
		in->steer = teleop_axis_pct(ev->value, GAMEPAD_DEAD_PCT);
		in->moved = true;
	} else if (type == JS_EVENT_BUTTON && ev->value &&
		   !(ev->type & JS_EVENT_INIT)) {
		/* A press, not the state the driver reports on open. */
		if (ev->number == 0)
			in->stop = true;
		else if (ev->number == 1)
			in->estop = true;
	}
}

static struct gamepad *gamepad_try(const char *path)
{
	struct gamepad *g;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	g->fd = fd;
	snprintf(g->path, sizeof(g->path), "%s", path);
	return g;
}

struct gamepad *gamepad_open(const char *path)
{
	char dev[32];
	struct gamepad *g;

	if (strcmp(path, "auto"))
		return gamepad_try(path);
	for (int i = 0; i < 32; i++) {
		snprintf(dev, sizeof(dev), "/dev/input/js%d", i);
		g = gamepad_try(dev);
		if (g)
			return g;
	}
	errno = ENOENT;
	return NULL;
}

int gamepad_fd(const struct gamepad *g)
{
	return g->fd;
}

const char *gamepad_path(const struct gamepad *g)
{
	return g->path;
}

int gamepad_read(struct gamepad *g, struct gamepad_input *in)
{
	struct js_event js[32];
	ssize_t n;

	for (;;) {
		n = read(g->fd, js, sizeof(js));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		/* 0: the FIFO's writer left; ENODEV: unplugged. */
		if (n <= 0)
			return -ENODEV;
		for (size_t i = 0; i < (size_t)n / sizeof(js[0]); i++) {
			struct gamepad_event ev = {js[i].type, js[i].number,
						   js[i].value};

			gamepad_apply(in, &ev);
		}
	}
}

void gamepad_close(struct gamepad *g)
{
	if (!g)
		return;
	close(g->fd);
	free(g);
}
