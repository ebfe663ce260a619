import { AZURE_REGIONS } from '../../src/domain/azureRegions';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';
import {
  ApiError,
  PortalApi,
  type ConnectionTest,
  type ParkedEvent,
  type Session,
  type Settings,
  type Versioned,
} from './api';

/**
 * The how-to's settings panel (Send Audit Logs to SIEM, SIEM Provider, Workspace Resource ID,
 * Location, Create Connection, Save changes) and the connection's health, over the public API only.
 * Validation reuses the domain's own rules, so the page says exactly what the API would refuse.
 */

const HEALTH_POLL_MS = 2000;

const STEP_LABELS: Record<string, string> = {
  workspace: 'Workspace',
  tables: 'Tables',
  dataCollectionRule: 'Data collection rule',
  testMessage: 'Test message',
};

const STATE_LABELS: Record<string, string> = {
  tested: 'Tested (export off until you save)',
  active: 'Active',
  degraded: 'Degraded (deliveries failing, retried)',
  suspended: 'Suspended',
  disabled: 'Turned off',
};

/** Steps the API adds later (e.g. diagnosticSetting) still read well: "Diagnostic setting". */
function stepLabel(name: string): string {
  const known = STEP_LABELS[name];
  if (known) return known;
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`The page has no #${id}.`);
  return found as T;
}

function when(iso: string | undefined): string {
  if (!iso) return 'Never';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('en-GB', { timeZone: 'UTC' }) + ' UTC';
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.code ? `${error.message} (${error.code})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

class Panel {
  private readonly exportEnabled = element<HTMLInputElement>('export-enabled');
  private readonly fields = element<HTMLFieldSetElement>('siem-fields');
  private readonly workspaceId = element<HTMLInputElement>('workspace-id');
  private readonly workspaceError = element('workspace-error');
  private readonly location = element<HTMLSelectElement>('location');
  private readonly locationError = element('location-error');
  private readonly createButton = element<HTMLButtonElement>('create-connection');
  private readonly saveButton = element<HTMLButtonElement>('save-changes');
  private readonly settingsStatus = element('settings-status');
  private readonly settingsError = element('settings-error');
  private readonly healthStatus = element('health-status');
  private readonly healthError = element('health-error');
  /**
   * If-Match for Save changes: the version of the settings this page's form is based on. Deliveries
   * and the pending-test re-run change the version too, so polling adopts a newer one as long as what
   * the form shows (toggle, saved and tested workspace) is unchanged; a change by someone else keeps
   * the old one, and Save changes then gets 412 and reloads instead of overwriting it.
   */
  private etag: string | undefined;
  private basis: string | undefined;
  /** Set by this page's own writes: the next read is the new basis. */
  private adoptNext = true;
  private refreshing: Promise<void> | undefined;
  private settings: Settings | undefined;
  /** While Create Connection runs, polling must not overwrite the steps it is about to show. */
  private creating = false;
  /** The outcome shown last, to announce when a pending test settles. */
  private shownOutcome: string | undefined;

  constructor(
    private readonly api: PortalApi,
    private readonly session: Session,
  ) {}

  async start(): Promise<void> {
    const regions = Object.entries(AZURE_REGIONS).sort(([, a], [, b]) => a.localeCompare(b));
    for (const [name, display] of regions) this.location.add(new Option(display, name));

    this.exportEnabled.addEventListener('change', () => {
      this.fields.disabled = !this.exportEnabled.checked;
    });
    this.workspaceId.addEventListener('input', () => {
      if (this.workspaceId.value.trim() !== '' || this.workspaceId.hasAttribute('aria-invalid')) {
        this.validateWorkspaceId();
      }
    });
    this.workspaceId.addEventListener('blur', () => this.validateWorkspaceId());
    this.location.addEventListener('change', () => this.validateLocation());
    this.createButton.addEventListener('click', () => void this.createConnection());
    this.saveButton.addEventListener('click', () => void this.save());
    element('refresh').addEventListener('click', () => void this.refresh({ announce: true }));
    element('replay').addEventListener('click', () => void this.replay());
    element('settings').addEventListener('submit', (event) => event.preventDefault());

    await this.refresh({ fillForm: true });
    // Only now may the user edit: the form shows the tenant's settings and nothing overwrites them.
    element('settings-form-body').hidden = false;
    element('session').textContent = `Signed in to tenant ${this.session.tenantId} (sandbox demo token)`;
    setInterval(() => {
      if (!this.refreshing) void this.refresh();
    }, HEALTH_POLL_MS);
  }

  /** Shows the domain's own message under the field; returns the canonical id when valid. */
  private validateWorkspaceId(): string | undefined {
    try {
      const parsed = parseWorkspaceResourceId(this.workspaceId.value);
      this.fieldError(this.workspaceId, this.workspaceError, undefined);
      return parsed.resourceId;
    } catch (error) {
      this.fieldError(this.workspaceId, this.workspaceError, messageOf(error));
      return undefined;
    }
  }

  private validateLocation(): string | undefined {
    const value = this.location.value;
    this.fieldError(
      this.location,
      this.locationError,
      value ? undefined : 'Select the Location the Azure portal shows for the workspace.',
    );
    return value || undefined;
  }

  private fieldError(input: HTMLElement, holder: HTMLElement, message: string | undefined): void {
    const hint = input.getAttribute('aria-describedby')?.split(' ')[0] ?? '';
    if (message === undefined) {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', hint);
      holder.hidden = true;
      holder.textContent = '';
      return;
    }
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${hint} ${holder.id}`);
    holder.textContent = message;
    holder.hidden = false;
  }

  private say(status: HTMLElement, error: HTMLElement, text: string, isError = false): void {
    status.textContent = isError ? '' : text;
    error.textContent = isError ? text : '';
  }

  private async createConnection(): Promise<void> {
    const workspaceResourceId = this.validateWorkspaceId();
    const location = this.validateLocation();
    if (!workspaceResourceId || !location) {
      (workspaceResourceId ? this.location : this.workspaceId).focus();
      this.say(this.settingsStatus, this.settingsError, 'Fix the highlighted fields first.', true);
      return;
    }
    this.creating = true;
    this.createButton.disabled = true;
    this.showTestRunning();
    this.say(this.settingsStatus, this.settingsError, 'Creating the connection and sending a test message…');
    try {
      const created = await this.api.createConnection(workspaceResourceId, location);
      this.etag = created.etag ?? this.etag;
      this.adoptNext = true;
      this.showTest(created.value.test);
      this.say(this.settingsStatus, this.settingsError, ...this.testSummary(created.value.test));
    } catch (error) {
      element('connection-test').hidden = true;
      this.say(
        this.settingsStatus,
        this.settingsError,
        `Create Connection failed: ${messageOf(error)}`,
        true,
      );
    } finally {
      this.creating = false;
      this.createButton.disabled = false;
    }
    await this.refresh();
  }

  private testSummary(test: ConnectionTest): [string, boolean] {
    switch (test.outcome) {
      case 'ok':
        return ['Connection test succeeded. Click Save changes to save your SIEM settings.', false];
      case 'pending':
        return [
          'Connection created; waiting for Azure to apply the new permissions (this can take a few minutes). The steps update here.',
          false,
        ];
      default:
        return [
          'Connection test failed: see the steps below for what to fix, then Create Connection again.',
          true,
        ];
    }
  }

  private showTestRunning(): void {
    const holder = element('connection-test');
    holder.hidden = false;
    element('test-outcome').textContent = 'Running…';
    holder.setAttribute('aria-busy', 'true');
    // Until the API answers, the steps of the previous test (if any) read as pending.
    for (const item of element('test-steps').querySelectorAll('li')) {
      item.dataset.outcome = 'pending';
      const outcome = item.querySelector('.step-outcome');
      if (outcome) outcome.textContent = 'pending';
    }
  }

  /** Renders whatever steps the API reported, in its order: a step added later shows up by itself. */
  private showTest(test: ConnectionTest): void {
    const holder = element('connection-test');
    holder.hidden = false;
    holder.removeAttribute('aria-busy');
    holder.dataset.outcome = test.outcome;
    this.shownOutcome = test.outcome;
    element('test-outcome').textContent = `Outcome: ${test.outcome}, tested ${when(test.testedAt)}`;
    const list = element('test-steps');
    list.replaceChildren(
      ...Object.entries(test.steps).map(([name, step]) => {
        const item = document.createElement('li');
        item.dataset.step = name;
        item.dataset.outcome = step.outcome;
        const label = document.createElement('span');
        label.className = 'step-name';
        label.textContent = stepLabel(name);
        const outcome = document.createElement('span');
        outcome.className = 'step-outcome';
        outcome.textContent = step.outcome;
        const detail = document.createElement('span');
        detail.className = 'step-detail';
        detail.textContent = step.detail;
        item.append(label, outcome, detail);
        return item;
      }),
    );
  }

  private async save(): Promise<void> {
    this.saveButton.disabled = true;
    try {
      let saved: Versioned<Settings>;
      if (this.exportEnabled.checked) {
        const workspaceResourceId = this.validateWorkspaceId();
        const location = this.validateLocation();
        if (!workspaceResourceId || !location) {
          (workspaceResourceId ? this.location : this.workspaceId).focus();
          this.say(this.settingsStatus, this.settingsError, 'Fix the highlighted fields first.', true);
          return;
        }
        saved = await this.api.save(workspaceResourceId, location, this.etag);
      } else {
        if (!this.settings) {
          this.say(
            this.settingsStatus,
            this.settingsError,
            'SIEM export is not set up; nothing to turn off.',
          );
          return;
        }
        saved = await this.api.disable(this.etag);
      }
      this.adoptNext = true;
      this.applySettings(saved);
      this.say(
        this.settingsStatus,
        this.settingsError,
        saved.value.exportEnabled
          ? 'Saved. Your audit logs are now sent to your SIEM.'
          : 'Saved. Audit logs are no longer sent to your SIEM.',
      );
    } catch (error) {
      const stale = error instanceof ApiError && error.status === 412;
      this.say(
        this.settingsStatus,
        this.settingsError,
        stale
          ? 'The settings changed since this page read them; they are reloaded. Check them and save again.'
          : `Save changes failed: ${messageOf(error)}`,
        true,
      );
      if (stale) await this.refresh({ fillForm: true });
    } finally {
      this.saveButton.disabled = false;
    }
  }

  private async replay(): Promise<void> {
    const button = element<HTMLButtonElement>('replay');
    button.disabled = true;
    try {
      const result = await this.api.replayAll();
      const count = `${result.replayed} parked event${result.replayed === 1 ? '' : 's'}`;
      this.say(
        this.healthStatus,
        this.healthError,
        `Replayed ${count}.${result.remaining ? ' More remain: click Replay parked events again.' : ''}`,
      );
    } catch (error) {
      this.say(this.healthStatus, this.healthError, `Replay failed: ${messageOf(error)}`, true);
    } finally {
      button.disabled = false;
    }
    await this.refresh();
  }

  private applySettings(versioned: Versioned<Settings> | undefined, fillForm = false): void {
    this.settings = versioned?.value;
    const basis = basisOf(versioned?.value);
    if (fillForm || this.adoptNext || basis === this.basis) {
      this.etag = versioned?.etag ?? this.etag;
      this.basis = basis;
      this.adoptNext = false;
    }
    const settings = versioned?.value;
    element('health-state').textContent = settings
      ? `${STATE_LABELS[settings.state] ?? settings.state}: ${settings.stateReason}`
      : 'Not configured';
    element('health-state').dataset.state = settings?.state ?? 'none';
    element('health-last-delivery').textContent = when(settings?.health.lastDeliveryAt);
    const lastError = settings?.health.lastError;
    element('health-last-error').textContent = lastError
      ? `${when(lastError.at)}: ${lastError.message}`
      : 'None';
    element('health-parked-count').textContent = String(settings?.health.parkedCount ?? 0);
    if (settings?.tested && !this.creating) {
      const settled = this.shownOutcome === 'pending' && settings.tested.test.outcome !== 'pending';
      this.showTest(settings.tested.test);
      if (settled)
        this.say(this.settingsStatus, this.settingsError, ...this.testSummary(settings.tested.test));
    }
    if (fillForm) {
      const target = settings?.saved ?? settings?.tested;
      this.exportEnabled.checked = settings?.exportEnabled ?? false;
      this.fields.disabled = !this.exportEnabled.checked;
      if (target) {
        this.workspaceId.value = target.workspaceResourceId;
        this.location.value = target.location;
      }
    }
  }

  private showParked(items: ParkedEvent[]): void {
    element('parked').hidden = items.length === 0;
    element('parked-empty').hidden = items.length > 0;
    element('parked-rows').replaceChildren(
      ...items.map((item) => {
        const row = document.createElement('tr');
        row.dataset.parkedId = item.parkedId;
        for (const text of [when(item.parkedAt), String(item.eventId ?? '?'), item.category, item.reason]) {
          const cell = document.createElement('td');
          cell.textContent = text;
          row.append(cell);
        }
        return row;
      }),
    );
  }

  /** One read at a time: a poll that finds a read running waits for it instead of racing it. */
  private async refresh(options: { fillForm?: boolean; announce?: boolean } = {}): Promise<void> {
    while (this.refreshing) await this.refreshing;
    this.refreshing = this.read(options);
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  private async read(options: { fillForm?: boolean; announce?: boolean }): Promise<void> {
    try {
      const settings = await this.api.settings();
      this.applySettings(settings, options.fillForm);
      this.showParked(settings && settings.value.health.parkedCount > 0 ? await this.api.parked() : []);
      await showDeliveredRows(settings?.value.saved?.workspaceResourceId);
      if (options.announce) this.say(this.healthStatus, this.healthError, 'Health refreshed.');
      else if (this.healthError.textContent?.startsWith('Could not read')) this.healthError.textContent = '';
    } catch (error) {
      this.say(this.healthStatus, this.healthError, `Could not read the settings: ${messageOf(error)}`, true);
    }
  }
}

/** What the form shows of the settings: when this changes, someone else changed them. */
function basisOf(settings: Settings | undefined): string {
  if (!settings) return 'none';
  const { exportEnabled, saved, tested } = settings;
  return JSON.stringify([
    exportEnabled,
    saved?.workspaceResourceId.toLowerCase(),
    saved?.location,
    tested?.workspaceResourceId.toLowerCase(),
    tested?.location,
  ]);
}

/** Sandbox only: the rows the demo workspace received (what Log Analytics would show). */
async function showDeliveredRows(workspaceResourceId: string | undefined): Promise<void> {
  if (!workspaceResourceId) return;
  const response = await fetch(
    `/panel/workspace-rows?workspaceResourceId=${encodeURIComponent(workspaceResourceId)}`,
  );
  if (!response.ok) return;
  const { total } = (await response.json()) as { total: number };
  element('delivered-count').textContent = String(total);
}

async function main(): Promise<void> {
  const response = await fetch('/panel/session');
  if (!response.ok) throw new Error(`The sandbox did not sign the panel in (${response.status}).`);
  const session = (await response.json()) as Session;
  await new Panel(new PortalApi(session), session).start();
}

main().catch((error: unknown) => {
  const target = document.getElementById('settings-error');
  if (target) target.textContent = `The panel could not start: ${messageOf(error)}`;
});
