/**
 * The authentication context classes (`acr`) Gatehouse's issuers assert, defined once: the
 * broker and the sign-in pages set them, step-up and the admin API require `mfa`, discovery
 * lists them all.
 */
export const ACR = {
  password: 'urn:gatehouse:acr:pwd',
  federated: 'urn:gatehouse:acr:fed',
  mfa: 'urn:gatehouse:acr:mfa',
} as const;

export const ACR_VALUES = Object.values(ACR);

/** A second factor was used at sign-in. */
export const MFA_ACR = ACR.mfa;
