import { portalPage } from '../page.ts';

export const applicationsPage = portalPage({
  path: 'applications',
  nav: { label: 'Applications', order: 10 },
  async get(req) {
    req.render('Applications', '<p>Coming.</p>');
  },
});
