// Provides @azure/functions-core to a plain `node` process, as the Functions
// Node.js worker does, so the built function files can be imported outside the
// host (cold-start measurement). Registrations are accepted and discarded.
'use strict';
const Module = require('node:module');

const disposable = { dispose() {} };
const core = {
  version: '3.10.1',
  hostVersion: '4.1000.0',
  registerFunction: () => disposable,
  setProgrammingModel: () => undefined,
  getProgrammingModel: () => undefined,
  registerHook: () => disposable,
  log: () => undefined,
};

const load = Module._load;
Module._load = function loadWithFunctionsCore(request, parent, isMain) {
  if (request === '@azure/functions-core') return core;
  return load.call(this, request, parent, isMain);
};
