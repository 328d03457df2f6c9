// Federation (issue 17), the parts that need no browser: identity providers through the admin
// API, and the JWT bearer grant (RFC 7523) with assertions signed by jose, a JOSE library no
// one here wrote. The right assertions make and then find one user; each wrong one (issuer,
// audience, expired, replayed jti, no jti, alg none, HS256 keyed with the public key, an
// unknown kid, a tampered payload, too long a life) is refused with invalid_grant. Issuers
// whose keys idpd must fetch are small node servers on loopback, among them one that hangs, one
// that answers 5 MB and one that redirects elsewhere: each request ends within the configured
// outbound_timeout with a clear error.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  exportSPKI,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';

import { adminToken, startServer } from './server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ISSUER = 'https://tokens.example.test';
const AUDIENCE = 'idpd-inventory';

function admin(srv, token, method, path, body) {
  return fetch(srv.url(path), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// A server on 127.0.0.1 answering each request with handler(req, res); resolves its base URL.
function serve(handler) {
  return new Promise((resolve) => {
    const s = http.createServer(handler);
    s.listen(0, '127.0.0.1', () => resolve({ server: s, url: `http://127.0.0.1:${s.address().port}` }));
  });
}

describe('the JWT bearer grant with assertions signed by jose', () => {
  let srv, token, app, rsa, ec, stranger, jwks, keyServer;
  const sockets = new Set();

  before(async () => {
    srv = await startServer({
      env: { IDPD_OUTBOUND_PLAIN_LOOPBACK: '1', IDPD_OUTBOUND_TIMEOUT: '2' },
    });
    token = await adminToken(srv);
    rsa = await generateKeyPair('RS256');
    ec = await generateKeyPair('ES256');
    stranger = await generateKeyPair('RS256');
    const pub = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    const ecPub = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1' };
    const res = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
      name: 'ci-tokens',
      type: 'jwt',
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: { keys: [pub, ecPub] },
      algorithms: ['RS256', 'ES256'],
      metadata_claims: ['team', 'plan'],
    });
    assert.equal(res.status, 201, await res.clone().text());
    const idp = await res.json();
    assert.match(idp.id, /^idp_/);
    assert.equal(idp.type, 'jwt');
    assert.equal(idp.subject_claim, 'sub');
    app = await srv.createApplication('inventory', [GRANT, 'refresh_token']);
    const patched = await admin(srv, token, 'PATCH', `/admin/v1/applications/${app.client_id}`, {
      identity_providers: ['ci-tokens'],
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.deepEqual((await patched.json()).identity_providers, ['ci-tokens']);
    jwks = createRemoteJWKSet(new URL(srv.url('/jwks')), { timeoutDuration: 30000 });
    keyServer = await serve(async (req, res) => {
      if (req.url === '/keys') {
        const k = { ...(await exportJWK(rsa.publicKey)), kid: 'remote-1', alg: 'RS256' };
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
        res.end(JSON.stringify({ keys: [k] }));
      } else if (req.url === '/disc/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer: `${keyServer.url}/disc`, jwks_uri: `${keyServer.url}/keys` }));
      } else if (req.url === '/liar/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer: 'https://someone-else.example.test', jwks_uri: `${keyServer.url}/keys` }));
      } else if (req.url === '/hang') {
        sockets.add(res); // never answered
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"keys":[],"pad":"${'x'.repeat(5 * 1024 * 1024)}"}`);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.2:9/keys' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  after(async () => {
    for (const r of sockets) r.destroy();
    keyServer?.server.closeAllConnections();
    keyServer?.server.close();
    await srv?.stop();
  });

  function sign(
    claims = {},
    { key = rsa.privateKey, alg = 'RS256', kid = 'rsa-1', ttl = '5m', aud = AUDIENCE } = {},
  ) {
    return new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(aud)
      .setSubject('user-42')
      .setIssuedAt()
      .setExpirationTime(ttl)
      .sign(key);
  }

  function exchange(assertion, clientId = app.client_id) {
    return fetch(srv.url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: GRANT, assertion, client_id: clientId }),
    });
  }

  async function refused(assertion, why) {
    const res = await exchange(assertion);
    const body = await res.json();
    assert.equal(res.status, 400, `${why}: ${JSON.stringify(body)}`);
    assert.equal(body.error, 'invalid_grant', why);
    return body;
  }

  test('discovery lists the grant', async () => {
    const doc = await (await fetch(srv.url('/.well-known/openid-configuration'))).json();
    assert.ok(doc.grant_types_supported.includes(GRANT));
  });

  test('an assertion makes the user once, and finds it again', async () => {
    const res = await exchange(await sign({ team: 'blue', plan: 'pro', other: 'not copied' }));
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.ok(body.refresh_token);
    const { payload } = await jwtVerify(body.access_token, jwks, {
      issuer: srv.issuer,
      typ: 'at+jwt',
    });
    assert.match(payload.sub, /^usr_/);
    assert.equal(payload.client_id, app.client_id);
    // ES256 from the same issuer maps to the same user
    const again = await exchange(await sign({}, { key: ec.privateKey, alg: 'ES256', kid: 'ec-1' }));
    assert.equal(again.status, 200);
    const second = await jwtVerify((await again.json()).access_token, jwks, { issuer: srv.issuer });
    assert.equal(second.payload.sub, payload.sub);
    // the user: one identity custom-jwt:ci-tokens with the subject, the named claims copied
    const user = await (await admin(srv, token, 'GET', `/admin/v1/users/${payload.sub}`)).json();
    assert.deepEqual(user.metadata, { team: 'blue', plan: 'pro' });
    assert.deepEqual(
      user.identities.map((i) => i.provider),
      ['custom-jwt:ci-tokens'],
    );
  });

  test('each wrong assertion is refused with invalid_grant', async () => {
    const other = new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setIssuer('https://evil.example.test')
      .setAudience(AUDIENCE)
      .setSubject('user-42')
      .setIssuedAt()
      .setExpirationTime('5m');
    await refused(await other.sign(rsa.privateKey), 'another issuer');
    await refused(await sign({}, { aud: 'someone-else' }), 'another audience');
    const expired = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('user-42')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 1200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign(rsa.privateKey);
    await refused(expired, 'expired');
    await refused(await sign({}, { ttl: '2h' }), 'lives longer than an hour');
    const once = await sign();
    assert.equal((await exchange(once)).status, 200);
    const replay = await refused(once, 'replayed jti');
    assert.match(replay.error_description, /used already/);
    const noJti = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('user-42')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(rsa.privateKey);
    await refused(noJti, 'no jti');
    const none = new UnsecuredJWT({ jti: randomUUID() })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('user-42')
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode();
    await refused(none, 'alg none');
    // HS256 keyed with the RSA public key's PEM: the classic confusion
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    await refused(await sign({}, { key: pem, alg: 'HS256' }), 'HS256 with the public key');
    await refused(await sign({}, { key: stranger.privateKey, kid: 'rsa-9' }), 'unknown kid');
    await refused(await sign({}, { key: stranger.privateKey }), 'another key under a known kid');
    const good = await sign();
    const [h, p, s] = good.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: 'admin' }),
    ).toString('base64url');
    await refused(`${h}.${forged}.${s}`, 'tampered payload');
    await refused('not-a-jwt', 'not a JWT');
    // an application that does not name the provider may not use it
    const bare = await srv.createApplication('bare', [GRANT]);
    const res = await exchange(await sign(), bare.client_id);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
    // and one without the grant is unauthorized_client
    const noGrant = await srv.createApplication('no-grant', ['refresh_token']);
    const res2 = await exchange(await sign(), noGrant.client_id);
    assert.equal((await res2.json()).error, 'unauthorized_client');
    // every refusal is audited (the audit queue is written each second)
    let events = { items: [] };
    for (let i = 0; i < 30 && events.items.length < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      events = await (
        await admin(srv, token, 'GET', '/admin/v1/audit-events?type=token.refused&limit=100')
      ).json();
    }
    assert.ok(events.items.length >= 10, `${events.items.length} token.refused events`);
    assert.ok(events.items.every((e) => e.result === 'failure'), JSON.stringify(events.items[0]));
  });

  test('keys fetched from a jwks_uri; a hanging, huge or redirecting one ends in time', async () => {
    const make = async (name, path) => {
      const res = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
        name,
        type: 'jwt',
        issuer: `https://${name}.example.test`,
        audience: AUDIENCE,
        jwks_uri: `${keyServer.url}${path}`,
      });
      assert.equal(res.status, 201, await res.clone().text());
      return res.json();
    };
    await make('remote', '/keys');
    await make('hangs', '/hang');
    await make('huge', '/big');
    await make('moves', '/redirect');
    const ok = await srv.createApplication('remote-app', [GRANT]);
    const patched = await admin(srv, token, 'PATCH', `/admin/v1/applications/${ok.client_id}`, {
      identity_providers: ['remote', 'hangs', 'huge', 'moves'],
    });
    assert.equal(patched.status, 200);
    const signFor = (name, kid = 'remote-1') =>
      new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(`https://${name}.example.test`)
        .setAudience(AUDIENCE)
        .setSubject('workload')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(rsa.privateKey);
    const res = await exchange(await signFor('remote'), ok.client_id);
    assert.equal(res.status, 200, await res.clone().text());
    // no jwks and no jwks_uri: the keys come through the issuer's discovery document, which
    // must name that issuer exactly
    for (const [name, path] of [['disc', '/disc'], ['liar', '/liar']]) {
      const r = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
        name, type: 'jwt', issuer: `${keyServer.url}${path}`, audience: AUDIENCE,
      });
      assert.equal(r.status, 201, await r.clone().text());
    }
    const withDisc = await admin(srv, token, 'PATCH', `/admin/v1/applications/${ok.client_id}`, {
      identity_providers: ['remote', 'hangs', 'huge', 'moves', 'disc', 'liar'],
    });
    assert.equal(withDisc.status, 200);
    const signAs = (issuer) =>
      new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'RS256', kid: 'remote-1' })
        .setIssuer(issuer)
        .setAudience(AUDIENCE)
        .setSubject('workload')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(rsa.privateKey);
    const viaDisc = await exchange(await signAs(`${keyServer.url}/disc`), ok.client_id);
    assert.equal(viaDisc.status, 200, await viaDisc.clone().text());
    const viaLiar = await exchange(await signAs(`${keyServer.url}/liar`), ok.client_id);
    assert.equal(viaLiar.status, 503);
    assert.equal((await viaLiar.json()).error, 'temporarily_unavailable');
    for (const name of ['hangs', 'huge', 'moves']) {
      const t0 = Date.now();
      const r = await exchange(await signFor(name), ok.client_id);
      const ms = Date.now() - t0;
      const body = await r.json();
      assert.equal(r.status, 503, `${name}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'temporarily_unavailable');
      assert.ok(ms < 4000, `${name} took ${ms} ms (outbound_timeout is 2 s)`);
    }
  });

  test('the admin API checks what a provider may be and never shows a secret', async () => {
    const bad = [
      [{ name: 'x1', type: 'jwt', issuer: ISSUER, audience: 'a', algorithms: ['none'] }, /never none/],
      [{ name: 'x2', type: 'jwt', issuer: ISSUER, audience: 'a', algorithms: ['HS256'] }, /never none or HS/],
      [{ name: 'x3', type: 'jwt', issuer: ISSUER }, /audience is required/],
      [{ name: 'x4', type: 'oidc', issuer: ISSUER, client_id: 'c', audience: 'a' }, /for type jwt/],
      [{ name: 'X5', type: 'jwt', issuer: ISSUER, audience: 'a' }, /name must be/],
      [{ name: 'x6', type: 'jwt', issuer: 'http://tokens.example.test', audience: 'a' }, /https/],
      [{ name: 'x7', type: 'saml', issuer: ISSUER }, /type must be/],
      [{ name: 'x8', type: 'jwt', issuer: ISSUER, audience: 'a', jwks: { keys: [] } }, /usable public key/],
    ];
    for (const [body, why] of bad) {
      const res = await admin(srv, token, 'POST', '/admin/v1/identity-providers', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match((await res.json()).detail, why);
    }
    const none = await (await admin(srv, token, 'GET', '/admin/v1/identity-providers')).json();
    assert.ok(!none.items.some((i) => /^x\d$/.test(i.name)), 'a refused provider is not stored');
    const unknown = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
      name: 'x9', type: 'jwt', issuer: ISSUER, audience: 'a', colour: 'red',
    });
    assert.equal(unknown.status, 400);
    const dup = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
      name: 'ci-tokens', type: 'jwt', issuer: ISSUER, audience: 'a',
    });
    assert.equal(dup.status, 409);

    const created = await admin(srv, token, 'POST', '/admin/v1/identity-providers', {
      name: 'corp',
      type: 'oidc',
      issuer: 'https://login.example.test',
      client_id: 'idpd',
      client_secret: 'upstream-secret-value',
      allowed_domains: ['example.com'],
    });
    assert.equal(created.status, 201);
    const text = await created.text();
    assert.ok(!text.includes('upstream-secret-value'), 'the secret is never shown');
    const corp = JSON.parse(text);
    assert.equal(corp.has_client_secret, true);
    assert.deepEqual(corp.scopes, ['openid', 'email', 'profile']);
    assert.equal(corp.create_users, true);
    assert.equal(corp.trust_verified_email, false);
    const got = await admin(srv, token, 'GET', `/admin/v1/identity-providers/${corp.id}`);
    assert.ok(!(await got.clone().text()).includes('upstream-secret-value'));
    assert.equal((await got.json()).client_id, 'idpd');
    const rename = await admin(srv, token, 'PATCH', `/admin/v1/identity-providers/${corp.id}`, {
      name: 'other',
    });
    assert.equal(rename.status, 400);
    const moved = await admin(srv, token, 'PATCH', `/admin/v1/identity-providers/${corp.id}`, {
      issuer: 'https://elsewhere.example.test',
    });
    assert.equal(moved.status, 400);
    const patch = await admin(srv, token, 'PATCH', `/admin/v1/identity-providers/${corp.id}`, {
      trust_verified_email: true,
      scopes: ['openid', 'email'],
    });
    assert.equal(patch.status, 200);
    const patched = await patch.json();
    assert.equal(patched.trust_verified_email, true);
    assert.equal(patched.has_client_secret, true, 'the secret is kept');
    const list = await (await admin(srv, token, 'GET', '/admin/v1/identity-providers')).json();
    assert.ok(list.items.some((i) => i.name === 'corp'));
    // an application may only name providers that exist
    const app2 = await srv.createApplication('names', [GRANT]);
    const missing = await admin(srv, token, 'PATCH', `/admin/v1/applications/${app2.client_id}`, {
      identity_providers: ['nope'],
    });
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).detail, /no identity provider named nope/);
    // a provider users sign in with cannot go; an unused one can
    const idps = list.items.reduce((m, i) => ({ ...m, [i.name]: i.id }), {});
    const inUse = await admin(srv, token, 'DELETE', `/admin/v1/identity-providers/${idps['ci-tokens']}`);
    assert.equal(inUse.status, 409);
    const nobody = await admin(srv, token, 'PATCH', '/admin/v1/identity-providers/idp_nope', {
      trust_verified_email: true,
    });
    assert.equal(nobody.status, 404);
    assert.equal(nobody.headers.get('content-type'), 'application/problem+json');
    const gone = await admin(srv, token, 'DELETE', `/admin/v1/identity-providers/${corp.id}`);
    assert.equal(gone.status, 204);
    const again = await admin(srv, token, 'GET', `/admin/v1/identity-providers/${corp.id}`);
    assert.equal(again.status, 404);
  });

  test('federated credentials: made, listed, bounded, refused and removed', async () => {
    const sa = await srv.createServiceAccount('deployer', []);
    const base = `/admin/v1/service-accounts/${sa.client_id}/federated-credentials`;
    const good = {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:org/app:ref:refs/heads/main',
      audience: 'idpd',
      description: 'main branch deploys',
    };
    const made = await admin(srv, token, 'POST', base, good);
    assert.equal(made.status, 201, await made.clone().text());
    const fic = await made.json();
    assert.match(fic.id, /^fic_/);
    assert.equal(fic.subject, good.subject);
    assert.deepEqual(fic.algorithms, ['RS256', 'ES256']);
    const bad = [
      [{ ...good, subject: '*' }, /alone would trust every workload/],
      [{ ...good, subject: 'repo:*:main' }, /only at its end/],
      [{ issuer: good.issuer, audience: 'idpd' }, /subject and audience are required/],
      [{ ...good, issuer: 'ftp://x.example.test' }, /issuer/],
      [{ ...good, algorithms: ['HS256'] }, /never none or HS/],
      [{ ...good, jwks_uri: 'https://k.example.test/keys', jwks: { keys: [] } }, /usable public key|not both/],
    ];
    for (const [body, why] of bad) {
      const res = await admin(srv, token, 'POST', base, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.match((await res.json()).detail, why);
    }
    const unknownMember = await admin(srv, token, 'POST', base, { ...good, colour: 'red' });
    assert.equal(unknownMember.status, 400);
    const noAccount = await admin(
      srv, token, 'POST', '/admin/v1/service-accounts/sa_nope/federated-credentials', good,
    );
    assert.equal(noAccount.status, 404);
    // nothing refused was stored
    let list = await (await admin(srv, token, 'GET', base)).json();
    assert.deepEqual(list.items.map((i) => i.id), [fic.id]);
    // at most 20 an account
    for (let i = 1; i < 20; i++) {
      const r = await admin(srv, token, 'POST', base, { ...good, subject: `repo:org/app:${i}` });
      assert.equal(r.status, 201);
    }
    const full = await admin(srv, token, 'POST', base, { ...good, subject: 'repo:org/app:21' });
    assert.equal(full.status, 409);
    assert.match((await full.json()).detail, /at most 20/);
    list = await (await admin(srv, token, 'GET', base)).json();
    assert.equal(list.items.length, 20);
    assert.equal(list.items[0].id, fic.id, 'oldest first');
    const del = await admin(srv, token, 'DELETE', `${base}/${fic.id}`);
    assert.equal(del.status, 204);
    const again = await admin(srv, token, 'DELETE', `${base}/${fic.id}`);
    assert.equal(again.status, 404);
    list = await (await admin(srv, token, 'GET', base)).json();
    assert.equal(list.items.length, 19);
    const events = await (
      await admin(srv, token, 'GET', `/admin/v1/audit-events?target=${sa.client_id}&limit=100`)
    ).json();
    const types = events.items.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'admin.federated_credential.create').length, 20);
    assert.equal(types.filter((t) => t === 'admin.federated_credential.delete').length, 1);
  });
});
