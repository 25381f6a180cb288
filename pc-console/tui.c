// SPDX-License-Identifier: MIT
/*
 * tui.c: the dashboard; see tui.h. Everything runs on the one loop: keys
 * (stdin), the gamepad, the fleet's MQTT messages, the streaming timer,
 * the frame timer, and SIGINT/SIGTERM/SIGWINCH through a signalfd. Log
 * lines (ours and the MQTT wrapper's) would tear the screen, so stderr is a
 * pipe while the dashboard runs: the last line shows on the screen and all
 * of them are written to the real stderr on the way out.
 */
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "gamepad.h"
#include "iotcar/fleet.h"
#include "iotcar/log.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"
#include "keymap.h"
#include "teleop.h"

/* A frame every 50 ms at most; ages on screen tick once a second. */
#define TUI_FRAME_MS 50
/* The round-trip median covers this much of the past. */
#define TUI_RTT_WINDOW_MS 5000
#define TUI_MIN_COLS 64
#define TUI_MIN_ROWS 20
#define TUI_LOG_KEEP 16

enum tui_req {
	TUI_REQ_DRIVE,
	TUI_REQ_ESTOP,
	TUI_REQ_LIMIT,
};

struct tui {
	const struct console_settings *s;
	struct iotcar_loop *loop;
	struct iotcar_fleet *fleet;
	struct teleop tp;
	struct teleop_rtt rtt;
	struct iotcar_timer *send_timer;
	struct iotcar_timer *frame_timer;
	struct gamepad *pad;
	struct gamepad_input pad_in;
	char car[IOTCAR_ID_MAX + 1];
	struct iotcar_state st;
	bool has_state;
	int64_t state_ms;
	/* The speed limit asked for and not yet in a state, or -1: keys
	 * pressed quickly step from it, not from the older state. */
	int limit_want;
	/* The last thing worth telling: a refusal, a log line, a switch. */
	char note[200];
	bool note_bad;
	bool help;
	bool dirty;
	SCREEN *screen;
	int64_t last_frame_ms;
	/* stderr while the dashboard runs: a pipe we read. */
	int log_fd;
	int saved_stderr;
	char log_part[512];
	size_t log_part_len;
	char log_keep[TUI_LOG_KEEP][512];
	size_t log_count;
	int exit;
};

/* ==== The terminal, whatever happens ==== */

/*
 * A crash must not leave the user's terminal raw and on the alternate
 * screen: the handler puts back the saved modes with async-signal-safe
 * calls only, then lets the signal do what it would have done.
 */
static struct termios tui_saved_termios;
static volatile sig_atomic_t tui_have_termios;
static volatile sig_atomic_t tui_crash_stderr = -1;

static void tui_on_crash(int signo)
{
	static const char reset[] = "\033[0m\033[?25h\033[?1049l\r\n";

	if (tui_have_termios)
		tcsetattr(STDIN_FILENO, TCSANOW, &tui_saved_termios);
	if (write(STDOUT_FILENO, reset, sizeof(reset) - 1) < 0) {
		/* Nothing more can be done from here. */
	}
	if (tui_crash_stderr >= 0)
		dup2(tui_crash_stderr, STDERR_FILENO);
	signal(signo, SIG_DFL);
	raise(signo);
}

static void tui_guard_terminal(void)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	struct sigaction sa = {.sa_handler = tui_on_crash};

	if (tcgetattr(STDIN_FILENO, &tui_saved_termios) == 0)
		tui_have_termios = 1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

/* ==== Log lines ==== */

static void tui_keep_log(struct tui *t, const char *line, size_t len)
{
	char *slot = t->log_keep[t->log_count % TUI_LOG_KEEP];

	snprintf(slot, sizeof(t->log_keep[0]), "%.*s", (int)len, line);
	t->log_count++;
	/* "12:00:00.000 pc-console: warning: text": show the text part. */
	iotcar_strlcpy(t->note,
		       strstr(slot, ": ") ? strstr(slot, ": ") + 2 : slot,
		       sizeof(t->note));
	t->note_bad = true;
	t->dirty = true;
}

static void tui_on_log(void *ctx, int fd, uint32_t events)
{
	struct tui *t = ctx;
	char buf[1024];
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' ||
			    t->log_part_len == sizeof(t->log_part) - 1) {
				tui_keep_log(t, t->log_part, t->log_part_len);
				t->log_part_len = 0;
			}
			if (buf[i] != '\n')
				t->log_part[t->log_part_len++] = buf[i];
		}
	}
}

static int tui_capture_log(struct tui *t)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	t->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (t->saved_stderr < 0 || dup2(p[1], STDERR_FILENO) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	close(p[1]);
	t->log_fd = p[0];
	tui_crash_stderr = t->saved_stderr;
	return iotcar_loop_add_fd(t->loop, t->log_fd, EPOLLIN, tui_on_log, t);
}

/* Put stderr back and repeat there what was logged meanwhile. */
static void tui_release_log(struct tui *t)
{
	size_t first;

	if (t->log_fd < 0)
		return;
	tui_on_log(t, t->log_fd, EPOLLIN);
	iotcar_loop_del_fd(t->loop, t->log_fd);
	dup2(t->saved_stderr, STDERR_FILENO);
	close(t->saved_stderr);
	close(t->log_fd);
	t->log_fd = -1;
	tui_crash_stderr = -1;
	first = t->log_count > TUI_LOG_KEEP ? t->log_count - TUI_LOG_KEEP : 0;
	for (size_t i = first; i < t->log_count; i++)
		fprintf(stderr, "%s\n", t->log_keep[i % TUI_LOG_KEEP]);
}

/* ==== What the screen says ==== */

static void tui_note(struct tui *t, bool bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tui_note(struct tui *t, bool bad, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	iotcar_vformat_text(t->note, sizeof(t->note), fmt, ap);
	va_end(ap);
	t->note_bad = bad;
	t->dirty = true;
}

/* A bar centred on 0 for -100..100: "[-----|###--]". */
static void tui_bar(int y, int x, int width, int value)
{
	int mid = width / 2;
	int fill = value * mid / 100;

	mvaddch(y, x, '[');
	for (int i = 0; i < width; i++) {
		int off = i - mid;
		char c = '-';

		if (i == mid)
			c = '|';
		else if ((fill > 0 && off > 0 && off <= fill) ||
			 (fill < 0 && off < 0 && off >= fill))
			c = '#';
		addch((chtype)c);
	}
	addch(']');
}

/* A gauge 0..max with the stop distance marked by '!'. */
static void tui_gauge(int y, int x, int width, bool has, double value,
		      double max, double mark)
{
	int fill = has ? (int)(value / max * width + 0.5) : 0;
	int at = (int)(mark / max * width + 0.5);

	mvaddch(y, x, '[');
	for (int i = 0; i < width; i++) {
		char c = i < fill ? '=' : has ? '.' : '?';

		if (i == at)
			c = '!';
		addch((chtype)c);
	}
	addch(']');
}

static const char *tui_on_off(bool on)
{
	return on ? "ON" : "OFF";
}

static void tui_draw_cars(struct tui *t, int y)
{
	const char *ids[64];
	size_t n = iotcar_fleet_cars(t->fleet, false, ids, 64);
	int x = 7;

	mvprintw(y, 0, "cars:");
	if (!n)
		mvprintw(y, x, "(none seen on the broker yet)");
	for (size_t i = 0; i < n && x < COLS - 20; i++) {
		bool sel = !strcmp(ids[i], t->car);
		bool on = iotcar_fleet_car_status(t->fleet, ids[i], NULL) == 1;

		if (sel)
			attron(A_REVERSE);
		mvprintw(y, x, "%s%s%s", sel ? "[" : " ", ids[i],
			 sel ? "]" : " ");
		if (sel)
			attroff(A_REVERSE);
		printw(" %s  ", on ? "online" : "offline");
		getyx(stdscr, y, x);
	}
}

static void tui_draw_state(struct tui *t, int y, int64_t now)
{
	const struct iotcar_state *st = &t->st;
	int bw = COLS - 40 > 41 ? 41 : COLS - 40;

	if (!t->has_state) {
		mvprintw(y, 2, "no state from %s yet", t->car);
		return;
	}
	attron(A_BOLD);
	mvprintw(y, 2, "mode      %-10s", iotcar_mode_name(st->mode));
	attroff(A_BOLD);
	printw("   seq %llu, %.1f s ago", (unsigned long long)st->seq,
	       (double)(now - t->state_ms) / 1000.0);
	mvprintw(y + 2, 2, "throttle");
	tui_bar(y + 2, 12, bw, st->throttle);
	printw(" %+4d  setpoint %+4d", st->throttle, t->tp.throttle);
	mvprintw(y + 3, 2, "steer");
	tui_bar(y + 3, 12, bw, st->steer);
	printw(" %+4d  setpoint %+4d", st->steer, t->tp.steer);
	/* An Ackermann car has one motor (or ESC): left and right are it. */
	mvprintw(y + 4, 2, st->ackermann ? "motor" : "left");
	tui_bar(y + 4, 12, bw, st->left);
	printw(" %+4d", st->left);
	if (st->ackermann) {
		mvprintw(y + 5, 2,
			 "ackermann: steer is the wheels' angle, "
			 "A/D turn them");
	} else {
		mvprintw(y + 5, 2, "right");
		tui_bar(y + 5, 12, bw, st->right);
		printw(" %+4d", st->right);
	}
	mvprintw(y + 7, 2, "distance");
	tui_gauge(y + 7, 12, bw, st->has_distance, st->distance_cm,
		  t->s->max_distance_cm, t->s->stop_distance_cm);
	if (st->has_distance)
		printw(" %.1f cm", st->distance_cm);
	else
		printw(" no reading");
	mvprintw(y + 8, 12, "! = stop distance %.0f cm",
		 t->s->stop_distance_cm);
	mvprintw(y + 10, 2, "speed limit %d %%", st->speed_limit);
	mvprintw(y + 10, 22, "e-stop ");
	if (st->estop)
		attron(A_REVERSE | A_BOLD);
	printw("%s", tui_on_off(st->estop));
	attroff(A_REVERSE | A_BOLD);
	printw("   obstacle ");
	if (st->obstacle)
		attron(A_REVERSE | A_BOLD);
	printw("%s", tui_on_off(st->obstacle));
	attroff(A_REVERSE | A_BOLD);
	printw("   moving %s   ttl %d ms", tui_on_off(st->moving), st->ttl_ms);
}

static void tui_draw_link(struct tui *t, int y, int64_t now)
{
	int status = iotcar_fleet_car_status(t->fleet, t->car, NULL);
	size_t n;
	int64_t p50 = teleop_rtt_p50(&t->rtt, now, TUI_RTT_WINDOW_MS, &n);

	mvprintw(y, 2, "link      broker %s, ",
		 iotcar_fleet_is_connected(t->fleet) ? "connected"
						     : "LOST (reconnecting)");
	attron(A_BOLD);
	printw("%s %s", t->car,
	       status == 1   ? "ONLINE"
	       : status == 0 ? "OFFLINE"
			     : "UNKNOWN (never seen)");
	attroff(A_BOLD);
	if (p50 >= 0)
		printw("   rtt p50 %.2f ms (%zu in %d s)", (double)p50 / 1000.0,
		       n, TUI_RTT_WINDOW_MS / 1000);
	else
		printw("   rtt -");
	mvprintw(y + 1, 2, "driving   %s",
		 teleop_is_driving(&t->tp)
			 ? "streaming the setpoint"
			 : "setpoint zero, nothing streaming");
	if (teleop_is_driving(&t->tp))
		printw(" at %d Hz, ttl %d ms", 1000 / t->tp.period_ms,
		       t->tp.ttl_ms);
	if (t->pad)
		printw("   gamepad %s", gamepad_path(t->pad));
}

static void tui_draw_help(void)
{
	int n;
	const struct keymap_help *h = keymap_help(&n);
	int y = 4;

	attron(A_BOLD);
	mvprintw(2, 4,
		 "Keys (a terminal sends no key-up: a press moves the "
		 "setpoint, which holds)");
	attroff(A_BOLD);
	for (int i = 0; i < n; i++)
		mvprintw(y + i, 6, "%-14s %s", h[i].keys, h[i].what);
	mvprintw(y + n + 1, 4,
		 "While the setpoint is not zero it is sent again and again, "
		 "each command");
	mvprintw(y + n + 2, 4,
		 "living a short TTL: if this console dies, the car stops by "
		 "itself.");
	mvprintw(y + n + 4, 4, "Press any key to go back.");
}

static void tui_draw(struct tui *t)
{
	int64_t now = iotcar_clock_ms();

	t->last_frame_ms = now;
	t->dirty = false;
	erase();
	if (COLS < TUI_MIN_COLS || LINES < TUI_MIN_ROWS) {
		mvprintw(0, 0,
			 "pc-console: the terminal is %dx%d; make it at "
			 "least %dx%d (Q quits)",
			 COLS, LINES, TUI_MIN_COLS, TUI_MIN_ROWS);
		refresh();
		return;
	}
	attron(A_BOLD);
	mvprintw(0, 0, "iotcar pc-console %s", IOTCAR_VERSION);
	attroff(A_BOLD);
	printw("   %s   car %s", t->s->common.broker, t->car);
	if (t->help) {
		tui_draw_help();
		refresh();
		return;
	}
	tui_draw_cars(t, 1);
	mvhline(2, 0, '-', COLS);
	tui_draw_link(t, 3, now);
	tui_draw_state(t, 6, now);
	if (t->note[0]) {
		if (t->note_bad)
			attron(A_BOLD);
		mvprintw(LINES - 3, 2, "%.*s", COLS - 4, t->note);
		attroff(A_BOLD);
	}
	mvhline(LINES - 2, 0, '-', COLS);
	mvprintw(LINES - 1, 0,
		 "W/S throttle  A/D steer  Space stop  E e-stop  +/- limit "
		 "Tab car  ? help  Q quit");
	/* One write to the terminal per frame: ncurses sends the diff. */
	refresh();
}

static void tui_on_frame(void *ctx)
{
	struct tui *t = ctx;

	if (t->dirty || iotcar_clock_ms() - t->last_frame_ms >= 1000)
		tui_draw(t);
}

/* ==== Driving ==== */

static void tui_request(struct tui *t, const struct iotcar_set *set,
			enum tui_req kind)
{
	iotcar_fleet_request(t->fleet, t->car, set, &kind, sizeof(kind));
}

/* Send what the streaming rule says is due, and wake for the next one. */
static void tui_pump(struct tui *t)
{
	struct iotcar_set set = {.fields = IOTCAR_SET_DRIVE};
	int64_t now = iotcar_clock_ms();
	int64_t next;

	if (teleop_due(&t->tp, now, &set.drive))
		tui_request(t, &set, TUI_REQ_DRIVE);
	next = teleop_wake_ms(&t->tp);
	if (next >= 0)
		iotcar_timer_start_at(t->send_timer, next);
	else
		iotcar_timer_stop(t->send_timer);
}

static void tui_on_send(void *ctx)
{
	tui_pump(ctx);
}

/* Zero the setpoint without sending: the car cannot be driven anyway. */
static void tui_hold(struct tui *t)
{
	teleop_set(&t->tp, 0, 0);
	t->tp.dirty = false;
	tui_pump(t);
}

/* Any non-zero setpoint ends with a stop, to the car it was meant for. */
static void tui_stop_driving(struct tui *t)
{
	if (teleop_is_driving(&t->tp)) {
		teleop_apply(&t->tp, KEYMAP_STOP);
		tui_pump(t);
	}
}

static void tui_load_state(struct tui *t)
{
	const char *json = iotcar_fleet_state(t->fleet, t->car);

	t->has_state = json && !iotcar_state_parse(json, strlen(json), &t->st);
	if (t->has_state && t->st.speed_limit == t->limit_want)
		t->limit_want = -1;
	t->state_ms = iotcar_clock_ms();
	t->dirty = true;
}

static void tui_next_car(struct tui *t)
{
	const char *ids[64];
	size_t n = iotcar_fleet_cars(t->fleet, false, ids, 64);
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n && strcmp(ids[i], t->car) <= 0; i++)
		;
	tui_stop_driving(t);
	iotcar_strlcpy(t->car, ids[i < n ? i : 0], sizeof(t->car));
	t->limit_want = -1;
	teleop_init(&t->tp, t->s->step, t->s->ttl_ms, t->s->rate_hz);
	tui_pump(t);
	t->rtt = (struct teleop_rtt){0};
	tui_load_state(t);
	tui_note(t, false, "now driving %s", t->car);
}

static void tui_toggle_estop(struct tui *t)
{
	struct iotcar_set set = {.fields = IOTCAR_SET_ESTOP};

	set.estop = !(t->has_state && t->st.estop);
	if (set.estop)
		tui_hold(t);
	tui_request(t, &set, TUI_REQ_ESTOP);
}

static void tui_step_limit(struct tui *t, int delta)
{
	struct iotcar_set set = {.fields = IOTCAR_SET_SPEED_LIMIT};
	int now = t->limit_want >= 0 ? t->limit_want
		  : t->has_state     ? t->st.speed_limit
				     : 100;

	set.speed_limit = now + delta > 100 ? 100
			  : now + delta < 0 ? 0
					    : now + delta;
	t->limit_want = set.speed_limit;
	tui_request(t, &set, TUI_REQ_LIMIT);
}

static void tui_key(struct tui *t, int key)
{
	enum keymap_action a = keymap_action(key);

	if (t->help) {
		t->help = false;
		t->dirty = true;
		if (a != KEYMAP_QUIT)
			return;
	}
	switch (a) {
	case KEYMAP_THROTTLE_UP:
	case KEYMAP_THROTTLE_DOWN:
	case KEYMAP_STEER_LEFT:
	case KEYMAP_STEER_RIGHT:
	case KEYMAP_STOP:
		if (teleop_apply(&t->tp, a))
			tui_pump(t);
		break;
	case KEYMAP_ESTOP_TOGGLE:
		tui_toggle_estop(t);
		break;
	case KEYMAP_LIMIT_UP:
		tui_step_limit(t, 10);
		break;
	case KEYMAP_LIMIT_DOWN:
		tui_step_limit(t, -10);
		break;
	case KEYMAP_NEXT_CAR:
		tui_next_car(t);
		break;
	case KEYMAP_HELP:
		t->help = true;
		break;
	case KEYMAP_QUIT:
		t->exit = 0;
		iotcar_loop_stop(t->loop);
		break;
	case KEYMAP_NONE:
		break;
	}
	t->dirty = true;
}

static void tui_on_stdin(void *ctx, int fd, uint32_t events)
{
	struct tui *t = ctx;
	int ch;

	(void)fd;
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* The terminal is gone: nobody is driving any more. */
		log_warning("the terminal closed; stopping");
		t->exit = 1;
		iotcar_loop_stop(t->loop);
		return;
	}
	while ((ch = getch()) != ERR)
		tui_key(t, ch);
}

/* ==== Gamepad ==== */

static void tui_on_pad(void *ctx, int fd, uint32_t events)
{
	struct tui *t = ctx;
	struct gamepad_input *in = &t->pad_in;

	(void)fd;
	(void)events;
	if (gamepad_read(t->pad, in)) {
		tui_note(t, true, "gamepad %s is gone; setpoint zero",
			 gamepad_path(t->pad));
		iotcar_loop_del_fd(t->loop, gamepad_fd(t->pad));
		gamepad_close(t->pad);
		t->pad = NULL;
		tui_stop_driving(t);
		return;
	}
	if (in->moved && teleop_set(&t->tp, in->throttle, in->steer))
		tui_pump(t);
	if (in->stop)
		tui_key(t, ' ');
	if (in->estop)
		tui_toggle_estop(t);
	in->moved = in->stop = in->estop = false;
	t->dirty = true;
}

static void tui_open_pad(struct tui *t)
{
	if (!strcmp(t->s->gamepad, "off"))
		return;
	t->pad = gamepad_open(t->s->gamepad);
	if (!t->pad) {
		/* "auto" without a joystick is the usual case: say nothing. */
		if (strcmp(t->s->gamepad, "auto"))
			tui_note(t, true, "gamepad %s: %s", t->s->gamepad,
				 strerror(errno));
		return;
	}
	if (iotcar_loop_add_fd(t->loop, gamepad_fd(t->pad), EPOLLIN, tui_on_pad,
			       t)) {
		gamepad_close(t->pad);
		t->pad = NULL;
	}
}

/* ==== The fleet ==== */

static void tui_on_answer(void *ctx, const void *waiter,
			  const struct iotcar_fleet_answer *a)
{
	struct tui *t = ctx;
	enum tui_req kind;

	memcpy(&kind, waiter, sizeof(kind));
	if (a->outcome == IOTCAR_FLEET_OK || a->outcome == IOTCAR_FLEET_REFUSED)
		teleop_rtt_add(&t->rtt, iotcar_clock_ms(), a->rtt_us);
	if (kind == TUI_REQ_LIMIT && a->outcome != IOTCAR_FLEET_OK)
		t->limit_want = -1;
	if (a->outcome == IOTCAR_FLEET_OK) {
		if (kind != TUI_REQ_DRIVE)
			tui_note(t, false, "%s: %s confirmed", a->car,
				 kind == TUI_REQ_ESTOP ? "e-stop"
						       : "speed limit");
		return;
	}
	if (a->outcome == IOTCAR_FLEET_REFUSED && a->error &&
	    !strcmp(a->error, "estop") && !strcmp(a->car, t->car)) {
		tui_hold(t);
		tui_note(t, true, "%s: e-stop is latched; press E to release",
			 a->car);
		return;
	}
	tui_note(t, true, "%s: %s", a->car, a->text);
}

static void tui_on_status(void *ctx, const char *car, bool online,
			  const char *why)
{
	struct tui *t = ctx;

	if (strcmp(car, t->car)) {
		t->dirty = true;
		return;
	}
	if (!online) {
		tui_hold(t);
		tui_note(t, true, "%s went offline (%s)", car, why);
	} else {
		tui_note(t, false, "%s is online", car);
	}
}

static void tui_on_state(void *ctx, const char *car, const char *json)
{
	struct tui *t = ctx;

	(void)json;
	if (!strcmp(car, t->car))
		tui_load_state(t);
}

static void tui_on_disconnected(void *ctx, const char *reason)
{
	struct tui *t = ctx;

	tui_hold(t);
	tui_note(t, true, "lost the broker (%s); reconnecting", reason);
}

/* ==== Life cycle ==== */

static void tui_on_signal(void *ctx, int signo)
{
	struct tui *t = ctx;
	struct winsize ws;

	if (signo == SIGWINCH) {
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			resizeterm(ws.ws_row, ws.ws_col);
		t->dirty = true;
		tui_draw(t);
		return;
	}
	t->exit = 0;
	iotcar_loop_stop(t->loop);
}

static int tui_open_curses(struct tui *t)
{
	t->screen = newterm(NULL, stdout, stdin);
	if (!t->screen)
		return -ENOTTY;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	return iotcar_loop_add_fd(t->loop, STDIN_FILENO, EPOLLIN, tui_on_stdin,
				  t);
}

static void tui_close_curses(struct tui *t)
{
	if (!t->screen)
		return;
	iotcar_loop_del_fd(t->loop, STDIN_FILENO);
	endwin();
	delscreen(t->screen);
	t->screen = NULL;
}

static int tui_start(struct tui *t, char *err, size_t errlen)
{
	static const int signals[] = {SIGINT, SIGTERM, SIGWINCH};
	static const struct iotcar_fleet_handlers fh = {
		.answer = tui_on_answer,
		.status = tui_on_status,
		.state = tui_on_state,
		.disconnected = tui_on_disconnected,
	};
	struct iotcar_fleet_config fc = {
		.prefix = t->s->common.prefix,
		.timeout_ms = 1000,
	};
	struct iotcar_mqtt_opts mo;
	char session[32];
	char password[256];
	int ret;

	cli_session_id(session, sizeof(session));
	fc.id_prefix = session;
	t->loop = iotcar_loop_new();
	if (!t->loop ||
	    iotcar_loop_watch_signals(t->loop, signals, 3, tui_on_signal, t)) {
		snprintf(err, errlen, "cannot set up the event loop");
		return -EIO;
	}
	ret = iotcar_mqtt_opts_from_settings(&t->s->common, session, &mo,
					     password, sizeof(password), err,
					     errlen);
	if (ret)
		return ret;
	t->send_timer = iotcar_timer_new(t->loop, tui_on_send, t);
	t->frame_timer = iotcar_timer_new(t->loop, tui_on_frame, t);
	t->fleet = t->send_timer && t->frame_timer
			   ? iotcar_fleet_new(t->loop, &fc, &mo, &fh, t)
			   : NULL;
	explicit_bzero(password, sizeof(password));
	if (!t->fleet) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	tui_guard_terminal();
	if (tui_open_curses(t)) {
		snprintf(err, errlen, "cannot open the terminal (TERM=%s)",
			 getenv("TERM") ? getenv("TERM") : "unset");
		return -ENOTTY;
	}
	if (tui_capture_log(t))
		log_warning("log lines will tear the screen");
	tui_open_pad(t);
	if (iotcar_fleet_start(t->fleet) ||
	    iotcar_timer_start(t->frame_timer, TUI_FRAME_MS, TUI_FRAME_MS)) {
		snprintf(err, errlen, "cannot start the MQTT client");
		return -EIO;
	}
	tui_draw(t);
	return 0;
}

int tui_run(const struct console_settings *s)
{
	struct tui t = {.s = s,
			.log_fd = -1,
			.saved_stderr = -1,
			.exit = 1,
			.limit_want = -1};
	char err[512] = "";

	iotcar_strlcpy(t.car, s->car, sizeof(t.car));
	teleop_init(&t.tp, s->step, s->ttl_ms, s->rate_hz);
	if (tui_start(&t, err, sizeof(err)) == 0 && iotcar_loop_run(t.loop))
		snprintf(err, sizeof(err), "event loop failed: %s",
			 strerror(errno));
	/* Whatever ended the run, the car is left stopped. */
	if (t.fleet)
		tui_stop_driving(&t);
	tui_close_curses(&t);
	tui_release_log(&t);
	iotcar_fleet_free(t.fleet);
	if (t.pad)
		iotcar_loop_del_fd(t.loop, gamepad_fd(t.pad));
	gamepad_close(t.pad);
	iotcar_timer_free(t.send_timer);
	iotcar_timer_free(t.frame_timer);
	iotcar_loop_free(t.loop);
	if (err[0]) {
		fprintf(stderr, "pc-console: %s\n", err);
		return 1;
	}
	return t.exit;
}
