import { addFault } from './faults';
import { type ClearFaultsInput, type FaultInfo, type FaultInput } from './types';
import { AdminError, type AzureStandInControl } from './controlApi';
import { faultInfo } from './controlInfo';
import { WorkspaceDataControl } from './controlData';

// The control surface is split by area: its contract, input schemas and validation (controlApi.ts),
// answer shapes (controlInfo.ts), tenants and workspaces (controlTenants.ts), identities, roles and
// tokens (controlIdentity.ts), tables, DCRs and recorded data (controlData.ts); faults and reset here.
export {
  AdminError,
  INPUT_SCHEMAS,
  isControlMethod,
  parseControlInput,
  validatedControl,
  type AzureStandInControl,
  type ControlMethod,
} from './controlApi';

export class StandInControl extends WorkspaceDataControl implements AzureStandInControl {
  injectFault(input: FaultInput): Promise<FaultInfo> {
    try {
      return Promise.resolve(faultInfo(addFault(this.state, input)));
    } catch (error) {
      throw new AdminError((error as Error).message);
    }
  }

  listFaults(): Promise<FaultInfo[]> {
    return Promise.resolve(this.state.faults.map(faultInfo));
  }

  clearFaults(input: ClearFaultsInput = {}): Promise<{ removed: number }> {
    const before = this.state.faults.length;
    this.state.faults = this.state.faults.filter(
      (fault) =>
        !(
          (input.id === undefined || fault.id === input.id) &&
          (input.tenantId === undefined || fault.tenantId?.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.dcrImmutableId === undefined || fault.dcrImmutableId === input.dcrImmutableId)
        ),
    );
    return Promise.resolve({ removed: before - this.state.faults.length });
  }

  reset(): Promise<void> {
    this.state.reset();
    return Promise.resolve();
  }
}
