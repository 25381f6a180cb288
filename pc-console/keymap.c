// SPDX-License-Identifier: MIT
/*
 * keymap.c: the TUI's keys; see keymap.h. Letters work in either case, so
 * Caps Lock does not stop a driver.
 */
#include "keymap.h"

#include <curses.h>

enum keymap_action keymap_action(int key)
{
	switch (key) {
	case 'w':
	case 'W':
	case KEY_UP:
		return KEYMAP_THROTTLE_UP;
	case 's':
	case 'S':
	case KEY_DOWN:
		return KEYMAP_THROTTLE_DOWN;
	case 'a':
	case 'A':
	case KEY_LEFT:
		return KEYMAP_STEER_LEFT;
	case 'd':
	case 'D':
	case KEY_RIGHT:
		return KEYMAP_STEER_RIGHT;
	case ' ':
	case 'x':
	case 'X':
		return KEYMAP_STOP;
	case 'e':
	case 'E':
		return KEYMAP_ESTOP_TOGGLE;
	case '+':
	case '=':
		return KEYMAP_LIMIT_UP;
	case '-':
	case '_':
		return KEYMAP_LIMIT_DOWN;
	case '\t':
		return KEYMAP_NEXT_CAR;
	case '?':
	case 'h':
	case 'H':
	case KEY_F(1):
		return KEYMAP_HELP;
	case 'q':
	case 'Q':
		return KEYMAP_QUIT;
	default:
		return KEYMAP_NONE;
	}
}

static const struct keymap_help keymap_rows[] = {
	{"W / Up", "throttle one step up (forward)"},
	{"S / Down", "throttle one step down (backward)"},
	{"A / Left", "steer one step left"},
	{"D / Right", "steer one step right"},
	{"Space / X", "stop: setpoint to zero"},
	{"E", "e-stop on / off (latched on the car)"},
	{"+ / -", "speed limit up / down by 10"},
	{"Tab", "next car"},
	{"? / H / F1", "this help (any key closes it)"},
	{"Q", "quit (the car stops)"},
};

const struct keymap_help *keymap_help(int *count)
{
	*count = (int)(sizeof(keymap_rows) / sizeof(keymap_rows[0]));
	return keymap_rows;
}
