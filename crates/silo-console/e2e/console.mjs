// End-to-end test of the silo operator console in real headless Chromium (Debian's
// /usr/bin/chromium), driven by playwright-core. Run by crates/silo-cli/tests/console.rs
// against a live `silo serve --console` over the customer-service example; by hand:
//
//   SILO_CONSOLE_URL=http://127.0.0.1:PORT SILO_API_URL=http://127.0.0.1:PORT2 \
//   SCREENSHOT_DIR=/tmp/shots node console.mjs
//
// Environment:
//   SILO_CONSOLE_URL     the console (`silo serve: console on http://ADDR`)        required
//   SILO_API_URL         the task API of the same daemon (`task API on http://ADDR`) required
//   SCREENSHOT_DIR       where the full-page PNGs go (created if missing)           required
//   SILO_ALICE_PASSWORD  alice's password (admin operator)  default `correct horse alice`
//   SILO_BOB_PASSWORD    bob's password (not an admin)      default `correct horse bob`
//   SILO_E2E_TIMEOUT_MS  the whole run's limit               default 240000 (4 min)
//
// The project must be the customer-service example with alice (admin) and bob operators,
// an extra history entry for cus_001 holding an XSS payload, and an agent `sleepy-agent`
// that sleeps in its cell (console.rs builds exactly that).
//
// Output: one line per check, `ok - NAME` or `not ok - NAME: WHY`, diagnostics as `# ...`.
// Exit status 0 when every check passed, 1 on any failure, an uncaught error or the time
// limit. Every wait has its own timeout (at most 30 s) and the whole run has one too, so
// the script cannot hang.
//
// Assumptions beyond the console's written contract (the console follows them):
//   A1  every form has one submit control: a `button` (type submit or none) or an
//       `input[type=submit]`; a successful POST answers 303 and the browser lands on a page.
//   A2  refund-agent offline: a `refund` task goes straight to the human inbox
//       (`waiting_for_human`); taking it makes it `with_human`; the complete form makes it
//       `completed`. A taken task is in nobody's `inbox` table any more. A task whose
//       agent runs in a cell is `dispatched` (the router's state; there is no `running`).
//   A3  the login page answers the same `[data-testid=error]` text for an unknown operator
//       as for a wrong password (no operator enumeration).
//   A4  money on the task page is in dollars with two decimals and thousands commas:
//       the ledger shows `120.00`, alice's limits show `1,000.00`.
//   A5  audit rows: `td.action` contains `refund` for a refund call, `td.decision` is
//       `allow` or `deny`; `/audit?decision=deny` filters on that word.
//   A6  `/admin` shows the current cells when (re)loaded (only the inbox refreshes itself);
//       `td.version` shows the agent.yaml version (refund-agent: `1.1.0`).
//   A7  `/tasks` rows show the task API's state names in `td.state`.
//   A8  logging out ends the session on the server: the old cookie no longer works.
//   A9  a task waiting in the inbox, opened by an operator of its pool, shows a
//       `form[data-action=take]` and none of the customer sections.

import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

// ---------------------------------------------------------------------------------------
// Configuration

function mustEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.log(`not ok - configuration: environment variable ${name} is not set`);
    process.exit(1);
  }
  return value;
}

const CONSOLE = mustEnv('SILO_CONSOLE_URL').replace(/\/+$/, '');
const API = mustEnv('SILO_API_URL').replace(/\/+$/, '');
const SHOTS = mustEnv('SCREENSHOT_DIR');
const ALICE = { name: 'alice', password: process.env.SILO_ALICE_PASSWORD || 'correct horse alice' };
const BOB = { name: 'bob', password: process.env.SILO_BOB_PASSWORD || 'correct horse bob' };
const TOTAL_MS = Number(process.env.SILO_E2E_TIMEOUT_MS || 240_000);
const CONSOLE_ORIGIN = new URL(CONSOLE).origin;

// Default limits for every Playwright action and navigation, and for our own polling.
const ACTION_MS = 15_000;
const NAV_MS = 20_000;
const WAIT_MS = 20_000;

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  timeout: 30_000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ],
};

// What the customer-service seed holds for cus_001 (Jane Smith); none of it may reach a
// console page, which shows what the agent saw: tokens.
const RAW_PII = [
  'Jane Smith',
  'jane.smith@example.com',
  '010-2030',
  '4111 1111 1111 1111',
  '4111111111111111',
  '12 Harbour Street',
];
// The history entry console.rs appends to the seed for cus_001.
const XSS_SCRIPT = '<script>window.__siloXss=1</script>';

// ---------------------------------------------------------------------------------------
// Reporting

let passed = 0;
let failed = 0;
let shotNo = 0;

// The first `n` non-empty lines of an error's message (Playwright's include a call log).
function firstLines(error, n = 1) {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\x1b\[[0-9;]*m/g, '');
  return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(0, n);
}

// A failed expectation (its message is the whole story, no stack needed).
class CheckFailed extends Error {}
// Thrown by a failed critical check: stops the scenario (the message names the check).
class Bail extends Error {}

function expect(condition, why) {
  if (!condition) throw new CheckFailed(why);
}

// Runs one check: prints `ok - name` or `not ok - name: why` (with a few lines of detail
// as diagnostics). `critical`: the later checks depend on this one, so a failure ends the
// run instead of piling up time-outs.
async function check(name, fn, { critical = false } = {}) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
    return true;
  } catch (error) {
    failed += 1;
    const [first, ...rest] = firstLines(error, 12);
    console.log(`not ok - ${name}: ${first}`);
    for (const line of rest) console.log(`#   ${line}`);
    if (critical) throw new Bail(name);
    return false;
  }
}

// A full-page screenshot `NN-name.png` in SCREENSHOT_DIR. A failed screenshot is a
// failed check (the pictures are the test's artifacts).
async function shot(page, name) {
  shotNo += 1;
  const file = path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: ACTION_MS });
    console.log(`# screenshot ${file}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - screenshot ${path.basename(file)}: ${firstLines(error)[0]}`);
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `fn` until it returns something truthy (returned) or `timeout` passes (throws,
// naming `what` and the last error seen).
async function until(what, fn, { timeout = WAIT_MS, interval = 250 } = {}) {
  const end = Date.now() + Math.min(timeout, 30_000);
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      const why = last ? ` (last error: ${firstLines(last)[0]})` : '';
      throw new CheckFailed(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await sleep(interval);
  }
}

// One request to the task API with Node's own HTTP client: JSON, no `Origin` (the API
// refuses anything a browser could send).
function api(method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(
      new URL(API + urlPath),
      {
        method,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON: the caller sees `text`
          }
          resolve({ status: res.statusCode, json, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

// Submits a task through the API; its id.
async function submitTask(spec) {
  const res = await api('POST', '/v1/tasks', spec);
  expect(res.status === 201 && res.json?.id, `POST /v1/tasks answered ${res.status}: ${res.text.slice(0, 300)}`);
  return res.json.id;
}

// Waits until the API shows task `id` in state `want`; the TaskView.
async function waitForState(id, want, timeout = WAIT_MS) {
  let seen = '?';
  try {
    return await until(
      `task ${id} to be ${want}`,
      async () => {
        const res = await api('GET', `/v1/tasks/${id}`);
        seen = res.json?.state ?? `HTTP ${res.status}`;
        return res.json?.state === want ? res.json : null;
      },
      { timeout },
    );
  } catch (error) {
    throw new CheckFailed(`${error.message}; last state: ${seen}`);
  }
}

// Whether the API lists agent `name` as online.
async function agentOnline(name) {
  const res = await api('GET', '/v1/agents');
  expect(res.status === 200 && Array.isArray(res.json), `GET /v1/agents answered ${res.status}`);
  const agent = res.json.find((a) => a.name === name);
  expect(agent, `no ${name} in GET /v1/agents`);
  return agent.online;
}

// Goes to a console page; the main response (its status is checked by the caller).
async function open(page, urlPath) {
  const response = await page.goto(CONSOLE + urlPath, { timeout: NAV_MS, waitUntil: 'load' });
  expect(response, `no response for ${urlPath}`);
  return response;
}

// Clicks the submit control of `form` (a Locator) and waits until the page the POST led
// to has loaded (after the 303, or the error page itself). The last main-frame
// navigation response, so the caller can check where it landed and with what status.
async function submit(page, form) {
  const responses = [];
  const onResponse = (r) => {
    if (r.frame() === page.mainFrame() && r.request().isNavigationRequest()) responses.push(r);
  };
  page.on('response', onResponse);
  try {
    const button = form.locator('button[type=submit], button:not([type]), input[type=submit]').first();
    await Promise.all([page.waitForEvent('load', { timeout: NAV_MS }), button.click({ timeout: ACTION_MS })]);
  } finally {
    page.off('response', onResponse);
  }
  return responses.at(-1) ?? null;
}

// The path of the page's URL (`/tasks/task-1`).
const pathOf = (page) => new URL(page.url()).pathname;

// The page's text, shortened to one line, for failure messages.
async function bodyOf(page) {
  const text = await page.locator('body').innerText({ timeout: ACTION_MS }).catch(() => '');
  return JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 200));
}

// The flash message after an action: its classes and text.
async function flash(page) {
  const el = page.locator('[data-testid=flash]').first();
  await el.waitFor({ state: 'visible', timeout: ACTION_MS });
  return {
    classes: ((await el.getAttribute('class')) || '').split(/\s+/),
    text: (await el.innerText()).trim(),
  };
}

// Fails naming every raw personal value of cus_001 found in `html` (case-insensitive).
function expectNoRawPii(html, where) {
  const lower = html.toLowerCase();
  const found = RAW_PII.filter((v) => lower.includes(v.toLowerCase()));
  expect(found.length === 0, `${where} contains raw personal data: ${found.join(', ')}`);
}

// The nav's logout form is on the page and carries a CSRF token.
async function expectLogoutForm(page) {
  const form = page.locator('form#logout');
  expect((await form.count()) === 1, `${pathOf(page)} has no form#logout`);
  expect((await form.locator('input[name=csrf]').count()) === 1, `form#logout on ${pathOf(page)} has no csrf input`);
}

// Opens /admin and submits the row's online/offline form for `agent`.
async function setAgent(page, agent, action) {
  await open(page, '/admin');
  const row = page.locator(`table[data-testid=agents] tr[data-agent="${agent}"]`);
  const response = await submit(page, row.locator(`form[data-action=${action}]`));
  expect(response && response.status() < 400, `the ${action} form answered ${response?.status()}`);
  expect(pathOf(page) === '/admin', `landed on ${pathOf(page)}, not /admin`);
  const shown = (await page.locator(`table[data-testid=agents] tr[data-agent="${agent}"] td.online`).innerText()).trim();
  expect(shown === action, `td.online shows "${shown}", not "${action}"`);
  expect((await agentOnline(agent)) === (action === 'online'), `the task API does not list ${agent} as ${action}`);
}

// The rows matching `selector`, each as {class: text} for the `td` of each class given
// (e.g. `['action', 'decision']` on the audit table).
async function rows(page, selector, classes) {
  return page.locator(selector).evaluateAll(
    (trs, cls) => trs.map((tr) => Object.fromEntries(cls.map((c) => [c, (tr.querySelector(`td.${c}`)?.textContent ?? '').trim()]))),
    classes,
  );
}

// A browser context (own cookie jar) with a page whose script errors and CSP violations
// are collected.
async function operatorContext(browser, label, problems) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(ACTION_MS);
  context.setDefaultNavigationTimeout(NAV_MS);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.errors.push(`${label}: ${firstLines(e)[0]}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) problems.csp.push(`${label}: ${m.text()}`);
  });
  return { context, page };
}

// Logs in through the form; the response the form led to.
async function login(page, who, password) {
  await open(page, '/login');
  await page.locator('form#login input[name=operator]').fill(who, { timeout: ACTION_MS });
  await page.locator('form#login input[name=password]').fill(password, { timeout: ACTION_MS });
  return submit(page, page.locator('form#login'));
}

// ---------------------------------------------------------------------------------------
// The scenario

async function scenario(browser) {
  const problems = { errors: [], csp: [] };
  const { context: aliceCtx, page } = await operatorContext(browser, 'alice', problems);
  let taskId = null; // the refund task alice works
  let sleepyId = null; // the sleepy-agent task whose cell is killed
  let waitingId = null; // a second refund task left waiting in the inbox

  // --- Before logging in -------------------------------------------------------------

  // Every page but /login redirects a stranger to /login (303), and the browser lands on
  // the login form.
  await check('unauthenticated GET of console pages is redirected (303) to /login', async () => {
    for (const p of ['/inbox', '/tasks', '/tasks/task-1', '/admin', '/audit']) {
      const res = await aliceCtx.request.get(CONSOLE + p, { maxRedirects: 0, timeout: ACTION_MS });
      const location = res.headers()['location'] || '';
      expect(res.status() === 303, `GET ${p} answered ${res.status()}, not 303`);
      expect(new URL(location, CONSOLE).pathname === '/login', `GET ${p} redirects to "${location}"`);
    }
    await open(page, '/inbox');
    expect(pathOf(page) === '/login', `the browser landed on ${pathOf(page)}`);
    await page.locator('form#login').waitFor({ state: 'visible', timeout: ACTION_MS });
  }, { critical: true });
  await shot(page, 'login');

  // A stranger's POST is refused outright, not redirected.
  await check('unauthenticated POST is refused (403)', async () => {
    const res = await aliceCtx.request.post(`${CONSOLE}/tasks/task-1/act/note`, {
      form: { text: 'x', csrf: 'x' },
      maxRedirects: 0,
      timeout: ACTION_MS,
    });
    expect(res.status() === 403, `POST answered ${res.status()}`);
  });

  // The pages send a Content-Security-Policy that forbids inline script.
  await check('the console sends a CSP without inline script', async () => {
    const res = await aliceCtx.request.get(`${CONSOLE}/login`, { timeout: ACTION_MS });
    const csp = res.headers()['content-security-policy'] || '';
    expect(csp, '/login has no Content-Security-Policy header');
    const directives = Object.fromEntries(
      csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k.toLowerCase(), v]),
    );
    const scripts = directives['script-src'] ?? directives['default-src'];
    expect(scripts, `no script-src or default-src in "${csp}"`);
    expect(!scripts.includes("'unsafe-inline'") && !scripts.includes('*'), `scripts allowed too widely: "${csp}"`);
  });

  // A wrong password (and an unknown operator, with the same words) re-renders the form
  // with an error and sets no session.
  await check('a wrong password is refused', async () => {
    const response = await login(page, ALICE.name, 'not the password');
    expect(response && response.status() !== 403, `the login form was refused: ${await bodyOf(page)}`);
    const error = page.locator('[data-testid=error]');
    await error.waitFor({ state: 'visible', timeout: ACTION_MS });
    const wrongPassword = (await error.innerText()).trim();
    expect(pathOf(page) === '/login', `landed on ${pathOf(page)}`);
    const cookies = await aliceCtx.cookies(CONSOLE);
    expect(!cookies.some((c) => c.name === 'silo_session'), 'a silo_session cookie was set');
    await shot(page, 'bad-password');
    await login(page, 'mallory', 'not the password');
    const unknown = (await page.locator('[data-testid=error]').innerText({ timeout: ACTION_MS })).trim();
    expect(unknown === wrongPassword, `unknown operator: "${unknown}", wrong password: "${wrongPassword}"`);
  });

  // --- alice --------------------------------------------------------------------------

  await check('alice logs in and lands on /inbox', async () => {
    const response = await login(page, ALICE.name, ALICE.password);
    expect(response && response.status() === 200, `answered ${response?.status()}: ${await bodyOf(page)}`);
    expect(pathOf(page) === '/inbox', `landed on ${pathOf(page)}`);
    await page.locator('table[data-testid=inbox]').waitFor({ state: 'attached', timeout: ACTION_MS });
    await page.locator('table[data-testid=mine]').waitFor({ state: 'attached', timeout: ACTION_MS });
    await expectLogoutForm(page);
  }, { critical: true });
  await shot(page, 'inbox');

  // The session cookie cannot be read by script nor sent cross-site.
  await check('the session cookie is HttpOnly, SameSite=Strict and Secure', async () => {
    const cookie = (await aliceCtx.cookies(CONSOLE)).find((c) => c.name === 'silo_session');
    expect(cookie, 'no silo_session cookie');
    expect(cookie.httpOnly, 'not HttpOnly');
    expect(cookie.sameSite === 'Strict', `SameSite=${cookie.sameSite}`);
    expect(cookie.secure, 'not Secure');
    const visible = await page.evaluate(() => document.cookie);
    expect(!visible.includes('silo_session'), 'document.cookie shows the session');
  });

  // Taking refund-agent offline on /admin (the daemon sees it) sends its tasks to people.
  await check('alice marks refund-agent offline on /admin', async () => {
    await setAgent(page, 'refund-agent', 'offline');
    const version = (await page.locator('tr[data-agent="refund-agent"] td.version').innerText()).trim();
    expect(version.includes('1.1.0'), `td.version shows "${version}"`);
    await page.locator('table[data-testid=cells]').waitFor({ state: 'attached', timeout: ACTION_MS });
    await page.locator('[data-testid=divergences]').waitFor({ state: 'attached', timeout: ACTION_MS });
    await expectLogoutForm(page);
  }, { critical: true });
  await shot(page, 'admin-offline');

  // A task submitted through the API appears in the open inbox by itself (console.js
  // refreshes the list; the test does not reload).
  await open(page, '/inbox');
  let navigations = 0;
  const countNavigation = (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  };
  await check('a refund task submitted through the API waits for a human', async () => {
    taskId = await submitTask({
      entry: 'refund',
      customer: 'cus_001',
      case: 'case-e2e-1',
      input: { message: 'My espresso machine ord_1002 arrived broken, please refund' },
    });
    console.log(`# refund task ${taskId}`);
    page.on('framenavigated', countNavigation);
    await waitForState(taskId, 'waiting_for_human');
  }, { critical: true });
  await check('the task appears in the open /inbox without a reload', async () => {
    expect((await page.locator('script[src="/assets/console.js"]').count()) >= 1, '/inbox does not load /assets/console.js');
    const row = page.locator(`table[data-testid=inbox] tr[data-task="${taskId}"]`);
    await row.waitFor({ state: 'visible', timeout: 20_000 });
    page.off('framenavigated', countNavigation);
    console.log(`# main-frame navigations while waiting: ${navigations}`);
    const why = (await row.locator('td.why').innerText()).trim();
    expect(why.length > 0, 'td.why is empty');
    expect((await row.locator('form[data-action=take]').count()) === 1, 'the row has no take form');
  }, { critical: true });
  await shot(page, 'inbox-task');

  await check('alice takes the task and lands on its page', async () => {
    const row = page.locator(`table[data-testid=inbox] tr[data-task="${taskId}"]`);
    const response = await submit(page, row.locator('form[data-action=take]'));
    expect(response && response.status() === 200, `the task page answered ${response?.status()}`);
    expect(pathOf(page) === `/tasks/${taskId}`, `landed on ${pathOf(page)}`);
    await waitForState(taskId, 'with_human');
  }, { critical: true });
  await shot(page, 'task');

  // The operator sees what the agent saw: tokens, never the raw values, neither in the
  // DOM nor in the bytes the server sent.
  await check('the task page shows the tokenised record and no raw personal data', async () => {
    for (const id of ['customer', 'orders', 'history', 'events', 'instructions', 'escalation', 'limits', 'ledger']) {
      expect((await page.locator(`[data-testid=${id}]`).count()) >= 1, `no [data-testid=${id}] section`);
    }
    const customer = await page.locator('[data-testid=customer]').innerText();
    expect(customer.includes('[NAME_'), `the customer section shows no [NAME_n] token: "${customer.slice(0, 200)}"`);
    expectNoRawPii(await page.content(), 'the task page (DOM)');
    const raw = await aliceCtx.request.get(`${CONSOLE}/tasks/${taskId}`, { timeout: ACTION_MS });
    expect(raw.status() === 200, `GET /tasks/${taskId} answered ${raw.status()}`);
    expectNoRawPii(await raw.text(), 'the task page (HTTP body)');
    const orders = await page.locator('[data-testid=orders]').innerText();
    expect(orders.includes('ord_1002'), 'the orders section does not list ord_1002');
  });

  await check('the task page shows the timeline, instructions and operator limits', async () => {
    const events = (await page.locator('[data-testid=events]').innerText()).trim();
    expect(events.length > 0, 'the events section is empty');
    const limits = await page.locator('[data-testid=limits]').innerText();
    expect(/refund/i.test(limits) && limits.includes('1,000.00'), `limits: "${limits.trim()}"`);
    // instructions.md is rendered as HTML, not shown as Markdown source.
    for (const id of ['instructions', 'escalation']) {
      const text = await page.locator(`[data-testid=${id}]`).innerText();
      expect(!/^#{1,3} /m.test(text) && !text.includes('**'), `${id} shows raw Markdown: "${text.slice(0, 120)}"`);
    }
    for (const tool of ['refund', 'note', 'email', 'escalate', 'complete']) {
      expect((await page.locator(`form[data-tool=${tool}]`).count()) === 1, `no form[data-tool=${tool}]`);
    }
    await expectLogoutForm(page);
  });

  // The XSS history entry is shown as text: no element was made of it and nothing ran.
  await check('a history entry with HTML is shown as text and runs nothing', async () => {
    const history = await page.locator('[data-testid=history]').innerText();
    expect(history.includes(XSS_SCRIPT), `the history does not show "${XSS_SCRIPT}" as text`);
    const bodyText = await page.locator('body').innerText();
    expect(bodyText.includes(XSS_SCRIPT), 'the page text does not show the script tag');
    await sleep(500); // time for an injected <img onerror> to fire, if there were one
    const state = await page.evaluate(() => ({
      xss: typeof window.__siloXss,
      imgs: document.querySelectorAll('[data-testid=history] img').length,
      scripts: [...document.scripts].filter((s) => s.textContent.includes('__siloXss')).length,
    }));
    expect(state.xss === 'undefined', `window.__siloXss is ${state.xss}`);
    expect(state.imgs === 0 && state.scripts === 0, `injected elements: ${state.imgs} img, ${state.scripts} script`);
  });

  // A refund within alice's limit is paid, shows in the ledger and is audited as allowed.
  await check('a $120.00 refund is paid and shows in the ledger', async () => {
    const form = page.locator('form[data-tool=refund]');
    await form.locator('input[name=amount]').fill('120.00');
    await form.locator('input[name=reason]').fill('espresso machine ord_1002 arrived broken');
    await submit(page, form);
    expect(pathOf(page) === `/tasks/${taskId}`, `landed on ${pathOf(page)}`);
    const f = await flash(page);
    expect(f.classes.includes('ok'), `flash is "${f.classes.join(' ')}": ${f.text}`);
    const ledger = await page.locator('[data-testid=ledger]').innerText();
    expect(ledger.includes('120.00'), `the ledger does not show 120.00: "${ledger.trim()}"`);
  });
  await shot(page, 'refund-ok');

  await check('the audit log shows the refund as allowed', async () => {
    const response = await open(page, `/audit?task=${encodeURIComponent(taskId)}`);
    expect(response.status() === 200, `/audit answered ${response.status()}`);
    const audit = await rows(page, 'table[data-testid=audit] tr:has(td.action)', ['action', 'decision']);
    expect(
      audit.some((r) => r.action.includes('refund') && r.decision === 'allow'),
      `no refund/allow row among ${audit.length}: ${JSON.stringify(audit.slice(0, 8))}`,
    );
    expectNoRawPii(await page.content(), '/audit');
    await expectLogoutForm(page);
  });
  await shot(page, 'audit-refund');

  // Over the operator's limit the membrane refuses and the console says why.
  await check('a $1,500.00 refund is denied with the reason', async () => {
    await open(page, `/tasks/${taskId}`);
    const form = page.locator('form[data-tool=refund]');
    await form.locator('input[name=amount]').fill('1500.00');
    await form.locator('input[name=reason]').fill('over the limit on purpose');
    await submit(page, form);
    const f = await flash(page);
    expect(f.classes.includes('denied'), `flash is "${f.classes.join(' ')}": ${f.text}`);
    expect(/over|limit/i.test(f.text), `the denial gives no reason: "${f.text}"`);
    const ledger = await page.locator('[data-testid=ledger]').innerText();
    expect(!/1,?500\.00/.test(ledger), `the ledger shows the denied refund: "${ledger.trim()}"`);
  });
  await shot(page, 'refund-denied');

  await check('a note through the note form is recorded', async () => {
    const form = page.locator('form[data-tool=note]');
    await form.locator('textarea[name=text]').fill('Customer sent a photo of the cracked water tank.');
    await submit(page, form);
    const f = await flash(page);
    expect(f.classes.includes('ok'), `flash is "${f.classes.join(' ')}": ${f.text}`);
  });

  // A second task stays waiting; opened before taking it shows no customer data.
  await check('a waiting task shows only a take form', async () => {
    waitingId = await submitTask({
      entry: 'refund',
      customer: 'cus_001',
      case: 'case-e2e-3',
      input: { message: 'My kettle ord_1001 arrived dented' },
    });
    await waitForState(waitingId, 'waiting_for_human');
    const response = await open(page, `/tasks/${waitingId}`);
    expect(response.status() === 200, `/tasks/${waitingId} answered ${response.status()}`);
    expect((await page.locator('form[data-action=take]').count()) === 1, 'no take form');
    for (const id of ['customer', 'orders', 'history', 'ledger']) {
      expect((await page.locator(`[data-testid=${id}]`).count()) === 0, `a waiting task shows [data-testid=${id}]`);
    }
    expectNoRawPii(await page.content(), 'the waiting task page');
  });
  await shot(page, 'waiting-task');

  // --- bob, in a browser context of his own ------------------------------------------

  const { context: bobCtx, page: bobPage } = await operatorContext(browser, 'bob', problems);
  await check('bob logs in', async () => {
    await login(bobPage, BOB.name, BOB.password);
    expect(pathOf(bobPage) === '/inbox', `landed on ${pathOf(bobPage)}`);
  });
  await check("bob cannot open alice's task (403 taken by alice)", async () => {
    const inbox = bobPage.locator(`table[data-testid=inbox] tr[data-task="${taskId}"]`);
    expect((await inbox.count()) === 0, "alice's taken task is still in bob's inbox");
    const response = await open(bobPage, `/tasks/${taskId}`);
    expect(response.status() === 403, `answered ${response.status()}`);
    const text = await bobPage.locator('body').innerText();
    expect(text.includes('taken by alice'), `the page does not say "taken by alice": "${text.slice(0, 200)}"`);
    expectNoRawPii(await bobPage.content(), "bob's view of alice's task");
  });
  await shot(bobPage, 'bob-task-forbidden');
  await check('bob (no admin) gets 403 on /admin', async () => {
    const response = await open(bobPage, '/admin');
    expect(response.status() === 403, `answered ${response.status()}`);
    expect((await bobPage.locator('table[data-testid=agents]').count()) === 0, 'the agents table is shown');
  });
  await shot(bobPage, 'bob-admin-forbidden');
  await bobCtx.close();

  // --- CSRF: alice's own cookies, requests a foreign page could make ------------------

  await check('a POST without the CSRF token, or from a foreign Origin, is refused (403)', async () => {
    await open(page, `/tasks/${taskId}`);
    const form = page.locator('form[data-tool=note]');
    const csrf = await form.locator('input[name=csrf]').getAttribute('value');
    expect(csrf, 'the note form carries no csrf value');
    const action = new URL((await form.getAttribute('action')) || `/tasks/${taskId}/act/note`, page.url()).href;
    console.log(`# note form posts to ${action}`);
    const post = (form, headers = {}) =>
      aliceCtx.request.post(action, { form, headers, maxRedirects: 0, timeout: ACTION_MS });
    const refused = [
      ['no csrf', await post({ text: 'x' })],
      ['a wrong csrf', await post({ text: 'x', csrf: 'A'.repeat(csrf.length) })],
      ['a foreign Origin', await post({ text: 'x', csrf }, { Origin: 'http://evil.example' })],
    ];
    for (const [what, res] of refused) {
      const body = await res.text();
      expect(res.status() === 403, `with ${what}: ${res.status()}`);
      expect(body.includes('CSRF'), `with ${what}: the answer does not mention CSRF: "${body.slice(0, 200)}"`);
    }
    // The control: the same request with the token and the console's own Origin works,
    // so the refusals above were about CSRF and nothing else.
    const ok = await post({ text: 'note sent with the right token', csrf }, { Origin: CONSOLE_ORIGIN });
    expect(ok.status() === 303, `with the token and our own Origin: ${ok.status()}`);
  });

  // --- alice again: agents and cells --------------------------------------------------

  await check('alice sets refund-agent back online', async () => {
    await setAgent(page, 'refund-agent', 'online');
  });
  await shot(page, 'admin-online');

  // A live cell shows on /admin and its kill button ends it: the task is aborted.
  await check('the sleepy-agent task runs in a cell listed on /admin', async () => {
    sleepyId = await submitTask({ entry: 'sleepy-agent', customer: 'cus_002', case: 'case-e2e-2', input: {} });
    console.log(`# sleepy task ${sleepyId}`);
    await waitForState(sleepyId, 'dispatched', 30_000); // the router's name for "in a cell"
    await until(`task ${sleepyId} in the cells table`, async () => {
      await open(page, '/admin');
      return (await page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`).count()) === 1;
    }, { interval: 1000 });
    const row = page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`);
    expect((await row.locator('form[data-action=kill]').count()) === 1, 'the cell has no kill form');
  }, { critical: true });
  await shot(page, 'admin-cell');

  // Pause freezes the cell (the task is `paused`, only resume and kill are offered);
  // resume starts the turn again in a fresh cell (a new cell id).
  await check('pause and resume on /admin stop the cell and start a fresh one', async () => {
    const cellOf = async () =>
      (await page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"] td.cell code`).first().textContent())?.trim();
    const before = await cellOf();
    let row = page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`);
    let response = await submit(page, row.locator('form[data-action=stop]'));
    expect(response && response.status() < 400, `the pause form answered ${response?.status()}`);
    await waitForState(sleepyId, 'paused', 30_000);
    await open(page, '/admin');
    row = page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`);
    expect((await row.locator('form[data-action=stop]').count()) === 0, 'a paused cell still offers pause');
    expect((await row.locator('form[data-action=cont]').count()) === 1, 'a paused cell offers no resume');
    response = await submit(page, row.locator('form[data-action=cont]'));
    expect(response && response.status() < 400, `the resume form answered ${response?.status()}`);
    await waitForState(sleepyId, 'dispatched', 30_000);
    let after = before;
    await until(`task ${sleepyId} to run in a fresh cell`, async () => {
      await open(page, '/admin');
      after = await cellOf();
      return Boolean(after) && after !== before;
    }, { interval: 1000 });
    console.log(`# cell ${before} paused, resumed as ${after}`);
  });

  await check('kill on /admin aborts the task', async () => {
    const row = page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`);
    const response = await submit(page, row.locator('form[data-action=kill]'));
    expect(response && response.status() < 400, `the kill form answered ${response?.status()}`);
    await waitForState(sleepyId, 'aborted', 30_000);
    await until(`task ${sleepyId} to leave the cells table`, async () => {
      await open(page, '/admin');
      return (await page.locator(`table[data-testid=cells] tr[data-task="${sleepyId}"]`).count()) === 0;
    }, { interval: 1000 });
  });
  await shot(page, 'admin-killed');

  // The task list and its filters.
  await check('/tasks lists and filters tasks with their state', async () => {
    await open(page, '/tasks?state=aborted');
    let listed = await rows(page, `table[data-testid=tasks] tr[data-task="${sleepyId}"]`, ['state']);
    expect(listed.length === 1 && listed[0].state === 'aborted', `state=aborted: ${JSON.stringify(listed)}`);
    const others = await page.locator(`table[data-testid=tasks] tr[data-task="${taskId}"]`).count();
    expect(others === 0, 'state=aborted also lists the refund task');
    await open(page, '/tasks?customer=cus_001');
    listed = await rows(page, `table[data-testid=tasks] tr[data-task="${taskId}"]`, ['state']);
    expect(listed.length === 1 && listed[0].state === 'with_human', `customer=cus_001: ${JSON.stringify(listed)}`);
    await open(page, '/tasks?agent=sleepy-agent');
    expect((await page.locator(`table[data-testid=tasks] tr[data-task="${sleepyId}"]`).count()) === 1, 'agent=sleepy-agent misses it');
    await expectLogoutForm(page);
  });
  await shot(page, 'tasks');

  // --- finishing ----------------------------------------------------------------------

  await check("alice's task is in her 'mine' table and leaves it when completed", async () => {
    await open(page, '/inbox');
    const mine = page.locator(`table[data-testid=mine] tr[data-task="${taskId}"]`);
    expect((await mine.count()) === 1, 'the taken task is not in the mine table');
    const href = await mine.locator('a').first().getAttribute('href');
    expect(href && new URL(href, CONSOLE).pathname === `/tasks/${taskId}`, `the mine row links to "${href}"`);
    await open(page, `/tasks/${taskId}`);
    const form = page.locator('form[data-tool=complete]');
    await form.locator('input[name=summary]').fill('Refunded $120.00 for the broken espresso machine.');
    await submit(page, form);
    await waitForState(taskId, 'completed');
    await open(page, '/inbox');
    await shot(page, 'completed');
    expect((await page.locator(`table[data-testid=mine] tr[data-task="${taskId}"]`).count()) === 0, 'still in the mine table');
    expect((await page.locator(`table[data-testid=inbox] tr[data-task="${taskId}"]`).count()) === 0, 'back in the inbox');
  });

  await check('/audit verifies the chain and filters by decision', async () => {
    await open(page, '/audit');
    const verify = await page.locator('[data-testid=verify]').innerText({ timeout: ACTION_MS });
    expect(/\bok\b/i.test(verify), `verify says "${verify.trim()}"`);
    await open(page, `/audit?task=${encodeURIComponent(taskId)}&decision=deny`);
    const denied = await rows(page, 'table[data-testid=audit] tr:has(td.decision)', ['action', 'decision']);
    expect(denied.length >= 1, 'no denied call for the task');
    expect(denied.every((r) => r.decision === 'deny'), `decision=deny lists ${JSON.stringify(denied)}`);
    expect(denied.some((r) => r.action.includes('refund')), `no denied refund: ${JSON.stringify(denied)}`);
  });
  await shot(page, 'audit');

  // Logging out ends the session on the server, not only in this browser.
  await check('logout ends the session', async () => {
    const before = (await aliceCtx.cookies(CONSOLE)).find((c) => c.name === 'silo_session');
    expect(before, 'no session cookie before logout');
    await submit(page, page.locator('form#logout'));
    expect(pathOf(page) === '/login', `after logout landed on ${pathOf(page)}`);
    const replay = await browser.newContext();
    try {
      await replay.addCookies([before]);
      const res = await replay.request.get(`${CONSOLE}/inbox`, { maxRedirects: 0, timeout: ACTION_MS });
      expect(res.status() === 303, `the old cookie still opens /inbox (${res.status()})`);
    } finally {
      await replay.close();
    }
  });
  await shot(page, 'logged-out');

  await check('no script errors and no CSP violations on any page', async () => {
    const all = [...new Set([...problems.errors, ...problems.csp])].map((p) => p.slice(0, 200));
    expect(all.length === 0, `${all.length} distinct: ${all.slice(0, 5).join(' | ')}`);
  });
  await aliceCtx.close();
}

// ---------------------------------------------------------------------------------------
// Main: bounded, and exit 1 on anything unexpected.

function die(why) {
  console.log(`not ok - ${why}`);
  process.exit(1);
}
process.on('unhandledRejection', (e) => die(`unhandled rejection: ${firstLines(e)[0]}`));
process.on('uncaughtException', (e) => die(`uncaught exception: ${firstLines(e)[0]}`));
setTimeout(() => die(`the whole run took longer than ${TOTAL_MS} ms`), TOTAL_MS).unref();

mkdirSync(SHOTS, { recursive: true });
console.log(`# console ${CONSOLE}, task API ${API}, screenshots in ${SHOTS}`);
let browser;
try {
  browser = await chromium.launch(CHROMIUM);
  console.log(`# chromium ${browser.version()}`);
  await scenario(browser);
} catch (error) {
  if (error instanceof Bail) {
    console.log(`# bailing out: the remaining checks depend on "${error.message}"`);
  } else {
    failed += 1;
    const [first, ...rest] = firstLines(error, 12);
    console.log(`not ok - the run stopped: ${first}`);
    for (const line of rest) console.log(`#   ${line}`);
  }
} finally {
  await browser?.close().catch(() => {});
}
console.log(`# ${passed} checks ok, ${failed} not ok`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
