// The mailed links in a real browser (issue 15): idpd mails through a real SMTP server on
// loopback (aiosmtpd, mail.js), the test reads the link out of the message it received, and
// headless Chromium (playwright-core) opens it: the verification page's one click, and the
// password reset page with a weak password, two different ones, then a good one; after that
// the new password logs in (the password grant), the old one does not, and the link is spent.
// Screenshots of the pages go to artifactDir() (IDPD_ARTIFACT_DIR under CTest).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { artifactDir, launchChromium } from './browser.js';
import { mailLinks, startMailSink } from './mail.js';
import { startServer } from './server.js';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new password';
const RESET_TITLE = 'Choose a new password';
const BAD_LINK =
  'This link is not valid any more: it was used, it expired, or a newer one was sent.';
// Bounds: one Playwright action or navigation (an Argon2id hash under AddressSanitizer while
// the other suites run is the slowest step behind one), one test (mail waits included).
const ACTION_TIMEOUT_MS = 20000;
const T = { timeout: 120000 };

let sink, srv, app, browser, artifacts;

async function setUp() {
  artifacts = await artifactDir();
  sink = await startMailSink();
  srv = await startServer({
    env: {
      IDPD_SMTP_URL: sink.url,
      IDPD_SMTP_FROM: 'idpd@example.org',
      IDPD_SMTP_PLAIN_LOOPBACK: '1',
      IDPD_SMTP_RETRY_BASE: '1',
      IDPD_ALLOW_REGISTRATION: '1',
    },
  });
  app = await srv.createApplication('Acme Shop', ['password', 'refresh_token']);
  browser = await launchChromium();
}

// Every stop runs even when another fails (or setUp did not get that far): the browser and
// idpd first, the sink last, by its PID; the first failure is reported.
async function tearDown() {
  const results = await Promise.allSettled([browser?.close(), srv?.stop()]);
  results.push(...(await Promise.allSettled([sink?.stop()])));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

before(setUp, { timeout: 120000 });
after(tearDown, { timeout: 60000 });

const uniqueEmail = (name) => `${name}-${randomUUID().slice(0, 8)}@example.org`;

async function postJson(p, body) {
  const res = await fetch(srv.url(p), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

// With SMTP configured, registration answers 202 whether or not the address is free.
async function register(email) {
  const r = await postJson('/v1/register', { client_id: app.client_id, email, password: PASSWORD });
  assert.equal(r.status, 202, `register ${email}: ${r.text}`);
  assert.equal(JSON.parse(r.text).status, 'check your email');
}

// The password grant through fetch: [status, body].
async function passwordGrant(email, password) {
  const res = await fetch(srv.url('/oauth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: app.client_id,
      username: email,
      password,
    }),
  });
  return [res.status, await res.json()];
}

// Waits for the message to `to` that links to pathname, checks it (from idpd's sender, the same
// one link in the text and the HTML part) and answers the link.
async function mailedLink(to, pathname) {
  const msg = await sink.waitFor(to, (m) => {
    const links = mailLinks(m, srv.issuer, pathname);
    return Object.values(links).some((l) => l.length);
  });
  assert.match(msg.headers.from, /idpd@example\.org/);
  assert.match(msg.headers['content-type'], /^multipart\/alternative/);
  const links = mailLinks(msg, srv.issuer, pathname);
  assert.deepEqual(Object.keys(links).sort(), ['text/html', 'text/plain']);
  assert.equal(links['text/plain'].length, 1, `one link in the text part: ${links['text/plain']}`);
  assert.deepEqual(links['text/html'], links['text/plain'], 'the HTML part links the same');
  return links['text/plain'][0];
}

// A fresh browser context (no cookies) for fn(page); closed whatever happens. When fn fails, a
// screenshot of where the page was goes to the artifacts, named for the test.
async function inBrowser(t, fn) {
  const context = await browser.newContext();
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const page = await context.newPage();
  try {
    return await fn(page);
  } catch (err) {
    const file = path.join(artifacts, `failed-${t.name.replace(/[^a-z0-9]+/gi, '-')}.png`);
    await page.screenshot({ path: file, timeout: 5000 }).then(
      () => t.diagnostic(`screenshot of the failure: ${file} (page ${page.url()})`),
      () => {},
    );
    throw err;
  } finally {
    await context.close();
  }
}

async function screenshot(t, page, name) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);
}

// Presses the page's button (named name) and answers the response to the form's POST to
// pathname, once its page has loaded.
async function submit(page, name, pathname) {
  const [res] = await Promise.all([
    page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === pathname,
    ),
    page.getByRole('button', { name, exact: true }).click(),
  ]);
  await page.waitForLoadState();
  return res;
}

const alertText = async (page) => (await page.getByRole('alert').textContent()).trim();

describe('mailed links', () => {
  test('the verification link: the page asks, one click confirms the address', T, async (t) => {
    const email = uniqueEmail('ada');
    await register(email);
    const link = await mailedLink(email, '/verify-email');

    const [status, tokens] = await passwordGrant(email, PASSWORD);
    assert.equal(status, 200, JSON.stringify(tokens));
    const me = async () => {
      const res = await fetch(srv.url('/v1/me'), {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      assert.equal(res.status, 200);
      return res.json();
    };
    assert.equal((await me()).email_verified, false);

    await inBrowser(t, async (page) => {
      const res = await page.goto(link);
      assert.equal(res.status(), 200);
      assert.equal(await page.title(), 'Confirm your email address');
      await screenshot(t, page, 'verify-email-page.png');
      // opening the link used nothing
      assert.equal((await me()).email_verified, false);

      const done = await submit(page, 'Confirm my address', '/verify-email');
      assert.equal(done.status(), 200);
      assert.equal(await page.title(), 'Address confirmed');
      assert.equal(await alertText(page), 'Thank you: your email address is confirmed.');
      assert.equal((await me()).email_verified, true);

      // once
      const again = await page.goto(link);
      assert.equal(again.status(), 200, 'the page still only asks');
      const refused = await submit(page, 'Confirm my address', '/verify-email');
      assert.equal(refused.status(), 400);
      assert.equal(await alertText(page), BAD_LINK);
    });
  });

  test('the reset link: weak and different passwords refused, then one set once', T, async (t) => {
    const email = uniqueEmail('bea');
    await register(email);
    await mailedLink(email, '/verify-email');
    const forgot = await postJson('/v1/password/forgot', { client_id: app.client_id, email });
    assert.equal(forgot.status, 202, forgot.text);
    const link = await mailedLink(email, '/reset-password');
    const token = new URL(link).searchParams.get('token');

    await inBrowser(t, async (page) => {
      const res = await page.goto(link);
      assert.equal(res.status(), 200);
      assert.equal(await page.title(), RESET_TITLE);
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), RESET_TITLE);
      const password = page.getByLabel('New password', { exact: true });
      const confirm = page.getByLabel('The same password again', { exact: true });
      assert.equal(await password.getAttribute('type'), 'password');
      assert.equal(await confirm.getAttribute('type'), 'password');
      assert.equal(await page.locator('input[type=hidden][name=token]').inputValue(), token);
      assert.ok(await page.locator('input[type=hidden][name=csrf]').inputValue(), 'a CSRF token');
      await screenshot(t, page, 'reset-password-page.png');

      // A weak password: the fields say minlength=8, so Chromium itself refuses to send the
      // form. The server must refuse it too: the form is sent without the browser's check, as
      // a browser that does not validate would.
      await password.fill('short');
      await confirm.fill('short');
      assert.equal(await password.evaluate((e) => e.validity.tooShort), true);
      assert.equal(await page.locator('form').evaluate((f) => f.checkValidity()), false);
      await page.locator('form').evaluate((f) => {
        f.noValidate = true;
      });
      let answer = await submit(page, 'Set the new password', '/reset-password');
      assert.equal(answer.status(), 400);
      assert.equal(await page.title(), RESET_TITLE);
      assert.match(await alertText(page), /at least 8 characters/);
      await screenshot(t, page, 'reset-password-error.png');
      // the form again, empty, with the same link
      assert.equal(await password.inputValue(), '');
      assert.equal(await confirm.inputValue(), '');
      assert.equal(await page.locator('input[type=hidden][name=token]').inputValue(), token);
      assert.ok(await page.getByRole('button', { name: 'Set the new password' }).isVisible());

      // two different passwords (each long enough: Chromium sends the form)
      await password.fill(NEW_PASSWORD);
      await confirm.fill(`${NEW_PASSWORD}!`);
      answer = await submit(page, 'Set the new password', '/reset-password');
      assert.equal(answer.status(), 400);
      assert.equal(await page.title(), RESET_TITLE);
      assert.match(await alertText(page), /not the same/);

      // the old password still works until the reset is done
      assert.equal((await passwordGrant(email, PASSWORD))[0], 200);

      await password.fill(NEW_PASSWORD);
      await confirm.fill(NEW_PASSWORD);
      answer = await submit(page, 'Set the new password', '/reset-password');
      assert.equal(answer.status(), 200);
      assert.equal(await page.title(), 'Password changed');
      assert.match(await alertText(page), /Sign in with the new password/);
      await screenshot(t, page, 'password-changed.png');

      // the new password logs in, the old one no more
      const [okStatus, ok] = await passwordGrant(email, NEW_PASSWORD);
      assert.equal(okStatus, 200, JSON.stringify(ok));
      assert.ok(ok.access_token, 'an access token');
      const [oldStatus, old] = await passwordGrant(email, PASSWORD);
      assert.equal(oldStatus, 400, JSON.stringify(old));
      assert.equal(old.error, 'invalid_grant');

      // the link is spent
      const spent = await page.goto(link);
      assert.equal(spent.status(), 400);
      assert.equal(await page.title(), RESET_TITLE);
      assert.equal(await alertText(page), BAD_LINK);
      assert.equal(await page.locator('input[type=password]').count(), 0, 'no form');
      await screenshot(t, page, 'reset-password-spent.png');
    });

    // and the owner is told, without a link
    const told = await sink.waitFor(email, (m) => !m.parts.some((p) => p.body.includes('token=')));
    assert.ok(told.parts.some((p) => /password/i.test(p.body)), 'a message about the password');
  });
});
