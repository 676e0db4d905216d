import { describe, expect, it } from '@jest/globals';
import { renderString } from '../support/helm.ts';

// The Go-template subset test/support/helm.ts renders in place of `helm template`, checked
// against what Go's text/template and Helm's functions do for the same input.
const ctx = { Values: { name: 'gh', port: 8080, on: true, off: false, empty: '', list: ['a', 'b'], map: { b: 2, a: 1 }, nested: { x: { y: 'deep' } }, resources: { limits: { cpu: '1' } } }, Release: { Name: 'rel' } };

describe('the Helm template subset', () => {
  it('prints fields, trims whitespace at {{- and -}}, drops comments', () => {
    expect(renderString('a: {{ .Values.name }}\nb: {{ .Values.nested.x.y }}', ctx)).toBe('a: gh\nb: deep');
    expect(renderString('x  \n  {{- .Values.port -}}  \n  y', ctx)).toBe('x8080y');
    expect(renderString('a{{/* why */}}b', ctx)).toBe('ab');
    expect(renderString('[{{ .Values.missing }}]', ctx)).toBe('[]');
  });

  it('branches with if/else and with/else on Go truthiness', () => {
    const t = '{{ if .Values.X }}yes{{ else }}no{{ end }}';
    const cases: [string, string][] = [
      ['on', 'yes'],
      ['off', 'no'],
      ['empty', 'no'],
      ['list', 'yes'],
      ['missing', 'no'],
      ['port', 'yes'],
    ];
    for (const [field, expected] of cases) expect(renderString(t.replace('X', field), ctx)).toBe(expected);
    expect(renderString('{{ with .Values.nested.x }}{{ .y }}{{ else }}none{{ end }}', ctx)).toBe('deep');
    expect(renderString('{{ with .Values.empty }}{{ . }}{{ else }}none{{ end }}', ctx)).toBe('none');
    expect(renderString('{{ if not .Values.off }}negated{{ end }}', ctx)).toBe('negated');
  });

  it('ranges over lists and over maps in sorted key order, with $ still the root', () => {
    expect(renderString('{{ range .Values.list }}<{{ . }}>{{ end }}', ctx)).toBe('<a><b>');
    expect(renderString('{{ range $k, $v := .Values.map }}{{ $k }}={{ $v }};{{ end }}', ctx)).toBe('a=1;b=2;');
    expect(renderString('{{ range .Values.list }}{{ $.Release.Name }}{{ end }}', ctx)).toBe('relrel');
    expect(renderString('{{ range .Values.missing }}x{{ else }}nothing{{ end }}', ctx)).toBe('nothing');
  });

  it('includes defined templates with a dict context and pipes through quote, default, toYaml, nindent', () => {
    const partials = '{{- define "labels" -}}\nname: {{ .n }}\ncomponent: {{ .c }}\n{{- end }}';
    expect(renderString('labels:\n  {{- include "labels" (dict "n" "gh" "c" "server") | nindent 2 }}', ctx, partials)).toBe('labels:\n  name: gh\n  component: server');
    expect(renderString('{{ .Values.port | quote }} {{ "a\\"b" | quote }}', ctx)).toBe('"8080" "a\\"b"');
    expect(renderString('{{ .Values.empty | default "fallback" }} {{ default "x" .Values.name }}', ctx)).toBe('fallback gh');
    expect(renderString('r:\n  {{- toYaml .Values.resources | nindent 2 }}', ctx)).toBe('r:\n  limits:\n    cpu: "1"');
  });

  it('fails like Helm on a missing required value', () => {
    expect(() => renderString('{{ required "name is required" .Values.empty }}', ctx)).toThrow('execution error: name is required');
    expect(renderString('{{ required "name is required" .Values.name }}', ctx)).toBe('gh');
  });

  it('refuses what it does not implement instead of rendering it wrongly', () => {
    for (const template of ['{{ printf "%s" .Values.name }}', '{{ $x := 1 }}', '{{ template "t" . }}', '{{ if .Values.on }}open', '{{ include "nope" . }}', '{{ .Values.map }}', '{{ tpl .Values.name . }}']) {
      expect(() => renderString(template, ctx)).toThrow();
    }
  });
});
