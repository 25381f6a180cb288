/* SPDX-License-Identifier: MIT */
/*
 * tui.h: pc-console's live dashboard (ncurses): the cars, the selected
 * car's state, and keyboard or gamepad driving through the teleop rule.
 * The screen is built once per frame and written once (ncurses' refresh);
 * the terminal is restored on quit, on SIGINT/SIGTERM and on a crash.
 */
#ifndef TUI_H
#define TUI_H

#include "settings.h"

/**
 * @brief Run the dashboard on the terminal until Q, SIGINT or SIGTERM.
 * @return The exit status (0, or 1 on a failure, said on stderr).
 */
int tui_run(const struct console_settings *s);

#endif
