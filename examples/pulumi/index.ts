// `pulumi up` entry point: the BlixitPartners workspace, and what partners' applications need from it.
import { blixitPartners } from './blixit-partners.ts';

const blixit = blixitPartners();

export const issuers = {
  cascadeConsulting: blixit.cascade.issuer,
  forgeSupplies: blixit.forge.issuer,
  pinnacleLogistics: blixit.pinnacle.issuer,
};
export const timesheetsClientId = blixit.timesheets.clientId;
// Pulumi secrets: `pulumi stack output --show-secrets timesheetsClientSecret` reveals them.
export const timesheetsClientSecret = blixit.timesheets.clientSecret;
export const inventorySyncClientId = blixit.inventorySync.clientId;
export const inventorySyncClientSecret = blixit.inventorySync.clientSecret;
