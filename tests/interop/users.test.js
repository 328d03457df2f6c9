// The user life cycle as an SDK runs it, through a stock OAuth/OIDC client: register over HTTP,
// log in with the password grant (openid-client's generic grant call) and verify the ID token,
// refresh with rotation and reuse detection, userinfo, logout by revocation, the anonymous grant
// and account linking, sessions, password change. Access tokens are verified by jose as a
// resource server would (RFC 9068); JSON answers are checked against openapi/openapi.yaml.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { errors, Issuer } from 'openid-client';

import { startServer } from './server.js';
import { loadConformance } from './spec.js';

const ANON = 'urn:idpd:grant-type:anonymous';

let srv, issuer, jwks, spec, app, other, confidential, gateway;
before(async () => {
  spec = await loadConformance();
  srv = await startServer({ args: ['--allow-registration'] });
  issuer = await Issuer.discover(srv.issuer);
  jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri), { timeoutDuration: 30000 });
  [app, other, confidential, gateway] = await Promise.all([
    srv.createApplication('mobile-sdk'),
    srv.createApplication('web-sdk', ['password', 'refresh_token']),
    srv.createApplication('backend-app', ['password', 'refresh_token'], { type: 'confidential' }),
    srv.createServiceAccount('gateway', ['idp:introspect']),
  ]);
});
after(async () => {
  await srv?.stop();
});

// A public application: client_id alone (token_endpoint_auth_method none). idpd signs ID tokens
// with ES256, openid-client's default expectation is RS256.
function publicClient(a = app) {
  return new issuer.Client({
    client_id: a.client_id,
    token_endpoint_auth_method: 'none',
    id_token_signed_response_alg: 'ES256',
  });
}

function gatewayClient() {
  return new issuer.Client({
    client_id: gateway.client_id,
    client_secret: gateway.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

function uniqueEmail(name) {
  return `${name}-${randomUUID().slice(0, 8)}@example.com`;
}

function verifyAccess(token) {
  return jwtVerify(token, jwks, {
    issuer: srv.issuer,
    audience: srv.issuer,
    typ: 'at+jwt',
    algorithms: ['ES256'],
  });
}

async function assertOPError(promise, error, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof errors.OPError, `expected an OPError, got ${err}`);
    assert.equal(err.error, error, err.error_description);
    if (status) assert.equal(err.response.statusCode, status);
    return true;
  });
}

// A JSON call to idpd. Answers the response, its text and its parsed body (when JSON).
async function call(method, path, { token, json, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    body = typeof json === 'string' ? json : JSON.stringify(json);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(srv.url(path), { method, headers: h, body });
  return { res, text: await res.text() };
}

// The call must answer status, as openapi/openapi.yaml documents it for template.
async function expectOp(method, template, path, status, opts) {
  const { res, text } = await call(method, path, opts);
  assert.equal(res.status, status, `${method} ${path}: ${text}`);
  return spec.conforms(method, template, res, text);
}

async function register(email, password, name) {
  const json = { client_id: app.client_id, email, password };
  if (name) json.name = name;
  return expectOp('POST', '/v1/register', '/v1/register', 201, { json });
}

function login(email, password, { client = publicClient(), scope = 'openid email', nonce } = {}) {
  const body = { grant_type: 'password', username: email, password, scope };
  if (nonce) body.nonce = nonce;
  return client.grant(body);
}

describe('registration', () => {
  test('answers 201 with the user and its identity; a taken email is 409 in any case', async () => {
    const email = uniqueEmail('Reg');
    const user = await register(email, 'a long enough password', 'Reg Istered');
    assert.match(user.id, /^usr_/);
    assert.equal(user.email, email);
    assert.equal(user.name, 'Reg Istered');
    assert.equal(user.status, 'active');
    assert.equal(user.anonymous, false);
    assert.equal(user.identities.length, 1);
    assert.equal(user.identities[0].provider, 'local-userpass');
    const taken = await expectOp('POST', '/v1/register', '/v1/register', 409, {
      json: { client_id: app.client_id, email: email.toUpperCase(), password: 'another password' },
    });
    assert.equal(taken.detail, 'the email is already registered');
  });

  test('bad input is a 400 or 415 problem and creates nobody', async () => {
    const email = uniqueEmail('bad');
    const cases = [
      [400, { client_id: app.client_id, email, password: 'short' }],
      [400, { client_id: app.client_id, email: 'not-an-email', password: 'long enough pw' }],
      [400, { client_id: 'app_00000000000000000000000000', email, password: 'long enough pw' }],
      [400, { client_id: app.client_id, email, password: 'long enough pw', admin: true }],
      [400, { client_id: app.client_id, email }],
      [400, '{"client_id":'],
    ];
    for (const [status, json] of cases) {
      const p = await expectOp('POST', '/v1/register', '/v1/register', status, { json });
      assert.equal(p.status, status);
    }
    await expectOp('POST', '/v1/register', '/v1/register', 415, {
      json: { client_id: app.client_id, email, password: 'long enough pw' },
      headers: { 'content-type': 'text/plain' },
    });
    // none of the above made the user: registering it now works
    await register(email, 'long enough pw');
  });
});

describe('password login with openid-client', () => {
  const email = uniqueEmail('ann');
  const password = 'correct horse battery';
  const nonce = randomUUID();
  let user, tokenSet;
  before(async () => {
    user = await register(email, password, 'Ann');
    tokenSet = await login(email, password, { nonce });
  });

  test('the TokenSet holds an access token, a refresh token and an ID token', () => {
    assert.equal(tokenSet.token_type.toLowerCase(), 'bearer');
    assert.ok(tokenSet.expires_in > 3590 && tokenSet.expires_in <= 3600, `${tokenSet.expires_in}`);
    assert.match(tokenSet.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(tokenSet.id_token);
    assert.equal(tokenSet.scope, 'openid email');
  });

  test('openid-client validates the ID token (signature against the JWKS, iss, aud, nonce)', async () => {
    await publicClient().validateIdToken(tokenSet, nonce, 'token');
    const claims = tokenSet.claims();
    assert.equal(claims.iss, srv.issuer);
    assert.equal(claims.aud, app.client_id);
    assert.equal(claims.sub, user.id);
    assert.equal(claims.nonce, nonce);
    assert.equal(claims.email, email);
    assert.equal(claims.email_verified, false);
    assert.equal(claims.name, 'Ann');
    assert.match(claims.sid, /^ses_/);
    assert.equal(typeof claims.auth_time, 'number');
    const header = decodeProtectedHeader(tokenSet.id_token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'JWT');
    assert.ok(header.kid);
  });

  test('the ID token is refused for another audience, another nonce or a changed payload', async () => {
    await assert.rejects(publicClient(other).validateIdToken(tokenSet, nonce, 'token'), (err) => {
      assert.ok(err instanceof errors.RPError);
      assert.match(err.message, /aud/);
      return true;
    });
    await assert.rejects(publicClient().validateIdToken(tokenSet, 'another-nonce', 'token'), /nonce/);
    const [h, p, s] = tokenSet.id_token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = 'usr_someone_else';
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    await assert.rejects(publicClient().validateIdToken(forged, nonce, 'token'), errors.RPError);
  });

  test('jose verifies the access token as an RFC 9068 user token', async () => {
    const { payload, protectedHeader } = await verifyAccess(tokenSet.access_token);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, user.id);
    assert.equal(payload.client_id, app.client_id);
    assert.equal(payload.principal_type, 'user');
    assert.deepEqual(payload.amr, ['pwd']);
    assert.equal(payload.sid, tokenSet.claims().sid);
    assert.equal(payload.auth_time, tokenSet.claims().auth_time);
    assert.equal(payload.scope, 'openid email');
    assert.deepEqual(payload.roles, []);
    assert.equal(payload.exp - payload.iat, 3600);
  });

  test('userinfo (GET and POST) answers sub and email', async () => {
    for (const method of ['GET', 'POST']) {
      const info = await publicClient().userinfo(tokenSet, { method });
      assert.equal(info.sub, user.id);
      assert.equal(info.email, email);
      assert.equal(info.email_verified, false);
      assert.equal(info.name, 'Ann');
    }
    await expectOp('GET', '/userinfo', '/userinfo', 200, { token: tokenSet.access_token });
  });

  test('/v1/me and /v1/me/sessions answer what the spec says', async () => {
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: tokenSet.access_token });
    assert.equal(me.id, user.id);
    assert.equal(me.email, email);
    assert.deepEqual(me.teams, []);
    assert.deepEqual(
      me.identities.map((i) => i.provider),
      ['local-userpass'],
    );
    const { items } = await expectOp('GET', '/v1/me/sessions', '/v1/me/sessions', 200, {
      token: tokenSet.access_token,
    });
    const mine = items.find((s) => s.id === tokenSet.claims().sid);
    assert.ok(mine, JSON.stringify(items));
    assert.equal(mine.current, true);
    assert.equal(mine.client_id, app.client_id);
    assert.equal(mine.amr, 'pwd');
    assert.equal(mine.client_ip, '127.0.0.1');
  });

  test('introspection sees the user token active, with its session', async () => {
    const r = await gatewayClient().introspect(tokenSet.access_token);
    assert.equal(r.active, true);
    assert.equal(r.sub, user.id);
    assert.equal(r.principal_type, 'user');
    assert.equal(r.sid, tokenSet.claims().sid);
    assert.equal(r.client_id, app.client_id);
  });

  test('a confidential application logs in with its secret (client_secret_basic)', async () => {
    const client = new issuer.Client({
      client_id: confidential.client_id,
      client_secret: confidential.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    });
    const ts = await login(email, password, { client });
    await client.validateIdToken(ts, undefined, 'token');
    assert.equal(ts.claims().aud, confidential.client_id);
    assert.equal(ts.claims().sub, user.id);
    // without its secret it is not authenticated
    await assertOPError(
      login(email, password, { client: publicClient(confidential) }),
      'invalid_client',
      401,
    );
  });
});

describe('login failures', () => {
  const email = uniqueEmail('fail');
  before(async () => {
    await register(email, 'the right password');
  });

  test('unknown user and wrong password are the same invalid_grant', async () => {
    const answers = [];
    for (const [u, p] of [
      [email, 'the wrong password'],
      [uniqueEmail('nobody'), 'the right password'],
    ]) {
      await assert.rejects(login(u, p), (err) => {
        assert.ok(err instanceof errors.OPError);
        answers.push([err.response.statusCode, err.error, err.error_description]);
        return true;
      });
    }
    assert.deepEqual(answers[0], [400, 'invalid_grant', 'invalid username or password']);
    assert.deepEqual(answers[1], answers[0]);
  });

  test('the username is the email in any case', async () => {
    const ts = await login(email.toUpperCase(), 'the right password', { scope: 'email' });
    assert.equal(ts.id_token, undefined, 'no ID token without openid');
    assert.ok(ts.refresh_token);
  });

  test('an unknown scope is invalid_scope', async () => {
    await assertOPError(login(email, 'the right password', { scope: 'openid admin' }), 'invalid_scope', 400);
  });

  test('a grant the application was not created with is unauthorized_client', async () => {
    await assertOPError(publicClient(other).grant({ grant_type: ANON }), 'unauthorized_client', 400);
    await assertOPError(
      publicClient(app).grant({ grant_type: 'client_credentials' }),
      'unauthorized_client',
      400,
    );
  });

  test('an unknown application, or a public one sending a secret, is invalid_client', async () => {
    await assertOPError(
      login(email, 'the right password', { client: publicClient({ client_id: `app_${'0'.repeat(26)}` }) }),
      'invalid_client',
      401,
    );
    const withSecret = new issuer.Client({
      client_id: app.client_id,
      client_secret: 'idpsec_not_a_secret',
      token_endpoint_auth_method: 'client_secret_post',
    });
    await assertOPError(login(email, 'the right password', { client: withSecret }), 'invalid_client', 401);
  });
});

describe('refresh rotates the refresh token; reuse ends the session', () => {
  const email = uniqueEmail('rot');
  const password = 'rotation password';
  let first, second, third;
  before(async () => {
    await register(email, password);
    first = await login(email, password);
  });

  test('client.refresh answers new tokens and a new refresh token (ID token validated)', async () => {
    second = await publicClient().refresh(first);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    assert.equal(second.claims().sub, first.claims().sub);
    assert.equal(second.claims().sid, first.claims().sid);
    const { payload } = await verifyAccess(second.access_token);
    assert.equal(payload.sid, first.claims().sid);
    assert.deepEqual(payload.amr, ['pwd']);
  });

  test('a refresh may narrow the scope', async () => {
    third = await publicClient().refresh(second, { exchangeBody: { scope: 'email' } });
    assert.equal(third.scope, 'email');
    assert.equal(third.id_token, undefined);
    assert.equal((await verifyAccess(third.access_token)).payload.scope, 'email');
  });

  // The scope is checked before the rotation: otherwise the token sent would be superseded by
  // a refused request, and the client's next refresh with it would end the session as a reuse.
  test('a refresh refused with invalid_scope changes nothing', async () => {
    const ts = await login(email, password, { scope: 'email' });
    for (const scope of ['email profile', 'email admin']) {
      await assertOPError(
        publicClient().refresh(ts, { exchangeBody: { scope } }),
        'invalid_scope',
        400,
      );
    }
    const next = await publicClient().refresh(ts);
    assert.ok(next.refresh_token);
    assert.equal(next.scope, 'email');
  });

  test('another application cannot use the refresh token', async () => {
    await assertOPError(publicClient(other).refresh(third.refresh_token), 'invalid_grant', 400);
  });

  test('the superseded refresh token fails, and the newest one of the family too', async () => {
    await assertOPError(publicClient().refresh(first.refresh_token), 'invalid_grant', 400);
    await assertOPError(publicClient().refresh(third.refresh_token), 'invalid_grant', 400);
    // the access tokens of the ended session are refused by idpd at once
    await assertOPError(publicClient().userinfo(third.access_token), 'invalid_token', 401);
    const r = await gatewayClient().introspect(third.access_token);
    assert.deepEqual(r, { active: false });
  });
});

describe('logout: revoking the refresh token ends the session', () => {
  const email = uniqueEmail('bye');
  const password = 'logout password';
  let ts;
  before(async () => {
    await register(email, password);
    ts = await login(email, password);
  });

  test('another application may not revoke it', async () => {
    await assertOPError(
      publicClient(other).revoke(ts.refresh_token, 'refresh_token'),
      'unauthorized_client',
      400,
    );
    await publicClient().userinfo(ts.access_token); // still good
  });

  test('client.revoke ends it: refresh, userinfo and /v1/me fail, introspection is inactive', async () => {
    await publicClient().revoke(ts.refresh_token, 'refresh_token');
    await assertOPError(publicClient().refresh(ts), 'invalid_grant', 400);
    await assertOPError(publicClient().userinfo(ts.access_token), 'invalid_token', 401);
    const { res, text } = await call('GET', '/v1/me', { token: ts.access_token });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="idpd", error="invalid_token"');
    spec.conforms('GET', '/v1/me', res, text);
    assert.deepEqual(await gatewayClient().introspect(ts.access_token), { active: false });
  });

  test('revoking it again answers 200 and changes nothing', async () => {
    await publicClient().revoke(ts.refresh_token, 'refresh_token');
    const again = await login(email, password);
    await publicClient().userinfo(again.access_token);
  });
});

describe('anonymous user links a password and keeps its id', () => {
  const email = uniqueEmail('anon');
  const password = 'upgrade password';
  let anon, anonSub;
  before(async () => {
    anon = await publicClient().grant({ grant_type: ANON, scope: 'openid' });
    anonSub = anon.claims().sub;
  });

  test('the anonymous grant answers tokens for a new user (amr anon)', async () => {
    await publicClient().validateIdToken(anon, undefined, 'token');
    assert.ok(anon.refresh_token);
    assert.match(anonSub, /^usr_/);
    const { payload } = await verifyAccess(anon.access_token);
    assert.equal(payload.sub, anonSub);
    assert.deepEqual(payload.amr, ['anon']);
    assert.equal(payload.principal_type, 'user');
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: anon.access_token });
    assert.equal(me.anonymous, true);
    assert.equal(me.email, null);
    assert.deepEqual(
      me.identities.map((i) => i.provider),
      ['anon-user'],
    );
    // an anonymous user cannot change a password it does not have
    await expectOp('POST', '/v1/me/password', '/v1/me/password', 409, {
      token: anon.access_token,
      json: { current_password: 'whatever1', new_password: 'whatever2' },
    });
  });

  test('linking an email/password identity, then a password login gives the same sub', async () => {
    const idn = await expectOp('POST', '/v1/me/identities', '/v1/me/identities', 201, {
      token: anon.access_token,
      json: { provider: 'local-userpass', email, password },
    });
    assert.match(idn.id, /^idn_/);
    assert.equal(idn.provider, 'local-userpass');
    const ts = await login(email, password);
    await publicClient().validateIdToken(ts, undefined, 'token');
    assert.equal(ts.claims().sub, anonSub);
    assert.equal((await verifyAccess(ts.access_token)).payload.sub, anonSub);
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: ts.access_token });
    assert.equal(me.id, anonSub);
    assert.equal(me.anonymous, false);
    assert.equal(me.email, email);
    assert.deepEqual(me.identities.map((i) => i.provider).sort(), ['anon-user', 'local-userpass']);
    // the anonymous session goes on
    assert.equal((await publicClient().userinfo(anon.access_token)).email, email);
  });

  test("linking another user's email is 409 and changes neither user", async () => {
    const intruder = await publicClient().grant({ grant_type: ANON });
    const was = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: intruder.access_token });
    const conflict = await expectOp('POST', '/v1/me/identities', '/v1/me/identities', 409, {
      token: intruder.access_token,
      json: { provider: 'local-userpass', email: email.toUpperCase(), password: 'hijack attempt' },
    });
    assert.match(conflict.detail, /another user/);
    const afterMe = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: intruder.access_token });
    assert.deepEqual(afterMe, was);
    // the owner still logs in with its own password, the intruder's does nothing
    assert.equal((await login(email, password)).claims().sub, anonSub);
    await assertOPError(login(email, 'hijack attempt'), 'invalid_grant', 400);
    // and the intruder's only identity cannot be unlinked
    const path = `/v1/me/identities/${was.identities[0].id}`;
    const last = await expectOp('DELETE', '/v1/me/identities/{id}', path, 409, {
      token: intruder.access_token,
    });
    assert.match(last.detail, /last identity/);
  });

  test('unlinking: the anonymous identity goes, the last one stays', async () => {
    const ts = await login(email, password);
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: ts.access_token });
    const anonIdn = me.identities.find((i) => i.provider === 'anon-user');
    const pwIdn = me.identities.find((i) => i.provider === 'local-userpass');
    await expectOp('DELETE', '/v1/me/identities/{id}', `/v1/me/identities/${anonIdn.id}`, 204, {
      token: ts.access_token,
    });
    await expectOp('DELETE', '/v1/me/identities/{id}', `/v1/me/identities/${anonIdn.id}`, 404, {
      token: ts.access_token,
    });
    await expectOp('DELETE', '/v1/me/identities/{id}', `/v1/me/identities/${pwIdn.id}`, 409, {
      token: ts.access_token,
    });
    assert.equal((await login(email, password)).claims().sub, anonSub);
  });
});

describe('sessions and password change', () => {
  const email = uniqueEmail('ses');
  const password = 'first password';
  let a, b, c;
  before(async () => {
    await register(email, password);
    [a, b, c] = await Promise.all([login(email, password), login(email, password), login(email, password)]);
  });

  test('the user lists its sessions and ends one of them', async () => {
    const { items } = await expectOp('GET', '/v1/me/sessions', '/v1/me/sessions', 200, {
      token: a.access_token,
    });
    assert.equal(items.length, 3);
    assert.deepEqual(
      items.filter((s) => s.current).map((s) => s.id),
      [a.claims().sid],
    );
    const sid = b.claims().sid;
    const end = (status) =>
      expectOp('DELETE', '/v1/me/sessions/{sid}', `/v1/me/sessions/${sid}`, status, {
        token: a.access_token,
      });
    await end(204);
    await end(404);
    await assertOPError(publicClient().refresh(b), 'invalid_grant', 400);
    await assertOPError(publicClient().userinfo(b.access_token), 'invalid_token', 401);
  });

  test('a wrong current password is 403 and changes nothing', async () => {
    const p = await expectOp('POST', '/v1/me/password', '/v1/me/password', 403, {
      token: a.access_token,
      json: { current_password: 'not the password', new_password: 'second password' },
    });
    assert.match(p.detail, /current_password/);
    await publicClient().userinfo(c.access_token);
  });

  test('a password change ends the other sessions; the current one goes on', async () => {
    await expectOp('POST', '/v1/me/password', '/v1/me/password', 204, {
      token: a.access_token,
      json: { current_password: password, new_password: 'second password' },
    });
    await assertOPError(publicClient().userinfo(c.access_token), 'invalid_token', 401);
    await assertOPError(publicClient().refresh(c), 'invalid_grant', 400);
    await publicClient().userinfo(a.access_token);
    const next = await publicClient().refresh(a);
    assert.equal(next.claims().sub, a.claims().sub);
    await assertOPError(login(email, password), 'invalid_grant', 400);
    assert.equal((await login(email, 'second password')).claims().sub, a.claims().sub);
  });

  test('the self-service endpoints refuse a missing token, a service account and a wrong body', async () => {
    let r = await call('GET', '/v1/me/sessions');
    assert.equal(r.res.status, 401);
    assert.equal(r.res.headers.get('www-authenticate'), 'Bearer realm="idpd"');
    spec.conforms('GET', '/v1/me/sessions', r.res, r.text);
    const sa = await gatewayClient().grant({ grant_type: 'client_credentials' });
    await expectOp('GET', '/v1/me', '/v1/me', 403, { token: sa.access_token });
    await expectOp('GET', '/userinfo', '/userinfo', 403, { token: sa.access_token });
    const { access_token: token } = await login(email, 'second password');
    await expectOp('POST', '/v1/me/identities', '/v1/me/identities', 415, {
      token,
      json: 'provider=local-userpass',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await expectOp('POST', '/v1/me/identities', '/v1/me/identities', 400, {
      token,
      json: { provider: 'anon-user', email: uniqueEmail('x'), password: 'long enough' },
    });
  });
});
