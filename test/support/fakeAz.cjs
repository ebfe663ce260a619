#!/usr/bin/env node
'use strict';
/**
 * A stand-in for the Azure CLI, just wide enough for infra/scripts: the
 * commands and flags they use, `--query` evaluated with JMESPath (as az does),
 * `-o tsv|json` printed the way az prints them, and Microsoft Entra's
 * refusals a script could trip over (a second federated credential with the
 * same name, replacing an enabled app role, an identifier URI a multi-tenant
 * app may not use). Anything else is refused, exit code 2, like an unknown az
 * argument. State lives in the JSON file FAKE_AZ_STATE; every call is appended
 * to FAKE_AZ_LOG as one JSON line.
 */
const { appendFileSync, readFileSync, writeFileSync } = require('node:fs');
const { randomUUID } = require('node:crypto');
const jmespath = require('jmespath');

const statePath = process.env.FAKE_AZ_STATE;
const logPath = process.env.FAKE_AZ_LOG;
if (!statePath || !logPath) fail(2, 'FAKE_AZ_STATE and FAKE_AZ_LOG must be set');

const argv = process.argv.slice(2);
appendFileSync(logPath, `${JSON.stringify(argv)}\n`);
const state = JSON.parse(readFileSync(statePath, 'utf8'));

const words = [];
const flags = new Map();
for (let index = 0; index < argv.length; index += 1) {
  const token = argv[index];
  if (token.startsWith('-')) {
    const value = argv[index + 1];
    if (value === undefined) fail(2, `argument ${token}: expected one argument`);
    flags.set(token, value);
    index += 1;
  } else {
    words.push(token);
  }
}
const command = words.join(' ');

const COMMANDS = {
  'account show': [],
  'cloud show': [],
  'identity show': ['--resource-group', '--name'],
  'ad app list': ['--display-name'],
  'ad app show': ['--id'],
  'ad app create': ['--display-name', '--sign-in-audience'],
  'ad app update': ['--id', '--sign-in-audience', '--identifier-uris', '--set', '--app-roles'],
  'ad app federated-credential list': ['--id'],
  'ad app federated-credential create': ['--id', '--parameters'],
  'ad app federated-credential update': ['--id', '--federated-credential-id', '--parameters'],
};
const allowed = COMMANDS[command];
if (!allowed) fail(2, `'${command}' is not an az command this stand-in knows`);
for (const flag of flags.keys()) {
  if (flag !== '--query' && flag !== '-o' && !allowed.includes(flag)) {
    fail(2, `unrecognized arguments: ${flag}`);
  }
}

const SIGN_IN_AUDIENCES = [
  'AzureADMyOrg',
  'AzureADMultipleOrgs',
  'AzureADandPersonalMicrosoftAccount',
  'PersonalMicrosoftAccount',
];

function app() {
  const id = required('--id');
  const found = state.apps.find((candidate) => candidate.appId === id || candidate.id === id);
  if (!found)
    fail(
      3,
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  return found;
}

function required(flag) {
  const value = flags.get(flag);
  if (value === undefined) fail(2, `the following arguments are required: ${flag}`);
  return value;
}

function validCredential(parameters) {
  let credential;
  try {
    credential = JSON.parse(parameters);
  } catch {
    fail(2, 'Failed to parse --parameters as JSON');
  }
  const { name, issuer, subject, audiences } = credential;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/.test(name)) fail(1, 'Invalid name');
  if (typeof issuer !== 'string' || !issuer.startsWith('https://')) fail(1, 'Issuer must be an https URL');
  if (typeof subject !== 'string' || subject === '') fail(1, 'Subject is required');
  if (!Array.isArray(audiences) || audiences.length !== 1) fail(1, 'Exactly one audience is required');
  return { id: randomUUID(), name, issuer, subject, audiences, description: credential.description ?? null };
}

function run() {
  switch (command) {
    case 'account show':
      return { tenantId: state.tenantId, id: state.subscriptionId, isDefault: true };
    case 'cloud show':
      return state.cloud;
    case 'identity show': {
      const key = `${required('--resource-group')}/${required('--name')}`;
      const identity = state.identities[key];
      if (!identity) fail(3, `(ResourceNotFound) The Resource '${key}' was not found.`);
      return identity;
    }
    case 'ad app list': {
      const name = flags.get('--display-name');
      // az filters server-side with startswith(displayName, ...): callers must narrow it themselves.
      return state.apps.filter((candidate) => name === undefined || candidate.displayName.startsWith(name));
    }
    case 'ad app show':
      return app();
    case 'ad app create': {
      const signInAudience = flags.get('--sign-in-audience') ?? 'AzureADMyOrg';
      if (!SIGN_IN_AUDIENCES.includes(signInAudience))
        fail(2, `invalid --sign-in-audience ${signInAudience}`);
      const created = {
        id: randomUUID(),
        appId: randomUUID(),
        displayName: required('--display-name'),
        signInAudience,
        identifierUris: [],
        api: { requestedAccessTokenVersion: null },
        appRoles: [],
        federatedIdentityCredentials: [],
      };
      state.apps.push(created);
      return created;
    }
    case 'ad app update': {
      const target = app();
      const signInAudience = flags.get('--sign-in-audience');
      if (signInAudience !== undefined) {
        if (!SIGN_IN_AUDIENCES.includes(signInAudience))
          fail(2, `invalid --sign-in-audience ${signInAudience}`);
        target.signInAudience = signInAudience;
      }
      const uri = flags.get('--identifier-uris');
      if (uri !== undefined) {
        // Multi-tenant apps may only use api://<appId> (or a verified domain, which this tenant has none of).
        if (target.signInAudience !== 'AzureADMyOrg' && uri !== `api://${target.appId}`) {
          fail(
            1,
            `Values of identifierUris property must use a verified domain of the organization or its subdomain: '${uri}'`,
          );
        }
        target.identifierUris = [uri];
      }
      const set = flags.get('--set');
      if (set !== undefined) {
        if (set !== 'api.requestedAccessTokenVersion=2') fail(2, `this stand-in does not model --set ${set}`);
        target.api.requestedAccessTokenVersion = 2;
      }
      const roles = flags.get('--app-roles');
      if (roles !== undefined) {
        const next = JSON.parse(roles);
        for (const previous of target.appRoles.filter((role) => role.isEnabled)) {
          const kept = next.find((role) => role.id === previous.id);
          if (!kept || kept.value !== previous.value) {
            fail(1, 'Permission (scope or role) cannot be deleted or updated unless disabled first.');
          }
        }
        if (new Set(next.map((role) => role.value)).size !== next.length)
          fail(1, 'App role values must be unique.');
        target.appRoles = next;
      }
      return null;
    }
    case 'ad app federated-credential list':
      return app().federatedIdentityCredentials;
    case 'ad app federated-credential create': {
      const target = app();
      const credential = validCredential(required('--parameters'));
      if (target.federatedIdentityCredentials.some((existing) => existing.name === credential.name)) {
        fail(1, `FederatedIdentityCredential with name ${credential.name} already exists.`);
      }
      target.federatedIdentityCredentials.push(credential);
      return credential;
    }
    case 'ad app federated-credential update': {
      const target = app();
      const key = required('--federated-credential-id');
      const index = target.federatedIdentityCredentials.findIndex(
        (existing) => existing.id === key || existing.name === key,
      );
      if (index < 0) fail(3, `Federated credential ${key} does not exist.`);
      const credential = validCredential(required('--parameters'));
      target.federatedIdentityCredentials[index] = {
        ...credential,
        id: target.federatedIdentityCredentials[index].id,
      };
      return null;
    }
    default:
      return fail(2, `unhandled ${command}`);
  }
}

function tsvValue(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return String(value.length);
  if (typeof value === 'object') return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/** knack's TSV: one row per top-level item; a row's list or object values tab-separated. */
function tsv(result) {
  const rows = Array.isArray(result) ? result : [result];
  return rows
    .map((row) => {
      if (Array.isArray(row)) return row.map(tsvValue).join('\t');
      if (row !== null && typeof row === 'object') {
        return Object.keys(row)
          .sort()
          .map((key) => tsvValue(row[key]))
          .join('\t');
      }
      return tsvValue(row);
    })
    .map((line) => `${line}\n`)
    .join('');
}

function fail(code, message) {
  process.stderr.write(`ERROR: ${message}\n`);
  process.exit(code);
}

let result = run();
writeFileSync(statePath, JSON.stringify(state, null, 2));
const query = flags.get('--query');
if (query !== undefined) result = jmespath.search(result, query);
const output = flags.get('-o') ?? 'json';
if (output === 'tsv') process.stdout.write(tsv(result));
else if (output === 'json')
  process.stdout.write(result === null ? '' : `${JSON.stringify(result, null, 2)}\n`);
else fail(2, `this stand-in does not print -o ${output}`);
