import { portalPage } from '../page.ts';

/**
 * "Sign-in setup": the organization's own IdP. A placeholder until the guided SSO setup
 * (branch `sso`) replaces this module with its page at the same path.
 */
export const signInSetupPage = portalPage({
  path: 'sso',
  nav: { label: 'Sign-in setup', order: 50 },
  roles: ['organization-admin', 'admin'],
  async get(req) {
    req.render('Sign-in setup', '<p>Your organization signs in as your workspace administrators declared it. Guided setup of your own identity provider is coming here.</p>');
  },
});
