/** A cookie-keeping HTTP client that follows redirects by hand, standing in for a browser. */
export class Browser {
  private readonly jar = new Map<string, string>();
  private readonly transport: (url: string, init: RequestInit) => Promise<Response>;

  /** `transport` replaces the global fetch (e.g. to reach a vanity host on the local server). */
  constructor(transport: (url: string, init: RequestInit) => Promise<Response> = fetch) {
    this.transport = transport;
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await this.transport(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  /** Follows redirects until one leaves for `stopAt` (returned unfollowed) or a page is reached. */
  async follow(url: string, stopAt?: string, init: RequestInit = {}): Promise<{ url: string; res: Response }> {
    let current = url;
    let res = await this.fetch(current, init);
    for (let hops = 0; hops < 20 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(res.headers.get('location')!, current).href;
      if (stopAt && next.startsWith(stopAt)) return { url: next, res };
      current = next;
      res = await this.fetch(current);
    }
    return { url: current, res };
  }

  async submit(url: string, form: Record<string, string>): Promise<Response> {
    return this.fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  }
}
