import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandName, commandHelp, commandList, nearestOption } from '../../../src/cli/commands.js';
import { PACKAGE_VERSION } from '../../../src/shared/package-info.js';
import { runCli } from '../../helpers/cli.js';

const names = Object.keys(COMMANDS) as CommandName[];

describe('one table drives the CLI, its help and the README', () => {
  it("the README's command list is the table's", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const listed = /<!-- commands:[^\n]*-->\n([\s\S]*?)\n<!-- \/commands -->/.exec(readme)?.[1];
    expect(listed, `README.md's command list should read:\n${commandList('markdown')}`).toBe(commandList('markdown'));
  });

  it.each(names)('%s --help: usage, every option with its default, an example, exit codes', (name) => {
    const r = runCli([name, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${commandHelp(name)}\n`);
    const c = COMMANDS[name];
    expect(r.stdout).toContain(`usage: ${c.usage}`);
    for (const [option, spec] of Object.entries(c.options)) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`  --${option} `) || l === `  --${option}`);
      expect(line, `--${option}`).toBeDefined();
      if ('default' in spec) expect(line).toMatch(/\(default: [^)]+\)$/);
    }
    expect(r.stdout).toMatch(/\nexamples?:\n {2}hem-forwarder /);
    expect(r.stdout).toMatch(/\nexit codes:\n {2}0 {2}/);
    // Every option the help names is one the command parses: no help for an option that does not exist.
    for (const flag of c.usage.matchAll(/--([a-z-]+)/g)) {
      const inState = name === 'state' && flag[1] === 'to';
      expect(Object.hasOwn(c.options, flag[1]!) || inState, `--${flag[1]} in the usage of ${name}`).toBe(true);
    }
  });

  it('help COMMAND is COMMAND --help; --version; an unknown command names the commands', () => {
    expect(runCli(['help', 'run']).stdout).toBe(runCli(['run', '--config', 'x.yaml', '--help']).stdout);
    const version = runCli(['--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(`hem-forwarder ${PACKAGE_VERSION}`);
    expect(PACKAGE_VERSION).toBe(
      JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version,
    );
    const unknown = runCli(['help', 'rnu']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('commands: run, check-config');
    const overview = runCli([]);
    expect(overview.status).toBe(2);
    for (const name of names) expect(overview.stdout).toContain(`  ${name} `);
  });

  it('a mistyped option gets the nearest one; a far one gets none', () => {
    expect(nearestOption('run', 'conifg')).toBe('config');
    expect(nearestOption('audit', 'public-keys')).toBe('public-key');
    expect(nearestOption('simulate', 'event-per-boot')).toBe('events-per-boot');
    expect(nearestOption('run', 'verbose')).toBeNull();
    const r = runCli(['run', '--conifg', 'x.yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      "hem-forwarder: run: unknown option '--conifg'; did you mean --config? (hem-forwarder run --help)",
    );
  });
});
