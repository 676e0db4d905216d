import { describe, expect, it } from '@jest/globals';
import { AA_TEXT, INK, PAPER, accessibleOn, contrastRatio, paletteOf } from '../../../server/portal/contrast.ts';

describe("WCAG contrast of an organization's colours", () => {
  it('computes the WCAG 2.1 ratio (black on white is 21:1, a colour on itself 1:1)', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#777777', '#777777')).toBe(1);
    // #767676 is the classic lightest grey that passes AA on white.
    expect(contrastRatio('#767676', '#ffffff')).toBeGreaterThanOrEqual(AA_TEXT);
    expect(contrastRatio('#777777', '#ffffff')).toBeLessThan(AA_TEXT);
  });

  it('keeps a declared colour that reads, with white text on it', () => {
    const p = paletteOf({ primaryColor: '#0B5394' });
    expect(p).toMatchObject({ brand: '#0b5394', onBrand: PAPER, link: '#0b5394', adjusted: [] });
  });

  it('puts ink on a light brand colour rather than white, and darkens it for links on white', () => {
    const p = paletteOf({ primaryColor: '#ffd33d' });
    expect(p.brand).toBe('#ffd33d');
    expect(p.onBrand).toBe(INK);
    expect(contrastRatio(p.brand, p.onBrand)).toBeGreaterThanOrEqual(AA_TEXT);
    expect(p.link).not.toBe('#ffd33d');
    expect(contrastRatio(p.link, PAPER)).toBeGreaterThanOrEqual(AA_TEXT);
    expect(p.adjusted).toEqual(['primaryColor']);
  });

  it('replaces a mid-tone that carries neither white nor ink text with an accessible shade of it', () => {
    // #808080 on white is 3.9:1 and ink on it 4.3:1: neither reads.
    expect(contrastRatio('#808080', PAPER)).toBeLessThan(AA_TEXT);
    expect(contrastRatio('#808080', INK)).toBeLessThan(AA_TEXT);
    const p = paletteOf({ primaryColor: '#808080' });
    expect(p.brand).not.toBe('#808080');
    expect(contrastRatio(p.brand, p.onBrand)).toBeGreaterThanOrEqual(AA_TEXT);
    expect(p.adjusted).toContain('primaryColor');
  });

  it('holds the accent bar to 3:1 (a non-text element), replacing a pale accent', () => {
    const p = paletteOf({ primaryColor: '#0b5394', accentColor: '#fafafa' });
    expect(contrastRatio(p.accent, PAPER)).toBeGreaterThanOrEqual(3);
    expect(p.adjusted).toEqual(['accentColor']);
  });

  it('falls back to the default for no colour or one that is not #rrggbb', () => {
    expect(paletteOf(undefined).adjusted).toEqual([]);
    expect(accessibleOn('red', PAPER)).toEqual({ color: '#24292f', adjusted: true });
  });

  it('gives every colour of a sweep an AA palette', () => {
    for (let v = 0; v < 0x1000000; v += 0x0f0f0f) {
      const color = `#${v.toString(16).padStart(6, '0')}`;
      const p = paletteOf({ primaryColor: color, accentColor: color });
      expect({ color, text: contrastRatio(p.brand, p.onBrand) >= AA_TEXT, link: contrastRatio(p.link, PAPER) >= AA_TEXT, accent: contrastRatio(p.accent, PAPER) >= 3 }).toEqual({ color, text: true, link: true, accent: true });
    }
  });
});
