/** CIDR blocks, read without node:net so that api/ stays pure. */

export interface Block {
  text: string;
  family: 4 | 6;
  address: bigint;
  prefix: number;
}

function ipv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
}

function ipv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** A CIDR block, or undefined when it is not one (such a block admits no address). */
export function parseCidr(text: string): Block | undefined {
  const [address = '', bits, extra] = text.split('/');
  if (bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const v4 = ipv4(address);
  const family = v4 !== undefined ? 4 : 6;
  const value = v4 ?? ipv6(address);
  const width = family === 4 ? 32 : 128;
  if (value === undefined || prefix > width) return undefined;
  return { text, family, address: (value >> BigInt(width - prefix)) << BigInt(width - prefix), prefix };
}

/** Whether every address of `inner` is in `outer`. */
function within(inner: Block, outer: Block): boolean {
  if (inner.family !== outer.family || inner.prefix < outer.prefix) return false;
  const shift = BigInt((outer.family === 4 ? 32 : 128) - outer.prefix);
  return inner.address >> shift === outer.address >> shift;
}

/**
 * The addresses in both lists, as blocks: two CIDR blocks either nest or are disjoint, so the
 * intersection is, for each pair, the narrower block of a nested pair. A block that is not a
 * CIDR block is dropped (it admitted nothing).
 */
export function intersectCidrs(a: readonly string[], b: readonly string[]): string[] {
  const read = (list: readonly string[]) => list.map(parseCidr).filter((x): x is Block => x !== undefined);
  const left = read(a);
  const right = read(b);
  const out: string[] = [];
  for (const x of left) {
    for (const y of right) {
      const narrower = within(x, y) ? x : within(y, x) ? y : undefined;
      if (narrower && !out.includes(narrower.text)) out.push(narrower.text);
    }
  }
  return out;
}
