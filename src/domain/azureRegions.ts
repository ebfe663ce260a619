import { ValidationError } from './errors';

/**
 * Azure regions a Log Analytics workspace can live in, by ARM location name
 * (what ARM returns as `location`) with the display name the Azure portal shows
 * (what the customer sees next to "Location" and picks in our dropdown).
 * Public cloud, Azure Government and Azure China: the app serves all three.
 */
export const AZURE_REGIONS: Readonly<Record<string, string>> = {
  // Americas
  eastus: 'East US',
  eastus2: 'East US 2',
  centralus: 'Central US',
  northcentralus: 'North Central US',
  southcentralus: 'South Central US',
  westcentralus: 'West Central US',
  westus: 'West US',
  westus2: 'West US 2',
  westus3: 'West US 3',
  canadacentral: 'Canada Central',
  canadaeast: 'Canada East',
  brazilsouth: 'Brazil South',
  brazilsoutheast: 'Brazil Southeast',
  mexicocentral: 'Mexico Central',
  chilecentral: 'Chile Central',
  // Europe
  northeurope: 'North Europe',
  westeurope: 'West Europe',
  uksouth: 'UK South',
  ukwest: 'UK West',
  francecentral: 'France Central',
  francesouth: 'France South',
  germanywestcentral: 'Germany West Central',
  germanynorth: 'Germany North',
  switzerlandnorth: 'Switzerland North',
  switzerlandwest: 'Switzerland West',
  norwayeast: 'Norway East',
  norwaywest: 'Norway West',
  swedencentral: 'Sweden Central',
  polandcentral: 'Poland Central',
  italynorth: 'Italy North',
  spaincentral: 'Spain Central',
  // Middle East and Africa
  uaenorth: 'UAE North',
  uaecentral: 'UAE Central',
  qatarcentral: 'Qatar Central',
  israelcentral: 'Israel Central',
  southafricanorth: 'South Africa North',
  southafricawest: 'South Africa West',
  // Asia Pacific
  eastasia: 'East Asia',
  southeastasia: 'Southeast Asia',
  japaneast: 'Japan East',
  japanwest: 'Japan West',
  koreacentral: 'Korea Central',
  koreasouth: 'Korea South',
  centralindia: 'Central India',
  southindia: 'South India',
  westindia: 'West India',
  jioindiacentral: 'Jio India Central',
  jioindiawest: 'Jio India West',
  australiaeast: 'Australia East',
  australiasoutheast: 'Australia Southeast',
  australiacentral: 'Australia Central',
  australiacentral2: 'Australia Central 2',
  newzealandnorth: 'New Zealand North',
  indonesiacentral: 'Indonesia Central',
  malaysiawest: 'Malaysia West',
  // Azure Government
  usgovvirginia: 'USGov Virginia',
  usgovarizona: 'USGov Arizona',
  usgovtexas: 'USGov Texas',
  usdodcentral: 'USDoD Central',
  usdodeast: 'USDoD East',
  // Azure China (21Vianet)
  chinaeast: 'China East',
  chinaeast2: 'China East 2',
  chinaeast3: 'China East 3',
  chinanorth: 'China North',
  chinanorth2: 'China North 2',
  chinanorth3: 'China North 3',
};

/** Display-name form and location-name form meet here: `East US 2`, `eastus2`, ` EAST us2 ` → `eastus2`. */
function squash(value: string): string {
  return value.replace(/\s+/g, '').toLowerCase();
}

/** The display name of a location name, or the name itself for a region this list does not know. */
export function regionDisplayName(location: string): string {
  return AZURE_REGIONS[squash(location)] ?? location;
}

/**
 * Normalizes a location as a portal user may type or pick it (`East US`,
 * `eastus`, any case and spacing) to its ARM name (`eastus`). Anything else is
 * refused with how to find the workspace's real location.
 */
export function normalizeLocation(input: unknown): string {
  const where =
    'Open the workspace in the Azure portal and copy its Location (Overview or Properties page, e.g. "East US"), or run: az monitor log-analytics workspace show --ids <workspace resource ID> --query location';
  if (typeof input !== 'string' || input.trim() === '') {
    throw new ValidationError('InvalidLocation', `The location is missing. ${where}`, 'location');
  }
  const name = squash(input);
  if (!Object.hasOwn(AZURE_REGIONS, name)) {
    const shown = input.trim().slice(0, 60);
    throw new ValidationError('InvalidLocation', `"${shown}" is not an Azure region. ${where}`, 'location');
  }
  return name;
}
