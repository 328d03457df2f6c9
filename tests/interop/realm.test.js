// An Atlas App Services app moved to idpd (issue 16): the real realm-web SDK (npm, 2.0.1), whose
// baseUrl points at idpd, runs its flows unchanged against the App Services client API
// (/api/client/v2.0). Each App instance gets a storage of its own (the SDK keeps its users
// there), and anonymous logins ask for a new user (Credentials.anonymous(false)). The tokens are
// checked as the SDK and a resource server read them: the access token with jose against
// idpd's JWKS, the refresh token as the JWT realm-core parses. Confirmation and reset mails go
// through a real SMTP server on loopback (aiosmtpd, mail.js).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as Realm from 'realm-web';

import { startMailSink } from './mail.js';
import { adminToken, startServer } from './server.js';
import { loadConformance } from './spec.js';

const APP_ID = 'inventory-abcde';
const GRANTS = [
  'password',
  'refresh_token',
  'urn:idpd:grant-type:anonymous',
  'urn:idpd:grant-type:api-key',
];
const PASSWORD = 'correct horse battery';

// A fresh MemoryStorage of realm-web's own (the class of its default one), so every App
// instance starts with no users and no device id.
function freshStorage() {
  return new (Realm.getEnvironment().defaultStorage.constructor)();
}

function newApp(srv, id = APP_ID) {
  return new Realm.App({ id, baseUrl: srv.issuer, storage: freshStorage() });
}

function uniqueEmail(name) {
  return `${name}-${randomUUID().slice(0, 8)}@example.com`;
}

// The MongoDBRealmError the SDK throws for fn(), with its status and App Services code.
async function realmError(fn, statusCode, errorCode) {
  await assert.rejects(fn, (err) => {
    assert.ok(err instanceof Realm.MongoDBRealmError, `not a MongoDBRealmError: ${err}`);
    assert.equal(err.statusCode, statusCode, err.message);
    assert.equal(err.errorCode, errorCode, err.message);
    return true;
  });
}

describe('realm-web against idpd, without mail', () => {
  let srv, app, jwks, admin;
  before(async () => {
    srv = await startServer({ args: ['--allow-registration'] });
    app = await srv.createApplication('inventory', GRANTS, { appServicesId: APP_ID });
    jwks = createRemoteJWKSet(new URL(srv.url('/jwks')), { timeoutDuration: 30000 });
    admin = await adminToken(srv);
  });
  after(async () => {
    await srv?.stop();
  });

  test('anonymous login: a new user, its profile, and the tokens the SDKs parse', async () => {
    const realm = newApp(srv);
    const user = await realm.logIn(Realm.Credentials.anonymous(false));
    assert.match(user.id, /^usr_/);
    assert.equal(user.providerType, 'anon-user');
    assert.equal(user.state, Realm.UserState.Active);
    assert.deepEqual(
      user.identities.map((i) => i.providerType),
      ['anon-user'],
    );
    assert.match(user.deviceId, /^[0-9a-f]{24}$/);
    assert.deepEqual(user.customData, {});
    // the access token verifies as an RFC 9068 token of idpd's, with the SDKs' claims
    const { payload } = await jwtVerify(user.accessToken, jwks, {
      issuer: srv.issuer,
      audience: srv.issuer,
      typ: 'at+jwt',
    });
    assert.equal(payload.sub, user.id);
    assert.equal(payload.client_id, app.client_id);
    assert.equal(payload.baas_device_id, user.deviceId);
    assert.deepEqual(payload.user_data, {});
    // realm-core parses the refresh token too: three parts, integer exp and iat
    assert.equal(user.refreshToken.split('.').length, 3);
    const rt = decodeJwt(user.refreshToken);
    assert.ok(Number.isInteger(rt.exp) && Number.isInteger(rt.iat) && rt.exp > rt.iat);
    assert.equal(rt.sub, user.id);
    // a second anonymous login of another App makes another user
    const other = await newApp(srv).logIn(Realm.Credentials.anonymous(false));
    assert.notEqual(other.id, user.id);
  });

  test('the device id the SDK keeps comes back on its next login', async () => {
    const realm = newApp(srv);
    const first = await realm.logIn(Realm.Credentials.anonymous(false));
    const second = await realm.logIn(Realm.Credentials.anonymous(false));
    assert.notEqual(second.id, first.id);
    assert.equal(second.deviceId, first.deviceId);
  });

  test('email/password: register, log in, and a wrong password', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('reg');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    // registering twice: the address is taken (no mail here, so nothing to hide)
    await realmError(
      () => realm.emailPasswordAuth.registerUser({ email, password: PASSWORD }),
      409,
      'AccountNameInUse',
    );
    await realmError(
      () => realm.logIn(Realm.Credentials.emailPassword(email, 'wrong password!')),
      401,
      'InvalidPassword',
    );
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    assert.equal(user.providerType, 'local-userpass');
    assert.equal(user.profile.email, email);
    assert.deepEqual(
      user.identities.map((i) => i.providerType),
      ['local-userpass'],
    );
    // the first login made the user; the next one finds the same
    const again = await newApp(srv).logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    assert.equal(again.id, user.id);
  });

  test('linking an anonymous user to email/password keeps its user id', async () => {
    const realm = newApp(srv);
    const anon = await realm.logIn(Realm.Credentials.anonymous(false));
    const email = uniqueEmail('link');
    // the documented upgrade: register, then link the credentials
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    await anon.linkCredentials(Realm.Credentials.emailPassword(email, PASSWORD));
    assert.deepEqual(anon.identities.map((i) => i.providerType).sort(), [
      'anon-user',
      'local-userpass',
    ]);
    assert.equal(anon.profile.email, email);
    // the email now logs in as that user: no second user was made
    const later = await newApp(srv).logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    assert.equal(later.id, anon.id);
    // linking an identity of another user is refused and changes nothing
    const other = await newApp(srv).logIn(Realm.Credentials.anonymous(false));
    await realmError(
      () => other.linkCredentials(Realm.Credentials.emailPassword(email, PASSWORD)),
      409,
      'AccountNameInUse',
    );
    await other.refreshProfile();
    assert.deepEqual(
      other.identities.map((i) => i.providerType),
      ['anon-user'],
    );
  });

  test('API keys: create, list, disable, log in with one', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('keys');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    const created = await user.apiKeys.create('ci');
    assert.match(created._id, /^[0-9a-f]{24}$/);
    assert.equal(created.name, 'ci');
    assert.equal(created.disabled, false);
    assert.equal(typeof created.key, 'string');
    await realmError(() => user.apiKeys.create('ci'), 409, 'APIKeyAlreadyExists');
    const second = await user.apiKeys.create('deploy');
    const all = await user.apiKeys.fetchAll();
    assert.deepEqual(all.map((k) => k.name).sort(), ['ci', 'deploy']);
    assert.ok(all.every((k) => k.key === undefined), 'a key is shown once, at creation');
    assert.equal((await user.apiKeys.fetch(created._id)).name, 'ci');

    // the key logs in as its user, from another App
    const byKey = await newApp(srv).logIn(Realm.Credentials.apiKey(created.key));
    assert.equal(byKey.id, user.id);
    assert.equal(byKey.providerType, 'api-key');

    // disabled: refused; enabled again: accepted
    await user.apiKeys.disable(created._id);
    assert.equal((await user.apiKeys.fetch(created._id)).disabled, true);
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.apiKey(created.key)),
      401,
      'AuthError',
    );
    await user.apiKeys.enable(created._id);
    assert.equal((await newApp(srv).logIn(Realm.Credentials.apiKey(created.key))).id, user.id);

    // deleted: gone from the list, and its key no longer logs in
    await user.apiKeys.delete(second._id);
    await realmError(() => user.apiKeys.fetch(second._id), 404, 'APIKeyNotFound');
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.apiKey(second.key)),
      401,
      'AuthError',
    );
    // an anonymous user holds none
    const anon = await newApp(srv).logIn(Realm.Credentials.anonymous(false));
    await realmError(() => anon.apiKeys.create('x'), 403, 'Forbidden');
  });

  test('a revoked access token: idpd answers InvalidSession, the SDK refreshes and retries', async () => {
    const realm = newApp(srv);
    const user = await realm.logIn(Realm.Credentials.anonymous(false));
    const before = user.accessToken;
    const refresh = user.refreshToken;
    const res = await fetch(srv.url('/oauth/revoke'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: app.client_id, token: before }),
    });
    assert.equal(res.status, 200);
    // the raw call with the revoked token is refused in the shape the SDK acts on
    const raw = await fetch(srv.url('/api/client/v2.0/auth/profile'), {
      headers: { authorization: `Bearer ${before}` },
    });
    assert.equal(raw.status, 401);
    assert.equal(raw.headers.get('content-type'), 'application/json');
    assert.equal((await raw.json()).error_code, 'InvalidSession');
    // the SDK's call goes through: it refreshed, and the refresh token did not rotate
    await user.refreshProfile();
    assert.notEqual(user.accessToken, before);
    assert.equal(user.refreshToken, refresh);
    assert.equal(user.state, Realm.UserState.Active);
  });

  test('logout ends the session: its refresh token is refused afterwards', async () => {
    const realm = newApp(srv);
    const user = await realm.logIn(Realm.Credentials.anonymous(false));
    const refresh = user.refreshToken;
    await user.logOut();
    assert.equal(user.state, Realm.UserState.LoggedOut);
    const res = await fetch(srv.url('/api/client/v2.0/auth/session'), {
      method: 'POST',
      headers: { authorization: `Bearer ${refresh}` },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = await res.json();
    assert.equal(body.error_code, 'InvalidSession');
    assert.match(body.error, /failed to find refresh token/);
  });

  test('a disabled user cannot log in (UserDisabled), and its session is gone', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('disabled');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    const res = await fetch(srv.url(`/admin/v1/users/${user.id}/disable`), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(res.status, 200);
    // the wrong password still answers as one: UserDisabled comes only after the right one
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.emailPassword(email, 'wrong password!')),
      401,
      'InvalidPassword',
    );
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.emailPassword(email, PASSWORD)),
      401,
      'UserDisabled',
    );
    // the logged-in SDK: the access token is refused, so is its refresh: the user is logged out
    await assert.rejects(() => user.refreshProfile());
    assert.equal(user.state, Realm.UserState.LoggedOut);
  });

  test('deleting the user: the SDK deletes it, and it cannot log in again', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('delete');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    const refresh = user.refreshToken;
    await realm.deleteUser(user);
    assert.equal(realm.allUsers[user.id], undefined);
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.emailPassword(email, PASSWORD)),
      401,
      'InvalidPassword',
    );
    const res = await fetch(srv.url('/api/client/v2.0/auth/session'), {
      method: 'POST',
      headers: { authorization: `Bearer ${refresh}` },
    });
    assert.equal(res.status, 401);
  });

  test('providers the application does not allow, and unknown apps', async () => {
    const anonOnly = 'anononly-xyz12';
    await srv.createApplication('anon only', ['urn:idpd:grant-type:anonymous'], {
      appServicesId: anonOnly,
    });
    const realm = newApp(srv, anonOnly);
    await realmError(
      () => realm.logIn(Realm.Credentials.emailPassword(uniqueEmail('x'), PASSWORD)),
      400,
      'AuthProviderNotFound',
    );
    await realmError(
      () => realm.logIn(Realm.Credentials.function({ a: 1 })),
      400,
      'AuthProviderNotFound',
    );
    await assert.rejects(() => newApp(srv, 'no-such-app').logIn(Realm.Credentials.anonymous(false)));
    await realmError(
      () => newApp(srv).emailPasswordAuth.callResetPasswordFunction({ email: 'a@b.c', password: PASSWORD }),
      400,
      'FunctionNotFound',
    );
  });
});

describe('realm-web against idpd, with confirmation and reset mails', () => {
  let srv, sink;
  before(async () => {
    sink = await startMailSink();
    srv = await startServer({
      args: ['--allow-registration'],
      env: {
        IDPD_SMTP_URL: sink.url,
        IDPD_SMTP_FROM: 'idpd@example.org',
        IDPD_SMTP_PLAIN_LOOPBACK: '1',
        IDPD_SMTP_RETRY_BASE: '1',
      },
    });
    await srv.createApplication('inventory', GRANTS, { appServicesId: APP_ID });
  });
  after(async () => {
    await srv?.stop();
    await sink?.stop();
  });

  // token and tokenId of the newest link to path in a message to email
  async function linkTo(email, path) {
    const msg = await sink.waitFor(email, (m) =>
      m.parts.some((p) => p.body.includes(`${srv.issuer}${path}?token=`)),
    );
    const text = msg.parts.find((p) => p.type === 'text/plain').body;
    const url = new URL(text.match(new RegExp(`${srv.issuer}${path}\\?[^\\s]+`))[0]);
    return { token: url.searchParams.get('token'), tokenId: url.searchParams.get('tokenId') };
  }

  test('register, confirm with the mailed token and tokenId, then log in', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('confirm');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    // not confirmed yet: the right password says so, a wrong one does not
    await realmError(
      () => realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD)),
      401,
      'AuthError',
    );
    const { token, tokenId } = await linkTo(email, '/verify-email');
    assert.match(tokenId, /^pnd_/);
    await realmError(
      () => realm.emailPasswordAuth.confirmUser({ token: `${token}x`, tokenId }),
      400,
      'UserpassTokenInvalid',
    );
    await realm.emailPasswordAuth.confirmUser({ token, tokenId });
    // used up
    await realmError(
      () => realm.emailPasswordAuth.confirmUser({ token, tokenId }),
      400,
      'UserpassTokenInvalid',
    );
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    assert.equal(user.profile.email, email);
    // registering a taken address answers the same, and mails its owner instead
    await realm.emailPasswordAuth.registerUser({ email, password: 'another password' });
    await sink.waitFor(email, (m) => /already/i.test(m.parts[0].body));
  });

  test('resend the confirmation: the newer link confirms', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('resend');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const first = await linkTo(email, '/verify-email');
    await realm.emailPasswordAuth.resendConfirmationEmail({ email });
    const second = await sink.waitFor(email, (m) =>
      m.parts.some((p) => p.body.includes('/verify-email?token=') && !p.body.includes(first.token)),
    );
    assert.ok(second);
    // an address nobody registered answers the same
    await realm.emailPasswordAuth.resendConfirmationEmail({ email: uniqueEmail('nobody') });
    const { token, tokenId } = await linkTo(email, '/verify-email');
    assert.notEqual(token, first.token);
    await realmError(
      () => realm.emailPasswordAuth.confirmUser(first),
      400,
      'UserpassTokenInvalid',
    );
    await realm.emailPasswordAuth.confirmUser({ token, tokenId });
    await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  });

  test('password reset: the mailed token sets a new password', async () => {
    const realm = newApp(srv);
    const email = uniqueEmail('reset');
    await realm.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    await realm.emailPasswordAuth.confirmUser(await linkTo(email, '/verify-email'));
    const user = await realm.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
    await realm.emailPasswordAuth.sendResetPasswordEmail({ email });
    const { token } = await linkTo(email, '/reset-password');
    const fresh = 'a brand new password';
    await realm.emailPasswordAuth.resetPassword({ token, tokenId: 'unused', password: fresh });
    await realmError(
      () => newApp(srv).logIn(Realm.Credentials.emailPassword(email, PASSWORD)),
      401,
      'InvalidPassword',
    );
    const again = await newApp(srv).logIn(Realm.Credentials.emailPassword(email, fresh));
    assert.equal(again.id, user.id);
    // the reset ended the old sessions: the old SDK user is logged out at its next call
    await assert.rejects(() => user.refreshProfile());
    assert.equal(user.state, Realm.UserState.LoggedOut);
  });
});

// The raw answers of every route family against openapi/openapi.yaml, with the headers the SDKs
// depend on: errors exactly application/json, empty successes without a content type.
describe('the App Services client API answers what the spec says', () => {
  let srv, spec, app;
  const A = '/api/client/v2.0';
  const T = {
    location: `${A}/app/{app_id}/location`,
    login: `${A}/app/{app_id}/auth/providers/{provider}/login`,
    register: `${A}/app/{app_id}/auth/providers/local-userpass/register`,
    resetCall: `${A}/app/{app_id}/auth/providers/local-userpass/reset/call`,
    session: `${A}/auth/session`,
    profile: `${A}/auth/profile`,
    keys: `${A}/auth/api_keys`,
    key: `${A}/auth/api_keys/{id}`,
    disable: `${A}/auth/api_keys/{id}/disable`,
    meKeys: '/v1/me/api-keys',
    meKey: '/v1/me/api-keys/{id}',
  };
  before(async () => {
    spec = await loadConformance();
    srv = await startServer({ args: ['--allow-registration'] });
    app = await srv.createApplication('inventory', GRANTS, { appServicesId: APP_ID });
  });
  after(async () => {
    await srv?.stop();
  });

  // One call, checked against the spec's answer for template; answers the parsed body.
  async function call(method, template, path, { body, bearer, type } = {}) {
    const headers = {};
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['content-type'] = type ?? 'application/json';
    const res = await fetch(srv.url(path), {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 400 && path.startsWith(A)) {
      assert.equal(res.headers.get('content-type'), 'application/json', `${method} ${path}`);
    }
    if (text === '') {
      assert.equal(res.headers.get('content-type'), null, `${method} ${path}: no body, no type`);
    }
    return { status: res.status, body: spec.conforms(method, template, res, text) };
  }
  const appPath = (t, provider = 'anon-user') =>
    t.replace('{app_id}', APP_ID).replace('{provider}', provider);

  test('location, logins and their errors', async () => {
    let r = await call('GET', T.location, appPath(T.location));
    assert.equal(r.status, 200);
    assert.equal(r.body.hostname, srv.issuer);
    assert.equal(r.body.ws_hostname, srv.issuer.replace(/^http/, 'ws'));
    // the idpd id names the application too
    r = await call('GET', T.location, T.location.replace('{app_id}', app.client_id));
    assert.equal(r.status, 200);
    r = await call('GET', T.location, T.location.replace('{app_id}', 'nope'));
    assert.equal(r.status, 404);
    assert.equal(r.body.error_code, 'AppNotFound');

    r = await call('POST', T.login, appPath(T.login), {
      body: { provider: 'anon-user', options: { device: { appId: APP_ID, platform: 'Linux' } } },
    });
    assert.equal(r.status, 200);
    assert.match(r.body.device_id, /^[0-9a-f]{24}$/);
    r = await call('POST', T.login, appPath(T.login), { body: { surprise: 1 } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_code, 'BadRequest');
    r = await call('POST', T.login, appPath(T.login), { body: '{}', type: 'text/plain' });
    assert.equal(r.status, 415);
    r = await call('POST', T.login, appPath(T.login), { body: '{"options":' });
    assert.equal(r.status, 400);
    r = await call('POST', T.login, appPath(T.login, 'custom-token'), { body: { token: 'x' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_code, 'AuthProviderNotFound');
    r = await call('POST', T.login, appPath(T.login, 'local-userpass'), {
      body: { username: 'nobody@example.com', password: PASSWORD },
    });
    assert.equal(r.status, 401);
    assert.equal(r.body.error_code, 'InvalidPassword');
    r = await call('POST', T.register, appPath(T.register), {
      body: { email: 'not an address', password: PASSWORD },
    });
    assert.equal(r.status, 400);
    r = await call('POST', T.resetCall, appPath(T.resetCall), { body: {} });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_code, 'FunctionNotFound');
  });

  test('session, profile and keys with their tokens, and the wrong tokens', async () => {
    const email = uniqueEmail('spec');
    let r = await call('POST', T.register, appPath(T.register), {
      body: { email, password: PASSWORD },
    });
    assert.equal(r.status, 201);
    r = await call('POST', T.login, appPath(T.login, 'local-userpass'), {
      body: { username: email, password: PASSWORD, provider: 'local-userpass' },
    });
    assert.equal(r.status, 200);
    const { access_token: access, refresh_token: refresh } = r.body;

    r = await call('POST', T.session, T.session, { bearer: refresh });
    assert.equal(r.status, 201);
    r = await call('POST', T.session, T.session, { bearer: access });
    assert.equal(r.status, 401);
    assert.equal(r.body.error_code, 'InvalidSession');
    r = await call('GET', T.profile, T.profile, { bearer: access });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.email, email);
    r = await call('GET', T.profile, T.profile, { bearer: refresh });
    assert.equal(r.status, 401);
    assert.equal(r.body.error_code, 'InvalidSession');

    r = await call('POST', T.keys, T.keys, { bearer: refresh, body: { name: 'ci' } });
    assert.equal(r.status, 201);
    const id = r.body._id;
    r = await call('POST', T.keys, T.keys, { bearer: refresh, body: { name: '' } });
    assert.equal(r.status, 400);
    r = await call('GET', T.keys, T.keys, { bearer: refresh });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1);
    r = await call('PUT', T.disable, T.disable.replace('{id}', id), { bearer: refresh });
    assert.equal(r.status, 204);
    r = await call('GET', T.key, T.key.replace('{id}', id), { bearer: refresh });
    assert.equal(r.body.disabled, true);
    r = await call('GET', T.key, T.key.replace('{id}', 'f'.repeat(24)), { bearer: refresh });
    assert.equal(r.status, 404);
    assert.equal(r.body.error_code, 'APIKeyNotFound');

    // idpd's own API sees the same keys, and its grant logs in with one
    r = await call('GET', T.meKeys, T.meKeys, { bearer: access });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.items.map((k) => [k.id, k.disabled]),
      [[id, true]],
    );
    r = await call('PATCH', T.meKey, T.meKey.replace('{id}', id), {
      bearer: access,
      body: { disabled: false },
    });
    assert.equal(r.status, 200);
    r = await call('POST', T.meKeys, T.meKeys, { bearer: access, body: { name: 'deploy' } });
    assert.equal(r.status, 201);
    const key = r.body.key;
    const res = await fetch(srv.url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:idpd:grant-type:api-key',
        client_id: app.client_id,
        api_key: key,
      }),
    });
    assert.equal(res.status, 200);
    const tokens = await res.json();
    assert.equal(decodeJwt(tokens.access_token).sub, decodeJwt(access).sub);
    assert.deepEqual(decodeJwt(tokens.access_token).amr, ['api-key']);
    r = await call('DELETE', T.meKey, T.meKey.replace('{id}', r.body.id), { bearer: access });
    assert.equal(r.status, 204);

    r = await call('DELETE', T.session, T.session, { bearer: refresh });
    assert.equal(r.status, 204);
    r = await call('DELETE', T.session, T.session, { bearer: refresh });
    assert.equal(r.status, 401);
    assert.match(r.body.error, /failed to find refresh token/);
    r = await call('GET', T.profile, T.profile, { bearer: access });
    assert.equal(r.status, 401);
  });

  test('router errors on the App Services paths: 404, 405, in its own shape', async () => {
    let res = await fetch(srv.url(`${A}/auth/nope`));
    let text = await res.text();
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/json');
    spec.conformsTo('AsNotFound', res, text);
    res = await fetch(srv.url(`${A}/auth/session`));
    text = await res.text();
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST, DELETE');
    spec.conformsTo('AsMethodNotAllowed', res, text);
  });
});
