/**
 * The look of the demo's own pages (the partner IdPs and the relying party): small, readable,
 * fine at 390 px, and visibly not Gatehouse — each peer has its own accent, as a real partner would.
 */
export function demoPage(title: string, accent: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa;overflow-wrap:anywhere}
header{background:${accent};color:#fff;padding:.9rem 1rem;font-weight:700;font-size:1.1rem}main{max-width:34rem;margin:1.5rem auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.25rem 1.5rem}
h1{font-size:1.35rem;margin:.25rem 0 1rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem}input{width:100%;padding:.55rem;border:1px solid #6e7781;border-radius:4px;font:inherit}
button,.button{display:inline-block;margin-top:1rem;padding:.55rem 1.1rem;background:${accent};color:#fff;border:0;border-radius:4px;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
.error{color:#b42318;background:#fff1f0;border-left:4px solid #b42318;padding:.5rem .75rem}pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:.75rem;overflow-x:auto;font-size:.85rem;white-space:pre-wrap}
.muted{color:#57606a;font-size:.9rem}</style></head><body><header>${title}</header><main>${body}</main></body></html>`;
}
