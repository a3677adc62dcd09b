// What an administrator does in the console, in headless Chromium against the cloud on
// loopback. Each page visited is screenshot into CONSOLE_SCREENSHOTS (under the cargo target
// directory: CI keeps them as artifacts).
const { test, expect } = require('@playwright/test');
const path = require('node:path');
const fs = require('node:fs');

const world = () => JSON.parse(process.env.CONSOLE_WORLD);
const shots = process.env.CONSOLE_SCREENSHOTS || path.join(__dirname, 'test-results/screenshots');
fs.mkdirSync(shots, { recursive: true });

async function shoot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/** Signs in with the keyboard only: the email field has focus, Tab to the password, Enter. */
async function signIn(page, admin) {
  await page.goto(world().console);
  await expect(page).toHaveURL(/\/console\/sign-in$/);
  await expect(page.getByRole('heading', { name: 'Sign in to the access console' })).toBeVisible();
  await expect(page.getByLabel('Email')).toBeFocused();
  await page.keyboard.type(admin.email);
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type(admin.password);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Members' })).toBeVisible();
  await expect(page.getByText(`Signed in as ${admin.email}`)).toBeVisible();
}

/** Asks the fixture to do something outside the browser (a tap at a reader, a sync). */
async function fixture(request, route, data) {
  const response = await request.post(`${world().fixture}${route}`, data ? { data } : {});
  expect(response.ok(), await response.text()).toBeTruthy();
  return response.json();
}

function memberRow(page, name) {
  return page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
}

test('sign in, find the not-confirmed users, open one', async ({ page }) => {
  await page.goto(`${world().console}/sign-in`);
  await shoot(page, '01-sign-in');
  // A wrong password: the form again, saying so.
  await page.getByLabel('Email').fill(world().demo_admin.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That email and password do not match an administrator.');

  await signIn(page, world().demo_admin);
  await expect(memberRow(page, 'Ada Member')).toBeVisible();
  await shoot(page, '02-members');

  await page.getByLabel('Status').selectOption({ label: 'not-confirmed' });
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/status=not_confirmed/);
  const rows = page.getByRole('table').getByRole('row');
  await expect(rows).toHaveCount(2); // the header and Una
  await expect(memberRow(page, 'Una Unconfirmed')).toContainText('not-confirmed');
  await shoot(page, '03-members-not-confirmed');

  await page.getByLabel('Status').selectOption({ label: 'Everyone' });
  await page.getByLabel('Name or email contains').fill('GRACE');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(memberRow(page, 'Grace Staff')).toContainText('Members, Staff');
  await expect(memberRow(page, 'Ada Member')).toHaveCount(0);

  await page.getByRole('link', { name: 'Grace Staff' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Grace Staff' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Wallet passes' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'watch-grace' })).toBeVisible();
  await shoot(page, '04-member');
});

test("a second organization's administrator sees none of it", async ({ page }) => {
  await signIn(page, world().northwind_admin);
  await expect(page.getByText('Northwind Offices').first()).toBeVisible();
  await expect(page.getByText('Una Unconfirmed')).toHaveCount(0);
  await page.getByLabel('Name or email contains').fill('Grace');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByText('No member matches.')).toBeVisible();

  const grace = world().demo_members.grace_staff.member_id;
  const response = await page.goto(`${world().console}/members/${grace}`);
  expect(response.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
  await shoot(page, '05-other-organization-not-found');

  await page.goto(`${world().console}/credentials/wallet-passes`);
  await expect(page.getByText('No member has added a wallet pass.')).toBeVisible();
  await expect(page.getByText('watch-grace')).toHaveCount(0);
  await page.goto(`${world().console}/audit`);
  await expect(page.getByText('watch-grace')).toHaveCount(0);
  await expect(page.getByText('admin:admin@demo.example')).toHaveCount(0);
});

test('preview a switch-over, run it and watch it finish', async ({ page }) => {
  await signIn(page, world().northwind_admin);
  await page.getByLabel('Status').selectOption({ label: 'not-confirmed' });
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByText('2400 not-confirmed')).toBeVisible();

  await page.getByRole('link', { name: 'Integration settings' }).click();
  await expect(page.getByText('Now: Unlock with native methods')).toBeVisible();
  await shoot(page, '06-settings');
  await page.getByRole('link', { name: /Preview switching to .*branded app/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: /Switch to .*branded app/ })).toBeVisible();
  await expect(page.locator('#users-to-recreate')).toHaveText('2400');
  await expect(page.locator('#welcome-emails')).toHaveText('0');
  await expect(page.getByRole('table').getByRole('row')).toHaveCount(51); // a page of 50, and the header
  await shoot(page, '07-switch-preview');
  // Nothing changed yet.
  await page.goto(`${world().console}/members?status=not_confirmed`);
  await expect(page.getByText('2400 not-confirmed')).toBeVisible();

  await page.goBack();
  await page.getByRole('button', { name: /Confirm: switch to/ }).click();
  await expect(page).toHaveURL(/\/console\/settings\/switch-over$/);
  await expect(page.getByRole('progressbar')).toBeVisible();
  await shoot(page, '08-switch-progress');
  // The page reloads itself every second while the job runs (five batches of 500 users).
  const seen = new Set();
  await expect(async () => {
    const state = await page.locator('#job-state').textContent();
    seen.add(state.replace(/\d+ of/, 'N of'));
    expect(state).toBe('Finished: 2400 of 2400 users done.');
  }).toPass({ timeout: 120_000, intervals: [250] });
  console.log(`switch-over states seen: ${[...seen].join(' | ')}`);
  await shoot(page, '09-switch-finished');

  await page.goto(`${world().console}/members?status=not_confirmed`);
  await expect(page.getByText('No member matches.')).toBeVisible();
  await page.goto(`${world().console}/members?status=managed&q=member+0000`);
  const recreated = memberRow(page, 'Northwind Member 0000');
  await expect(recreated).toContainText('confirmed');
  await expect(recreated).toContainText('managed');
  await expect(recreated).toContainText('Everyone');
  await page.goto(`${world().console}/settings`);
  await expect(page.getByText('Now: Unlock with the branded app')).toBeVisible();

  // The audit log pages back through the switch-over's entries, 50 at a time, newest first.
  await page.getByRole('link', { name: 'Audit log' }).click();
  const firstNumbers = await page.locator('tbody tr td:first-child').allTextContents();
  expect(firstNumbers).toHaveLength(50);
  await page.getByRole('link', { name: 'Older entries' }).click();
  const olderNumbers = await page.locator('tbody tr td:first-child').allTextContents();
  expect(olderNumbers.length).toBeGreaterThan(0);
  expect(Number(olderNumbers[0])).toBeLessThan(Number(firstNumbers[firstNumbers.length - 1]));
  await shoot(page, '09b-audit-older');
});

test("suspend a pass, and the member's watch is refused at the door", async ({ page, request }) => {
  const before = await fixture(request, '/tap');
  expect(before).toEqual({ granted: true, reason: 'Granted' });

  await signIn(page, world().demo_admin);
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Credentials' }).click();
  await expect(page.getByRole('heading', { name: 'Wallet passes', level: 2 })).toBeVisible();
  const row = page.getByRole('row').filter({ hasText: 'Grace Staff' });
  await expect(row).toContainText('iphone-grace');
  await expect(row).toContainText('watch-grace');
  await shoot(page, '10-wallet-passes');

  await page.getByRole('link', { name: "Open Grace Staff's pass" }).click();
  await expect(page.getByRole('heading', { name: "Grace Staff's wallet pass" })).toBeVisible();
  await shoot(page, '11-wallet-pass');
  await page.getByRole('link', { name: 'Suspend' }).click();
  await expect(page.getByRole('heading', { name: "Suspend Grace Staff's wallet pass?" })).toBeVisible();
  await expect(page.getByText('the Apple Watch watch-grace')).toBeVisible();
  await shoot(page, '12-confirm-suspend');
  // Nothing happens until confirmed: the watch still opens the door.
  expect(await fixture(request, '/tap')).toEqual({ granted: true, reason: 'Granted' });

  await page.getByRole('button', { name: 'Confirm: Suspend' }).click();
  await expect(page.getByRole('status')).toContainText('The pass is suspended');
  await expect(page.getByRole('link', { name: 'Resume' })).toBeVisible();

  const after = await fixture(request, '/tap');
  expect(after).toEqual({ granted: false, reason: 'PassSuspended' });

  await page.getByRole('link', { name: 'Doors and readers' }).click();
  const main = page.getByRole('region', { name: 'Main entrance' });
  await expect(main.getByText('online')).toBeVisible();
  await expect(main.getByText('Reader Pro 2.1')).toBeVisible();
  await expect(main.locator('tr.refused').first()).toContainText(/refused: pass_?suspended/);
  await expect(main.locator('tr.granted').first()).toContainText('granted');
  await shoot(page, '13-doors');

  // Grace's page: the refusal at the door, and who suspended her pass.
  await page.goto(`${world().console}/members/${world().demo_members.grace_staff.member_id}`);
  await expect(page.locator('span.refused').first()).toContainText(/refused: pass_?suspended/);
  await expect(page.getByRole('cell', { name: 'admin:admin@demo.example' }).first()).toBeVisible();
  await shoot(page, '13b-member-after-suspend');

  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Action starts with').fill('wallet_pass.');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByRole('row').filter({ hasText: 'admin:admin@demo.example' }).first()).toBeVisible();
  await shoot(page, '14-audit');
});

test('resume a suspended pass, then delete it', async ({ page, request }) => {
  await signIn(page, world().demo_admin);
  await page.goto(`${world().console}/credentials/wallet-passes`);
  await page.getByRole('link', { name: "Open Grace Staff's pass" }).click();
  await page.getByRole('link', { name: 'Resume' }).click();
  await expect(page.getByRole('heading', { name: "Resume Grace Staff's wallet pass?" })).toBeVisible();
  await page.getByRole('button', { name: 'Confirm: Resume' }).click();
  await expect(page.getByRole('status')).toHaveText('The pass is active again.');
  expect(await fixture(request, '/tap')).toEqual({ granted: true, reason: 'Granted' });

  await page.getByRole('link', { name: 'Delete' }).click();
  await expect(page.getByRole('heading', { name: "Delete Grace Staff's wallet pass?" })).toBeVisible();
  await shoot(page, '15-confirm-delete');
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(page.getByRole('heading', { name: "Grace Staff's wallet pass" })).toBeVisible();

  await page.getByRole('link', { name: 'Delete' }).click();
  await page.getByRole('button', { name: 'Confirm: Delete' }).click();
  await expect(page.getByRole('status')).toContainText('The pass is deleted');
  await expect(page.getByText('No member has added a wallet pass.')).toBeVisible();
  await shoot(page, '16-pass-deleted');
  expect(await fixture(request, '/tap')).toEqual({ granted: false, reason: 'PassDeleted' });
});

test('the Invitation Mail setting decides whether the next access-group grant sends the email', async ({ page, request }) => {
  await signIn(page, world().demo_admin);
  await page.getByRole('link', { name: 'Integration settings' }).click();
  const invitationMail = page.getByLabel('Invitation Mail');
  await expect(invitationMail).toBeChecked();
  await invitationMail.uncheck();
  await page.getByRole('button', { name: 'Save email settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');
  await expect(page.getByLabel('Invitation Mail')).not.toBeChecked();

  let report = await fixture(request, '/grant', { external_id: 'nick_nogroup', access_groups: ['Members'] });
  expect(report.access_emails).toBe(0);
  await page.getByRole('link', { name: 'Emails' }).click();
  const toNick = page.getByRole('row').filter({ hasText: 'nick.nogroup@demo.example' }).filter({ hasText: 'access' });
  await expect(page.getByRole('heading', { name: 'Emails' })).toBeVisible();
  await expect(toNick).toHaveCount(0);

  await page.getByRole('link', { name: 'Integration settings' }).click();
  await page.getByLabel('Invitation Mail').check();
  await page.getByRole('button', { name: 'Save email settings' }).click();
  await expect(page.getByLabel('Invitation Mail')).toBeChecked();
  await shoot(page, '17-settings-saved');
  report = await fixture(request, '/grant', { external_id: 'nick_nogroup', access_groups: ['Members', 'Staff'] });
  expect(report.access_emails).toBe(1);
  await page.getByRole('link', { name: 'Emails' }).click();
  await expect(toNick).toHaveCount(1);
  await expect(toNick).toContainText('queued');
  await shoot(page, '18-emails');
});

test('a form posted without its CSRF token is refused', async ({ page }) => {
  await signIn(page, world().demo_admin);
  await page.getByRole('link', { name: 'Integration settings' }).click();
  await expect(page.getByLabel('Invitation Mail')).toBeChecked();
  // The settings form, posted by the same signed-in browser but without its token (what a
  // forged form elsewhere would lack): refused, nothing saved.
  const refused = await page.request.post(`${world().console}/settings`, { form: { welcome_email: 'on' } });
  expect(refused.status()).toBe(403);
  expect(await refused.text()).toContain('Form refused');
  const wrong = await page.request.post(`${world().console}/settings`, { form: { csrf: 'f'.repeat(64) } });
  expect(wrong.status()).toBe(403);
  await page.reload();
  await expect(page.getByLabel('Invitation Mail')).toBeChecked();

  // In the browser: the form with its token field taken out, saved. The refusal is a page that
  // says what to do.
  await page.getByLabel('Invitation Mail').uncheck();
  await page.locator('form[action="/console/settings"] input[name="csrf"]').evaluate((field) => field.remove());
  await page.getByRole('button', { name: 'Save email settings' }).click();
  await expect(page.getByRole('heading', { name: 'Form refused' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('security token');
  await shoot(page, '19-csrf-refused');

  // Signing out ends the session: the members page sends the browser to the sign-in form.
  await page.goto(`${world().console}/settings`);
  await expect(page.getByLabel('Invitation Mail')).toBeChecked();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/console\/sign-in$/);
  await page.goto(`${world().console}/members`);
  await expect(page).toHaveURL(/\/console\/sign-in$/);
});
