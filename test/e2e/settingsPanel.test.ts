import path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regionDisplayName } from '../../src/domain/azureRegions';
import { TABLE_NAMES } from '../../src/domain/tableSchema';
import { buildEvent, sampleEvent } from '../../src/producer';
import { browserSkipReason, launchChromium, screenshotDirectory, type Browser } from '../support/browser';
import { TenantApi, demoTenant, publish, rowCountsByRecordId, workspaceRows } from '../support/sandboxClient';
import { e2eSandbox, refuseNextUpload } from './support/harness';

/**
 * The how-to's settings panel, served by the sandbox at `/`, driven in headless Chromium the way a
 * customer clicks through it: every control found by its label or role, as a screen reader would.
 */

const skipReason = browserSkipReason();
if (skipReason) console.warn(`settings panel browser tests skipped: ${skipReason}`);

const WAIT = { timeout: 45_000, interval: 200 };

describe.skipIf(skipReason !== undefined)('settings panel in a browser', { timeout: 120_000 }, () => {
  // The pending-test re-run fires every second instead of every minute, so pending turns ok while we watch.
  const sandbox = e2eSandbox({ args: ['--timer-every', '1'] });
  let browser: Browser;
  const screenshots = screenshotDirectory();

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    screenshots.cleanup();
  });

  async function openPanel(): Promise<{ page: Page; requests: Request[]; problems: string[] }> {
    const page = await browser.context.newPage();
    const requests: Request[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request));
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(sandbox.info.panelUrl);
    // The page says who it signed in as once it has read the tenant's settings: then it is ready.
    await page.getByText(`Signed in to tenant ${sandbox.info.tenantId}`).waitFor();
    return { page, requests, problems };
  }

  const focusedId = async (page: Page) => (await page.locator(':focus').getAttribute('id')) ?? '';
  const text = (page: Page, id: string) => page.locator(`#${id}`).innerText();

  it('explains a bad Workspace Resource ID inline and works with the keyboard alone', async () => {
    const { page, requests, problems } = await openPanel();
    const toggle = page.getByRole('switch', { name: 'Send Audit Logs to SIEM' });
    const workspaceId = page.getByLabel('Workspace Resource ID');
    const location = page.getByLabel('Location');

    // Tab from the top: the toggle first; the exporter's fields stay out of reach while it is off.
    await page.keyboard.press('Tab');
    expect(await focusedId(page)).toBe('export-enabled');
    await page.keyboard.press('Tab');
    expect(await focusedId(page)).toBe('save-changes');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Space');
    expect(await toggle.isChecked()).toBe(true);

    // On: SIEM Provider, Workspace Resource ID, Location, Create Connection, Save changes, in that order.
    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      order.push(await focusedId(page));
    }
    expect(order).toEqual(['siem-provider', 'workspace-id', 'location', 'create-connection', 'save-changes']);
    expect(await page.getByLabel('SIEM Provider').inputValue()).toBe('sentinel');

    // A resource ID whose subscription is no GUID: the domain's own message, tied to the field.
    await workspaceId.focus();
    await page.keyboard.type(
      '/subscriptions/not-a-guid/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/law-sentinel',
    );
    const message = page.locator('#workspace-error');
    await message.waitFor();
    expect(await message.innerText()).toContain('the subscription ID "not-a-guid" is not a GUID');
    expect(await workspaceId.getAttribute('aria-invalid')).toBe('true');
    expect((await workspaceId.getAttribute('aria-describedby'))?.split(' ')).toContain('workspace-error');
    await page.screenshot({ path: path.join(screenshots.dir, 'settings-panel-invalid.png'), fullPage: true });

    // Create Connection (Enter on the focused button) refuses before calling the API and sends focus back.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focusedId(page)).toBe('create-connection');
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedId(page), WAIT).toBe('workspace-id');
    expect(await page.getByRole('alert').filter({ hasText: 'Fix the highlighted fields' }).count()).toBe(1);

    // Corrected by keyboard: the message goes; no Location yet, so that field is the one flagged now.
    await page.keyboard.press('Control+A');
    await page.keyboard.type(sandbox.info.workspaceResourceId);
    expect(await message.isHidden()).toBe(true);
    expect(await workspaceId.getAttribute('aria-invalid')).toBeNull();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedId(page), WAIT).toBe('location');
    expect(await location.getAttribute('aria-invalid')).toBe('true');
    expect(await text(page, 'location-error')).toContain('Select the Location');

    expect(requests.filter((request) => request.url().includes('/siem/connection'))).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('walks the how-to: Create Connection, Save changes, events delivered, a parked event replayed', async () => {
    const { info, azure } = sandbox;
    const api = new TenantApi(info.apiBaseUrl, demoTenant(info));
    const { page, problems } = await openPanel();
    const delivered = async () => Number(await text(page, 'delivered-count'));

    // Enable the Send Audit Logs to SIEM option; under SIEM Provider, select Sentinel.
    await page.getByRole('switch', { name: 'Send Audit Logs to SIEM' }).check();
    await page.getByLabel('SIEM Provider').selectOption({ label: 'Sentinel' });
    // Paste the Resource ID into the Workspace Resource ID field; select the same location.
    await page.getByLabel('Workspace Resource ID').focus();
    await page.keyboard.insertText(info.workspaceResourceId);
    await page.getByLabel('Location').selectOption({ label: regionDisplayName(info.location) });

    // Click Create Connection while Azure has not applied the roles yet: the test message step is
    // pending, and the panel says so; once the roles apply, the re-run turns it ok on the page.
    await azure.configure({ tenantId: info.tenantId, propagation: { afterRoleGrantedMs: 60 * 60_000 } });
    await page.getByRole('button', { name: 'Create Connection' }).click();
    const outcome = () => page.locator('#connection-test').getAttribute('data-outcome');
    await expect.poll(outcome, WAIT).toBe('pending');
    const testMessage = page.locator('#test-steps li[data-step="testMessage"]');
    expect(await testMessage.locator('.step-outcome').innerText()).toBe('pending');
    expect(await testMessage.locator('.step-detail').innerText()).not.toBe('');
    expect(await text(page, 'settings-status')).toMatch(/^Connection created; waiting for Azure/);
    await page.screenshot({ path: path.join(screenshots.dir, 'settings-panel-pending.png'), fullPage: true });
    await azure.configure({ tenantId: info.tenantId, propagation: { afterRoleGrantedMs: 0 } });
    await expect.poll(outcome, WAIT).toBe('ok');
    const reported = (await api.settings()).body as {
      tested: { test: { steps: Record<string, { outcome: string; detail: string }> } };
    };
    const steps = page.locator('#test-steps li');
    const shown = [];
    for (const item of await steps.all()) {
      shown.push({
        step: await item.getAttribute('data-step'),
        outcome: await item.locator('.step-outcome').innerText(),
        detail: await item.locator('.step-detail').innerText(),
      });
    }
    expect(shown).toEqual(
      Object.entries(reported.tested.test.steps).map(([step, result]) => ({
        step,
        outcome: 'ok',
        detail: result.detail,
      })),
    );
    expect(shown.length).toBeGreaterThanOrEqual(4);
    // The step added after the panel was written shows up by itself (issue 14 item 5).
    expect(shown.map((item) => item.step)).toContain('diagnosticSetting');
    await expect
      .poll(() => text(page, 'settings-status'), WAIT)
      .toBe('Connection test succeeded. Click Save changes to save your SIEM settings.');

    // Once the test succeeds, click Save changes.
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect
      .poll(() => text(page, 'settings-status'), WAIT)
      .toBe('Saved. Your audit logs are now sent to your SIEM.');
    await expect.poll(() => page.locator('#health-state').getAttribute('data-state'), WAIT).toBe('active');

    // A PKI service sends events through the producer: the panel shows them delivered.
    // The event tables only: the rows URL also shows the health table, which the heartbeat keeps filling.
    const tables = await workspaceRows(info, info.workspaceResourceId);
    const rowsBefore = TABLE_NAMES.reduce((sum, table) => sum + (tables[table]?.length ?? 0), 0);
    const events = [4887, 4870, 12].map((eventId, index) =>
      buildEvent(sampleEvent(eventId, info.tenantId, index + 1, 3)),
    );
    await publish(info, events);
    await expect.poll(delivered, WAIT).toBe(rowsBefore + events.length);
    await expect.poll(() => text(page, 'health-last-delivery'), WAIT).toMatch(/^\d\d\/\d\d\/\d{4}, .* UTC$/);
    await page.screenshot({ path: path.join(screenshots.dir, 'settings-panel.png'), fullPage: true });

    // The workspace refuses the next record outright: it is parked with its reason, then replayed.
    // Only the event's table: the heartbeat's health-row uploads (timers fire every second here) pass.
    await refuseNextUpload(azure, info.tenantId, 'Custom-EZCA_Certificates_CL');
    const refused = buildEvent(sampleEvent(4888, info.tenantId));
    await publish(info, [refused]);
    await expect.poll(() => text(page, 'health-parked-count'), WAIT).toBe('1');
    const parkedRow = page.locator('#parked-rows tr');
    await expect.poll(() => parkedRow.count(), WAIT).toBe(1);
    const cells = await parkedRow.locator('td').allInnerTexts();
    expect(cells.slice(1, 3)).toEqual(['4888', 'rejectedByService']);
    expect(cells[3]).toMatch(/refused/i);
    await page.screenshot({ path: path.join(screenshots.dir, 'settings-panel-parked.png'), fullPage: true });

    await page.getByRole('button', { name: 'Replay parked events' }).click();
    await expect.poll(() => text(page, 'health-status'), WAIT).toBe('Replayed 1 parked event.');
    await expect.poll(() => text(page, 'health-parked-count'), WAIT).toBe('0');
    expect(await page.getByText('No parked events.').isVisible()).toBe(true);
    await expect.poll(delivered, WAIT).toBe(rowsBefore + events.length + 1);
    expect((await rowCountsByRecordId(info, info.workspaceResourceId)).get(refused.id.toLowerCase())).toBe(1);

    // Meanwhile someone else turns export off: Save changes from this page does not overwrite that.
    expect((await api.call('DELETE', '')).status).toBe(200);
    await expect.poll(() => page.locator('#health-state').getAttribute('data-state'), WAIT).toBe('disabled');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect
      .poll(
        () => page.getByRole('alert').filter({ hasText: 'changed since this page read them' }).count(),
        WAIT,
      )
      .toBe(1);
    await expect
      .poll(() => page.getByRole('switch', { name: 'Send Audit Logs to SIEM' }).isChecked(), WAIT)
      .toBe(false);
    expect((await api.settings()).body).toMatchObject({ state: 'disabled', exportEnabled: false });

    expect(problems).toEqual([]);
    await page.close();
  });
});
