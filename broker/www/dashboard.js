// SPDX-License-Identifier: MIT
/*
 * dashboard.js: the web dashboard's logic. MQTT.js (the global `mqtt`)
 * connects back to where the page came from, at /mqtt: Mosquitto's own
 * websockets listener (the demo), or nginx passing wss:// on to it (the
 * production setup, broker/nginx-iotcar.conf); it logs in when the broker
 * asks.
 *
 * Driving follows the console's rule: while a finger, the mouse or a key
 * holds a direction, the setpoint is sent on `set` at 20 Hz with a short
 * TTL; letting go sends `stop` at once, and closing, hiding or leaving the
 * page stops sending — the car's deadman then stops it within the TTL
 * even if that last `stop` never leaves the page.
 *
 * Every command quotes the newest of the car's link pings the page has
 * heard (`link`), so the car can tell how old it is at most: one held up
 * by a phone's Wi-Fi for a second is refused as stale, never obeyed late.
 * A release names the e-stop latch it releases, so it cannot undo a newer
 * one pressed elsewhere.
 *
 * Presence follows the console's (common/include/iotcar/fleet.h): the car
 * is online while it is heard live (its pings, four a second), offline
 * once it has not been for PRESENCE_MS, when it says so or its edge
 * broker's bridge notification does (`edge` is 0); a retained
 * `online` counts only for SETTLE_MS after subscribing. A car heard before
 * any state of it came is asked for one on `get`: a broker that keeps no
 * retained messages (or a cluster node that has not got them) still fills
 * the page in.
 */
'use strict';

const STREAM_MS = 50;
const TTL_MS = 300;
const PRESENCE_MS = 3000;
const SETTLE_MS = 1000;

const params = new URLSearchParams(location.search);
const car = params.get('car') || 'car1';
const prefix = params.get('prefix') || 'iotcar';
const base = `${prefix}/${car}`;
const $ = (id) => document.getElementById(id);

$('car').textContent = car;
document.title = `iotcar ${car}`;

let client = null;
let state = null;
let link = null; // the newest link ping heard, with the time it came
let online = false;
let heard = 0; // when the car was last heard live (Date.now()), 0: not yet
let subscribed = 0; // when the page subscribed
let asked = false; // sent `get` on this connection

function badge(el, on, text) {
  el.textContent = text;
  el.classList.toggle('on', on);
  el.classList.toggle('off', !on);
}

/*
 * Logging in. The page first connects with the user name and password it
 * kept (for this tab in sessionStorage, or in localStorage when the user
 * ticked "remember"), or with none: the demo's broker lets anyone in. A
 * broker that refuses the login (MQTT 3.1.1 return code 4 or 5, MQTT 5
 * reason 134 or 135) gets the login form, with why, instead of retries.
 */
const KEY = 'iotcar-login';
const REFUSED = new Set([4, 5, 134, 135]);

function savedLogin() {
  const text = sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
  try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
}

function showLogin(message) {
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('user').focus();
}

function connect(login) {
  if (client) client.end(true);
  const options = { clean: true, reconnectPeriod: 1000, connectTimeout: 5000 };
  if (login) Object.assign(options, { username: login.user, password: login.password });
  client = mqtt.connect(
    `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`, options);
  client.on('connect', () => {
    $('login').hidden = true;
    if (login) {
      const text = JSON.stringify(login);
      sessionStorage.setItem(KEY, text);
      if (login.remember) localStorage.setItem(KEY, text);
      else localStorage.removeItem(KEY);
    }
    badge($('link'), true, login ? login.user : 'broker');
    client.subscribe([`${base}/status`, `${base}/state`, `${base}/event`,
      `${base}/edge`], { qos: 1 });
    client.subscribe(`${base}/link`, { qos: 0 });
    subscribed = Date.now();
    heard = 0;
    asked = false;
  });
  client.on('error', (err) => {
    if (!REFUSED.has(err.code)) return;
    client.end(true);
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    badge($('link'), false, 'logged out');
    showLogin(login
      ? `The broker refused ${login.user}: wrong user name or password, or not allowed.`
      : 'This broker wants a user name and password.');
  });
  client.on('close', () => {
    if ($('login').hidden) badge($('link'), false, 'no broker');
    setOnline(false);
  });
  client.on('message', onMessage);
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  connect({ user: $('user').value, password: $('password').value,
    remember: $('remember').checked });
});

function onMessage(topic, payload, packet) {
  const text = payload.toString();
  const live = !packet.retain;
  if (topic === `${base}/status`) {
    if (text !== 'online') setOnline(false, 'it said so');
    else if (live) heardLive();
    else setOnline(true);
  } else if (topic === `${base}/state`) {
    try { showState(JSON.parse(text)); } catch (e) { /* not ours */ }
    if (live) heardLive();
  } else if (topic === `${base}/edge` && text === '0') {
    setOnline(false, 'its edge broker is gone');
  } else if (topic === `${base}/event`) {
    try { showEvent(JSON.parse(text)); } catch (e) { /* not ours */ }
  } else if (topic === `${base}/link` && /^[1-9][0-9]{0,9}$/.test(text)) {
    link = { n: Number(text), at: Date.now() };
    heardLive();
  }
}

function heardLive() {
  heard = Date.now();
  setOnline(true);
  if (state || asked || !client) return;
  asked = true;
  client.publish(`${base}/get`, '', { qos: 1 });
}

function setOnline(on, why) {
  if (on === online && on) return;
  online = on;
  badge($('status'), on, on ? 'online' : `offline (${why || 'no broker'})`);
  document.body.classList.toggle('offline', !on);
  if (!on) release();
}

setInterval(() => {
  if (!online || !client || !client.connected) return;
  const now = Date.now();
  if (heard && now - heard >= PRESENCE_MS) {
    setOnline(false, `not heard for ${((now - heard) / 1000).toFixed(1)} s`);
  } else if (!heard && now - subscribed >= SETTLE_MS) {
    setOnline(false, 'its retained status is stale: not heard');
  }
}, 250);

function showState(s) {
  state = s;
  $('mode').textContent = s.mode;
  // An Ackermann car has one throttle and a steering angle.
  const ackermann = s.drivetrain === 'ackermann';
  $('duties-label').textContent =
    ackermann ? 'throttle / steering' : 'left / right';
  $('duties').textContent =
    ackermann ? `${s.left} / ${s.steer}` : `${s.left} / ${s.right}`;
  const d = s.distance_cm;
  $('distance').textContent = d === null ? '–' : `${d.toFixed(1)} cm`;
  $('distance-bar').style.width =
    d === null ? '0%' : `${Math.min(100, d / 2)}%`;
  $('moving').classList.toggle('on', s.moving === 'ON');
  $('obstacle').classList.toggle('on', s.obstacle === 'ON');
  $('estop-flag').classList.toggle('on', s.estop === 'ON');
  $('estop').classList.toggle('latched', s.estop === 'ON');
  $('estop').textContent = s.estop === 'ON' ? 'RELEASE' : 'E-STOP';
  if (!sliding) {
    $('speed').value = s.speed_limit;
    $('speed-value').textContent = s.speed_limit;
  }
}

function showEvent(e) {
  const li = document.createElement('li');
  const detail = e.reason || e.estop || (e.error && e.error.code) || '';
  li.textContent = `${new Date().toLocaleTimeString()} ${e.event} ${detail}`;
  const list = $('event-list');
  list.prepend(li);
  while (list.children.length > 5) list.lastChild.remove();
}

/* ==== Driving: one setpoint, streamed while held ==== */

let setpoint = null; // {throttle, steer} while held, else null
let timer = null;

function send() {
  if (!setpoint || !client || !client.connected) return;
  const cmd = {
    throttle: setpoint.throttle, steer: setpoint.steer, ttl_ms: TTL_MS,
  };
  // A ping older than the car's bound would only make it refuse.
  if (link && Date.now() - link.at < 1000) cmd.link = link.n;
  client.publish(`${base}/set`, JSON.stringify(cmd), { qos: 0 });
}

function hold(throttle, steer) {
  setpoint = { throttle: Math.round(throttle), steer: Math.round(steer) };
  send();
  if (!timer) timer = setInterval(send, STREAM_MS);
}

function release() {
  const was = setpoint !== null;
  setpoint = null;
  if (timer) clearInterval(timer);
  timer = null;
  knob(0, 0);
  document.querySelectorAll('#buttons .held')
    .forEach((b) => b.classList.remove('held'));
  if (was && client && client.connected) {
    client.publish(`${base}/set/drive`, 'stop', { qos: 1 });
  }
}

// Buttons: press and hold.
document.querySelectorAll('#buttons button[data-throttle]').forEach((b) => {
  b.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    b.setPointerCapture(ev.pointerId);
    b.classList.add('held');
    hold(Number(b.dataset.throttle), Number(b.dataset.steer));
  });
  for (const end of ['pointerup', 'pointercancel', 'lostpointercapture']) {
    b.addEventListener(end, release);
  }
});
$('stop').addEventListener('pointerdown', (ev) => {
  ev.preventDefault();
  release();
  client.publish(`${base}/set/drive`, 'stop', { qos: 1 });
});

// The joystick: up is forward, sideways is steer, both -100..100.
const pad = $('pad');
function knob(x, y) {
  $('knob').style.transform = `translate(${x}px, ${y}px)`;
}
function padMove(ev) {
  const r = pad.getBoundingClientRect();
  const radius = r.width / 2;
  let x = ev.clientX - (r.left + radius);
  let y = ev.clientY - (r.top + radius);
  const len = Math.hypot(x, y);
  if (len > radius) { x = x * radius / len; y = y * radius / len; }
  knob(x, y);
  hold(-y / radius * 100, x / radius * 100);
}
pad.addEventListener('pointerdown', (ev) => {
  ev.preventDefault();
  pad.setPointerCapture(ev.pointerId);
  padMove(ev);
});
pad.addEventListener('pointermove', (ev) => {
  if (pad.hasPointerCapture(ev.pointerId)) padMove(ev);
});
for (const end of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  pad.addEventListener(end, release);
}

// Keys: arrows or WASD while held, space stops.
const keys = {
  ArrowUp: [60, 0], KeyW: [60, 0], ArrowDown: [-60, 0], KeyS: [-60, 0],
  ArrowLeft: [0, -60], KeyA: [0, -60], ArrowRight: [0, 60], KeyD: [0, 60],
};
const down = new Set();
function keySetpoint() {
  let t = 0; let s = 0;
  down.forEach((k) => { t += keys[k][0]; s += keys[k][1]; });
  if (down.size) hold(t, s); else release();
}
window.addEventListener('keydown', (ev) => {
  if (ev.code === 'Space') { down.clear(); release(); return; }
  if (!keys[ev.code] || ev.repeat) return;
  down.add(ev.code);
  keySetpoint();
});
window.addEventListener('keyup', (ev) => {
  if (down.delete(ev.code)) keySetpoint();
});

// Leaving the page in any way stops the car.
function away() { down.clear(); release(); }
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') away();
});
window.addEventListener('pagehide', away);
window.addEventListener('blur', away);

/* ==== Settings ==== */

let sliding = false;
$('speed').addEventListener('input', () => {
  sliding = true;
  $('speed-value').textContent = $('speed').value;
});
$('speed').addEventListener('change', () => {
  sliding = false;
  client.publish(`${base}/set/speed_limit`, String($('speed').value),
    { qos: 1 });
});
$('estop').addEventListener('click', () => {
  const on = !(state && state.estop === 'ON');
  if (on) release();
  const off = state && state.estop_latch ? `OFF ${state.estop_latch}` : 'OFF';
  client.publish(`${base}/set/estop`, on ? 'ON' : off, { qos: 1 });
});

connect(savedLogin());
