import { describe, expect, it } from 'vitest';
import { ConfigError, durationMs, loadConfig } from '../../temporal.config.js';

describe('temporal.config', () => {
  it('has working defaults, resolved against the working directory', () => {
    const c = loadConfig({}, '/srv/study');
    expect(c.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'biobank',
    });
    expect(c.dataDir).toBe('/srv/study/.biobank');
    expect(c.database).toBe('/srv/study/.biobank/engine.duckdb');
    expect(c.activities.long.heartbeatTimeout).toBe('30s');
    expect(c.schedule.id).toBe('biobank-release-refresh');
  });

  it("honours Temporal's own variables and the engine's", () => {
    const c = loadConfig(
      {
        TEMPORAL_ADDRESS: 'temporal.internal:7234',
        TEMPORAL_NAMESPACE: 'biobank-prod',
        BIOBANK_DATA_DIR: '/data/bb',
        BIOBANK_DB: 'results.duckdb',
        BIOBANK_MAX_ACTIVITIES: '6',
      },
      '/home/me',
    );
    expect(c.temporal.address).toBe('temporal.internal:7234');
    expect(c.temporal.namespace).toBe('biobank-prod');
    expect(c.dataDir).toBe('/data/bb');
    expect(c.database).toBe('/home/me/results.duckdb');
    expect(c.worker.maxConcurrentActivities).toBe(6);
  });

  it('rejects a bad value with a message naming the setting and the variable', () => {
    expect(() => loadConfig({ BIOBANK_MAX_ACTIVITIES: 'lots' })).toThrow(ConfigError);
    try {
      loadConfig({ BIOBANK_MAX_ACTIVITIES: 'lots', TEMPORAL_ADDRESS: 'no-port-here' });
      expect.unreachable();
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toContain('worker.maxConcurrentActivities (from BIOBANK_MAX_ACTIVITIES="lots")');
      expect(msg).toContain('temporal.address (from TEMPORAL_ADDRESS="no-port-here"): must be host:port');
    }
  });

  it('rejects out-of-range numbers and malformed memory limits', () => {
    expect(() => loadConfig({ BIOBANK_MAX_ACTIVITIES: '0' })).toThrow(/maxConcurrentActivities/);
    expect(() => loadConfig({ BIOBANK_DUCKDB_MEMORY: 'plenty' })).toThrow(
      /duckdbMemoryLimit.*must look like 4GB/,
    );
    expect(() => loadConfig({ BIOBANK_SCHEDULE_EVERY: 'weekly' })).toThrow(/schedule.every/);
  });

  it('parses durations', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('2h')).toBe(7_200_000);
    expect(durationMs(250)).toBe(250);
  });
});
