import { portalPage } from '../page.ts';

export const contractPage = portalPage({
  path: 'contract',
  nav: { label: 'Contract', order: 10 },
  async get(req) {
    req.render('Contract', '<p>Coming.</p>');
  },
});
