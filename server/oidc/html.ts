/** Partner-facing pages: plain HTML, every interpolated value escaped, no external assets. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface PageBranding {
  title: string;
  primaryColor?: string | undefined;
  logo?: string | undefined;
}

export function page(branding: PageBranding, heading: string, body: string): string {
  const color = branding.primaryColor && /^#[0-9a-fA-F]{6}$/.test(branding.primaryColor) ? branding.primaryColor : '#24292f';
  const logo = branding.logo?.startsWith('data:image/') ? `<img src="${escapeHtml(branding.logo)}" alt="" height="40">` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)} · ${escapeHtml(branding.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#24292f}
header{border-bottom:4px solid ${color};padding-bottom:.5rem;margin-bottom:1.5rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1rem;background:${color};color:#fff;border:0;border-radius:4px}
.error{color:#b42318}</style></head>
<body><header>${logo}<strong>${escapeHtml(branding.title)}</strong></header><h1>${escapeHtml(heading)}</h1>${body}</body></html>`;
}
