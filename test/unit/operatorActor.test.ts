import { describe, expect, it } from 'vitest';
import { cliOperator } from '../../src/cli/parkedCommands';
import { describeActor } from '../../src/domain/connectionHistory';

describe('the operator CLI names its operator', () => {
  it('takes USER, then USERNAME, and keeps only what a login name holds', () => {
    expect(describeActor(cliOperator({ USER: 'alice', USERNAME: 'bob' }))).toBe('cli:alice');
    expect(describeActor(cliOperator({ USERNAME: 'CONTOSO\\bob' }))).toBe('cli:CONTOSO\\bob');
    // Nothing a log or a KQL reader could mistake for structure: quotes, spaces, newlines go.
    expect(describeActor(cliOperator({ USER: 'eve"\n, admin' }))).toBe('cli:eveadmin');
    expect(cliOperator({ USER: 'x'.repeat(200) })).toEqual({ kind: 'operator', name: 'x'.repeat(64) });
    expect(cliOperator({ USER: '"\n' })).toEqual({ kind: 'operator', name: 'unknown' });
  });
});
