import { installFunctionsCore } from './coreApi';

// Vitest setup file: every test worker gets @azure/functions-core before any function file loads.
installFunctionsCore();
