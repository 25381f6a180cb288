/* SPDX-License-Identifier: MIT */
/*
 * motor.h: differential-drive mixing. Throttle and steer in, the two wheel
 * duties out, after the speed limit. Pure functions: no hardware, no time.
 */
#ifndef MOTOR_H
#define MOTOR_H

/**
 * @brief Mix @p throttle and @p steer (-100..100) into wheel duties.
 *
 * left = throttle + steer, right = throttle - steer; when either passes 100
 * both are scaled down together so the turn keeps its shape; then both are
 * scaled by @p speed_limit_pct (0..100), which therefore limits turning in
 * place as well as straight driving. Inputs outside their ranges are
 * clamped.
 */
void motor_mix(int throttle, int steer, int speed_limit_pct, int *left,
	       int *right);

#endif
