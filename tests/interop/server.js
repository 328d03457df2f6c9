// Starts the real idpd binary for a test file: a fresh temporary data folder, a random loopback
// port (learnt from the "listening" log line), service accounts made with the CLI against the
// same data folder while the server runs, and a clean stop (SIGTERM, exit code 0).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { custom } from 'openid-client';

// Under AddressSanitizer an uncached Argon2id verification is slower than openid-client's
// default 3.5 s budget allows when the suites run side by side.
custom.setHttpOptionsDefaults({ timeout: 30000 });

const START_TIMEOUT_MS = 60000;
const STOP_TIMEOUT_MS = 30000;

export function idpdBin() {
  const bin = process.env.IDPD_BIN;
  if (!bin) {
    throw new Error('IDPD_BIN is not set: run through ctest, or IDPD_BIN=build/idpd node --test');
  }
  return bin;
}

// The environment of every idpd process: the caller's, without IDPD_* settings that would make
// the run depend on the shell, plus the ones a test asks for.
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('IDPD_')) env[k] = v;
  }
  return { ...env, ...extra };
}

function tail(lines, n = 40) {
  return lines.slice(-n).join('\n');
}

// Starts `idpd serve --listen 127.0.0.1:0 --data <fresh dir>`; env adds IDPD_* settings.
export async function startServer({ env = {} } = {}) {
  const bin = idpdBin();
  const dir = await mkdtemp(path.join(tmpdir(), 'idpd-interop-'));
  const dataDir = path.join(dir, 'data');
  const childEnvironment = childEnv(env);
  const lines = [];
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir], {
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
      return new Promise((resolve, reject) => {
        execFile(bin, args, { env: childEnvironment, timeout: 60000 }, (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`idpd ${args.join(' ')} failed: ${err.message}\n${stderr}`));
            return;
          }
          try {
            const out = JSON.parse(stdout);
            if (!out.client_id || !out.client_secret) throw new Error('no client_id/client_secret');
            resolve(out);
          } catch (e) {
            reject(new Error(`unexpected output of idpd service-account create: ${e.message}\n${stdout}`));
          }
        });
      });
    },

    // SIGTERM, then the exit code must be 0 (a sanitizer report makes it non-zero). Removes the
    // data folder whatever happens. Safe to call twice.
    stop() {
      if (!stopped) stopped = doStop();
      return stopped;
    },
  };

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
    }
  }

  return server;
}
