/* SPDX-License-Identifier: MIT */
/*
 * gamepad.h: a Linux joystick (/dev/input/js*, the joydev interface) as a
 * second way to drive in the TUI. The left stick is throttle (up is
 * forward) and steer; button 0 (A / cross) stops, button 1 (B / circle)
 * toggles the e-stop. A stick at rest sits in a dead zone and reads 0.
 *
 * Context: the console's loop thread.
 */
#ifndef GAMEPAD_H
#define GAMEPAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Axes and buttons as the driver wants them. */
struct gamepad_input {
	/* -100..100, up is forward. */
	int throttle;
	/* -100..100, right is positive. */
	int steer;
	/* Presses seen since the caller last cleared them. */
	bool stop;
	bool estop;
	/* The sticks moved since the caller last cleared it. */
	bool moved;
};

/* js_event types (linux/joystick.h, which is not included here: its
 * <linux/input.h> has a KEY_UP of its own that would hide curses'). */
#define GAMEPAD_EVENT_BUTTON 0x01
#define GAMEPAD_EVENT_AXIS 0x02
#define GAMEPAD_EVENT_INIT 0x80

/** One js_event (linux/joystick.h), decoded. */
struct gamepad_event {
	uint8_t type;
	uint8_t number;
	int16_t value;
};

/** @brief Fold one joystick event into @p in (pure; unit-tested). */
void gamepad_apply(struct gamepad_input *in, const struct gamepad_event *ev);

struct gamepad;

/**
 * @brief Open @p path non-blocking, or with "auto" the first of
 * /dev/input/js0..js31 that opens.
 * @return The gamepad, or NULL (none: errno ENOENT; else errno of open).
 */
struct gamepad *gamepad_open(const char *path);

/** @brief Its descriptor, to watch for input. */
int gamepad_fd(const struct gamepad *g);

/** @brief The device path. Borrowed. */
const char *gamepad_path(const struct gamepad *g);

/**
 * @brief Read what is waiting into @p in.
 * @return 0, or -ENODEV when the device is gone (unplugged, closed).
 */
int gamepad_read(struct gamepad *g, struct gamepad_input *in);

/** @brief Close and free. Accepts NULL. */
void gamepad_close(struct gamepad *g);

#endif
