// Time-of-day routing: during office hours calls to the office numbers go
// to the office PBX group; outside them to the voicemail group, or, for the
// hotline, an announcement-free 480 with a Retry-After for the next opening.
//
// Office hours come from the environment so they can change with a reload:
//   OFFICE_DAYS=1-5 (0 = Sunday)  OFFICE_HOURS=8-18  OFFICE_TZ=Europe/Berlin
//
// backends: { office: {...}, voicemail: {...} }
// routing: { script: examples/routing/time-of-day.mjs }

/** @param {string | undefined} text @param {[number, number]} fallback */
function range(text, fallback) {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(text ?? '');
  return m === null ? fallback : [Number(m[1]), Number(m[2])];
}

/** Whether `date` falls in office hours. @param {Date} date */
export function isOpen(date, env = process.env) {
  const [d0, d1] = range(env.OFFICE_DAYS, [1, 5]);
  const [h0, h1] = range(env.OFFICE_HOURS, [8, 18]);
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: env.OFFICE_TZ || 'UTC', weekday: 'short', hour: 'numeric', hourCycle: 'h23' }).formatToParts(date);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.find((p) => p.type === 'weekday')?.value ?? '');
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  return day >= d0 && day <= d1 && hour >= h0 && hour < h1;
}

/** @type {import('webrtc-sbc').RouteFunction} */
export default function route(request) {
  const user = request.ruri.user ?? '';
  if (!user.startsWith('office') && user !== 'hotline') return undefined;
  if (isOpen(new Date())) return { relay: { group: 'office' } };
  if (user === 'hotline') return { reply: { status: 480, reason: 'Closed', headers: { 'Retry-After': '3600' } } };
  return { relay: { group: 'voicemail', setHeaders: { 'X-Original-Target': user } } };
}
