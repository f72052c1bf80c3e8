import { describe, expect, it } from 'vitest';
import { judgeMasterRights, type MasterFacts } from '../../rotators/postgres/master-rights.js';
import { isRotatorError } from '../../shared/errors.js';

/**
 * The preflight's judgement of a PostgreSQL master from the catalog. The run's server is PostgreSQL 15, so the rules
 * of 16 and later (ADMIN OPTION on each role granted or altered) are proved here on the facts such a server reports.
 */
const facts = (over: Partial<MasterFacts>): MasterFacts => ({
  master: 'rotator_master',
  versionNum: 160_004,
  version: '16.4',
  superuser: false,
  createRole: true,
  adminOption: new Map(),
  ...over,
});

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isRotatorError(error, 'TARGET_ERROR')) return error.message;
    throw error;
  }
  throw new Error('expected TARGET_ERROR');
}

describe('judgeMasterRights', () => {
  it('a superuser may do everything, whatever else it lacks', () => {
    expect(judgeMasterRights(facts({ superuser: true, createRole: false }), 'app', 'app_clone', true)).toMatch(/is a superuser/);
  });

  it('without CREATEROLE it fails on every version, naming the statement that fixes it', () => {
    for (const versionNum of [130_000, 150_008, 170_000]) {
      expect(refusal(() => judgeMasterRights(facts({ versionNum, createRole: false }), 'app', 'app_clone', true))).toMatch(
        /the master "rotator_master" lacks CREATEROLE.*ALTER ROLE rotator_master CREATEROLE/,
      );
    }
  });

  it('before 16, CREATEROLE is enough', () => {
    expect(judgeMasterRights(facts({ versionNum: 150_008, version: '15.8' }), 'app', 'app_clone', true)).toMatch(/has CREATEROLE.*15\.8/);
  });

  it('from 16, a new clone needs ADMIN OPTION on the current role (to grant it)', () => {
    expect(refusal(() => judgeMasterRights(facts({ adminOption: new Map([['app', false]]) }), 'app', 'app_clone', true))).toMatch(
      /needs ADMIN OPTION on "app".*GRANT app TO rotator_master WITH ADMIN OPTION/,
    );
    expect(judgeMasterRights(facts({ adminOption: new Map([['app', true]]) }), 'app', 'app_clone', true)).toMatch(/ADMIN OPTION on "app"$/);
  });

  it('from 16, an existing clone needs ADMIN OPTION on it (to alter it) and on the original (to grant it back)', () => {
    const clone = new Map([
      ['app', true],
      ['app_clone', false],
    ]);
    expect(refusal(() => judgeMasterRights(facts({ adminOption: clone }), 'app', 'app_clone', true))).toMatch(/needs ADMIN OPTION on "app_clone";/);
    const both = new Map([
      ['app', true],
      ['app_clone', true],
    ]);
    expect(judgeMasterRights(facts({ adminOption: both }), 'app', 'app_clone', true)).toMatch(/on "app_clone" and "app"/);
  });

  it('from 16, rotating back to the original needs ADMIN OPTION on the original only', () => {
    const roles = new Map([
      ['app_clone', false],
      ['app', true],
    ]);
    expect(judgeMasterRights(facts({ adminOption: roles }), 'app_clone', 'app', false)).toMatch(/ADMIN OPTION on "app"$/);
    expect(refusal(() => judgeMasterRights(facts({ adminOption: new Map([['app', false]]) }), 'app_clone', 'app', false))).toMatch(/on "app";/);
  });
});
