// Rewrites the README's command list from the command table (npm run gen:readme); help.test.ts checks it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/shared/package-info.js';
import { commandList } from '../src/cli/commands.js';

const file = join(PACKAGE_ROOT, 'README.md');
const readme = readFileSync(file, 'utf8');
const list = /(<!-- commands:[^\n]*-->\n)[\s\S]*?(\n<!-- \/commands -->)/;
if (!list.test(readme)) throw new Error('README.md has no <!-- commands: --> ... <!-- /commands --> markers');
writeFileSync(
  file,
  readme.replace(list, (_, open: string, close: string) => `${open}${commandList('markdown')}${close}`),
);
