// SPDX-License-Identifier: MIT
/*
 * naps.h: Paho's 100 ms naps and first 10 ms poll cut to 1 ms, for the
 * one-shot commands.
 */
#ifndef IOTCAR_NAPS_H
#define IOTCAR_NAPS_H

#include <stdbool.h>

/** @brief Turn the short naps on (one-shot commands) or off. */
void naps_short(bool on);

#endif
