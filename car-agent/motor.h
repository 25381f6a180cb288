/* SPDX-License-Identifier: MIT */
/*
 * motor.h: from throttle and steer to the levels of the car's outputs.
 * Differential mixing, the Ackermann car's throttle and steering, the pin
 * levels of each motor driver and the pulse width of a servo or an ESC.
 * Pure functions: no hardware, no time.
 */
#ifndef MOTOR_H
#define MOTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum motor_drivetrain {
	/* Two wheels (or sides) driven apart: steer by their difference. */
	MOTOR_DIFFERENTIAL,
	/* A steering servo and one throttle (an ESC or an H-bridge). */
	MOTOR_ACKERMANN,
};

/** What the agent asks of the hardware (struct hal's set_outputs). */
struct motor_outputs {
	/* -100..100. Differential: each wheel's duty. Ackermann: both are
	 * the throttle, after the speed limit. */
	int left;
	int right;
	/* Ackermann: the steering, -100 full left .. 100 full right;
	 * 0 on a differential car. */
	int steer;
	/* Stopped by a safety rule (deadman, link loss, e-stop, obstacle):
	 * a TB6612 goes to standby. */
	bool standby;
};

static inline bool motor_outputs_same(const struct motor_outputs *x,
				      const struct motor_outputs *y)
{
	return x->left == y->left && x->right == y->right &&
	       x->steer == y->steer && x->standby == y->standby;
}

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

/**
 * @brief The outputs of a @p drivetrain car for @p throttle and @p steer.
 * Differential: motor_mix(). Ackermann: the throttle scaled by the limit
 * into left and right alike, the steering as it is (the limit is a
 * speed's, not an angle's). @p standby is left false.
 */
void motor_outputs(enum motor_drivetrain drivetrain, int throttle, int steer,
		   int speed_limit_pct, struct motor_outputs *out);

/* The drivers of a DC motor, by how their pins are driven. */
enum motor_driver {
	/* IN1/IN2 set the direction, EN carries the PWM (L298N). */
	MOTOR_L298N,
	/* PWM on IN1 forward, on IN2 backward; no enable pin (DRV8833,
	 * L9110S, the PCA9685 boards of Freenove's car). */
	MOTOR_TWO_PIN,
	/* IN1/IN2 set the direction, PWM carries the duty, STBY high to run
	 * (TB6612FNG). */
	MOTOR_TB6612,
};

enum motor_pin {
	MOTOR_IN1,
	MOTOR_IN2,
	/* L298N: EN; TB6612: PWM; unused by two_pin. */
	MOTOR_EN,
	MOTOR_PINS,
};

/* A pin's level is a duty in 1/4096 (the PCA9685's steps): 0 is low, this
 * is high all the time. */
#define MOTOR_LEVEL_FULL 4096

/**
 * @brief The levels of one motor's pins for @p duty (-100..100, clamped).
 * At 0 the motor coasts (every pin low), or brakes with @p brake (both
 * inputs high; an L298N's EN high too, a TB6612's PWM low). The TB6612's
 * STBY is not a pin of one motor: it is high unless the outputs say
 * standby.
 */
void motor_levels(enum motor_driver driver, int duty, bool brake,
		  int level[MOTOR_PINS]);

/* The pulse widths of a servo or an ESC: at -100, 0 and 100. */
struct motor_pulse {
	int neg_us;
	int mid_us;
	int pos_us;
};

/**
 * @brief The pulse width for @p pct (-100..100, clamped): linear from
 * mid_us to pos_us above 0 and to neg_us below, rounded to the µs, so an
 * uneven calibration still has its centre at 0.
 */
int motor_pulse_us(const struct motor_pulse *cal, int pct);

/**
 * @brief Check a calibration: every width 500..2500 µs, mid_us strictly
 * between the other two (either way round: a reversed servo has
 * neg_us > pos_us). Returns 0, or -EINVAL with the reason in @p err.
 */
int motor_pulse_check(const struct motor_pulse *cal, const char *what,
		      char *err, size_t errlen);

/* How long an ESC's reverse arming holds each of its two steps. */
#define MOTOR_ESC_STEP_MS 100

/*
 * An ESC in forward/brake/reverse mode (most car ESCs) takes the first
 * reverse pulse after forward or neutral as a brake, and reverses only at
 * the next one after a return to neutral: the double tap.
 */
struct motor_esc {
	enum {
		MOTOR_ESC_AHEAD,
		MOTOR_ESC_BRAKE,
		MOTOR_ESC_NEUTRAL,
		MOTOR_ESC_REVERSE,
	} phase;
	int64_t until_ms;
};

/**
 * @brief The throttle to send now for the wanted @p throttle: as it is,
 * except that going into reverse takes its reverse pulse for
 * MOTOR_ESC_STEP_MS (the ESC brakes), neutral for as long, then reverse.
 * Any throttle of 0 or more ends the sequence at once. @p wake_ms is when
 * to ask again (0: no need).
 */
int motor_esc_throttle(struct motor_esc *esc, int throttle, int64_t now_ms,
		       int64_t *wake_ms);

#endif
