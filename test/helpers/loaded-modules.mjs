// Loaded with --import (through NODE_OPTIONS): records every file module the process resolves, one URL per
// line, in the file HEMFWD_LOADED_FILE names. The hooks run on Node's loader thread, hence a module of their own.
import { register } from 'node:module';

register('./loaded-modules-hooks.mjs', import.meta.url);
