// Client credentials through openid-client (client_secret_basic and client_secret_post), the
// access token verified by jose against the JWKS as a resource server would (RFC 9068).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { errors, Issuer } from 'openid-client';

import { startServer } from './server.js';

const API = 'https://api.example.test';
const OTHER = 'https://other.example.test';
const ROLES = ['readWrite@ecommerce', 'PROJECT_OWNER@proj_prod', 'idp:introspect'];

let srv, issuer, jwks, account;
before(async () => {
  srv = await startServer({ env: { IDPD_AUDIENCE: `${API},${OTHER}` } });
  issuer = await Issuer.discover(srv.issuer);
  jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri), { timeoutDuration: 30000 });
  account = await srv.createServiceAccount('ci-deployer', ROLES);
});
after(async () => {
  await srv?.stop();
});

function client(method, secret = account.client_secret, id = account.client_id) {
  return new issuer.Client({
    client_id: id,
    client_secret: secret,
    token_endpoint_auth_method: method,
  });
}

function verify(token, opts = {}) {
  return jwtVerify(token, jwks, {
    issuer: srv.issuer,
    audience: API,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    ...opts,
  });
}

async function assertOPError(promise, error, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof errors.OPError, `expected an OPError, got ${err}`);
    assert.equal(err.error, error);
    if (status) assert.equal(err.response.statusCode, status);
    return true;
  });
}

for (const method of ['client_secret_basic', 'client_secret_post']) {
  describe(`client credentials with ${method}`, () => {
    let tokenSet;
    before(async () => {
      tokenSet = await client(method).grant({ grant_type: 'client_credentials' });
    });

    test('answers a one-hour bearer access token', () => {
      assert.ok(tokenSet.access_token);
      assert.equal(tokenSet.token_type.toLowerCase(), 'bearer');
      assert.ok(tokenSet.expires_in > 3590 && tokenSet.expires_in <= 3600, `${tokenSet.expires_in}`);
      assert.equal(tokenSet.refresh_token, undefined);
      assert.equal(tokenSet.id_token, undefined);
    });

    test('jose verifies it against the JWKS as an RFC 9068 token', async () => {
      const { payload, protectedHeader } = await verify(tokenSet.access_token);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(protectedHeader.alg, 'ES256');
      assert.ok(protectedHeader.kid);
      assert.equal(payload.iss, srv.issuer);
      assert.equal(payload.aud, API);
      assert.equal(payload.sub, account.client_id);
      assert.equal(payload.client_id, account.client_id);
      assert.equal(payload.principal_type, 'service_account');
      assert.deepEqual(payload.roles, [...ROLES].sort());
      assert.equal(payload.exp - payload.iat, 3600);
      assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 120);
      assert.match(payload.jti, /^[A-Za-z0-9_-]{22,}$/);
      assert.equal(payload.scope, undefined);
    });
  });
}

test('each token has its own jti', async () => {
  const a = await client('client_secret_basic').grant({ grant_type: 'client_credentials' });
  const b = await client('client_secret_post').grant({ grant_type: 'client_credentials' });
  const pa = (await verify(a.access_token)).payload;
  const pb = (await verify(b.access_token)).payload;
  assert.notEqual(pa.jti, pb.jti);
});

describe('jose refuses the token under the wrong expectations', () => {
  let token;
  before(async () => {
    token = (await client('client_secret_basic').grant({ grant_type: 'client_credentials' }))
      .access_token;
  });

  test('typ JWT expected', async () => {
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    await assert.rejects(verify(token, { typ: 'JWT' }), (err) => {
      assert.equal(err.code, 'ERR_JWT_CLAIM_VALIDATION_FAILED');
      assert.equal(err.claim, 'typ');
      return true;
    });
  });

  test('another algorithm expected', async () => {
    await assert.rejects(verify(token, { algorithms: ['RS256'] }), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  test('another audience or issuer expected', async () => {
    await assert.rejects(verify(token, { audience: OTHER }), { claim: 'aud' });
    await assert.rejects(verify(token, { issuer: 'https://evil.example.test' }), { claim: 'iss' });
  });

  test('a modified payload', async () => {
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.roles = ['idp:admin'];
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    await assert.rejects(verify(forged), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});

describe('scope and audience', () => {
  test('scope narrows the roles to the requested ones', async () => {
    const ts = await client('client_secret_post').grant({
      grant_type: 'client_credentials',
      scope: 'readWrite@ecommerce',
    });
    assert.equal(ts.scope, 'readWrite@ecommerce');
    const { payload } = await verify(ts.access_token);
    assert.deepEqual(payload.roles, ['readWrite@ecommerce']);
    assert.equal(payload.scope, 'readWrite@ecommerce');
  });

  test('a scope that is not one of the roles is invalid_scope', async () => {
    await assertOPError(
      client('client_secret_basic').grant({ grant_type: 'client_credentials', scope: 'idp:admin' }),
      'invalid_scope',
      400,
    );
  });

  test('resource selects another configured audience', async () => {
    const ts = await client('client_secret_basic').grant({
      grant_type: 'client_credentials',
      resource: OTHER,
    });
    const { payload } = await verify(ts.access_token, { audience: OTHER });
    assert.equal(payload.aud, OTHER);
  });

  test('an audience that is not served is invalid_target', async () => {
    await assertOPError(
      client('client_secret_post').grant({
        grant_type: 'client_credentials',
        audience: 'https://unknown.example.test',
      }),
      'invalid_target',
      400,
    );
  });
});

describe('failures', () => {
  for (const method of ['client_secret_basic', 'client_secret_post']) {
    test(`a wrong secret is invalid_client (${method})`, async () => {
      const wrong = account.client_secret.slice(0, -1) + (account.client_secret.endsWith('A') ? 'B' : 'A');
      await assert.rejects(
        client(method, wrong).grant({ grant_type: 'client_credentials' }),
        (err) => {
          assert.ok(err instanceof errors.OPError);
          assert.equal(err.error, 'invalid_client');
          assert.equal(err.response.statusCode, 401);
          assert.match(err.response.headers['www-authenticate'], /^Basic realm="idpd"/);
          return true;
        },
      );
    });
  }

  test('an unknown client is invalid_client', async () => {
    await assertOPError(
      client('client_secret_basic', account.client_secret, 'sa_00000000000000000000000000').grant({
        grant_type: 'client_credentials',
      }),
      'invalid_client',
      401,
    );
  });

  test('an unknown grant type is unsupported_grant_type', async () => {
    await assertOPError(
      client('client_secret_basic').grant({ grant_type: 'urn:example:grant-type:unknown' }),
      'unsupported_grant_type',
      400,
    );
  });

  test('a service account asking for a user grant is unauthorized_client', async () => {
    for (const grant of [
      { grant_type: 'password', username: 'u@example.com', password: 'password1' },
      { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) },
      { grant_type: 'urn:idpd:grant-type:anonymous' },
    ]) {
      await assertOPError(client('client_secret_basic').grant(grant), 'unauthorized_client', 400);
    }
  });

  test('the right secret still works after failures', async () => {
    const ts = await client('client_secret_basic').grant({ grant_type: 'client_credentials' });
    await verify(ts.access_token);
  });
});

test('the request log names the client and never holds a secret or a token', async () => {
  const ts = await client('client_secret_post').grant({ grant_type: 'client_credentials' });
  await new Promise((resolve) => setTimeout(resolve, 200)); // the log line follows the answer
  const lines = srv.stderr.map((l) => JSON.parse(l));
  const tokenLines = lines.filter((l) => l.msg === 'request' && l.path === '/oauth/token');
  assert.ok(tokenLines.length > 0);
  assert.ok(tokenLines.some((l) => l.client_id === account.client_id && l.status === 200));
  assert.ok(tokenLines.some((l) => l.status === 401));
  const all = srv.stderr.join('\n');
  assert.ok(!all.includes(account.client_secret), 'a client secret was logged');
  assert.ok(!all.includes(account.client_secret.slice(0, -1)), 'part of a client secret was logged');
  assert.ok(!all.includes(ts.access_token.split('.')[2]), 'a token was logged');
});
