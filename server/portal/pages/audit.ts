import { portalPage } from '../page.ts';

export const auditPage = portalPage({
  path: 'audit',
  nav: { label: 'Audit', order: 10 },
  async get(req) {
    req.render('Audit', '<p>Coming.</p>');
  },
});
