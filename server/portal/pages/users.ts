import { portalPage } from '../page.ts';

export const usersPage = portalPage({
  path: 'users',
  nav: { label: 'Users', order: 10 },
  async get(req) {
    req.render('Users', '<p>Coming.</p>');
  },
});
