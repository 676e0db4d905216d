/** Reads a page's passkey form (server/passkeys/pages.ts `passkeyForm`) as its script does. */

/** Undoes escapeHtml (server/oidc/html.ts) for what a page puts in attributes. */
export const unhtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

export interface PasskeyPage {
  /** Absolute, against the page's URL. */
  action: string;
  mode: string;
  autofill: boolean;
  /** The WebAuthn options of the ceremony (creation or request). */
  options: unknown;
  hidden: Record<string, string>;
}

/** The passkey form of a page served at `base`, or undefined when it has none. */
export function passkeyForm(html: string, base: string): PasskeyPage | undefined {
  const m = /<form id="passkey-form" method="post" action="([^"]+)" data-mode="(\w+)" data-autofill="(\w+)" data-options="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  if (!m) return undefined;
  const hidden = Object.fromEntries([...m[5]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((h) => [h[1]!, unhtml(h[2]!)]));
  return { action: new URL(unhtml(m[1]!), base).href, mode: m[2]!, autofill: m[3] === 'true', options: JSON.parse(unhtml(m[4]!)), hidden };
}

/** The same, failing the spec (with what the page says) when there is none. */
export function requirePasskeyForm(html: string, base: string): PasskeyPage {
  const form = passkeyForm(html, base);
  if (!form)
    throw new Error(
      `no passkey form at ${base}: ${html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 300)}`,
    );
  return form;
}
