/**
 * WCAG 2.1 contrast (success criteria 1.4.3 and 1.4.11): an organization's declared colours
 * are used where they keep text readable, and replaced by an accessible shade where they
 * would not, so no partner's branding can make the portal unreadable.
 */

const HEX = /^#([0-9a-f]{6})$/i;

function channels(hex: string): [number, number, number] {
  const n = Number.parseInt(HEX.exec(hex)![1]!, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const toHex = (rgb: readonly number[]) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;

/** Relative luminance (WCAG 2.1, with the sRGB threshold 0.04045). */
export function luminance(hex: string): number {
  const [r, g, b] = channels(hex).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of two colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** Normal-size text needs 4.5:1 (AA). */
export const AA_TEXT = 4.5;

export const INK = '#1f2328';
export const PAPER = '#ffffff';
export const FALLBACK_BRAND = '#24292f';

/**
 * The declared colour, or the closest darker shade of it (same hue, mixed towards black)
 * that reaches `ratio` against `background`; a colour that is not `#rrggbb` gives the fallback.
 */
export function accessibleOn(color: string | undefined, background: string, ratio = AA_TEXT): { color: string; adjusted: boolean } {
  if (!color || !HEX.test(color)) return { color: FALLBACK_BRAND, adjusted: color !== undefined };
  const wanted = color.toLowerCase();
  if (contrastRatio(wanted, background) >= ratio) return { color: wanted, adjusted: false };
  const rgb = channels(wanted);
  // Towards black when the background is light, towards white when it is dark.
  const target = luminance(background) > 0.18 ? 0 : 255;
  for (let step = 1; step <= 20; step++) {
    const mixed = toHex(rgb.map((c) => c + (target - c) * (step / 20)));
    if (contrastRatio(mixed, background) >= ratio) return { color: mixed, adjusted: true };
  }
  return { color: target === 0 ? INK : PAPER, adjusted: true };
}

export interface Palette {
  /** Header band and buttons; `onBrand` is the text on them. */
  brand: string;
  onBrand: string;
  /** Links and focus rings on the white page. */
  link: string;
  /** The accent bar under the header (a non-text element: 3:1, WCAG 1.4.11). */
  accent: string;
  /** Which declared colours were replaced, for the page's footnote and the specs. */
  adjusted: ('primaryColor' | 'accentColor')[];
}

/**
 * The portal's colours from an organization's branding. The brand colour carries white or
 * ink text, whichever reads (adjusted when neither does); links use it on white.
 */
export function paletteOf(branding: { primaryColor?: string | undefined; accentColor?: string | undefined } | undefined): Palette {
  const adjusted: Palette['adjusted'] = [];
  const declared = branding?.primaryColor && HEX.test(branding.primaryColor) ? branding.primaryColor.toLowerCase() : undefined;
  let brand = declared ?? FALLBACK_BRAND;
  let onBrand = PAPER;
  if (contrastRatio(brand, PAPER) < AA_TEXT) {
    if (contrastRatio(brand, INK) >= AA_TEXT) onBrand = INK;
    else {
      brand = accessibleOn(brand, PAPER).color;
      adjusted.push('primaryColor');
    }
  }
  const link = accessibleOn(declared ?? FALLBACK_BRAND, PAPER);
  if (link.adjusted && !adjusted.includes('primaryColor')) adjusted.push('primaryColor');
  const accentDeclared = branding?.accentColor && HEX.test(branding.accentColor) ? branding.accentColor.toLowerCase() : undefined;
  const accent = accessibleOn(accentDeclared ?? brand, PAPER, 3);
  if (accentDeclared && accent.adjusted) adjusted.push('accentColor');
  return { brand, onBrand, link: link.color, accent: accent.color, adjusted };
}
