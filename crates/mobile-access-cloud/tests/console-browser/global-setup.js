// Starts the harness's console fixture (the access cloud on a loopback port with two
// organizations, and a fixture API for a wallet tap at a virtual reader and an integration
// sync), reads the one JSON line it prints, and hands it to the tests in CONSOLE_WORLD. The
// fixture stops when its stdin closes: at teardown, or when this runner dies.
//
// CONSOLE_DATABASE=postgres runs the cloud on the PostgreSQL server of DATABASE_URL (in a fresh
// database of the fixture's own); anything else, or nothing, on SQLite.
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const path = require('node:path');

module.exports = async () => {
  const bin =
    process.env.CONSOLE_FIXTURE ||
    path.join(process.env.CARGO_TARGET_DIR || path.join(__dirname, '../../../../target'), 'debug/mobile-access-harness');
  const args = ['console-fixture'];
  if (process.env.CONSOLE_DATABASE === 'postgres') {
    if (!process.env.DATABASE_URL) throw new Error('CONSOLE_DATABASE=postgres needs DATABASE_URL');
    // The fixture reads DATABASE_URL itself: a password on a command line is one anyone can read.
    args.push('--postgres');
  }
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`console-fixture exited with ${code} before it was ready`)));
  });
  process.env.CONSOLE_WORLD = line;
  return async () => {
    child.stdin.end();
    await new Promise((resolve) => {
      const timer = setTimeout(() => { child.kill(); resolve(); }, 10_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
    });
  };
};
