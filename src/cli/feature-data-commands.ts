import type { Command } from 'commander';
import type { CliIo } from './io.js';

/** `features training-set|materialize|skew` (to be built). */
export function registerFeatureDataCommands(_features: Command, _io: CliIo): void {}
