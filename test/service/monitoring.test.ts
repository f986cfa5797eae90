import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startAdminServer } from '../../src/service/admin.ts';
import { startHarness } from '../support/harness.ts';
import { parseSamples } from '../support/prometheus-text.ts';
import { promtool, SKIP_PROMTOOL } from '../support/promtool.ts';

/** The shipped monitoring files: alert rules and the Grafana dashboard. */
const MONITORING = fileURLToPath(new URL('../../monitoring/', import.meta.url));
const read = (file: string) => readFileSync(`${MONITORING}${file}`, 'utf8');

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

/** Every metric a scrape of a running manager holds, histogram series by their base name too. */
async function servedMetricNames(): Promise<Set<string>> {
  const h = await startHarness();
  try {
    h.add({ id: 'a' });
    const logger = pino({ level: 'silent' });
    const admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      manager: h.manager,
      logger,
    });
    try {
      const text = await (await fetch(`${admin.url}/metrics`)).text();
      const names = new Set(parseSamples(text).map((s) => s.name));
      for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        if (name === undefined) continue;
        names.add(name);
        // A histogram without observations yet has no series, only its TYPE line.
        if (type === 'histogram')
          for (const part of ['bucket', 'sum', 'count']) names.add(`${name}_${part}`);
      }
      return names;
    } finally {
      await admin.close();
    }
  } finally {
    await h.close();
  }
}

/** The metric names a PromQL expression reads (ours and the process defaults). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:market_collector|process|nodejs)_[a-z0-9_]+)/g)].map(
    (m) => m[1] ?? '',
  );
}

describe('monitoring/alerts.yml', () => {
  it.skipIf(SKIP_PROMTOOL)('passes promtool check rules and its unit tests', () => {
    const check = promtool(['check', 'rules', 'alerts.yml'], undefined, MONITORING);
    expect(check.output).toContain('SUCCESS: 4 rules found');
    expect(check.status).toBe(0);
    const test = promtool(['test', 'rules', 'alerts.test.yml'], undefined, MONITORING);
    expect(test.output).toContain('SUCCESS');
    expect(test.status).toBe(0);
  });

  it('alerts on a stale stream, a reconnect storm, a failed collector and no readiness', async () => {
    const rules = parseYaml(read('alerts.yml')) as {
      groups: { rules: { alert: string; expr: string; for: string }[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toEqual([
      'MarketCollectorStreamStale',
      'MarketCollectorReconnectStorm',
      'MarketCollectorFailed',
      'MarketCollectorNotReady',
    ]);
    expect(all.find((r) => r.alert === 'MarketCollectorNotReady')?.for).toBe('5m');
    const served = await servedMetricNames();
    for (const rule of all) {
      for (const name of metricsIn(rule.expr)) expect(served, rule.alert).toContain(name);
    }
  });
});

describe('monitoring/grafana-dashboard.json', () => {
  it('is a dashboard whose every query reads metrics the service serves', async () => {
    const dashboard = JSON.parse(read('grafana-dashboard.json')) as {
      uid: string;
      panels: Panel[];
    };
    expect(dashboard.uid).toBe('market-collector');
    const queries = dashboard.panels.filter((p) => p.type !== 'row');
    expect(queries.length).toBeGreaterThan(10);
    const served = await servedMetricNames();
    const queried = new Set<string>();
    for (const panel of queries) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        for (const name of metricsIn(target.expr)) {
          expect(served, panel.title).toContain(name);
          queried.add(name);
        }
      }
    }
    // Every application metric has a panel.
    const ours = [...served].filter(
      (n) => n.startsWith('market_collector_') && !/_(sum|count)$/.test(n),
    );
    const shown = (n: string) => queried.has(n) || queried.has(`${n}_bucket`);
    expect(ours.filter((n) => !shown(n) && n !== 'market_collector_state_changes_total')).toEqual(
      [],
    );
  });
});
