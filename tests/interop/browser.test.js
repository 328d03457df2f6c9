// The browser sign-in flow in a real browser: headless Chromium (playwright-core) signs in on
// idpd's pages while openid-client plays the application (authorization code with PKCE, the
// callback, userinfo, refresh, RP-initiated logout, the device flow). The redirect URIs are
// served by a little HTTP server on 127.0.0.1; each test has its own browser context, so its
// own cookies. Screenshots of the pages go to artifactDir() (IDPD_ARTIFACT_DIR under CTest).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { errors, generators, Issuer } from 'openid-client';

import { artifactDir, launchChromium, startCallbackServer } from './browser.js';
import { startServer } from './server.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const BROWSER_GRANTS = ['authorization_code', 'refresh_token'];
const SCOPE = 'openid email offline_access';
const PASSWORD = 'correct horse battery';
const BAD_CREDENTIALS = 'The email or password is not right.';
// Bounds: one Playwright action or navigation (an Argon2id check under AddressSanitizer while
// the other suites run is the slowest step behind one), one test, one device poll.
const ACTION_TIMEOUT_MS = 20000;
const TEST_TIMEOUT_MS = 60000;
const POLL_TIMEOUT_MS = 30000;
const T = { timeout: TEST_TIMEOUT_MS };

let srv, cb, browser, issuer, artifacts;
let appA, appB, thirdParty, logoutApp, deviceApp;
const users = {};

// The post-logout URI must match exactly, port included, so the applications are made once the
// callback server's port is known. The redirect URI is a loopback one: it matches any port.
async function setUp() {
  artifacts = await artifactDir();
  srv = await startServer({
    args: ['--allow-registration'],
    env: { IDPD_DEVICE_POLL_INTERVAL: '1' },
  });
  cb = await startCallbackServer();
  const browserApp = (name, opts = {}) =>
    srv.createApplication(name, BROWSER_GRANTS, {
      redirectUris: ['http://127.0.0.1/cb'],
      firstParty: true,
      ...opts,
    });
  [appA, appB, thirdParty, logoutApp, deviceApp] = await Promise.all([
    browserApp('Console'),
    browserApp('Docs'),
    browserApp('Third Party Tool', { firstParty: false }),
    browserApp('Dashboard', { postLogoutRedirectUris: [cb.url('/bye')] }),
    srv.createApplication('CLI', [DEVICE_GRANT, 'refresh_token'], { firstParty: true }),
  ]);
  issuer = await Issuer.discover(srv.issuer);
  const names = ['ann', 'bob', 'cyd', 'dee', 'eve', 'fay', 'gus', 'hal'];
  const made = await Promise.all(
    names.map((n) => register(`${n}-${randomUUID().slice(0, 8)}@example.com`)),
  );
  names.forEach((n, i) => (users[n] = made[i]));
  browser = await launchChromium();
}

// Every stop runs even when another fails (or setUp did not get that far); the first failure
// is reported.
async function tearDown() {
  const results = await Promise.allSettled([browser?.close(), cb?.stop()]);
  results.push(...(await Promise.allSettled([srv?.stop()])));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

before(setUp, { timeout: 120000 });
after(tearDown, { timeout: 60000 });

async function register(email) {
  const res = await fetch(srv.url('/v1/register'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: appA.client_id, email, password: PASSWORD }),
  });
  const body = await res.text();
  assert.equal(res.status, 201, `register ${email}: ${body}`);
  return { email, id: JSON.parse(body).id };
}

// A public browser application as openid-client sees it; idpd signs ID tokens with ES256.
function clientOf(app, redirectUris = [cb.url('/cb')]) {
  return new issuer.Client({
    client_id: app.client_id,
    token_endpoint_auth_method: 'none',
    redirect_uris: redirectUris,
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  });
}

// An authorization request with PKCE (S256), state and nonce: the URL to open and what the
// callback must check.
function authRequest(client, extra = {}) {
  const code_verifier = generators.codeVerifier();
  const checks = { code_verifier, state: generators.state(), nonce: generators.nonce() };
  const url = client.authorizationUrl({
    redirect_uri: cb.url('/cb'),
    scope: SCOPE,
    code_challenge: generators.codeChallenge(code_verifier),
    code_challenge_method: 'S256',
    state: checks.state,
    nonce: checks.nonce,
    ...extra,
  });
  return { url, checks };
}

const atCallback = (url) => url.origin === cb.origin && url.pathname === '/cb';

// A fresh browser context (no cookies) for fn(page, context); closed whatever happens. When fn
// fails, a screenshot of where the page was goes to the artifacts, named for the test.
async function inBrowser(t, fn) {
  const context = await browser.newContext();
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const page = await context.newPage();
  try {
    return await fn(page, context);
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

// Fills the login page by its labels and presses its button.
async function signIn(page, email, password = PASSWORD) {
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// Opens the authorization request, signs in on the login page and waits for the callback.
// Answers the token set of the code exchange.
async function signInThrough(page, client, email, extra) {
  const { url, checks } = authRequest(client, extra);
  await page.goto(url);
  assert.equal(await page.title(), 'Sign in');
  await signIn(page, email);
  await page.waitForURL(atCallback);
  return exchange(client, page, checks);
}

// The code exchange for the callback the page is at (or the error it carries).
function exchange(client, page, checks) {
  return client.callback(cb.url('/cb'), client.callbackParams(page.url()), checks);
}

function callbackQuery(page) {
  return Object.fromEntries(new URL(page.url()).searchParams);
}

async function assertOPError(promise, error) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof errors.OPError, `expected an OPError, got ${err}`);
    assert.equal(err.error, error, err.error_description);
    return true;
  });
}

async function activeElement(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el?.tagName.toLowerCase(), id: el?.id, text: el?.textContent.trim() };
  });
}

describe('login page', () => {
  test('signs in; code flow with PKCE; nonce in the ID token; userinfo answers', T, async (t) => {
    const user = users.ann;
    const client = clientOf(appA);
    await inBrowser(t, async (page, context) => {
      const { url, checks } = authRequest(client);
      const res = await page.goto(url);
      assert.equal(res.status(), 200);
      assert.equal(await page.title(), 'Sign in');
      assert.ok(await page.getByText('Console', { exact: true }).isVisible(), 'the app name shows');
      await screenshot(t, page, 'login-page.png');

      await signIn(page, user.email);
      await page.waitForURL(atCallback);
      const params = client.callbackParams(page.url());
      assert.equal(params.state, checks.state);
      assert.equal(params.iss, srv.issuer);
      assert.ok(params.code, 'a code');

      const session = (await context.cookies(srv.issuer)).find((c) => c.name === 'idpd_session');
      assert.ok(session, 'the SSO cookie is set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');

      const tokens = await client.callback(cb.url('/cb'), params, checks);
      assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
      const claims = tokens.claims();
      assert.equal(claims.nonce, checks.nonce);
      assert.equal(claims.iss, srv.issuer);
      assert.equal(claims.aud, appA.client_id);
      assert.equal(claims.sub, user.id);

      const info = await client.userinfo(tokens.access_token);
      assert.equal(info.sub, user.id);
      assert.equal(info.email, user.email);

      // a code is good once
      await assertOPError(client.callback(cb.url('/cb'), params, checks), 'invalid_grant');
    });
  });

  test('a wrong password or an unknown email: one generic error, no code', T, async (t) => {
    const client = clientOf(appA);
    await inBrowser(t, async (page, context) => {
      const { url, checks } = authRequest(client);
      await page.goto(url);
      const wrong = [
        [users.bob.email, 'not the password'],
        [`nobody-${randomUUID().slice(0, 8)}@example.com`, PASSWORD],
      ];
      for (const [email, password] of wrong) {
        const [res] = await Promise.all([
          page.waitForResponse((r) => new URL(r.url()).pathname === '/login'),
          signIn(page, email, password),
        ]);
        assert.equal(res.status(), 401);
        await page.waitForLoadState();
        assert.equal(await page.title(), 'Sign in');
        const alert = page.getByRole('alert');
        assert.equal((await alert.textContent()).trim(), BAD_CREDENTIALS);
        assert.equal(await alert.getAttribute('id'), 'error');
        const emailField = page.getByLabel('Email', { exact: true });
        assert.equal(await emailField.getAttribute('aria-describedby'), 'error');
        assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
      }
      await screenshot(t, page, 'login-error.png');
      assert.equal(new URL(page.url()).origin, srv.issuer);
      assert.ok(!cb.hits.some((u) => u.searchParams.get('state') === checks.state), 'no callback');
      const names = (await context.cookies(srv.issuer)).map((c) => c.name);
      assert.ok(!names.includes('idpd_session'), 'no SSO cookie');

      // the form still works afterwards
      await signIn(page, users.bob.email);
      await page.waitForURL(atCallback);
      const tokens = await exchange(client, page, checks);
      assert.equal(tokens.claims().sub, users.bob.id);
    });
  });

  test('fields have labels; Tab goes email, password, Sign in (keyboard only)', T, async (t) => {
    const client = clientOf(appA);
    await inBrowser(t, async (page) => {
      const { url, checks } = authRequest(client);
      await page.goto(url);
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
      const unlabelled = await page.$$eval('input:not([type=hidden]), button', (els) =>
        els.filter((e) => e.labels.length === 0 && !e.textContent.trim()).map((e) => e.outerHTML),
      );
      assert.deepEqual(unlabelled, []);
      const email = page.getByRole('textbox', { name: 'Email', exact: true });
      assert.equal(await email.getAttribute('id'), 'email');
      const password = page.getByLabel('Password', { exact: true });
      assert.equal(await password.getAttribute('type'), 'password');

      assert.equal((await activeElement(page)).id, 'email', 'the email field has the focus');
      await page.keyboard.type(users.cyd.email);
      await page.keyboard.press('Tab');
      assert.equal((await activeElement(page)).id, 'password');
      await page.keyboard.type(PASSWORD);
      await page.keyboard.press('Tab');
      assert.deepEqual(await activeElement(page), { tag: 'button', id: '', text: 'Sign in' });
      await page.keyboard.press('Enter');
      await page.waitForURL(atCallback);
      const tokens = await exchange(client, page, checks);
      assert.equal(tokens.claims().sub, users.cyd.id);
    });
  });

  // The pages' forms post idpd's own origin (Referrer-Policy: same-origin; under no-referrer a
  // browser sends Origin: null, which the CORS check refuses), and the SSO cookie is the one
  // Chromium itself keeps.
  test('the login form posts as the browser sends it', T, async (t) => {
    const client = clientOf(appA);
    await inBrowser(
      t,
      async (page, context) => {
        const { url, checks } = authRequest(client);
        await page.goto(url);
        const [post] = await Promise.all([
          page.waitForRequest((r) => r.method() === 'POST' && r.url() === srv.url('/login')),
          signIn(page, users.hal.email),
        ]);
        const res = await post.response();
        if (res.status() !== 303) {
          assert.fail(
            `POST /login with Origin: ${await post.headerValue('origin')} answered ` +
              `${res.status()}: ${await res.text()}`,
          );
        }
        assert.equal(await post.headerValue('origin'), srv.issuer);
        await page.waitForURL(atCallback);
        const session = (await context.cookies(srv.issuer)).find((c) => c.name === 'idpd_session');
        assert.equal(session?.httpOnly, true);
        assert.equal(session?.sameSite, 'Lax');
        const tokens = await exchange(client, page, checks);
        assert.equal(tokens.claims().sub, users.hal.id);
      },
    );
  });
});

describe('single sign-on', () => {
  test('a second first-party application signs in without a password', T, async (t) => {
    const user = users.dee;
    await inBrowser(t, async (page) => {
      const first = await signInThrough(page, clientOf(appA), user.email);

      const docs = clientOf(appB);
      const { url, checks } = authRequest(docs);
      const res = await page.goto(url);
      // straight to the callback: the one hop is idpd's redirect, no page of idpd's shows
      assert.ok(atCallback(new URL(res.url())), `landed on ${res.url()}`);
      const hop = res.request().redirectedFrom();
      assert.equal(new URL(hop?.url() ?? 'about:blank').pathname, '/oauth/authorize');
      assert.equal(hop.redirectedFrom(), null);
      const second = await exchange(docs, page, checks);
      assert.equal(second.claims().sub, user.id);
      assert.equal(second.claims().aud, appB.client_id);
      assert.equal(second.claims().auth_time, first.claims().auth_time, 'the same sign-in');
      assert.equal((await docs.userinfo(second.access_token)).sub, user.id);
    });
  });

  test('a third-party app asks first: Deny is access_denied, Allow a code', T, async (t) => {
    const user = users.eve;
    const client = clientOf(thirdParty);
    await inBrowser(t, async (page) => {
      await signInThrough(page, clientOf(appA), user.email);

      let { url, checks } = authRequest(client);
      await page.goto(url);
      assert.equal(await page.title(), 'Allow access?');
      assert.ok(await page.getByText('Third Party Tool', { exact: true }).isVisible());
      await screenshot(t, page, 'consent-page.png');
      await page.getByRole('button', { name: 'Deny', exact: true }).click();
      await page.waitForURL(atCallback);
      const denied = callbackQuery(page);
      assert.equal(denied.error, 'access_denied');
      assert.equal(denied.state, checks.state);
      assert.equal(denied.code, undefined);

      ({ url, checks } = authRequest(client));
      await page.goto(url);
      await page.getByRole('button', { name: 'Allow', exact: true }).click();
      await page.waitForURL(atCallback);
      const tokens = await exchange(client, page, checks);
      assert.equal(tokens.claims().sub, user.id);
      assert.equal(tokens.claims().aud, thirdParty.client_id);
    });
  });

  test('prompt=none without a session answers login_required at the callback', T, async (t) => {
    const client = clientOf(appA);
    await inBrowser(t, async (page) => {
      const { url, checks } = authRequest(client, { prompt: 'none' });
      await page.goto(url);
      assert.ok(atCallback(new URL(page.url())), `landed on ${page.url()}`);
      const q = callbackQuery(page);
      assert.equal(q.error, 'login_required');
      assert.equal(q.state, checks.state);
      assert.equal(q.iss, srv.issuer);
      assert.equal(q.code, undefined);
      await assertOPError(
        exchange(client, page, checks),
        'login_required',
      );
    });
  });
});

describe('logout', () => {
  test('end_session_endpoint with id_token_hint: back with state, sessions over', T, async (t) => {
    const user = users.fay;
    const client = clientOf(logoutApp);
    await inBrowser(t, async (page, context) => {
      const tokens = await signInThrough(page, client, user.email);
      assert.ok(issuer.metadata.end_session_endpoint, 'discovery names end_session_endpoint');
      const state = generators.state();
      const logout = client.endSessionUrl({
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: cb.url('/bye'),
        state,
      });
      await page.goto(logout);
      const landed = new URL(page.url());
      assert.equal(`${landed.origin}${landed.pathname}`, cb.url('/bye'));
      assert.equal(landed.searchParams.get('state'), state);
      const names = (await context.cookies(srv.issuer)).map((c) => c.name);
      assert.ok(!names.includes('idpd_session'), `the SSO cookie is gone (have ${names})`);

      const { url, checks } = authRequest(client, { prompt: 'none' });
      await page.goto(url);
      assert.ok(atCallback(new URL(page.url())), `landed on ${page.url()}`);
      assert.equal(callbackQuery(page).error, 'login_required');
      assert.equal(callbackQuery(page).state, checks.state);

      await assertOPError(client.refresh(tokens.refresh_token), 'invalid_grant');
    });
  });
});

describe('device flow', () => {
  // The tokens of handle.poll(), or its error. The poll is aborted after POLL_TIMEOUT_MS and by
  // stop(), which the test calls whatever happens, so it never outlives the test.
  function pollBounded(handle) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), POLL_TIMEOUT_MS);
    const result = handle.poll({ signal: ac.signal }).then(
      (tokens) => ({ tokens }),
      (error) => ({ error }),
    );
    return {
      result,
      stop: () => {
        clearTimeout(timer);
        ac.abort();
      },
    };
  }

  // The device application's client, or null (and the test skipped) while idpd answers 404.
  async function deviceClient(t) {
    const probe = await fetch(srv.url('/oauth/device_authorization'), {
      method: 'POST',
      body: new URLSearchParams({ client_id: deviceApp.client_id, scope: 'openid' }),
    });
    if (probe.status === 404) {
      t.skip('POST /oauth/device_authorization answers 404: the device flow is not served yet');
      return null;
    }
    const current = await Issuer.discover(srv.issuer);
    assert.ok(current.metadata.device_authorization_endpoint, 'discovery names the endpoint');
    return new current.Client({
      client_id: deviceApp.client_id,
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    });
  }

  test('approved in a browser as the device polls: tokens; denied: access_denied', T, async (t) => {
    const client = await deviceClient(t);
    if (!client) return;
    const user = users.gus;
    const handle = await client.deviceAuthorization({ scope: SCOPE });
    assert.match(handle.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(handle.verification_uri, srv.url('/device'));
    assert.equal(
      handle.verification_uri_complete,
      `${srv.url('/device')}?user_code=${handle.user_code}`,
    );
    assert.ok(handle.expires_in > 590 && handle.expires_in <= 600, `${handle.expires_in} s`);
    const poll = pollBounded(handle);
    try {
      await inBrowser(t, async (page) => {
        await page.goto(handle.verification_uri_complete);
        assert.equal(await page.locator('#user_code').inputValue(), handle.user_code);
        await screenshot(t, page, 'device-code-page.png');
        await page.getByLabel('Email', { exact: true }).fill(user.email);
        await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
        await page.getByRole('button', { name: 'Continue', exact: true }).click();
        const allow = page.getByRole('button', { name: 'Allow', exact: true });
        await allow.waitFor();
        assert.ok(await page.getByRole('button', { name: 'Deny', exact: true }).isVisible());
        assert.ok(await page.getByText(handle.user_code).isVisible(), 'the page shows the code');
        await screenshot(t, page, 'device-confirm-page.png');
        await allow.click();
        await page.getByText('You can return to your device').waitFor();

        const { tokens, error } = await poll.result;
        assert.ifError(error);
        assert.ok(tokens.access_token && tokens.refresh_token, 'access and refresh tokens');
        assert.equal(tokens.claims().sub, user.id);
        assert.equal((await client.userinfo(tokens.access_token)).sub, user.id);

        // Signed in now: the page asks for the code alone; Deny ends the other device's poll.
        const other = await client.deviceAuthorization({ scope: 'openid' });
        const poll2 = pollBounded(other);
        try {
          await page.goto(other.verification_uri);
          assert.equal(await page.getByLabel('Email', { exact: true }).count(), 0);
          assert.equal(await page.getByLabel('Password', { exact: true }).count(), 0);
          await page.locator('#user_code').fill(other.user_code);
          await page.getByRole('button', { name: 'Continue', exact: true }).click();
          await page.getByRole('button', { name: 'Deny', exact: true }).click();
          const { error: refused } = await poll2.result;
          assert.ok(refused instanceof errors.OPError, `expected an OPError, got ${refused}`);
          assert.equal(refused.error, 'access_denied');
        } finally {
          poll2.stop();
        }
      });
    } finally {
      poll.stop();
    }
  });
});
