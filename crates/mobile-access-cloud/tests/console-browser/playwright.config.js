// The console's browser tests: headless Chromium from the system (Debian's `chromium`), never a
// browser Playwright downloads. `cargo xtask test` runs them with CONSOLE_FIXTURE (the harness
// binary), CHROMIUM and CONSOLE_SCREENSHOTS set; see global-setup.js for the world they run in.
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: '.',
  testMatch: '*.spec.js',
  globalSetup: require.resolve('./global-setup.js'),
  // One world, changed by the tests in order (a pass is suspended, then deleted).
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      // Containers and CI runners as root have no user namespaces for Chromium's sandbox.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
    viewport: { width: 1280, height: 900 },
  },
});
