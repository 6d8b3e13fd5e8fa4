#!/usr/bin/env node
import { runMain } from '@jetpack/shared/cli';
import { main } from './command.js';

await runMain('store-gc', main);
