import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/health/metrics.ts';

/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written from the
 * format's specification: # HELP / # TYPE lines, then samples `name{label="value",...} number`.
 */
interface Family {
  type?: string;
  help?: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const fam = (n: string): Family => {
    let f = families.get(n);
    if (!f) {
      f = { samples: [] };
      families.set(n, f);
    }
    return f;
  };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+-?\\d+)?$`);
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/;
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.split('\n').slice(0, -1)) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m) {
      if (!new RegExp(`^${NAME}$`).test(m[2])) throw new Error(`bad metric name in: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`bad type in: ${line}`);
        if (fam(m[2]).type) throw new Error(`second TYPE for ${m[2]}`);
        fam(m[2]).type = m[3];
      } else fam(m[2]).help = m[3];
      continue;
    }
    if (line.startsWith('#')) continue;
    m = sample.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest.length) {
      const l = label.exec(rest);
      if (!l) throw new Error(`bad labels in: ${line}`);
      labels[l[1]] = l[2];
      rest = rest.slice(l[0].length);
    }
    // values are Go ParseFloat numbers: NaN and ±Inf in any letter case
    const raw = m[3].toLowerCase();
    const value = /^\+?inf(inity)?$/.test(raw)
      ? Number.POSITIVE_INFINITY
      : /^-inf(inity)?$/.test(raw)
        ? Number.NEGATIVE_INFINITY
        : Number(raw);
    if (Number.isNaN(value) && raw !== 'nan') throw new Error(`bad value in: ${line}`);
    // histogram/summary samples belong to the family without their suffix
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    const owner = families.has(m[1]) ? m[1] : base;
    fam(owner).samples.push({ name: m[1], labels, value });
  }
  return families;
}

describe('Prometheus exposition', () => {
  it('parses as text format 0.0.4: typed families, valid names, labels and values, consistent histograms', async () => {
    const m = new Metrics({ deviceId: 'expo', version: '0.1.0' });
    try {
      m.setModel({ id: 'damn', hash: 'ab"c\\d', provider: 'cpu' });
      for (let i = 0; i < 5; i++) {
        m.frameIn();
        m.frameOut({ queue: 1, preprocess: 2, reconstruct: 10 + i, postprocess: 1, encode: 0, total: 14 + i });
      }
      const fams = parseExposition(await m.prometheusText());
      expect(fams.size).toBeGreaterThan(10);
      for (const [name, f] of fams) {
        expect(f.type, `${name} has a TYPE`).toBeDefined();
        expect(f.help, `${name} has a HELP`).toBeDefined();
      }
      expect(fams.get('rayleigh_frames_out_total')?.samples[0].value).toBe(5);
      // a label value with a quote and a backslash must come out escaped and still parse
      expect(fams.get('rayleigh_model_info')?.samples[0].labels.hash).toBe('ab\\"c\\\\d');
      const h = fams.get('rayleigh_stage_latency_seconds');
      expect(h?.type).toBe('histogram');
      const total = h?.samples.filter((s) => s.labels.stage === 'total') ?? [];
      const buckets = total.filter((s) => s.name.endsWith('_bucket'));
      const inf = buckets.find((s) => s.labels.le === '+Inf');
      expect(inf?.value).toBe(5);
      expect(total.find((s) => s.name.endsWith('_count'))?.value).toBe(5);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    } finally {
      m.close();
    }
  });

  it('the reader rejects malformed exposition (it can fail)', () => {
    expect(() => parseExposition('# TYPE x counter\nx{a="1} 3\n')).toThrow(/labels|sample/);
    expect(() => parseExposition('# TYPE x bogus\n')).toThrow(/type/);
    expect(() => parseExposition('x 1')).toThrow(/newline/);
    expect(() => parseExposition('# TYPE x gauge\nx one\n')).toThrow(/value/);
  });
});
