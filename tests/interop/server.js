// Starts the real idpd binary for a test file: a fresh temporary data folder, a random loopback
// port (learnt from the "listening" log line), service accounts and applications made with the
// CLI against the same data folder while the server runs, and a clean stop (SIGTERM, exit code 0).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { custom } from 'openid-client';

// Under AddressSanitizer an uncached Argon2id verification is slower than openid-client's
// default 3.5 s budget allows when the suites run side by side.
custom.setHttpOptionsDefaults({ timeout: 30000 });

const START_TIMEOUT_MS = 60000;

// Every grant an application may hold (idpd application create --grant).
export const USER_GRANTS = ['password', 'refresh_token', 'urn:idpd:grant-type:anonymous'];
const STOP_TIMEOUT_MS = 30000;

export function idpdBin() {
  const bin = process.env.IDPD_BIN;
  if (!bin) {
    throw new Error('IDPD_BIN is not set: run through ctest, or IDPD_BIN=build/idpd node --test');
  }
  return bin;
}

// The environment of every idpd process: the caller's, without IDPD_* settings that would make
// the run depend on the shell, plus the ones a test asks for. The suites register dozens of
// users from 127.0.0.1 within a second, past the default per-address registration rate
// (tests/http/test_rate_limit.c covers that limit), so it is off unless a test sets it.
function childEnv(extra) {
  const env = { IDPD_RATE_LIMIT_REGISTER: '0' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('IDPD_')) env[k] = v;
  }
  return { ...env, ...extra };
}

// With IDPD_TEST_STORE=postgres each server gets a database of the test cluster (IDPD_TEST_PG,
// started by the test command) through psql, dropped when the server stops.
let databases = 0;
function makeDatabase() {
  if (process.env.IDPD_TEST_STORE !== 'postgres') return null;
  const base = process.env.IDPD_TEST_PG;
  if (!base || !base.includes('/postgres')) {
    throw new Error('IDPD_TEST_PG must name the test cluster\'s postgres database');
  }
  const name = `i${process.pid}_${++databases}`;
  execFileSync('psql', [base, '-qc', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
  return { name, uri: base.replace('/postgres', `/${name}`) };
}

function dropDatabase(db) {
  if (db) {
    execFileSync('psql', [process.env.IDPD_TEST_PG, '-qc', `DROP DATABASE ${db.name} WITH (FORCE)`], {
      stdio: 'pipe',
    });
  }
}

function tail(lines, n = 40) {
  return lines.slice(-n).join('\n');
}

// Starts `idpd serve --listen 127.0.0.1:0 --data <fresh dir>`; env adds IDPD_* settings, args
// more command-line flags (such as --allow-registration).
// An admin token (client credentials of a service account with idp:admin).
export async function adminToken(srv) {
  const sa = await srv.createServiceAccount('admin', ['idp:admin']);
  const res = await fetch(srv.url('/oauth/token'), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${sa.client_id}:${sa.client_secret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
  if (res.status !== 200) throw new Error(`admin token: HTTP ${res.status}`);
  return (await res.json()).access_token;
}

export async function startServer({ env = {}, args = [] } = {}) {
  const bin = idpdBin();
  const dir = await mkdtemp(path.join(tmpdir(), 'idpd-interop-'));
  const dataDir = path.join(dir, 'data');
  const db = makeDatabase();
  const childEnvironment = childEnv(db ? { IDPD_STORE: db.uri, ...env } : env);
  const lines = [];
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, ...args], {
    env: childEnvironment,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitInfo = null;
  exited.then((info) => {
    exitInfo = info;
  });

  // stderr is read for the whole life of the process, so the pipe never fills up.
  const rl = readline.createInterface({ input: child.stderr });
  const rlClosed = new Promise((resolve) => rl.once('close', resolve));
  let listening = null;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`idpd did not log "listening" within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    rl.on('line', (line) => {
      if (lines.length < 5000) lines.push(line);
      if (listening) return;
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        return;
      }
      if (obj && obj.msg === 'listening' && Number.isInteger(obj.port)) {
        listening = obj;
        clearTimeout(timer);
        resolve(obj);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`idpd exited (code ${code}, signal ${signal}) before listening`));
    });
  });

  let info;
  try {
    info = await ready;
  } catch (err) {
    if (!exitInfo) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    dropDatabase(db);
    throw new Error(`${err.message}\n--- idpd stderr ---\n${tail(lines)}`);
  }

  const issuer = info.issuer;
  let stopped = null;

  const server = {
    pid: child.pid,
    port: info.port,
    issuer,
    url: (p) => `${issuer}${p}`,
    dataDir,
    stderr: lines,

    // `idpd service-account create` on the running server's data folder.
    createServiceAccount(name, roles = []) {
      const args = ['service-account', 'create', '--data', dataDir, '--name', name];
      for (const r of roles) args.push('--role', r);
      return runCli(args, ['client_id', 'client_secret']);
    },

    // `idpd application create` on the running server's data folder: a public application
    // (client_id only) unless type is 'confidential' (client_id and client_secret). A browser
    // application also names its redirectUris, postLogoutRedirectUris and origins, and may be
    // firstParty (no consent page), and an appServicesId (the App Services client API's app id).
    createApplication(
      name,
      grants = USER_GRANTS,
      {
        type = 'public',
        redirectUris = [],
        postLogoutRedirectUris = [],
        origins = [],
        firstParty = false,
        appServicesId = null,
      } = {},
    ) {
      const args = ['application', 'create', '--data', dataDir, '--name', name, '--type', type];
      for (const g of grants) args.push('--grant', g);
      for (const u of redirectUris) args.push('--redirect-uri', u);
      for (const u of postLogoutRedirectUris) args.push('--post-logout-redirect-uri', u);
      for (const o of origins) args.push('--origin', o);
      if (firstParty) args.push('--first-party');
      if (appServicesId) args.push('--app-services-id', appServicesId);
      return runCli(args, type === 'confidential' ? ['client_id', 'client_secret'] : ['client_id']);
    },

    // SIGTERM, then the exit code must be 0 (a sanitizer report makes it non-zero). Removes the
    // data folder whatever happens. Safe to call twice.
    stop() {
      if (!stopped) stopped = doStop();
      return stopped;
    },
  };

  // Runs an idpd CLI command on the data folder and answers its JSON output, which must hold
  // the members named in want.
  function runCli(args, want) {
    return new Promise((resolve, reject) => {
      execFile(bin, args, { env: childEnvironment, timeout: 60000 }, (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`idpd ${args.join(' ')} failed: ${err.message}\n${stderr}`));
          return;
        }
        try {
          const out = JSON.parse(stdout);
          for (const k of want) if (typeof out[k] !== 'string' || !out[k]) throw new Error(`no ${k}`);
          resolve(out);
        } catch (e) {
          const cmd = args.slice(0, 2).join(' ');
          reject(new Error(`unexpected output of idpd ${cmd}: ${e.message}\n${stdout}`));
        }
      });
    });
  }

  async function doStop() {
    const diedEarly = exitInfo !== null;
    try {
      if (!diedEarly) child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const res = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (!res) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`idpd did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${tail(lines)}`);
      }
      await rlClosed; // every stderr line is in, for the message below
      if (res.code !== 0) {
        throw new Error(
          `idpd ${diedEarly ? 'had exited before the stop' : 'did not exit with 0 when stopped by SIGTERM'}: ` +
            `code ${res.code}, signal ${res.signal} (0 expected)\n` +
            `--- idpd stderr ---\n${tail(lines)}`,
        );
      }
      return res;
    } finally {
      await rm(dir, { recursive: true, force: true });
      dropDatabase(db);
    }
  }

  return server;
}
