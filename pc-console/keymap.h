/* SPDX-License-Identifier: MIT */
/*
 * keymap.h: which key does what in the TUI. Keys are ncurses key codes
 * (a character, or KEY_UP and friends).
 */
#ifndef KEYMAP_H
#define KEYMAP_H

enum keymap_action {
	KEYMAP_NONE,
	KEYMAP_THROTTLE_UP,
	KEYMAP_THROTTLE_DOWN,
	KEYMAP_STEER_LEFT,
	KEYMAP_STEER_RIGHT,
	KEYMAP_STOP,
	KEYMAP_ESTOP_TOGGLE,
	KEYMAP_LIMIT_UP,
	KEYMAP_LIMIT_DOWN,
	KEYMAP_NEXT_CAR,
	KEYMAP_HELP,
	KEYMAP_QUIT,
};

/** @brief The action of @p key, or KEYMAP_NONE. */
enum keymap_action keymap_action(int key);

/** One line of the help screen per action: keys and what they do. */
struct keymap_help {
	const char *keys;
	const char *what;
};

/** @brief The help table, @p *count rows. Static. */
const struct keymap_help *keymap_help(int *count);

#endif
