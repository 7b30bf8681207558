#!/usr/bin/env node
// Loads tsx's ESM hooks in this process, then the TypeScript entry, so the
// command works after `npm ci` without a build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
